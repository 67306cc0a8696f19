"""The chain's verification as a pure function (hub.audit.verify.verify), on chains built here.

The behaviour suite (tests/hub/test_audit_chain.py) tampers with a real database; this builds records in
Python exactly as hub.audit_append hashes them, so that each problem the verifier names can be made
alone, including those a database with its triggers on cannot hold (time running backwards), and the
counts of a clean report can be checked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from hub.audit.chain import GENESIS, AuditRecord, canonical_body, record_hash
from hub.audit.checkpoints import AuditKeys, Checkpoint
from hub.audit.verify import ChainVerifier, verify

KEYS = AuditKeys.generate("unit-v1")
START = dt.datetime(2026, 3, 3, 10, 0, tzinfo=dt.UTC)


def body(n: int) -> AuditRecord:
    return AuditRecord(
        request_id=uuid.UUID(int=n),
        operation_type="query",
        operation_name="Lookup",
        caller_org="northshire-hb",
        caller_org_type="council_hb",
        caller_user_hash=f"user-{n % 3}",
        purpose="HB_OVERNIGHT_CARER_ROOM",
        legal_basis="SSAA 1992 s.7A",
        subject_key_id="k1",
        subject_hashes=[f"subject-{n}"],
        link_method="nino",
        fields_released=["Person.subjectId"],
        sources_read=["dwp"],
        decision="released",
        reason_codes=[],
    )


def row(seq: int, prev: bytes, at: dt.datetime, record: AuditRecord) -> dict[str, Any]:
    """A record as read back: its position, links and the body fields."""
    return {
        "seq": seq,
        "prev_hash": prev,
        "record_hash": record_hash(prev, seq, at, canonical_body(record)),
        "occurred_at": at,
        **{f.name: getattr(record, f.name) for f in dataclasses.fields(AuditRecord)},
    }


def chain(n: int, *, start_seq: int = 1, prev: bytes = GENESIS) -> list[dict[str, Any]]:
    rows = []
    for seq in range(start_seq, start_seq + n):
        rows.append(row(seq, prev, START + dt.timedelta(seconds=seq), body(seq)))
        prev = rows[-1]["record_hash"]
    return rows


def rechained(rows: list[dict[str, Any]], *, start_prev: bytes = GENESIS) -> list[dict[str, Any]]:
    """Every hash recomputed after a change: what an attacker without the signing key can still do."""
    out, prev = [], start_prev
    for r in rows:
        record = AuditRecord(**{f.name: r[f.name] for f in dataclasses.fields(AuditRecord)})
        out.append(row(r["seq"], prev, r["occurred_at"], record))
        prev = out[-1]["record_hash"]
    return out


def signed(rows: list[dict[str, Any]], at: int) -> Checkpoint:
    head = next(r for r in rows if r["seq"] == at)
    return KEYS.sign(at, head["record_hash"], START)


def problems(rows: list[dict[str, Any]], checkpoints: list[Checkpoint] | None = None) -> list[tuple[str, int | None]]:
    return [(p.kind, p.seq) for p in verify(rows, checkpoints or [], KEYS.public).problems]


def test_a_clean_chain_verifies_and_is_counted() -> None:
    rows = chain(10)
    report = verify(rows, [signed(rows, 4), signed(rows, 7)], KEYS.public)
    assert report.ok, report.problems
    assert (report.records, report.first_seq, report.last_seq) == (10, 1, 10)
    assert report.head_hash == rows[-1]["record_hash"]
    assert (report.checkpoints, report.last_checkpoint_seq, report.unsigned) == (2, 7, 3)
    assert report.summary()["first_problem"] is None


def test_a_chain_never_signed_is_all_unsigned() -> None:
    report = verify(chain(5), [], KEYS.public)
    assert report.ok
    assert (report.last_checkpoint_seq, report.unsigned) == (None, 5)


def test_an_empty_log_is_valid() -> None:
    report = verify([], [], KEYS.public)
    assert report.ok
    assert (report.records, report.last_seq, report.head_hash, report.unsigned) == (0, None, None, 0)


def test_a_record_outside_the_chain_is_named_not_counted() -> None:
    # Issue 13.7: a row with no sequence number (or no hashes) was counted as "from before the chain" and
    # the log passed. Only the append function writes the log, so such a row was put there around it.
    rows = [{"seq": None, "prev_hash": None, "record_hash": None}, *chain(3)]
    rows.append(rows[1] | {"seq": 4, "prev_hash": None, "record_hash": None})
    report = verify(rows, [], KEYS.public)
    assert not report.ok
    assert [(p.kind, p.seq) for p in report.problems] == [("unchained", None), ("unchained", 4)]
    assert (report.unchained, report.records) == (0, 3)


def test_only_the_documented_rows_from_before_the_chain_are_counted() -> None:
    verifier = ChainVerifier([], KEYS.public)
    verifier.outside(1, START, documented=True)
    verifier.outside(2, START, documented=True)
    verifier.outside(917, START + dt.timedelta(days=3), documented=False)
    for r in chain(3):
        verifier.add(r)
    report = verifier.finish()
    assert (report.unchained, report.records) == (2, 3)
    assert [(p.kind, p.seq, p.event_id) for p in report.problems] == [("unchained", None, 917)]
    assert report.summary()["first_problem"] == {
        "kind": "unchained",
        "seq": None,
        "event_id": 917,
        "message": "row 917 (written 2026-03-06 10:00:00 UTC) is outside the chain: no sequence number or "
        "hashes, and not one of the documented records from before the chain",
    }


def test_a_sequence_number_held_twice_is_named() -> None:
    rows = chain(5)
    rows.insert(3, rows[2] | {"caller_org": "someone-else"})
    assert problems(rows)[:1] == [("duplicate", 3)]


def test_an_altered_record_is_named() -> None:
    rows = chain(6)
    rows[3] = rows[3] | {"decision": "refused"}
    assert problems(rows) == [("altered", 4)]


def test_a_record_moved_in_time_is_altered() -> None:
    rows = chain(6)
    rows[2] = rows[2] | {"occurred_at": rows[2]["occurred_at"] + dt.timedelta(microseconds=1)}
    assert problems(rows) == [("altered", 3)]


def test_a_removed_record_is_missing() -> None:
    rows = chain(6)
    del rows[2]
    # Record 4 still names record 3 as its predecessor, which is gone: the gap is what is reported.
    assert problems(rows) == [("missing", 3)]
    del rows[2:4]
    assert problems(rows)[0] == ("missing", 3)
    assert "records 3..5 are missing" in verify(rows, [], KEYS.public).problems[0].message


def test_an_inserted_record_breaks_the_link() -> None:
    rows = chain(6)
    # A well-formed record put in place of record 4, hashed over a predecessor the log does not have.
    rows[3] = row(4, bytes(32), rows[3]["occurred_at"], body(99))
    found = problems(rows)
    assert ("broken_link", 4) in found
    assert found[0] == ("broken_link", 4)


def test_time_running_backwards_is_out_of_order() -> None:
    rows = chain(5)
    earlier = rows[0]["occurred_at"] - dt.timedelta(seconds=1)
    # Hashed as written: only the order in time is wrong (the database's own clock never does this).
    rows = rechained([*rows[:3], rows[3] | {"occurred_at": earlier}, rows[4]])
    assert problems(rows) == [("out_of_order", 4)]


def test_records_written_in_the_same_microsecond_are_in_order() -> None:
    # Time may stand still along the chain (two writers, one clock tick); only running backwards is wrong.
    rows = chain(4)
    rows = rechained([rows[0], rows[1], rows[2] | {"occurred_at": rows[1]["occurred_at"]}, rows[3]])
    assert problems(rows) == []


def test_a_recomputed_chain_is_caught_by_its_checkpoint() -> None:
    rows = chain(8)
    checkpoint = signed(rows, 6)
    rows[2] = rows[2] | {"caller_org": "someone-else"}
    rewritten = rechained(rows)
    assert problems(rewritten) == []  # the chain alone is consistent again
    assert problems(rewritten, [checkpoint]) == [("rewritten", 6)]


def test_records_cut_from_the_end_are_missing_by_the_checkpoint() -> None:
    rows = chain(8)
    checkpoint = signed(rows, 8)
    assert problems(rows[:5], [checkpoint]) == [("missing", 6)]


def test_a_forged_or_foreign_checkpoint_is_named() -> None:
    rows = chain(4)
    good = signed(rows, 4)
    forged = dataclasses.replace(good, signature=bytes(64))
    foreign = AuditKeys.generate("unit-other").sign(4, rows[-1]["record_hash"], START)
    assert problems(rows, [forged]) == [("forged_checkpoint", 4)]
    assert problems(rows, [foreign]) == [("forged_checkpoint", 4)]
    report = verify(rows, [foreign], KEYS.public)
    assert "unknown key 'unit-other'" in report.problems[0].message
    assert report.last_checkpoint_seq is None  # a checkpoint that does not verify vouches for nothing


def test_problems_are_reported_first_first() -> None:
    rows = chain(9)
    rows[6] = rows[6] | {"decision": "refused"}
    rows[1] = rows[1] | {"decision": "refused"}
    assert problems(rows) == [("altered", 2), ("altered", 7)]


def test_part_of_a_chain_verifies_from_where_it_starts() -> None:
    whole = chain(10)
    part = whole[4:]
    report = verify(part, [signed(whole, 9)], KEYS.public, start_seq=5, start_prev=whole[3]["record_hash"])
    assert report.ok, report.problems
    assert (report.first_seq, report.last_seq, report.last_checkpoint_seq) == (5, 10, 9)
    # From the wrong predecessor, the first record of the part does not follow.
    assert [(p.kind, p.seq) for p in verify(part, [], KEYS.public, start_seq=5).problems] == [("broken_link", 5)]
