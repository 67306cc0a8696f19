"""The audit log: one record per operation, released or refused, written before anything leaves.

Tamper-evident like X-Road's message log and Certificate Transparency:

- **A hash chain.** ``record_hash = SHA-256(prev_hash || int8(seq) || int8(occurred_at µs) || body)``, body
  the record's canonical encoding (:func:`canonical_body`: sorted-key JSON, ASCII, no spaces). The
  database appends (``hub.audit_append``: one writer at a time under an advisory lock, so the sequence
  has no gaps and time never runs backwards along it) and refuses UPDATE, DELETE and TRUNCATE.
- **Signed checkpoints.** The chain head, signed with the hub's Ed25519 audit key at an interval
  (:func:`write_checkpoint`, run by the service); the public keys are published (``GET /audit/keys``) so
  an auditor can check a log, or an export of one, without trusting the hub's database or its operator
  (:mod:`hub.audit.verify`).

Fail closed: :meth:`PgAuditSink.write` raises if the record is not durably stored, and the caller then
releases nothing.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.errors import ConfigError

__all__ = [
    "GENESIS",
    "AuditKeys",
    "AuditRecord",
    "AuditSink",
    "Checkpoint",
    "PgAuditSink",
    "canonical_body",
    "checkpoint_message",
    "record_hash",
    "write_checkpoint",
]

GENESIS = bytes(32)  # the prev_hash of the first record
CHAIN_LOCK = 4243250401  # the advisory lock hub.audit_append takes (0011_audit_chain.sql)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One resolution, as the chain keeps it. The field order is hub.audit_append's argument order."""

    request_id: uuid.UUID
    operation_type: str | None = None
    operation_name: str | None = None
    caller_org: str
    caller_org_type: str
    caller_user_hash: str
    purpose: str | None = None
    legal_basis: str | None = None
    subject_key_id: str | None = None
    subject_hashes: Sequence[str] = ()
    link_method: str | None = None
    fields_released: Sequence[str] = ()
    sources_read: Sequence[str] = ()
    decision: str
    reason_codes: Sequence[str] = ()
    trace_id: str | None = None
    link_probability: float | None = None
    model_version: str | None = None


#: The record's fields, in the order hub.audit_append takes them; every one is in the hash.
BODY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(AuditRecord))


class Row(Protocol):
    """A record read back: an asyncpg row or a mapping (a line of an export)."""

    def __getitem__(self, name: str, /) -> Any: ...


def canonical_body(record: AuditRecord | Row) -> bytes:
    """The bytes a record's hash covers: the same for the writer (an :class:`AuditRecord`) and the
    verifier (a row read back, or a line of an export)."""
    get = (lambda name: getattr(record, name)) if isinstance(record, AuditRecord) else record.__getitem__
    doc: dict[str, Any] = {"v": 1}
    for name in BODY_FIELDS:
        value = get(name)
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, list | tuple):
            value = [str(v) for v in value]
        elif value is not None and not isinstance(value, str | float | int):
            raise TypeError(f"audit field {name} cannot hold a {type(value).__name__}")
        doc[name] = value
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def micros(at: dt.datetime) -> int:
    return (at - _EPOCH) // dt.timedelta(microseconds=1)


def record_hash(prev_hash: bytes, seq: int, occurred_at: dt.datetime, body: bytes) -> bytes:
    """As hub.audit_append computes it (int8 is big-endian, as PostgreSQL's int8send)."""
    head = prev_hash + seq.to_bytes(8, "big", signed=True) + micros(occurred_at).to_bytes(8, "big", signed=True)
    return hashlib.sha256(head + body).digest()


class AuditSink(Protocol):
    async def write(self, record: AuditRecord) -> None:
        """Durably store ``record`` or raise: the caller then releases nothing."""
        ...


# Placeholders only: every value goes through a parameter.
_APPEND = "SELECT seq FROM hub.audit_append(" + ", ".join(f"${i}" for i in range(1, len(BODY_FIELDS) + 2)) + ")"  # noqa: S608


class PgAuditSink:
    """Appends to the chain in the hub database; it commits before the response is sent."""

    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout

    async def write(self, record: AuditRecord) -> None:
        # The timeout covers waiting for a connection and for the chain's lock as well as the INSERT: a
        # hub database that hangs must fail the request quickly (closed), not hold it open.
        async with asyncio.timeout(self.timeout):
            await self.pool.execute(_APPEND, canonical_body(record), *_arguments(record))


def _arguments(record: AuditRecord) -> list[Any]:
    values = [getattr(record, name) for name in BODY_FIELDS]
    return [list(v) if isinstance(v, list | tuple) else v for v in values]


# -- checkpoints ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    head_hash: bytes
    signed_at: dt.datetime
    key_id: str
    signature: bytes
    checkpoint_id: int | None = None


def checkpoint_message(seq: int, head_hash: bytes, signed_at: dt.datetime) -> bytes:
    """What a checkpoint's signature covers."""
    doc = {"head": head_hash.hex(), "seq": seq, "signed_at_us": micros(signed_at)}
    return b"welfare-hub-audit-checkpoint/1\n" + json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class AuditKeys:
    """The hub's Ed25519 audit keys: the current one signs; every one (old ones too) verifies.

    The file: ``{"current": "a1", "keys": {"a1": "<base64 of the 32-byte private key>"}}``. Auditors get
    the public half (:meth:`public_document`) and pin it: a checkpoint signed by any other key fails.
    """

    current: str
    private: Mapping[str, Ed25519PrivateKey]

    @classmethod
    def generate(cls, key_id: str = "a1") -> AuditKeys:
        return cls(key_id, {key_id: Ed25519PrivateKey.from_private_bytes(secrets.token_bytes(32))})

    @classmethod
    def load(cls, path: Path) -> AuditKeys:
        try:
            doc = json.loads(path.read_text())
            keys = {
                str(kid): Ed25519PrivateKey.from_private_bytes(base64.b64decode(value, validate=True))
                for kid, value in doc["keys"].items()
            }
            if doc["current"] not in keys:
                raise KeyError(f"the current key {doc['current']!r} is not among the keys")
            return cls(str(doc["current"]), keys)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise ConfigError([f"cannot load the audit signing keys from {path}: {type(e).__name__}: {e}"]) from None

    def save(self, path: Path) -> None:
        raw = {kid: base64.b64encode(key.private_bytes_raw()).decode() for kid, key in self.private.items()}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.write_text(json.dumps({"current": self.current, "keys": raw}, indent=2))

    def rotated(self, key_id: str) -> AuditKeys:
        if key_id in self.private:
            raise ConfigError([f"the audit keys already have a key {key_id!r}: choose a new key id"])
        new = Ed25519PrivateKey.from_private_bytes(secrets.token_bytes(32))
        return AuditKeys(key_id, {**self.private, key_id: new})

    @property
    def public(self) -> dict[str, Ed25519PublicKey]:
        return {kid: key.public_key() for kid, key in self.private.items()}

    def public_document(self) -> dict[str, Any]:
        return public_document(self.public)

    def sign(self, seq: int, head_hash: bytes, signed_at: dt.datetime) -> Checkpoint:
        signature = self.private[self.current].sign(checkpoint_message(seq, head_hash, signed_at))
        return Checkpoint(seq, head_hash, signed_at, self.current, signature)


def public_document(keys: Mapping[str, Ed25519PublicKey]) -> dict[str, Any]:
    return {
        "algorithm": "Ed25519",
        "keys": {kid: base64.b64encode(key.public_bytes_raw()).decode() for kid, key in sorted(keys.items())},
    }


def load_public_document(doc: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    if doc.get("algorithm") != "Ed25519":
        raise ValueError("the audit public keys must be Ed25519")
    return {
        str(kid): Ed25519PublicKey.from_public_bytes(base64.b64decode(value, validate=True))
        for kid, value in doc["keys"].items()
    }


def signature_ok(checkpoint: Checkpoint, keys: Mapping[str, Ed25519PublicKey]) -> bool | None:
    """True if a known key signed it, False if the signature is bad, None if the key is unknown."""
    key = keys.get(checkpoint.key_id)
    if key is None:
        return None
    try:
        key.verify(checkpoint.signature, checkpoint_message(checkpoint.seq, checkpoint.head_hash, checkpoint.signed_at))
    except InvalidSignature:
        return False
    return True


_HEAD = "SELECT seq, record_hash FROM hub.audit_event WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1"


async def write_checkpoint(conn: asyncpg.Pool | asyncpg.Connection, keys: AuditKeys) -> Checkpoint | None:
    """Sign the chain head unless the current key already has; the checkpoint, or None. The service runs
    it at an interval (and once more when stopping), ``welfare-hub audit checkpoint`` on demand."""
    head = await conn.fetchrow(_HEAD)
    if head is None:
        return None
    done = await conn.fetchval(
        "SELECT 1 FROM hub.audit_checkpoint WHERE seq = $1 AND key_id = $2", head["seq"], keys.current
    )
    if done:
        return None
    signed = keys.sign(head["seq"], bytes(head["record_hash"]), dt.datetime.now(dt.UTC))
    inserted = await conn.fetchval(
        "INSERT INTO hub.audit_checkpoint (seq, head_hash, signed_at, key_id, signature) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq, key_id) DO NOTHING RETURNING checkpoint_id",
        signed.seq,
        signed.head_hash,
        signed.signed_at,
        signed.key_id,
        signed.signature,
    )
    return None if inserted is None else signed
