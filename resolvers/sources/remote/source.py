"""The subgraph transport: a :class:`~resolvers.sources.base.Source` answered by the source's own subgraph.

Each question is one POST (:class:`~resolvers.sources.remote.transport.SubgraphClient`): a batch of keys
is one ``_entities`` document with a representation per key, whatever their kinds; candidate search is
``Query.candidates`` in chunks of :data:`CANDIDATE_CHUNK` queries. What comes back is what the contract's
direct answer (:func:`resolvers.sources.contract.answer`) would be: records with every field not asked
for None. A key the subgraph could not answer (an error at its entity) is an exception in that key's slot
of :meth:`SubgraphSource.fetch` (a DataLoader raises it for that key alone); a protected DWP address is
``address_protected=True`` with no address.

The hub's own questions (ties, record ids, homes, open claims) are entity fields of their own, asked for
under the caller's ask with the selection each needs (the subgraph allows each only to the purposes that
need it).

The batch link build's questions are root fields for the linkage purpose: DWP's records carrying given
NINOs (``peopleByNino``, in chunks of :data:`NINO_CHUNK`) and a council source's keyset feed (``feed``, in
pages of :data:`FEED_PAGE`). Changes of circumstance reach DWP's and HB's inboxes by their own idempotent
mutation (``deliverChanges``, :mod:`~resolvers.sources.remote.delivery`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast, overload

from hub.errors import SourceError, SourceUnavailable
from hub.types import SubjectKey
from linkage import PLACEHOLDER_DOBS, Demographics, NormalisedNino
from resolvers.sources.assertion import AssertionSigner
from resolvers.sources.base import HttpSpan, InboxChange, RemoteSpans, SourceName, Sources, no_http_span
from resolvers.sources.contract import ENTITIES, HUB_PURPOSES, LINKAGE_PURPOSE, Ask, Selection
from resolvers.sources.records import DwpRecord, HousingBenefitRecord, SocialCareRecord
from resolvers.sources.remote.breaker import CircuitBreaker
from resolvers.sources.remote.candidates import (
    CANDIDATE_COORDINATES,
    CANDIDATE_FIELDS,
    CANDIDATES_QUERY,
    FEED_COORDINATES,
    FEED_QUERY,
    PEOPLE_BY_NINO_COORDINATES,
    PEOPLE_BY_NINO_QUERY,
    blocking_queries,
    decode_candidates,
    decode_feed,
)
from resolvers.sources.remote.delivery import (
    DELIVER_MUTATION,
    DELIVERY_COORDINATES,
    change_input,
    decode_receipt,
    delivery_asks,
)
from resolvers.sources.remote.transport import MAX_BODY_BYTES, SubgraphClient
from resolvers.sources.remote.wire import Entity, Malformed, SlotError, build, entity_plan, representation

__all__ = [
    "CANDIDATE_CHUNK",
    "DELIVERY_CHUNK",
    "FEED_PAGE",
    "NINO_CHUNK",
    "CareSubgraph",
    "DwpSubgraph",
    "HbSubgraph",
    "SubgraphSource",
    "aclose_sources",
    "subgraph_source",
    "subgraph_sources",
]

R = TypeVar("R")
T = TypeVar("T")

#: Most blocking queries in one candidate search call (the wire's limit).
CANDIDATE_CHUNK = 100
#: Most NINOs in one peopleByNino call, records in one feed page (the wire's limits), changes in one delivery.
NINO_CHUNK = 100
FEED_PAGE = 1000
DELIVERY_CHUNK = 500


def hub_linkage_ask() -> Ask:
    """The hub's own linkage question (a model's training, a build without a run id): a fresh audit id."""
    return Ask(
        purpose=LINKAGE_PURPOSE,
        legal_basis=HUB_PURPOSES[LINKAGE_PURPOSE],
        org="welfare-hub",
        org_type="hub",
        audit_id=uuid.uuid4(),
        selection={},
        councils=None,
    )


_KINDS = frozenset({"nino", "id"})


class SubgraphSource(Generic[R]):
    """One source over its subgraph at ``url`` (POST ``{url}/graphql``).

    ``signer`` mints each call's assertion; ``timeout`` is the deadline of each call (seconds, the whole
    exchange); ``breaker`` is this source's own (default: open after 5 consecutive failures, for 5 s);
    ``http_span`` wraps each call and gives its trace context; ``remote_spans``, if given, receives the
    subgraph's own spans for each call (and only then are they asked for). ``placeholder_dobs`` are the
    dates the source's system writes for an unknown date of birth (:mod:`linkage.placeholders`): the
    subgraph answers dates as held, and its records reach linkage without them."""

    name: ClassVar[SourceName]
    entity: ClassVar[str]

    def __init__(
        self,
        url: str,
        *,
        signer: AssertionSigner,
        timeout: float,
        breaker: CircuitBreaker | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_connections: int = 32,
        http_span: HttpSpan = no_http_span,
        remote_spans: RemoteSpans | None = None,
        placeholder_dobs: frozenset[dt.date] = PLACEHOLDER_DOBS,
    ) -> None:
        self.placeholder_dobs = placeholder_dobs
        self.client = SubgraphClient(
            self.name,
            url,
            signer=signer,
            timeout=timeout,
            breaker=breaker,
            max_body_bytes=max_body_bytes,
            max_connections=max_connections,
            http_span=http_span,
            remote_spans=remote_spans,
        )

    @property
    def breaker(self) -> CircuitBreaker:
        return self.client.breaker

    async def aclose(self) -> None:
        """Close the HTTP session (its keep-alive connections); a later call opens a new one."""
        await self.client.aclose()

    # -- entities --------------------------------------------------------------------------------------

    async def _entities(
        self,
        keys: Sequence[SubjectKey],
        ask: Ask,
        selection: Selection,
        finish: Callable[[list[Entity | SlotError | None]], T],
    ) -> T:
        kinds = frozenset(k for k, _ in keys)
        if not kinds <= _KINDS:
            raise ValueError("a subject key is a ('nino', NINO) or an ('id', record id)")
        plan = entity_plan(self.entity, selection, kinds)
        reps = [representation(self.entity, k) for k in keys]
        return await self.client.call(
            {"query": plan.query, "variables": {"r": reps}},
            ask=ask,
            fields=plan.fields,
            decode=lambda payload: finish(plan.decode(payload, reps)),
            size=len(reps),
        )

    def _slot_error(self, slot: SlotError) -> SourceError:
        # (A refusal code anywhere in an answer refuses the whole call before the slots are read.)
        return SourceUnavailable(self.name, f"source {self.name} could not answer for one subject")

    def _record(self, entity: Entity, ask: Ask) -> R:
        raise NotImplementedError

    async def fetch(self, keys: Sequence[SubjectKey], ask: Ask) -> Sequence[R | None]:
        """One result per key, in order; a key the subgraph failed on holds a :class:`SourceError` instance.

        (Typed as the protocol says: the DataLoader the hub batches through raises an exception found in
        a slot for that key alone.)"""
        if not keys:
            return []

        def finish(slots: list[Entity | SlotError | None]) -> list[Any]:
            return [
                None if s is None else self._slot_error(s) if isinstance(s, SlotError) else self._record(s, ask)
                for s in slots
            ]

        return cast(list[R | None], await self._entities(keys, ask, ask.selection, finish))

    def _each(self, slots: list[Entity | SlotError | None]) -> list[Entity | None]:
        """The slots of one of the hub's own questions: a key it could not answer fails the question."""
        for s in slots:
            if isinstance(s, SlotError):
                raise self._slot_error(s)
        return cast(list[Entity | None], slots)

    async def ties(self, keys: Sequence[SubjectKey], ask: Ask) -> list[tuple[frozenset[str], frozenset[str]]]:
        """Per key: the councils its records here belong to, and the postcode districts they live in."""
        if not keys:
            return []

        def finish(slots: list[Entity | SlotError | None]) -> list[tuple[frozenset[str], frozenset[str]]]:
            return [
                (frozenset(), frozenset())
                if e is None
                else (frozenset(e.values["councils"] or ()), frozenset(e.values["postcodeDistricts"] or ()))
                for e in self._each(slots)
            ]

        selection = {self.entity: frozenset({"councils", "postcodeDistricts"})}
        return await self._entities(keys, ask.asking(selection), selection, finish)

    async def record_ids(self, nino: NormalisedNino, ask: Ask) -> list[str]:
        """The ids of this source's records that carry this NINO."""

        def finish(slots: list[Entity | SlotError | None]) -> list[str]:
            (found,) = self._each(slots)
            return [] if found is None else sorted(found.values["recordIds"] or ())

        selection = {self.entity: frozenset({"recordIds"})}
        return await self._entities([("nino", str(nino))], ask.asking(selection), selection, finish)

    async def find_candidates(self, queries: Sequence[Demographics], ask: Ask) -> list[tuple[int, Demographics]]:
        """Records sharing a blocking key with each query, asked under the hub's linkage purpose (for the
        caller's organisation and audit record): (query index, record) pairs."""
        selection = {"Query": frozenset({"candidates"}), "Candidate": frozenset(CANDIDATE_FIELDS)}
        linkage = dataclasses.replace(ask, purpose=LINKAGE_PURPOSE, selection=selection)
        found: list[tuple[int, Demographics]] = []
        for start in range(0, len(queries), CANDIDATE_CHUNK):
            chunk = blocking_queries(queries[start : start + CANDIDATE_CHUNK], self.placeholder_dobs)
            answered = await self.client.call(
                {"query": CANDIDATES_QUERY, "variables": {"q": chunk}},
                ask=linkage,
                fields=CANDIDATE_COORDINATES,
                decode=functools.partial(decode_candidates, n=len(chunk), placeholders=self.placeholder_dobs),
                size=len(chunk),
            )
            found.extend((start + i, record) for i, record in answered)
        return found

    # -- the link build's questions and the inbox (the subclasses that have them) -------------------------

    async def _feed(self, after: str | None, limit: int, ask: Ask | None) -> list[Demographics]:
        """This source's own records after record id ``after`` (None: from the first), in id order, at most
        ``limit``: in pages of at most :data:`FEED_PAGE`, each after the last id of the one before."""
        if limit < 1:
            return []
        the_ask = ask if ask is not None else hub_linkage_ask()
        out: list[Demographics] = []
        while len(out) < limit:
            size = min(FEED_PAGE, limit - len(out))
            cursor = after
            page = await self.client.call(
                {"query": FEED_QUERY, "variables": {"a": cursor, "l": size}},
                ask=the_ask,
                fields=FEED_COORDINATES,
                decode=functools.partial(decode_feed, limit=size, after=cursor, placeholders=self.placeholder_dobs),
                size=size,
            )
            out.extend(page)
            if len(page) < size:
                break
            after = page[-1].record_id
        return out

    async def _deliver(self, changes: Sequence[InboxChange], *, with_council: bool) -> dict[str, str]:
        """Write changes into the source's inbox by its own mutation, each once (keyed by delivery id); the
        councils learnt. Raises (a source error) when any call fails: the outbox retries the batch, and
        what already landed lands once."""
        councils: dict[str, str] = {}
        for ask, group in delivery_asks(changes):
            for start in range(0, len(group), DELIVERY_CHUNK):
                chunk = group[start : start + DELIVERY_CHUNK]
                councils.update(
                    await self.client.call(
                        {
                            "query": DELIVER_MUTATION,
                            "variables": {"c": [change_input(c, with_council=with_council) for c in chunk]},
                        },
                        ask=ask,
                        fields=DELIVERY_COORDINATES,
                        decode=functools.partial(decode_receipt, sent=chunk),
                        size=len(chunk),
                    )
                )
        return councils


class DwpSubgraph(SubgraphSource[DwpRecord]):
    """DWP, the spine, over its subgraph (a :class:`~resolvers.sources.base.SpineSource`)."""

    name = "dwp"
    entity = ENTITIES["dwp"]

    def _record(self, entity: Entity, ask: Ask) -> DwpRecord:
        # Whether the address is protected travels with the address (ADDRESS_PROTECTED at its path).
        protected = entity.address_protected if "address" in ask.of(self.entity) else None
        record: DwpRecord = build(DwpRecord, entity.values, address_protected=protected)
        return record

    async def people_of(self, keys: Sequence[SubjectKey], ask: Ask) -> list[tuple[str, dt.date]]:
        """(person id, date of birth) of the DWP people these keys name.

        A key field is an echo of the representation, not data (a subgraph may answer the other key
        null): the ids a NINO names are its ``recordIds``; an id names itself."""
        if not keys:
            return []

        def finish(slots: list[Entity | SlotError | None]) -> list[tuple[str, dt.date]]:
            out: dict[str, dt.date] = {}
            for (kind, value), e in zip(keys, self._each(slots), strict=True):
                if e is None:
                    continue
                born = e.values["dateOfBirth"]
                ids = [str(value)] if kind == "id" else list(e.values["recordIds"] or ())
                if born is None or not ids:
                    raise Malformed("a DWP person without an id or a date of birth")
                out.update(dict.fromkeys(ids, born))
            return sorted(out.items())

        selection = {self.entity: frozenset({"recordIds", "dateOfBirth"})}
        return await self._entities(keys, ask.asking(selection), selection, finish)

    async def people_by_nino(self, ninos: Sequence[str], ask: Ask | None = None) -> list[Demographics]:
        """DWP's records carrying these normalised NINOs (``peopleByNino``, in chunks of
        :data:`NINO_CHUNK`), under the caller's linkage ask as given (None: the hub's own)."""
        the_ask = ask if ask is not None else hub_linkage_ask()
        wanted = list(dict.fromkeys(ninos))
        out: list[Demographics] = []
        for start in range(0, len(wanted), NINO_CHUNK):
            chunk = wanted[start : start + NINO_CHUNK]
            found = await self.client.call(
                {"query": PEOPLE_BY_NINO_QUERY, "variables": {"n": chunk}},
                ask=the_ask,
                fields=PEOPLE_BY_NINO_COORDINATES,
                decode=functools.partial(
                    decode_candidates, n=len(chunk), root="peopleByNino", placeholders=self.placeholder_dobs
                ),
                size=len(chunk),
            )
            out.extend(record for _, record in found)
        return out

    async def deliver(self, changes: Sequence[InboxChange]) -> dict[str, str]:
        """Write changes of circumstance into DWP's inbox (``deliverChanges``), each once; DWP learns no
        council: nothing to report back."""
        await self._deliver(changes, with_council=False)
        return {}

    async def homes(self, person_ids: Sequence[str], ask: Ask) -> dict[str, tuple[str, ...]]:
        """Where each person lives, as keys to compare (never shown): for the auditors' same-address check."""
        if not person_ids:
            return {}

        def finish(slots: list[Entity | SlotError | None]) -> dict[str, tuple[str, ...]]:
            return {
                person: tuple(e.values["homeKeys"] or ())
                for person, e in zip(person_ids, self._each(slots), strict=True)
                if e is not None
            }

        selection = {self.entity: frozenset({"homeKeys"})}
        return await self._entities([("id", p) for p in person_ids], ask.asking(selection), selection, finish)


class HbSubgraph(SubgraphSource[HousingBenefitRecord]):
    """The councils' Housing Benefit over its subgraph (a :class:`~resolvers.sources.base.ClaimsSource`)."""

    name = "hb"
    entity = ENTITIES["hb"]

    def _record(self, entity: Entity, ask: Ask) -> HousingBenefitRecord:
        record: HousingBenefitRecord = build(HousingBenefitRecord, entity.values)
        return record

    async def open_claims(self, keys: Sequence[SubjectKey], ask: Ask) -> list[tuple[str, str]]:
        """(claim ref, council) of the open claims these keys name: where a change of circumstance goes."""
        if not keys:
            return []

        def finish(slots: list[Entity | SlotError | None]) -> list[tuple[str, str]]:
            out: dict[str, str] = {}
            for e in self._each(slots):
                for claim in (e.values["openClaims"] or ()) if e is not None else ():
                    ref, council = claim["claimRef"], claim["councilCode"]
                    if ref is None or council is None:
                        raise Malformed("an open claim without its reference or council")
                    out[ref] = council
            return sorted(out.items())

        selection = {self.entity: frozenset({"openClaims"}), "OpenClaim": frozenset({"claimRef", "councilCode"})}
        return await self._entities(keys, ask.asking(selection), selection, finish)

    async def feed(self, after: str | None, limit: int, ask: Ask | None = None) -> list[Demographics]:
        """The claims after claim ref ``after`` (None: from the first), in claim-ref order: the keyset feed."""
        return await self._feed(after, limit, ask)

    async def deliver(self, changes: Sequence[InboxChange]) -> dict[str, str]:
        """Write changes of circumstance into the HB teams' inbox (``deliverChanges``), each once; the councils
        of the claims routed without one (claim ref -> council). A claim HB no longer holds lands nothing."""
        return await self._deliver(changes, with_council=True)


class CareSubgraph(SubgraphSource[SocialCareRecord]):
    """The councils' adult social care over its subgraph."""

    name = "social_care"
    entity = ENTITIES["social_care"]

    def _record(self, entity: Entity, ask: Ask) -> SocialCareRecord:
        councils = entity.values.get("councils")
        # The councils it answers for, when asked (the direct answer always knows them; the wire says only
        # what was asked). Care plans never cross the wire: only the answers derived from them do.
        record: SocialCareRecord = build(SocialCareRecord, entity.values, council_codes=tuple(sorted(councils or ())))
        return record

    async def feed(self, after: str | None, limit: int, ask: Ask | None = None) -> list[Demographics]:
        """The client records after client id ``after`` (None: from the first), in id order: the keyset feed."""
        return await self._feed(after, limit, ask)


_BY_NAME: Mapping[str, type[SubgraphSource[Any]]] = {"dwp": DwpSubgraph, "hb": HbSubgraph, "social_care": CareSubgraph}


@overload
def subgraph_source(name: Literal["dwp"], url: str, **options: Any) -> DwpSubgraph: ...
@overload
def subgraph_source(name: Literal["hb"], url: str, **options: Any) -> HbSubgraph: ...
@overload
def subgraph_source(name: Literal["social_care"], url: str, **options: Any) -> CareSubgraph: ...
@overload
def subgraph_source(name: str, url: str, **options: Any) -> SubgraphSource[Any]: ...
def subgraph_source(name: str, url: str, **options: Any) -> SubgraphSource[Any]:
    """The adapter for source ``name`` over its subgraph at ``url`` (``options``: :class:`SubgraphSource`'s)."""
    if name not in _BY_NAME:
        raise ValueError(f"no source named {name!r}: one of {', '.join(_BY_NAME)}")
    return _BY_NAME[name](url, **options)


def subgraph_sources(
    urls: Mapping[str, str],
    *,
    signer: AssertionSigner,
    timeout: float,
    breaker_threshold: int = 5,
    breaker_cool_down: float = 5.0,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_connections: int = 32,
    http_span: HttpSpan = no_http_span,
    remote_spans: RemoteSpans | None = None,
) -> Sources:
    """The three sources over their subgraphs, ``urls`` by source name (``dwp``, ``hb``, ``social_care``);
    each with its own session and breaker. Close them with :func:`aclose_sources`. (A hub reading some
    sources directly builds the others one by one with :func:`subgraph_source`.)"""
    missing = sorted(_BY_NAME.keys() - urls.keys())
    if missing:
        raise ValueError(f"no subgraph URL for: {', '.join(missing)}")

    def options() -> dict[str, Any]:
        return {
            "signer": signer,
            "timeout": timeout,
            "breaker": CircuitBreaker(threshold=breaker_threshold, cool_down=breaker_cool_down),
            "max_body_bytes": max_body_bytes,
            "max_connections": max_connections,
            "http_span": http_span,
            "remote_spans": remote_spans,
        }

    return Sources(
        dwp=subgraph_source("dwp", urls["dwp"], **options()),
        hb=subgraph_source("hb", urls["hb"], **options()),
        social_care=subgraph_source("social_care", urls["social_care"], **options()),
    )


async def aclose_sources(sources: Sources) -> None:
    """Close the HTTP sessions of those of ``sources`` that are subgraphs."""
    for name in sources:
        source = sources[name]
        if isinstance(source, SubgraphSource):
            await source.aclose()
