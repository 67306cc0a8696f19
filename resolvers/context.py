"""What every resolver can reach: the long-lived services, and the per-request context.

:class:`Services` is built once, by the app's lifespan, with every service set: a resolver never asks
whether a store exists. The sources are typed per adapter (:class:`~resolvers.sources.base.Sources`), so
each question a resolver puts to a source is checked against what that source can answer.

The request context also gathers what the audit record needs (subjects, fields released, sources read),
so the record is built from what actually happened rather than from what was asked.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from strawberry.dataloader import DataLoader

from hub.access.orgs import Organisation
from hub.access.policy import PurposeSpec, Register
from hub.access.tokens import Caller
from hub.audit.chain import AuditSink
from hub.audit.events import AuditLog
from hub.audit.receipts import Receipts
from hub.audit.verification import VerificationCache
from hub.config import Settings
from hub.records.complaints import ComplaintStore
from hub.records.consent import ConsentRecord, ConsentStore
from hub.records.corrections import CorrectionStore
from hub.records.interests import InterestStore
from hub.records.links import IndexedPerson, LinkIndex, ReviewQueue
from hub.records.notifications import NotificationStore
from hub.records.operations import OperationSafelist
from hub.records.orgs import OrgRegister
from hub.types import SubjectKey
from linkage import KeyedHash, KeyRing, NormalisedNino, user_hash
from resolvers.sources import Sources
from resolvers.sources.contract import HUB_PURPOSES, Ask, Selection, selection_from
from resolvers.sources.records import DwpRecord, HousingBenefitRecord, SocialCareRecord

__all__ = ["RequestContext", "Services"]


@dataclass(frozen=True)
class Services:
    settings: Settings
    sources: Sources
    key_ring: KeyRing
    register: Register
    audit: AuditSink
    receipts: Receipts  # signs each response's audit receipt (hub.audit.receipts)
    identity: LinkIndex
    review: ReviewQueue
    consent: ConsentStore
    orgs: OrgRegister
    audit_log: AuditLog
    audit_verification: VerificationCache
    audit_public_keys: Mapping[str, str]  # key id -> base64 public key
    notifications: NotificationStore
    interests: InterestStore
    corrections: CorrectionStore
    complaints: ComplaintStore
    operations: OperationSafelist  # each organisation's registered operations (hub.records.operations)


@dataclass
class RequestContext:
    services: Services
    caller: Caller
    request_id: uuid.UUID = field(default_factory=uuid.uuid4)
    purpose: PurposeSpec | None = None
    claimed_purpose: str | None = None  # what the operation asked for, recorded even when refused
    allowed_fields: frozenset[str] = frozenset()
    selected_fields: frozenset[str] = frozenset()  # what the operation resolves, within allowed_fields
    refused: bool = False
    audited: bool = False
    subjects: list[KeyedHash] = field(default_factory=list)
    link_method: str | None = None
    link_probability: float | None = None
    model_version: str | None = None
    identity_sources: set[str] = field(default_factory=set)  # read to find the person, not released
    released: set[str] = field(default_factory=set)
    organisation: Organisation | None = None  # the caller, as the organisation register holds it
    #: The area a legitimate relationship is judged against: (council, its postcode districts); None when the
    #: operation needs no tie; (None, empty) when the caller should have an area and has none.
    area: tuple[str | None, frozenset[str]] | None = None
    consent: ConsentRecord | None = None  # the live consent a consent-based lookup relies on
    consent_subject: str | None = None  # whose (keyed hash)
    sources_read: set[str] = field(default_factory=set)
    _loaders: dict[str, DataLoader[SubjectKey, Any]] = field(default_factory=dict)  # by source name
    _index_loader: DataLoader[NormalisedNino, IndexedPerson | None] | None = None
    _own_subject: str | None = None
    _own_person: uuid.UUID | None = None
    _user_hash: str | None = None
    _ask: Ask | None = None
    _tie_loaders: dict[str, DataLoader[SubjectKey, tuple[frozenset[str], frozenset[str]]]] = field(default_factory=dict)

    async def council_scope(self) -> frozenset[str] | None:
        """Whose councils' Housing Benefit and social-care records may be given to the caller: ``None`` for
        every council's (a national body, or a purpose that says ``cross_council``); otherwise its own
        council's (a partner's: its controlling council's), and none when it serves no council."""
        org, spec = self.organisation, self.purpose
        if org is None or spec is None:
            return frozenset()
        if org.national or spec.cross_council:
            return None
        own = await self.services.orgs.council_served(org)
        return frozenset() if own is None else frozenset({own})

    async def ask(self) -> Ask:
        """What every source is asked under, for this request: the purpose decided, the caller, this
        request's audit record, the fields selected (within the allow-list) and the councils in scope."""
        if self._ask is None:
            spec = self.purpose
            assert spec is not None, "sources are read only once a purpose is decided"
            self._ask = Ask(
                purpose=spec.id,
                legal_basis=spec.legal_basis,
                org=self.caller.org,
                org_type=self.caller.org_type,
                audit_id=self.request_id,
                selection=selection_from(self.selected_fields),
                councils=await self.council_scope(),
            )
        return self._ask

    def hub_ask(self, purpose: str, selection: Selection) -> Ask:
        """A question the hub asks for itself under one of its own purposes (HUB_PURPOSES), for this
        request's caller and audit record, of every council's records (it answers whose a record is)."""
        return Ask(
            purpose=purpose,
            legal_basis=HUB_PURPOSES[purpose],
            org=self.caller.org,
            org_type=self.caller.org_type,
            audit_id=self.request_id,
            selection=selection,
            councils=None,
        )

    def tie_loader(self, source_name: str) -> DataLoader[SubjectKey, tuple[frozenset[str], frozenset[str]]]:
        """A subject's councils and postcode districts in one source, batched per request like fetches."""
        loader = self._tie_loaders.get(source_name)
        if loader is None:
            source = self.services.sources[source_name]

            async def batch(keys: list[SubjectKey]) -> Sequence[tuple[frozenset[str], frozenset[str]]]:
                return await source.ties(keys, await self.ask())

            loader = DataLoader(load_fn=batch)
            self._tie_loaders[source_name] = loader
        return loader

    @property
    def user_hash(self) -> str:
        """The user, as the audit log and the hub's records know them: a keyed hash, stable across rotation
        (an HMAC, made once per request: the guard, the audit record and the own-subject check all ask)."""
        if self._user_hash is None:
            self._user_hash = user_hash(self.services.key_ring, self.caller.org, self.caller.user)
        return self._user_hash

    @property
    def own_subject_known(self) -> str | None:
        """What :meth:`own_subject` read (the guard reads it before execution, so lookups stay batched)."""
        assert self._own_subject is not None, "own_subject() is awaited before any lookup runs"
        return self._own_subject or None

    @property
    def own_person_known(self) -> uuid.UUID | None:
        """The user's own hub person key, read with :meth:`own_subject`."""
        assert self._own_subject is not None, "own_subject() is awaited before any lookup runs"
        return self._own_person

    async def own_subject(self) -> str | None:
        """The keyed hash of the user's own NINO (hub.staff_identity), read once per request."""
        if self._own_subject is None:
            # A failed read raises OrgRegisterUnavailable: nothing is released.
            found = await self.services.orgs.staff_identity(self.user_hash)
            self._own_subject, self._own_person = found if found is not None else ("", None)
        return self._own_subject or None

    def finish(self) -> None:
        """The request is answered: its loaders let go. A source's loader calls back into this context (the
        ask, the sources read), so context and loaders held each other, a cycle that left each request's
        records and batches to the garbage collector rather than freed as the answer left."""
        self._loaders.clear()
        self._tie_loaders.clear()
        self._index_loader = None

    def index_loader(self) -> DataLoader[NormalisedNino, IndexedPerson | None]:
        """Link-index lookups batched per request, so the source loads after them batch too."""
        if self._index_loader is None:
            identity = self.services.identity
            ring = self.services.key_ring

            async def batch(ninos: list[NormalisedNino]) -> Sequence[IndexedPerson | None]:
                return await identity.by_ninos([ring.hash_all(n) for n in ninos])

            self._index_loader = DataLoader(load_fn=batch)
        return self._index_loader

    @overload
    def loader(self, source_name: Literal["dwp"]) -> DataLoader[SubjectKey, DwpRecord | None]: ...
    @overload
    def loader(self, source_name: Literal["hb"]) -> DataLoader[SubjectKey, HousingBenefitRecord | None]: ...
    @overload
    def loader(self, source_name: Literal["social_care"]) -> DataLoader[SubjectKey, SocialCareRecord | None]: ...
    @overload
    def loader(self, source_name: str) -> DataLoader[SubjectKey, object | None]: ...

    def loader(self, source_name: str) -> DataLoader[SubjectKey, Any]:
        """One DataLoader per source per request: N people cost one query per source, not N."""
        loader = self._loaders.get(source_name)
        if loader is None:
            source = self.services.sources[source_name]

            async def batch(keys: list[SubjectKey]) -> Sequence[object | None]:
                answer = await source.fetch(keys, await self.ask())
                self.sources_read.add(source.name)  # only once it answered
                return answer

            loader = DataLoader(load_fn=batch)
            self._loaders[source_name] = loader
        return loader
