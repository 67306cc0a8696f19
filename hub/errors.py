"""Every error the hub raises on purpose, each with the stable ``extensions.code`` a caller sees.

    HubError                                   (code)
    ├── AuthError                              HTTP 401, never reaches GraphQL
    │   └── InvalidToken                       UNAUTHENTICATED
    ├── RateLimited                            RATE_LIMITED: HTTP 429 with Retry-After, never reaches GraphQL
    ├── RequestRefused (also PermissionError)  the operation is refused before any source is read
    │   ├── UnknownOrganisation                UNKNOWN_ORGANISATION (not in the register, or inactive)
    │   ├── OrganisationTypeMismatch           ORG_TYPE_MISMATCH (token and register disagree)
    │   ├── AccreditationExpired               ACCREDITATION_EXPIRED (a partner past its accreditation)
    │   ├── NoLegitimateRelationship           SUBJECT_NOT_FOUND to the caller (audited as NO_LEGITIMATE_RELATIONSHIP)
    │   ├── OwnRecord                          OWN_RECORD (a user's own record; flagged for the auditor)
    │   ├── UnknownPurpose                     UNKNOWN_PURPOSE
    │   ├── PurposeNotGranted                  PURPOSE_NOT_GRANTED
    │   ├── PurposeForbidsField                PURPOSE_FORBIDS_FIELD
    │   ├── ConsentRequired                    CONSENT_REQUIRED
    │   ├── MixedPurposes                      MIXED_PURPOSES
    │   ├── IntrospectionDisabled              INTROSPECTION_DISABLED
    │   ├── OperationNotSupported              OPERATION_NOT_SUPPORTED
    │   ├── NotReceived                        NOT_RECEIVED (a correction of a field never received)
    │   └── OperationNotRegistered             OPERATION_NOT_REGISTERED (a partner's operation not in its safelist)
    ├── PersistedQueryNotFound                 PERSISTED_QUERY_NOT_FOUND (APQ: a hash not registered here)
    ├── PersistedQueryMismatch                 PERSISTED_QUERY_HASH_MISMATCH (a document and a hash that disagree)
    ├── BadUserInput (also ValueError)         BAD_USER_INPUT
    │   ├── InvalidNinoInput                   INVALID_NINO (reason in extensions.reason)
    │   ├── InvalidEffectiveDate               INVALID_EFFECTIVE_DATE (a change dated in the future or before birth)
    │   ├── NinoInFreeText                     NINO_IN_FREE_TEXT (free text, or a key, holding a NINO-shaped value)
    │   └── IdempotencyKeyReused               IDEMPOTENCY_KEY_REUSED (one key, two different notifications)
    ├── NotificationUnavailable                NOTIFICATION_UNAVAILABLE (not recorded: nothing was accepted)
    ├── RequestBudgetExceeded                  REQUEST_BUDGET_EXCEEDED (held the hub's loop too long: stopped)
    ├── HubStoreUnavailable                    HUB_STORE_UNAVAILABLE (interests, corrections, complaints unreadable)
    ├── ProtectedAddress                       PROTECTED_ADDRESS (a field error: the address is withheld)
    ├── SubjectNotFound (also LookupError)     SUBJECT_NOT_FOUND
    ├── MatchNeedsReview (also LookupError)    SUBJECT_NOT_FOUND to the caller (audited as MATCH_NEEDS_REVIEW)
    ├── LinkageUnavailable                     LINKAGE_UNAVAILABLE (no model for the demographic fallback)
    ├── SourceError                            a field error: the other sources still answer
    │   ├── SourceUnavailable                  SOURCE_UNAVAILABLE
    │   ├── SourceTimeout (also TimeoutError)  SOURCE_TIMEOUT
    │   └── SourceRefused                      SOURCE_REFUSED (a subgraph refused the hub's question)
    ├── OrgRegisterUnavailable                 ORG_REGISTER_UNAVAILABLE (caller unverifiable: refused)
    ├── ConsentUnavailable                     CONSENT_UNAVAILABLE (consent unreadable: nothing released)
    ├── AuditUnavailable                       AUDIT_UNAVAILABLE (fail closed: nothing released)
    └── ConfigError (also ValueError)          refuses to start, listing every problem

No message here ever contains a NINO, a name or any other value taken from a request or a source.

"Not found", "not yours to ask about" and "not certain" look the same to the caller:
:class:`NoLegitimateRelationship` and :class:`MatchNeedsReview` answer exactly as :class:`SubjectNotFound`
does (code and message), so no lookup tells a caller who exists outside its area; the audit record keeps
the true reason (:attr:`HubError.audit_code`) for the auditor.

A class says whether it is a refusal (``refusal = True``: the hub decided not to release, as the register, the
law or a protection says) or a failure (it could not answer). The audit record's decision is read from that
(:func:`hub.execution.record.from_request`), never from a list of codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

__all__ = [
    "NOT_FOUND_MESSAGE",
    "AccreditationExpired",
    "AuditUnavailable",
    "AuthError",
    "BadUserInput",
    "ConfigError",
    "ConsentRequired",
    "ConsentUnavailable",
    "HubError",
    "IntrospectionDisabled",
    "InvalidNinoInput",
    "InvalidToken",
    "LinkageUnavailable",
    "MatchNeedsReview",
    "MixedPurposes",
    "NinoInFreeText",
    "NoLegitimateRelationship",
    "OperationNotRegistered",
    "OperationNotSupported",
    "OperationsUnavailable",
    "OrgRegisterUnavailable",
    "OrganisationTypeMismatch",
    "OwnRecord",
    "PersistedQueryMismatch",
    "PersistedQueryNotFound",
    "ProtectedAddress",
    "PurposeForbidsField",
    "PurposeNotGranted",
    "RateLimited",
    "RequestBudgetExceeded",
    "RequestRefused",
    "SourceError",
    "SourceRefused",
    "SourceTimeout",
    "SourceUnavailable",
    "SubjectNotFound",
    "UnknownOrganisation",
    "UnknownPurpose",
]


class HubError(Exception):
    code: ClassVar[str] = "INTERNAL"
    #: The reason the audit record gives, when it must say more than the caller may learn (else the code).
    audit_code: ClassVar[str | None] = None
    #: A decision not to release (recorded as ``refused``), not a failure to answer (``error``).
    refusal: ClassVar[bool] = False

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions: dict[str, Any] = {"code": self.code, **extensions}

    @property
    def reason(self) -> str:
        """What the audit record says about this error."""
        return self.audit_code or self.code


class AuthError(HubError):
    code = "UNAUTHENTICATED"


class InvalidToken(AuthError):
    code = "UNAUTHENTICATED"


class RateLimited(HubError):
    """Over the user's or the organisation's budget (or, before a token is read, the client address's):
    answered 429 with ``Retry-After``, before anything is parsed or read."""

    code = "RATE_LIMITED"

    def __init__(self, limit: str, retry_after: int) -> None:
        super().__init__(
            f"too many requests for this {limit}: retry after {retry_after} s", limit=limit, retryAfter=retry_after
        )
        self.retry_after = retry_after


class RequestRefused(HubError, PermissionError):
    code = "REFUSED"
    refusal = True


class UnknownPurpose(RequestRefused):
    code = "UNKNOWN_PURPOSE"


class UnknownOrganisation(RequestRefused):
    code = "UNKNOWN_ORGANISATION"


class OrganisationTypeMismatch(RequestRefused):
    code = "ORG_TYPE_MISMATCH"


class AccreditationExpired(RequestRefused):
    code = "ACCREDITATION_EXPIRED"


#: The one answer for "no such person" and "not yours to ask about".
NOT_FOUND_MESSAGE = (
    "no one you may ask about matches with certainty, so nothing is released: there may be no such person in "
    "the sources this purpose may read, they may not be connected with your organisation's area, or the "
    "details may fit more than one person (add a NINO or more details)"
)


class NoLegitimateRelationship(RequestRefused, LookupError):
    """Not connected with the caller's area: refused, and answered exactly as "not found"."""

    code = "SUBJECT_NOT_FOUND"
    audit_code = "NO_LEGITIMATE_RELATIONSHIP"

    def __init__(self, message: str = NOT_FOUND_MESSAGE) -> None:
        super().__init__(NOT_FOUND_MESSAGE)
        self.detail = message  # for the hub's own logs and tests, never the caller


class OwnRecord(RequestRefused):
    code = "OWN_RECORD"


class PurposeNotGranted(RequestRefused):
    code = "PURPOSE_NOT_GRANTED"


class PurposeForbidsField(RequestRefused):
    code = "PURPOSE_FORBIDS_FIELD"

    def __init__(self, purpose: str, fields: Iterable[str]) -> None:
        names = sorted(set(fields))
        super().__init__(
            f"purpose {purpose} does not allow these fields for your organisation: {', '.join(names)}",
            fields=names,
        )


class ConsentRequired(RequestRefused):
    code = "CONSENT_REQUIRED"


class MixedPurposes(RequestRefused):
    code = "MIXED_PURPOSES"


class IntrospectionDisabled(RequestRefused):
    code = "INTROSPECTION_DISABLED"


class OperationNotSupported(RequestRefused):
    code = "OPERATION_NOT_SUPPORTED"


class NotReceived(RequestRefused):
    code = "NOT_RECEIVED"


class BadUserInput(HubError, ValueError):
    code = "BAD_USER_INPUT"


class InvalidNinoInput(BadUserInput):
    code = "INVALID_NINO"


class InvalidEffectiveDate(BadUserInput):
    code = "INVALID_EFFECTIVE_DATE"


class NinoInFreeText(BadUserInput):
    """Free text the hub would keep and show to others holds something shaped like a NINO: refused, never
    quoted (:mod:`hub.access.freetext`)."""

    code = "NINO_IN_FREE_TEXT"


class IdempotencyKeyReused(BadUserInput):
    code = "IDEMPOTENCY_KEY_REUSED"


class NotificationUnavailable(HubError):
    code = "NOTIFICATION_UNAVAILABLE"


class RequestBudgetExceeded(HubError):
    code = "REQUEST_BUDGET_EXCEEDED"


class HubStoreUnavailable(HubError):
    code = "HUB_STORE_UNAVAILABLE"


class ProtectedAddress(HubError, PermissionError):
    code = "PROTECTED_ADDRESS"
    refusal = True  # withheld by decision: the person is protected


class SubjectNotFound(HubError, LookupError):
    """No such person (in the sources the purpose may read). Its message is always the same one, which
    :class:`NoLegitimateRelationship` shares."""

    code = "SUBJECT_NOT_FOUND"
    # Nothing released, by decision, as for someone not the caller's to ask about: the receipt's decision
    # (which the caller holds) must not tell the two apart. The audit record's reason codes do.
    refusal = True

    def __init__(self, message: str = NOT_FOUND_MESSAGE) -> None:
        super().__init__(NOT_FOUND_MESSAGE)
        self.detail = message  # for the hub's own logs and tests, never the caller


class MatchNeedsReview(HubError, LookupError):
    """The details fit more than one person, or one not clearly enough. Answered exactly as "not found":
    "someone nearly matches" says who exists (a known person's details with a guessed date of birth tell
    whether someone else was born that day); the audit record keeps MATCH_NEEDS_REVIEW."""

    code = "SUBJECT_NOT_FOUND"
    audit_code = "MATCH_NEEDS_REVIEW"
    refusal = True  # as SubjectNotFound: one decision for every "not found"

    def __init__(self, message: str = NOT_FOUND_MESSAGE) -> None:
        super().__init__(NOT_FOUND_MESSAGE)
        self.detail = message  # for the hub's own logs and tests, never the caller


class LinkageUnavailable(HubError):
    code = "LINKAGE_UNAVAILABLE"


class SourceError(HubError):
    code = "SOURCE_ERROR"

    def __init__(self, source: str, message: str) -> None:
        super().__init__(message, source=source)
        self.source = source


class SourceUnavailable(SourceError):
    code = "SOURCE_UNAVAILABLE"


class SourceTimeout(SourceError, TimeoutError):
    code = "SOURCE_TIMEOUT"


class SourceRefused(SourceError):
    """A source's subgraph refused the hub's question (its assertion, or a field its own policy does not
    allow for the purpose): a failure to answer, never "not held"."""

    code = "SOURCE_REFUSED"


class OperationNotRegistered(RequestRefused):
    """The caller's organisation type sends registered operations only (the register's ``[operations]``),
    and this one is not in its organisation's safelist."""

    code = "OPERATION_NOT_REGISTERED"


class PersistedQueryNotFound(HubError):
    """A hash with no document (the APQ code: a client then sends the document; a partner's is refused)."""

    code = "PERSISTED_QUERY_NOT_FOUND"


class PersistedQueryMismatch(HubError):
    code = "PERSISTED_QUERY_HASH_MISMATCH"


class OperationsUnavailable(HubError):
    code = "OPERATIONS_UNAVAILABLE"


class OrgRegisterUnavailable(HubError):
    code = "ORG_REGISTER_UNAVAILABLE"


class ConsentUnavailable(HubError):
    code = "CONSENT_UNAVAILABLE"


class AuditUnavailable(HubError):
    code = "AUDIT_UNAVAILABLE"


class ConfigError(HubError, ValueError):
    code = "CONFIG_ERROR"

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in self.problems))
