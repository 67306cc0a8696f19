"""Checking the audit log: every hash, every link, every signature; and exports that verify offline.

:func:`verify` is pure: it takes the records in chain order and the checkpoints, and names the first
record or checkpoint that is wrong, with what is wrong with it:

- ``missing``: the sequence jumps (a record removed); or a checkpoint signed a longer log than there is;
- ``altered``: a record's content, position or time is not what was hashed when it was written;
- ``broken_link``: a record does not follow the one before it (inserted, replaced or reordered);
- ``out_of_order``: time runs backwards along the chain;
- ``forged_checkpoint``: a checkpoint's signature is bad, or made by a key the auditor does not trust;
- ``rewritten``: a checkpoint signed a head the log no longer has (the chain was recomputed after a
  change: only the signing key could make that consistent again);
- ``duplicate``: two records hold one sequence number;
- ``unchained``: a row outside the chain (no sequence number or hashes) that is not one of the documented
  rows from before the chain existed (``hub.audit_legacy``, listed once by 0019_audit_one_writer.sql).
  Only the append function may write the log, so such a row was put there around it. It is named by its
  row id and time, never by its content.

A receipt (:mod:`hub.audit.receipts`) is checked against the log by :func:`verify_receipt`: signed by a
trusted key, and the log holds exactly that record, unaltered, at that place (``forged_receipt``,
``missing``, ``rewritten``, ``altered``, ``misrecorded``: the record does not say what its receipt says).

``welfare-hub audit verify`` reads the hub database (:func:`verify_database`), an export file
(:func:`verify_export`) or a receipt (``--receipt``); ``welfare-hub audit export`` writes an export
(:func:`export`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.audit.chain import BODY_FIELDS, GENESIS, Row, canonical_body, record_hash
from hub.audit.checkpoints import Checkpoint, load_public_document, public_document, signature_ok
from hub.audit.receipts import Receipt

__all__ = [
    "ChainVerifier",
    "Problem",
    "ReceiptCheck",
    "Verification",
    "export",
    "verify",
    "verify_database",
    "verify_export",
    "verify_receipt",
]

EXPORT_FORMAT = "welfare-hub-audit-export/1"
_MAX_PROBLEMS = 20
_BATCH = 5000
#: A connection of its own (the command line) or one borrowed from the service's pool: both read the same.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str
    seq: int | None
    message: str
    event_id: int | None = None  # the row's id, for a row outside the chain (which has no seq)


@dataclass
class Verification:
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_hash: bytes | None = None
    checkpoints: int = 0
    last_checkpoint_seq: int | None = None
    unchained: int = 0  # the documented records from before the chain existed (no seq): counted, not verifiable
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def unsigned(self) -> int:
        """Chained records after the last checkpoint: verified as a chain, not yet signed."""
        if self.last_seq is None:
            return 0
        return self.last_seq - (self.last_checkpoint_seq or (self.first_seq or 1) - 1)

    def summary(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "head_hash": self.head_hash.hex() if self.head_hash else None,
            "checkpoints": self.checkpoints,
            "last_checkpoint_seq": self.last_checkpoint_seq,
            "unsigned_records": self.unsigned,
            "unchained_records": self.unchained,
            "first_problem": _describe(self.problems[0]) if self.problems else None,
            "problems": [_describe(p) for p in self.problems],
        }


def _describe(p: Problem) -> dict[str, Any]:
    described: dict[str, Any] = {"kind": p.kind, "seq": p.seq, "message": p.message}
    if p.event_id is not None:
        described["event_id"] = p.event_id
    return described


class ChainVerifier:
    """Fed the records in chain order (seq ascending), a batch at a time; then :meth:`finish` with the
    checkpoints. Memory stays constant however long the log: only the hashes checkpoints name are kept."""

    def __init__(
        self,
        checkpoints: Sequence[Checkpoint],
        public_keys: Mapping[str, Ed25519PublicKey],
        *,
        start_seq: int = 1,
        start_prev: bytes = GENESIS,
    ) -> None:
        self.report = Verification()
        self.checkpoints = sorted((c for c in checkpoints if c.seq >= start_seq), key=lambda c: c.seq)
        self.public_keys = public_keys
        self.start_seq = start_seq
        self._wanted = {c.seq for c in self.checkpoints}
        self._found: dict[int, bytes] = {}
        self._expected, self._prev, self._prev_at = start_seq, start_prev, None

    def _problem(self, kind: str, seq: int | None, message: str, event_id: int | None = None) -> None:
        if len(self.report.problems) < _MAX_PROBLEMS:
            self.report.problems.append(Problem(kind, seq, message, event_id))

    def outside(self, event_id: int, occurred_at: dt.datetime, *, documented: bool) -> None:
        """A row outside the chain: counted if it is one of the documented rows from before the chain,
        named (by id and time only) if it is not."""
        if documented:
            self.report.unchained += 1
            return
        self._problem(
            "unchained",
            None,
            f"row {event_id} (written {occurred_at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC) is outside the chain: "
            "no sequence number or hashes, and not one of the documented records from before the chain",
            event_id,
        )

    def add(self, row: Row) -> None:
        report, seq = self.report, row["seq"]
        if seq is None or row["prev_hash"] is None or row["record_hash"] is None:
            # Only an export (or a caller) can hand one in: the database's rows outside the chain are
            # named by outside(), without their content.
            self._problem("unchained", seq, "a record outside the chain: no sequence number or hashes")
            return
        if seq < self._expected:
            # In seq order, a seq seen before: two records claim one place in the chain.
            self._problem("duplicate", seq, f"record {seq} appears more than once in the chain")
            return
        report.records += 1
        if report.first_seq is None:
            report.first_seq = seq
        at, stored_prev, stored = row["occurred_at"], bytes(row["prev_hash"]), bytes(row["record_hash"])
        expected = self._expected
        if seq != expected:
            what = f"records {expected}..{seq - 1} are" if seq - 1 > expected else f"record {expected} is"
            self._problem("missing", expected, f"{what} missing: the chain jumps from {expected - 1} to {seq}")
        if record_hash(stored_prev, seq, at, canonical_body(row)) != stored:
            self._problem("altered", seq, f"record {seq}: its content, position or time is not what was hashed")
        elif stored_prev != self._prev and seq == expected:
            self._problem("broken_link", seq, f"record {seq} does not follow record {seq - 1} (inserted or reordered)")
        if self._prev_at is not None and at < self._prev_at:
            self._problem("out_of_order", seq, f"record {seq} is dated before record {seq - 1}")
        if seq in self._wanted:
            self._found[seq] = stored
        self._expected, self._prev, self._prev_at = seq + 1, stored, at

    def finish(self) -> Verification:
        report = self.report
        last = self._expected - 1
        if report.records:
            report.last_seq, report.head_hash = last, self._prev
        for c in self.checkpoints:
            report.checkpoints += 1
            ok = signature_ok(c, self.public_keys)
            if ok is None:
                self._problem(
                    "forged_checkpoint", c.seq, f"checkpoint at record {c.seq} is signed by an unknown key {c.key_id!r}"
                )
            elif not ok:
                self._problem(
                    "forged_checkpoint", c.seq, f"checkpoint at record {c.seq}: the signature does not verify"
                )
            elif c.seq > last:
                self._problem(
                    "missing",
                    last + 1,
                    f"a checkpoint signed record {c.seq} but the log ends at {last}: records missing",
                )
            elif self._found.get(c.seq) != c.head_hash:
                self._problem("rewritten", c.seq, f"checkpoint at record {c.seq} signed a head the log no longer has")
            else:
                report.last_checkpoint_seq = max(report.last_checkpoint_seq or 0, c.seq)
        report.problems.sort(key=lambda p: p.seq if p.seq is not None else 0)
        return report


def verify(
    rows: Iterable[Row],
    checkpoints: Sequence[Checkpoint],
    public_keys: Mapping[str, Ed25519PublicKey],
    *,
    start_seq: int = 1,
    start_prev: bytes = GENESIS,
) -> Verification:
    """Check records (in chain order, each with seq, prev_hash, record_hash, occurred_at and the body
    fields) and checkpoints against the trusted ``public_keys``."""
    verifier = ChainVerifier(checkpoints, public_keys, start_seq=start_seq, start_prev=start_prev)
    for row in rows:
        verifier.add(row)
    return verifier.finish()


# -- the database --------------------------------------------------------------------------------------

# Column names and batch sizes are constants of this module: the only values are parameters.
_COLUMNS = "event_id, seq, prev_hash, record_hash, occurred_at, " + ", ".join(BODY_FIELDS)
_CHAINED = "seq IS NOT NULL AND prev_hash IS NOT NULL AND record_hash IS NOT NULL"
# (seq, event_id) orders and pages: a seq held twice is seen twice, even across a batch's edge.
_AFTER = (
    f"SELECT {_COLUMNS} FROM hub.audit_event WHERE {_CHAINED} AND (seq, event_id) > ($1, $2) "  # noqa: S608
    f"ORDER BY seq, event_id LIMIT {_BATCH}"
)
_BETWEEN = (
    f"SELECT {_COLUMNS} FROM hub.audit_event WHERE {_CHAINED} AND seq > $1 AND seq <= $2 "  # noqa: S608
    f"ORDER BY seq LIMIT {_BATCH}"
)
_AT = f"SELECT {_COLUMNS} FROM hub.audit_event WHERE {_CHAINED} AND seq = $1 ORDER BY event_id"  # noqa: S608
# By id and time only: the service role reads chained rows alone (row-level security) and learns of the
# others through this function, which the owner runs.
_OUTSIDE = "SELECT event_id, occurred_at, documented FROM hub.audit_unchained()"


async def _rows(conn: Connection) -> AsyncIterator[asyncpg.Record]:
    """Every chained record in chain order, a batch at a time: the log is far larger than memory allows."""
    after: tuple[int, int] = (0, 0)
    while True:
        batch = await conn.fetch(_AFTER, *after)
        for row in batch:
            yield row
        if len(batch) < _BATCH:
            return
        after = (batch[-1]["seq"], batch[-1]["event_id"])


async def read_checkpoints(conn: Connection, *, from_seq: int = 0) -> list[Checkpoint]:
    return [
        Checkpoint(
            r["seq"], bytes(r["head_hash"]), r["signed_at"], r["key_id"], bytes(r["signature"]), r["checkpoint_id"]
        )
        for r in await conn.fetch(
            "SELECT checkpoint_id, seq, head_hash, signed_at, key_id, signature FROM hub.audit_checkpoint "
            "WHERE seq >= $1 ORDER BY seq, checkpoint_id",
            from_seq,
        )
    ]


async def verify_database(conn: Connection, public_keys: Mapping[str, Ed25519PublicKey]) -> Verification:
    verifier = ChainVerifier(await read_checkpoints(conn), public_keys)
    for row in await conn.fetch(_OUTSIDE):
        verifier.outside(row["event_id"], row["occurred_at"], documented=row["documented"])
    async for record in _rows(conn):
        verifier.add(record)
    return verifier.finish()


# -- receipts ------------------------------------------------------------------------------------------


@dataclass
class ReceiptCheck:
    receipt: Receipt
    last_seq: int | None = None  # where the log ends now
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seq": self.receipt.seq,
            "record_hash": self.receipt.record_hash.hex(),
            "request_id": str(self.receipt.request_id),
            "key_id": self.receipt.key_id,
            "log_last_seq": self.last_seq,
            "first_problem": _describe(self.problems[0]) if self.problems else None,
            "problems": [_describe(p) for p in self.problems],
        }


async def verify_receipt(
    conn: Connection, receipt: Receipt, public_keys: Mapping[str, Ed25519PublicKey]
) -> ReceiptCheck:
    """A caller's receipt against the trusted keys and the log: signed by one of the keys, and the log holds
    exactly that record (that request, that hash, its content unaltered) at that sequence number. A record
    cut from the log's end, or rewritten, after its receipt was given fails here even when no checkpoint
    signed it yet."""
    check = ReceiptCheck(receipt)
    seq = receipt.seq

    def problem(kind: str, message: str) -> None:
        check.problems.append(Problem(kind, seq, message))

    signed = receipt.signature_ok(public_keys)
    if signed is None:
        problem("forged_receipt", f"the receipt for record {seq} is signed by an unknown key {receipt.key_id!r}")
    elif not signed:
        problem("forged_receipt", f"the receipt for record {seq}: the signature does not verify")
    check.last_seq = await conn.fetchval(f"SELECT max(seq) FROM hub.audit_event WHERE {_CHAINED}")  # noqa: S608
    rows = await conn.fetch(_AT, seq)
    if not rows:
        ends = "the log is empty" if check.last_seq is None else f"the log ends at {check.last_seq}"
        problem("missing", f"record {seq}, which the receipt names, is not in the log ({ends}): records removed")
        return check
    if len(rows) > 1:
        problem("duplicate", f"record {seq} appears more than once in the chain")
    row = rows[0]
    stored = bytes(row["record_hash"])
    if stored != receipt.record_hash or str(row["request_id"]) != str(receipt.request_id):
        problem("rewritten", f"record {seq} in the log is not the record the receipt names: the log was rewritten")
    if record_hash(bytes(row["prev_hash"]), seq, row["occurred_at"], canonical_body(row)) != stored:
        problem("altered", f"record {seq}: its content, position or time is not what was hashed")
    said = receipt.said
    if (row["decision"], sorted(row["fields_released"] or ()), row["caller_org"], row["operation_name"]) != (
        said.decision,
        sorted(said.fields_released),
        said.caller_org,
        said.operation_name,
    ):
        problem(
            "misrecorded",
            f"record {seq} does not say what its receipt says (decision, fields released, caller or operation)",
        )
    return check


# -- exports -------------------------------------------------------------------------------------------


def _plain(row: Row) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("seq", "prev_hash", "record_hash", "occurred_at", *BODY_FIELDS):
        value = row[name]
        if isinstance(value, bytes | bytearray | memoryview):
            value = bytes(value).hex()
        elif isinstance(value, dt.datetime):
            value = value.isoformat()
        elif isinstance(value, list | tuple):
            value = list(value)
        elif value is not None and not isinstance(value, str | int | float):
            value = str(value)
        out[name] = value
    return out


def _row_from_export(doc: Mapping[str, Any]) -> dict[str, Any]:
    row = dict(doc)
    row["prev_hash"] = bytes.fromhex(doc["prev_hash"])
    row["record_hash"] = bytes.fromhex(doc["record_hash"])
    row["occurred_at"] = dt.datetime.fromisoformat(doc["occurred_at"])
    return row


def _checkpoint_doc(c: Checkpoint) -> dict[str, Any]:
    return {
        "seq": c.seq,
        "head_hash": c.head_hash.hex(),
        "signed_at": c.signed_at.isoformat(),
        "key_id": c.key_id,
        "signature": c.signature.hex(),
    }


def _checkpoint_from(doc: Mapping[str, Any]) -> Checkpoint:
    return Checkpoint(
        int(doc["seq"]),
        bytes.fromhex(doc["head_hash"]),
        dt.datetime.fromisoformat(doc["signed_at"]),
        str(doc["key_id"]),
        bytes.fromhex(doc["signature"]),
    )


async def export(
    conn: Connection,
    out: IO[str],
    *,
    since: dt.datetime,
    until: dt.datetime,
    public_keys: Mapping[str, Ed25519PublicKey],
) -> dict[str, Any]:
    """Write the records of [since, until) and the checkpoints that sign them as JSON lines that verify
    offline (:func:`verify_export`). The records run on to the first checkpoint at or after the period's
    end, so the last of them is signed too; the header says so."""
    first = await conn.fetchval("SELECT min(seq) FROM hub.audit_event WHERE occurred_at >= $1", since)
    last = await conn.fetchval("SELECT max(seq) FROM hub.audit_event WHERE occurred_at < $1", until)
    if first is None or last is None or last < first:
        first, last = 0, -1
    anchor = await conn.fetchval("SELECT min(seq) FROM hub.audit_checkpoint WHERE seq >= $1", max(last, 1))
    through = max(last, anchor or last)
    prev = await conn.fetchval("SELECT prev_hash FROM hub.audit_event WHERE seq = $1", first) if first else None
    header = {
        "format": EXPORT_FORMAT,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "first_seq": first,
        "last_seq_in_period": last,
        "through_seq": through,
        "prev_hash": bytes(prev).hex() if prev is not None else GENESIS.hex(),
        "public_keys": public_document(public_keys),
        "exported_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    out.write(json.dumps(header, sort_keys=True) + "\n")
    records = 0
    after = first - 1
    while first and after < through:
        batch = await conn.fetch(_BETWEEN, after, through)
        if not batch:
            break
        for row in batch:
            out.write(json.dumps({"record": _plain(row)}, sort_keys=True) + "\n")
        records += len(batch)
        after = batch[-1]["seq"]
    checkpoints = [c for c in await read_checkpoints(conn, from_seq=max(first, 1)) if c.seq <= through]
    for c in checkpoints:
        out.write(json.dumps({"checkpoint": _checkpoint_doc(c)}, sort_keys=True) + "\n")
    return {**header, "records": records, "checkpoints": len(checkpoints)}


def verify_export(
    lines: Iterable[str], public_keys: Mapping[str, Ed25519PublicKey] | None = None
) -> tuple[Verification, dict[str, Any]]:
    """Verify an export file's lines. ``public_keys`` are the keys the auditor trusts (from the hub's
    published document); without them the file's own keys are used, which proves consistency only."""
    iterator = iter(lines)
    try:
        header = json.loads(next(iterator))
    except (StopIteration, json.JSONDecodeError):
        raise ValueError("not a welfare-hub audit export: no header line") from None
    if header.get("format") != EXPORT_FORMAT:
        raise ValueError(f"not a welfare-hub audit export (format {header.get('format')!r})")
    keys = public_keys if public_keys is not None else load_public_document(header["public_keys"])
    rows: list[dict[str, Any]] = []
    checkpoints: list[Checkpoint] = []
    for number, line in enumerate(iterator, start=2):
        try:
            doc = json.loads(line)
            if "record" in doc:
                rows.append(_row_from_export(doc["record"]))
            elif "checkpoint" in doc:
                checkpoints.append(_checkpoint_from(doc["checkpoint"]))
            else:
                raise ValueError("neither a record nor a checkpoint")
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"line {number} of the export is not readable: {type(e).__name__}") from None
    start = int(header["first_seq"]) or 1
    verifier = ChainVerifier(checkpoints, keys, start_seq=start, start_prev=bytes.fromhex(header["prev_hash"]))
    for row in rows:
        verifier.add(row)
    report = verifier.finish()
    through = int(header["through_seq"])
    if int(header["first_seq"]) and report.last_seq != through:
        report.problems.append(
            Problem(
                "missing",
                (report.last_seq or start - 1) + 1,
                f"the export ends at {report.last_seq}, its header says {through}",
            )
        )
    return report, header
