"""Audit receipts: each caller's own proof of its audit record.

Every GraphQL response that releases or refuses carries, in ``extensions.auditReceipt``, the place its
audit record took in the chain (its sequence number and record hash), signed by the hub's audit key. A
caller who keeps its receipts can later show that the hub recorded what it did, and detect a log whose end
was cut off or rewritten after the last signed checkpoint: ``welfare-hub audit verify --receipt FILE``
(:func:`hub.audit.verify.verify_receipt`) checks the signature against the published keys and that the log
holds exactly that record at that place. A response whose audit record could not be written carries none:
it released nothing.

The receipt also says what the record says that the caller can check itself: the decision, the fields
released, the calling organisation and the operation's name. A hub that recorded "refused, nothing
released" for an answer that released data would have to sign that, and the caller would hold the proof.
(Not the audited reasons: those may say more than the caller was told.)

The receipt, version 2 (docs/audit.md, "Audit receipts")::

    {"format": "welfare-hub-audit-receipt/2", "seq": 42, "recordHash": "<64 hex>",
     "requestId": "<uuid>", "occurredAt": "<ISO 8601, UTC, microseconds>", "decision": "released",
     "fieldsReleased": ["Person.dwp", ...], "callerOrg": "northshire-hb", "operationName": "Overnight",
     "keyId": "a1", "signature": "<base64 of the 64-byte Ed25519 signature>"}

The signature, by key ``keyId`` of the published document (``GET /audit/keys``), covers
:func:`receipt_message`: the line ``welfare-hub-audit-receipt/2`` then the sorted-key, space-free ASCII JSON
of ``caller_org``, ``decision``, ``fields_released`` (sorted), ``key_id``, ``occurred_at_us`` (microseconds
since the Unix epoch), ``operation_name`` (or null), ``record_hash`` (hex), ``request_id`` and ``seq``.
The key id is signed too, so a receipt keeps verifying after the key rotates. No personal data is in a
receipt: the record it names holds only keyed hashes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.audit.chain import Appended, AuditRecord, micros
from hub.audit.checkpoints import AuditKeys

__all__ = ["RECEIPT_FORMAT", "Receipt", "Receipts", "Said", "receipt_message"]

RECEIPT_FORMAT = "welfare-hub-audit-receipt/2"


@dataclass(frozen=True, slots=True)
class Said:
    """What the record says that its caller can check for itself."""

    decision: str
    fields_released: tuple[str, ...]
    caller_org: str
    operation_name: str | None


def receipt_message(
    seq: int, record_hash: bytes, request_id: uuid.UUID, occurred_at: dt.datetime, said: Said, key_id: str
) -> bytes:
    """What a receipt's signature covers (version 2)."""
    doc = {
        "caller_org": said.caller_org,
        "decision": said.decision,
        "fields_released": sorted(said.fields_released),
        "key_id": key_id,
        "occurred_at_us": micros(occurred_at),
        "operation_name": said.operation_name,
        "record_hash": record_hash.hex(),
        "request_id": str(request_id),
        "seq": seq,
    }
    body = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return f"{RECEIPT_FORMAT}\n".encode() + body.encode()


@dataclass(frozen=True, slots=True)
class Receipt:
    seq: int
    record_hash: bytes
    request_id: uuid.UUID
    occurred_at: dt.datetime
    said: Said
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        return receipt_message(self.seq, self.record_hash, self.request_id, self.occurred_at, self.said, self.key_id)

    def document(self) -> dict[str, Any]:
        """The receipt as a response's ``extensions.auditReceipt`` carries it."""
        return {
            "format": RECEIPT_FORMAT,
            "seq": self.seq,
            "recordHash": self.record_hash.hex(),
            "requestId": str(self.request_id),
            "occurredAt": self.occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            "decision": self.said.decision,
            "fieldsReleased": sorted(self.said.fields_released),
            "callerOrg": self.said.caller_org,
            "operationName": self.said.operation_name,
            "keyId": self.key_id,
            "signature": base64.b64encode(self.signature).decode(),
        }

    @classmethod
    def from_document(cls, doc: Any) -> Receipt:
        """A receipt read back (the JSON object, or a whole response carrying one); ValueError if it is not
        one, saying what is wrong."""
        if isinstance(doc, Mapping) and "format" not in doc and isinstance(doc.get("extensions"), Mapping):
            doc = doc["extensions"].get("auditReceipt")  # a whole GraphQL response, as saved
        if not isinstance(doc, Mapping):
            raise ValueError("not an audit receipt: expected a JSON object")
        if doc.get("format") != RECEIPT_FORMAT:
            raise ValueError(f"not a {RECEIPT_FORMAT} receipt (format {doc.get('format')!r})")
        try:
            seq = doc["seq"]
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
                raise ValueError("seq must be a positive integer")
            record_hash = bytes.fromhex(str(doc["recordHash"]))
            signature = base64.b64decode(str(doc["signature"]), validate=True)
            if len(record_hash) != 32 or len(signature) != 64:
                raise ValueError("recordHash is 32 bytes and signature 64")
            occurred_at = dt.datetime.fromisoformat(str(doc["occurredAt"]))
            if occurred_at.tzinfo is None:
                raise ValueError("occurredAt must carry its offset")
            fields = doc["fieldsReleased"]
            if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
                raise ValueError("fieldsReleased must be a list of field coordinates")
            name = doc["operationName"]
            said = Said(str(doc["decision"]), tuple(fields), str(doc["callerOrg"]), None if name is None else str(name))
            request_id = uuid.UUID(str(doc["requestId"]))
            return cls(seq, record_hash, request_id, occurred_at, said, str(doc["keyId"]), signature)
        except KeyError as e:
            raise ValueError(f"the receipt has no {e.args[0]}") from None
        except (TypeError, binascii.Error) as e:
            raise ValueError(f"the receipt is not readable: {type(e).__name__}") from None

    def signature_ok(self, keys: Mapping[str, Ed25519PublicKey]) -> bool | None:
        """True if a trusted key signed it, False if the signature is bad, None if the key is unknown."""
        key = keys.get(self.key_id)
        if key is None:
            return None
        try:
            key.verify(self.signature, self.message())
        except InvalidSignature:
            return False
        return True


class Receipts:
    """Signs receipts with the hub's current audit key: the only use of the private key a request makes."""

    def __init__(self, keys: AuditKeys) -> None:
        self._keys = keys

    def issue(self, record: AuditRecord, appended: Appended) -> Receipt:
        said = Said(record.decision, tuple(sorted(record.fields_released)), record.caller_org, record.operation_name)
        message_for = receipt_message(
            appended.seq, appended.record_hash, record.request_id, appended.occurred_at, said, self._keys.current
        )
        key_id, signature = self._keys.sign_message(message_for)
        return Receipt(
            appended.seq, appended.record_hash, record.request_id, appended.occurred_at, said, key_id, signature
        )
