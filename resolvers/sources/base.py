"""What a source is to the hub: the :class:`Source` protocol every adapter implements, the extra questions
some sources can answer, and the span factory an adapter is given.

Every question carries an :class:`~resolvers.sources.contract.Ask` (who asks, for what, under which audit
record, which fields, whose councils' records): a subgraph receives it signed, a direct adapter applies it.

A source is looked up in batches (one query per kind of key per request, however many people are asked
for), each call under its own timeout. Failures never escape as driver errors: a source that is down,
slow or broken raises :class:`~hub.errors.SourceUnavailable` or :class:`~hub.errors.SourceTimeout`, which
the GraphQL layer turns into a field error while the other sources still answer.

Capabilities beyond :class:`Source` are small protocols of their own (:class:`SpineSource` for DWP,
:class:`ClaimsSource` for Housing Benefit), and :class:`Sources` holds the three adapters typed as what
each can do, so every call a resolver makes is checked against what the adapter offers.

Tracing is a cross-cutting concern, injected rather than imported: an adapter calls the :data:`DbSpan`
it was given (the hub's is built on OpenTelemetry; batch jobs and tests may give :func:`no_span`). A
subgraph adapter is given an :data:`HttpSpan` for each call (whose span supplies the W3C ``traceparent``
to send) and a :data:`RemoteSpans` sink for the spans the subgraph reports back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from hub.types import RemoteSpan, SubjectKey
from linkage import Demographics, NormalisedNino
from resolvers.sources.contract import Ask
from resolvers.sources.records import DwpRecord, HousingBenefitRecord, SocialCareRecord

__all__ = [
    "SOURCE_NAMES",
    "ClaimsSource",
    "DbSpan",
    "HeldChange",
    "HttpSpan",
    "HttpSpanLike",
    "InboxChange",
    "RemoteSpans",
    "Source",
    "SourceName",
    "Sources",
    "SpanLike",
    "SpineSource",
    "no_http_span",
    "no_span",
]

R_co = TypeVar("R_co", covariant=True)

#: The three sources, in the order the hub reads and reports them (DWP, the spine, first).
SourceName = Literal["dwp", "hb", "social_care"]
SOURCE_NAMES: tuple[SourceName, ...] = ("dwp", "hb", "social_care")


# -- tracing, injected -------------------------------------------------------------------------------


class SpanLike(Protocol):
    """The two things an adapter says about the query it ran: how many rows came back, or which error."""

    def set_attribute(self, key: str, value: int) -> None: ...

    def record_error(self, code: str) -> None:
        """Mark the span failed with the stable error code (never the driver's message: it may quote data)."""
        ...


#: ``db_span(namespace, parameterised SQL)``: a context manager around one query. The text carries bind
#: parameters only, never values, so a span cannot leak what was asked for.
DbSpan = Callable[[str, str], AbstractContextManager[SpanLike]]


class _NoSpan:
    def set_attribute(self, key: str, value: int) -> None:
        pass

    def record_error(self, code: str) -> None:
        pass


@contextlib.contextmanager
def no_span(namespace: str, query: str) -> Iterator[SpanLike]:
    """A :data:`DbSpan` that records nothing (batch jobs and tests that do not trace)."""
    yield _NoSpan()


class HttpSpanLike(Protocol):
    """A client span around one call to a subgraph: what it says, and the trace context it hands on."""

    def set_attribute(self, key: str, value: str | int) -> None: ...

    def record_error(self, code: str) -> None:
        """Mark the span failed with the stable error code (never the subgraph's message: it may quote data)."""
        ...

    def headers(self) -> dict[str, str]:
        """The headers that carry this span's context to the subgraph (W3C ``traceparent``)."""
        ...


#: ``http_span(source name, url)``: a context manager around one POST to a subgraph. The URL is the
#: configured endpoint, never a query string: nothing asked for is in it.
HttpSpan = Callable[[str, str], AbstractContextManager[HttpSpanLike]]


#: ``remote_spans(source name, spans)``: the subgraph's own spans for one call (its ``extensions.spans``),
#: as the adapter checked them when the call returned (count, ids, the trace id, lengths: only what fits
#: is held); the hub keeps them with its own. An adapter given none does not ask for them.
RemoteSpans = Callable[[str, list[RemoteSpan]], None]


class _NoHttpSpan(_NoSpan):
    def set_attribute(self, key: str, value: str | int) -> None:
        pass

    def headers(self) -> dict[str, str]:
        return {}


@contextlib.contextmanager
def no_http_span(source: str, url: str) -> Iterator[HttpSpanLike]:
    """An :data:`HttpSpan` that records nothing and sends no trace context."""
    yield _NoHttpSpan()


# -- what every source answers -----------------------------------------------------------------------


class Source(Protocol[R_co]):
    """A source system the hub reads. ``name`` is the id used in errors, audit records and traces."""

    @property
    def name(self) -> str: ...

    async def fetch(self, keys: Sequence[SubjectKey], ask: Ask) -> Sequence[R_co | None]:
        """One result per key, in order: the source's answer for it under the contract (in the ask's scope,
        only the fields it selects), or ``None`` if it holds none the caller may be given."""
        ...

    async def find_candidates(self, queries: Sequence[Demographics], ask: Ask) -> list[tuple[int, Demographics]]:
        """Records sharing a blocking key with each query: (query index, record) pairs."""
        ...

    async def ties(self, keys: Sequence[SubjectKey], ask: Ask) -> list[tuple[frozenset[str], frozenset[str]]]:
        """Per key: the councils its records here belong to, and the postcode districts they live in."""
        ...

    async def record_ids(self, nino: NormalisedNino, ask: Ask) -> list[str]:
        """The ids of this source's records that carry this NINO (a correction names the records it is of)."""
        ...


# -- what some sources also answer -------------------------------------------------------------------


class InboxChange(Protocol):
    """A change of circumstance the hub delivers to a source's inbox (the outbox's claimed row)."""

    @property
    def delivery_id(self) -> uuid.UUID: ...
    @property
    def notification_id(self) -> uuid.UUID | None: ...
    @property
    def kind(self) -> str | None: ...
    @property
    def effective_date(self) -> dt.date | None: ...
    @property
    def target_ref(self) -> str: ...  # a DWP person id, an HB claim ref
    @property
    def council_code(self) -> str | None: ...
    @property
    def sender_org(self) -> str | None: ...
    @property
    def sender_org_type(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class HeldChange:
    """An :class:`InboxChange` held in memory: what a subgraph hands its source's ``deliver``."""

    delivery_id: uuid.UUID
    notification_id: uuid.UUID
    kind: str
    effective_date: dt.date
    target_ref: str
    council_code: str | None
    sender_org_type: str


class SpineSource(Source[DwpRecord], Protocol):
    """DWP, the spine: everyone with a NINO, where they live, and an inbox for changes of circumstance."""

    async def people_of(self, keys: Sequence[SubjectKey], ask: Ask) -> list[tuple[str, dt.date]]:
        """(person id, date of birth) of the DWP people these keys name."""
        ...

    async def homes(self, person_ids: Sequence[str], ask: Ask) -> dict[str, tuple[str, ...]]:
        """Where each person lives, as keys to compare (never shown): for the auditors' same-address check."""
        ...

    async def deliver(self, changes: Sequence[InboxChange]) -> dict[str, str]:
        """Write changes into the inbox, each once (keyed by its delivery id); the councils learnt, if any."""
        ...


class ClaimsSource(Source[HousingBenefitRecord], Protocol):
    """The councils' Housing Benefit: claims, where a change of circumstance goes, and an inbox for it."""

    async def open_claims(self, keys: Sequence[SubjectKey], ask: Ask) -> list[tuple[str, str]]:
        """(claim ref, council) of the open claims these keys name."""
        ...

    async def deliver(self, changes: Sequence[InboxChange]) -> dict[str, str]:
        """Write changes into the inbox, each once; the councils of claims routed while HB did not answer."""
        ...


@dataclass(frozen=True, slots=True)
class Sources:
    """The three sources the hub reads, each typed as what it can answer; by name where code goes over all."""

    dwp: SpineSource
    hb: ClaimsSource
    social_care: Source[SocialCareRecord]

    def __getitem__(self, name: str) -> Source[object]:
        if name not in SOURCE_NAMES:
            raise KeyError(name)
        found: Source[object] = getattr(self, name)
        return found

    def __iter__(self) -> Iterator[SourceName]:
        return iter(SOURCE_NAMES)
