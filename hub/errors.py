"""Every error the hub raises on purpose, each with the stable ``extensions.code`` a caller sees.

    HubError                                   (code)
    ├── AuthError                              HTTP 401, never reaches GraphQL
    │   └── InvalidToken                       UNAUTHENTICATED
    ├── RequestRefused (also PermissionError)  the operation is refused before any source is read
    │   ├── UnknownOrganisation                UNKNOWN_ORGANISATION (not in the register, or inactive)
    │   ├── OrganisationTypeMismatch           ORG_TYPE_MISMATCH (token and register disagree)
    │   ├── AccreditationExpired               ACCREDITATION_EXPIRED (a partner past its accreditation)
    │   ├── NoLegitimateRelationship           NO_LEGITIMATE_RELATIONSHIP (not connected with your area)
    │   ├── OwnRecord                          OWN_RECORD (a user's own record; flagged for the auditor)
    │   ├── UnknownPurpose                     UNKNOWN_PURPOSE
    │   ├── PurposeNotGranted                  PURPOSE_NOT_GRANTED
    │   ├── PurposeForbidsField                PURPOSE_FORBIDS_FIELD
    │   ├── ConsentRequired                    CONSENT_REQUIRED
    │   ├── MixedPurposes                      MIXED_PURPOSES
    │   ├── IntrospectionDisabled              INTROSPECTION_DISABLED
    │   ├── OperationNotSupported              OPERATION_NOT_SUPPORTED
    │   └── NotReceived                        NOT_RECEIVED (a correction of a field never received)
    ├── BadUserInput (also ValueError)         BAD_USER_INPUT
    │   ├── InvalidNinoInput                   INVALID_NINO (reason in extensions.reason)
    │   ├── InvalidEffectiveDate               INVALID_EFFECTIVE_DATE (a change dated in the future or before birth)
    │   └── IdempotencyKeyReused               IDEMPOTENCY_KEY_REUSED (one key, two different notifications)
    ├── NotificationUnavailable                NOTIFICATION_UNAVAILABLE (not recorded: nothing was accepted)
    ├── HubStoreUnavailable                    HUB_STORE_UNAVAILABLE (interests, corrections, complaints unreadable)
    ├── ProtectedAddress                       PROTECTED_ADDRESS (a field error: the address is withheld)
    ├── SubjectNotFound (also LookupError)     SUBJECT_NOT_FOUND
    ├── MatchNeedsReview (also LookupError)    MATCH_NEEDS_REVIEW (nothing released; a person decides)
    ├── LinkageUnavailable                     LINKAGE_UNAVAILABLE (no model for the demographic fallback)
    ├── SourceError                            a field error: the other sources still answer
    │   ├── SourceUnavailable                  SOURCE_UNAVAILABLE
    │   └── SourceTimeout (also TimeoutError)  SOURCE_TIMEOUT
    ├── OrgRegisterUnavailable                 ORG_REGISTER_UNAVAILABLE (caller unverifiable: refused)
    ├── ConsentUnavailable                     CONSENT_UNAVAILABLE (consent unreadable: nothing released)
    ├── AuditUnavailable                       AUDIT_UNAVAILABLE (fail closed: nothing released)
    └── ConfigError (also ValueError)          refuses to start, listing every problem

No message here ever contains a NINO, a name or any other value taken from a request or a source.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

__all__ = [
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
    "NoLegitimateRelationship",
    "OperationNotSupported",
    "OrgRegisterUnavailable",
    "OrganisationTypeMismatch",
    "OwnRecord",
    "ProtectedAddress",
    "PurposeForbidsField",
    "PurposeNotGranted",
    "RequestRefused",
    "SourceError",
    "SourceTimeout",
    "SourceUnavailable",
    "SubjectNotFound",
    "UnknownOrganisation",
    "UnknownPurpose",
]


class HubError(Exception):
    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions: dict[str, Any] = {"code": self.code, **extensions}


class AuthError(HubError):
    code = "UNAUTHENTICATED"


class InvalidToken(AuthError):
    code = "UNAUTHENTICATED"


class RequestRefused(HubError, PermissionError):
    code = "REFUSED"


class UnknownPurpose(RequestRefused):
    code = "UNKNOWN_PURPOSE"


class UnknownOrganisation(RequestRefused):
    code = "UNKNOWN_ORGANISATION"


class OrganisationTypeMismatch(RequestRefused):
    code = "ORG_TYPE_MISMATCH"


class AccreditationExpired(RequestRefused):
    code = "ACCREDITATION_EXPIRED"


class NoLegitimateRelationship(RequestRefused):
    code = "NO_LEGITIMATE_RELATIONSHIP"


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


class IdempotencyKeyReused(BadUserInput):
    code = "IDEMPOTENCY_KEY_REUSED"


class NotificationUnavailable(HubError):
    code = "NOTIFICATION_UNAVAILABLE"


class HubStoreUnavailable(HubError):
    code = "HUB_STORE_UNAVAILABLE"


class ProtectedAddress(HubError, PermissionError):
    code = "PROTECTED_ADDRESS"


class SubjectNotFound(HubError, LookupError):
    code = "SUBJECT_NOT_FOUND"


class MatchNeedsReview(HubError, LookupError):
    code = "MATCH_NEEDS_REVIEW"


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
