"""Candidate search on the wire: the hub's blocking keys as BlockingQuery objects, and the candidates
answered checked (exactly the comparison fields, each query index one that was asked) before they become
:class:`~linkage.Demographics`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from linkage import Demographics
from resolvers.sources.demographics import query_batch
from resolvers.sources.remote.wire import Malformed, check_answer, date_value, int_value, required_text, text_value

__all__ = ["CANDIDATES_QUERY", "CANDIDATE_COORDINATES", "CANDIDATE_FIELDS", "blocking_queries", "decode_candidates"]

#: Candidate's fields: the comparison fields of linkage.Demographics, and which query it answers.
CANDIDATE_FIELDS: tuple[str, ...] = (
    "query",
    "recordId",
    "nino",
    "givenName",
    "familyName",
    "dateOfBirth",
    "postcode",
    "addressLine1",
    "addressLine2",
    "town",
    "nhsNumber",
)
CANDIDATES_QUERY = f"query($q:[BlockingQuery!]!){{candidates(queries:$q){{{' '.join(CANDIDATE_FIELDS)}}}}}"
CANDIDATE_COORDINATES: tuple[str, ...] = ("Query.candidates", *(f"Candidate.{f}" for f in CANDIDATE_FIELDS))

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


def blocking_queries(queries: Sequence[Demographics]) -> list[dict[str, str | None]]:
    """The hub-computed blocking keys of each query, as BlockingQuery objects (the source evaluates them)."""
    columns = query_batch(queries).args[1:]  # the first column is the index: the list position says it
    return [
        {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in zip(_BLOCKING_KEYS, row, strict=True)}
        for row in zip(*columns, strict=True)
    ]


def decode_candidates(payload: Any, n: int) -> list[tuple[int, Demographics]]:
    """The candidates answered for ``n`` queries: (query index, record) pairs."""
    data, errors = check_answer(payload)
    if errors or data is None:
        raise Malformed("the candidate search failed")
    if not isinstance(data, dict) or data.keys() != {"candidates"} or not isinstance(data["candidates"], list):
        raise Malformed("data is not a candidates answer")
    expected = frozenset(CANDIDATE_FIELDS)
    out: list[tuple[int, Demographics]] = []
    for c in data["candidates"]:
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
                    dob=date_value(c["dateOfBirth"]),
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
