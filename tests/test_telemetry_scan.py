"""No personal data in telemetry: every span the session exported (over OTLP/HTTP), every log line and every
error a response carried, scanned for the seeded people's NINOs, names, dates of birth and postcodes.

This file sorts after tests/hub and tests/linkage, so in a full run it scans the whole suite's traffic; it
also makes traffic of its own that tempts a leak (a NINO typed into the document, in variables, in an
operation name, in a bad variable; demographics of real people), so run alone it is not empty either.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass
from typing import Any

import httpx

from hub.audit import tracing
from tests import people as P
from tests.conftest import gql
from tests.telemetry import Personal, Telemetry

_NINO = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})\s?(\d{2})\s?(\d{2})\s?(\d{2})\s?([A-Da-d])(?![A-Za-z0-9])")
_ISO = re.compile(r"(?<![0-9])(\d{4})-(\d{2})-(\d{2})(?![0-9])")
_DMY = re.compile(r"(?<![0-9])(\d{2})/(\d{2})/(\d{4})(?![0-9])")
_COMPACT = re.compile(r"(?<![0-9A-Fa-f])(\d{4})(\d{2})(\d{2})(?![0-9A-Fa-f])")
_POSTCODE = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{1,2}\d[A-Za-z0-9]?)\s?(\d[A-Za-z]{2})(?![A-Za-z0-9])")
_WORD = re.compile(r"[a-z][a-z'\-]*")


@dataclass(frozen=True)
class Hit:
    kind: str
    value: str
    where: str


def _date(y: str, m: str, d: str) -> dt.date | None:
    try:
        return dt.date(int(y), int(m), int(d))
    except ValueError:
        return None


def scan(text: str, personal: Personal, where: str) -> list[Hit]:
    hits = []
    for m in _NINO.finditer(text):
        if "".join(m.groups()).upper() in personal.ninos:
            hits.append(Hit("nino", m.group(0), where))
    for pattern, order in ((_ISO, (0, 1, 2)), (_DMY, (2, 1, 0)), (_COMPACT, (0, 1, 2))):
        for m in pattern.finditer(text):
            parts = m.groups()
            found = _date(*(parts[i] for i in order))
            if found is not None and found in personal.dates:
                hits.append(Hit("date of birth", m.group(0), where))
    for m in _POSTCODE.finditer(text):
        if "".join(m.groups()).upper() in personal.postcodes:
            hits.append(Hit("postcode", m.group(0), where))
    words = _WORD.findall(text.lower())
    for given, family in itertools.pairwise(words):
        if (given, family) in personal.full_names:
            hits.append(Hit("name", f"{given} {family}", where))
    return hits


def test_the_scanner_finds_what_it_looks_for() -> None:
    # The scan could pass by seeing nothing: show it sees each kind, in each shape.
    personal = Personal(
        ninos={"JK102030A"},
        full_names={("margaret", "okafor")},
        dates={dt.date(1950, 3, 14)},
        postcodes={"NT11AA"},
    )
    for text, kind in [
        ('{"n": "JK102030A"}', "nino"),
        ("jk 10 20 30 a", "nino"),
        ("born 1950-03-14.", "date of birth"),
        ("14/03/1950", "date of birth"),
        ("dob=19500314", "date of birth"),
        ("NT1 1AA", "postcode"),
        ("nt11aa", "postcode"),
        ("Margaret Okafor", "name"),
        ("MARGARET  okafor", "name"),
    ]:
        assert [h.kind for h in scan(text, personal, "t")] == [kind], text
    for clean in ["trace 0af7651919500314dd8448eb", "JK102030", "seq 19500314000", "Margaret Price", "NT1"]:
        assert scan(clean, personal, "t") == [], clean


async def test_no_personal_data_in_spans_logs_or_errors(
    client: httpx.AsyncClient, token: Any, telemetry: Telemetry
) -> None:
    await _tempt(client, token)
    provider = tracing.provider()
    assert provider is not None
    assert provider.force_flush(10_000)
    personal = telemetry.personal
    spans = list(telemetry.receiver.spans)
    logs = list(telemetry.logs.lines)
    errors = list(telemetry.errors)
    # Not vacuous: the people are known, and the traffic reached every channel.
    assert personal.people >= 10
    assert P.BADGE_DLA in personal.ninos
    assert len(spans) >= 50
    assert telemetry.receiver.requests >= 1
    assert errors
    assert logs
    hits = [
        *(h for s in spans for h in scan(s.text(), personal, f"span {s.name}")),
        *(h for line in logs for h in scan(line, personal, "log")),
        *(h for e in errors for h in scan(e, personal, "error")),
    ]
    print(
        f"PII scan: {len(spans)} spans, {len(logs)} log lines, {len(errors)} errors; "
        f"{personal.people} source records, {len(personal.ninos)} NINOs: {len(hits)} hits"
    )
    assert not hits, hits[:20]


async def _tempt(client: httpx.AsyncClient, token: Any) -> None:
    """Requests that would leak if anything echoed its input."""
    t = token("council_hb", "HB_OVERNIGHT_CARER_ROOM", org="scan-team")
    spaced = "JK 10 20 30 A"
    documents = [
        (f'query {{ person(nino: "{P.BADGE_DLA}", purpose: HB_OVERNIGHT_CARER_ROOM) {{ subjectId }} }}', {}),
        (f'query {{ person(nino: "{spaced}", purpose: HB_OVERNIGHT_CARER_ROOM) {{ nope }} }}', {}),
        ("query($n: String!) { person(nino: $n, purpose: HB_OVERNIGHT_CARER_ROOM) { subjectId } }", {"n": spaced}),
        ("query($n: Int!) { person(nino: $n, purpose: HB_OVERNIGHT_CARER_ROOM) { subjectId } }", {"n": P.PIP_LOW}),
        (f"query {P.PIP_MOVING} {{ __typename }}", {}),
        (f'query {{ person(nino: "{P.BADGE_DLA}", purpose: {P.BADGE_DLA}) {{ subjectId }} }}', {}),
        (
            "query($d: PersonDemographics!) { person(demographics: $d, purpose: HB_OVERNIGHT_CARER_ROOM) "
            "{ subjectId } }",
            {
                "d": {
                    "givenName": "Margaret",
                    "familyName": "Okafor",
                    "dateOfBirth": "1950-03-14",
                    "postcode": "NT1 1AA",
                }
            },
        ),
        (
            "query($d: PersonDemographics!) { person(demographics: $d, purpose: HB_OVERNIGHT_CARER_ROOM) "
            "{ subjectId } }",
            {"d": {"givenName": "Margaret", "familyName": "Okafor", "dateOfBirth": "14/03/1950"}},
        ),
        (f'query {{ person(nino: "{P.ABSENT}", purpose: HB_OVERNIGHT_CARER_ROOM) {{ subjectId }} }}', {}),
    ]
    for query, variables in documents:
        await gql(client, t, query, variables)
        await gql(client, t, query, variables, operationName=P.BADGE_DLA)
