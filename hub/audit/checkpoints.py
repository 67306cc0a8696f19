"""Signed checkpoints of the audit chain, and the Ed25519 keys that sign them.

The chain alone (:mod:`hub.audit.chain`) shows that records were altered, removed or reordered, unless
whoever changed them recomputed every hash after: a checkpoint closes that door. At an interval the
service signs the chain's head with the hub's audit key (:func:`write_checkpoint`), and after every so many
records too (``WELFARE_HUB_AUDIT_CHECKPOINT_EVERY_RECORDS``); the same key signs each caller's receipt for
its own record (:mod:`hub.audit.receipts`). The public keys are
published (``GET /audit/keys``, :func:`public_document`) so that an auditor can check a log, or an export
of one, without trusting the hub's database or its operator (:func:`signature_ok`, used by
:mod:`hub.audit.verify`). Old keys keep verifying after a rotation (:meth:`AuditKeys.rotated`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.audit.chain import micros
from hub.errors import ConfigError

__all__ = [
    "AuditKeys",
    "Checkpoint",
    "checkpoint_message",
    "load_public_document",
    "public_document",
    "signature_ok",
    "write_checkpoint",
]


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

    def sign_message(self, message: bytes) -> tuple[str, bytes]:
        """(the current key's id, its signature of ``message``): for messages that carry the key id
        themselves, as a receipt does (:mod:`hub.audit.receipts`)."""
        return self.current, self.private[self.current].sign(message)


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
# The key's latest checkpoint rows: the newest whose signature holds is the last head it signed (a row with a
# bad signature, which anyone with the service role's login could insert, counts for nothing).
_LAST_SIGNED = (
    "SELECT seq, head_hash, signed_at, key_id, signature FROM hub.audit_checkpoint WHERE key_id = $1 "
    "ORDER BY seq DESC, checkpoint_id DESC LIMIT 20"
)


async def write_checkpoint(
    conn: asyncpg.Pool | asyncpg.Connection, keys: AuditKeys, *, min_records: int = 1
) -> Checkpoint | None:
    """Sign the chain head if at least ``min_records`` records were appended since the current key last
    signed; the checkpoint, or None. The service runs it at an interval and after every so many records
    (:mod:`hub.roles`: so a truncation of the log's end is bounded in time and in records), and once more
    when stopping; ``welfare-hub audit checkpoint`` on demand.

    The database writes it (``hub.audit_checkpoint_append``), refusing a checkpoint of a head the log
    does not hold: the service has no INSERT on the checkpoints."""
    head = await conn.fetchrow(_HEAD)
    if head is None:
        return None
    public = keys.public
    last = next(
        (
            row["seq"]
            for row in await conn.fetch(_LAST_SIGNED, keys.current)
            if signature_ok(
                Checkpoint(
                    row["seq"], bytes(row["head_hash"]), row["signed_at"], row["key_id"], bytes(row["signature"])
                ),
                public,
            )
        ),
        0,
    )
    if head["seq"] - last < max(min_records, 1):
        return None
    signed = keys.sign(head["seq"], bytes(head["record_hash"]), dt.datetime.now(dt.UTC))
    inserted = await conn.fetchval(
        "SELECT hub.audit_checkpoint_append($1, $2, $3, $4, $5)",
        signed.seq,
        signed.head_hash,
        signed.signed_at,
        signed.key_id,
        signed.signature,
    )
    return None if inserted is None else signed
