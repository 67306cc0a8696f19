"""The linkage questions on the wire: candidate search (the hub's blocking keys as BlockingQuery objects),
DWP's records carrying given NINOs (``peopleByNino``) and a council source's keyset feed (``feed``). Each
answers Candidates, checked (exactly the comparison fields, each query index one that was asked; a feed
page in order) before they become :class:`~linkage.Demographics`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from linkage import PLACEHOLDER_DOBS, Demographics, known_dob
from resolvers.sources.contract import CANDIDATE_FIELDS
from resolvers.sources.demographics import query_batch
from resolvers.sources.remote.wire import Malformed, check_answer, date_value, int_value, required_text, text_value

__all__ = [
    "CANDIDATES_QUERY",
    "CANDIDATE_COORDINATES",
    "CANDIDATE_FIELDS",
    "FEED_COORDINATES",
    "FEED_QUERY",
    "PEOPLE_BY_NINO_COORDINATES",
    "PEOPLE_BY_NINO_QUERY",
    "blocking_queries",
    "decode_candidates",
    "decode_feed",
]

CANDIDATES_QUERY = f"query($q:[BlockingQuery!]!){{candidates(queries:$q){{{' '.join(CANDIDATE_FIELDS)}}}}}"
_FIELDS = tuple(f"Candidate.{f}" for f in CANDIDATE_FIELDS)
CANDIDATE_COORDINATES: tuple[str, ...] = ("Query.candidates", *_FIELDS)
PEOPLE_BY_NINO_QUERY = f"query($n:[ID!]!){{peopleByNino(ninos:$n){{{' '.join(CANDIDATE_FIELDS)}}}}}"
PEOPLE_BY_NINO_COORDINATES: tuple[str, ...] = ("Query.peopleByNino", *_FIELDS)
FEED_QUERY = f"query($a:ID,$l:Int!){{feed(after:$a,limit:$l){{{' '.join(CANDIDATE_FIELDS)}}}}}"
FEED_COORDINATES: tuple[str, ...] = ("Query.feed", *_FIELDS)

_BLOCKING_KEYS = (
    "given",
    "family",
    "dob",
    "dobSwapped",
    "postcode",
    "town",
    "monthStart",
    "monthEnd",
    "yearStart",
    "yearEnd",
)


def blocking_queries(
    queries: Sequence[Demographics], placeholders: frozenset[dt.date] = PLACEHOLDER_DOBS
) -> list[dict[str, str | None]]:
    """The hub-computed blocking keys of each query, as BlockingQuery objects (the source evaluates them); a
    date of birth in the source's ``placeholders`` is sent as none."""
    columns = query_batch(queries, placeholders).args[1:]  # the first column is the index: the list position says it
    return [
        {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in zip(_BLOCKING_KEYS, row, strict=True)}
        for row in zip(*columns, strict=True)
    ]


def decode_candidates(
    payload: Any, n: int, root: str = "candidates", placeholders: frozenset[dt.date] = PLACEHOLDER_DOBS
) -> list[tuple[int, Demographics]]:
    """The candidates answered at ``root`` for ``n`` queries (or NINOs): (query index, record) pairs. The
    subgraph answers dates of birth as held; one of the source's ``placeholders`` becomes None here."""
    data, errors = check_answer(payload)
    if errors or data is None:
        raise Malformed(f"the {root} question failed")
    if not isinstance(data, dict) or data.keys() != {root} or not isinstance(data[root], list):
        raise Malformed(f"data is not a {root} answer")
    expected = frozenset(CANDIDATE_FIELDS)
    out: list[tuple[int, Demographics]] = []
    for c in data[root]:
        if not isinstance(c, dict) or c.keys() != expected:
            raise Malformed("a candidate does not hold exactly the fields asked for")
        i = int_value(c["query"])
        if not 0 <= i < n:
            raise Malformed("a candidate for no query asked")
        record_id = required_text(c["recordId"])
        out.append(
            (
                i,
                Demographics(
                    given_name=text_value(c["givenName"]),
                    family_name=text_value(c["familyName"]),
                    middle_names=text_value(c["middleNames"]),
                    known_as=text_value(c["knownAs"]),
                    name_suffix=text_value(c["nameSuffix"]),
                    previous_family_names=text_value(c["previousFamilyNames"]),
                    dob=known_dob(date_value(c["dateOfBirth"]), placeholders),
                    postcode=text_value(c["postcode"]),
                    address_line1=text_value(c["addressLine1"]),
                    address_line2=text_value(c["addressLine2"]),
                    town=text_value(c["town"]),
                    nhs_number=text_value(c["nhsNumber"]),
                    nino=text_value(c["nino"]),
                    record_id=record_id,
                ),
            )
        )
    return out


def decode_feed(
    payload: Any, limit: int, after: str | None, placeholders: frozenset[dt.date] = PLACEHOLDER_DOBS
) -> list[Demographics]:
    """A feed page of at most ``limit`` records: in place order (0, 1, ...), each id once and none ``after``
    itself (a page that repeated its cursor would have the hub walk it for ever)."""
    page = decode_candidates(payload, limit, "feed", placeholders)
    if [i for i, _ in page] != list(range(len(page))):
        raise Malformed("a feed page out of order")
    records = [r for _, r in page]
    ids = [r.record_id for r in records]
    if len(set(ids)) != len(ids) or (after is not None and after in ids):
        raise Malformed("a feed page repeating a record")
    return records
