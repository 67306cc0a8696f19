"""Checkpoints and the audit keys (hub.audit.checkpoints), without a database.

The behaviour suite (tests/hub/test_audit_chain.py) signs and verifies a real log; these pin the pieces
an outside auditor relies on when checking an export with the published keys alone: what a signature
covers, which keys it is checked against, and the key files.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import stat
from pathlib import Path

import pytest

from hub.audit.checkpoints import (
    AuditKeys,
    checkpoint_message,
    load_public_document,
    public_document,
    signature_ok,
)
from hub.errors import ConfigError

KEYS = AuditKeys.generate("unit-a1")
HEAD = bytes(range(32))
SIGNED_AT = dt.datetime(2026, 3, 3, 10, 0, 0, 123456, tzinfo=dt.UTC)


def test_the_message_covers_the_position_the_head_and_the_time() -> None:
    message = checkpoint_message(41, HEAD, SIGNED_AT)
    assert message == checkpoint_message(41, HEAD, SIGNED_AT)  # deterministic: anyone can recompute it
    others = {
        checkpoint_message(42, HEAD, SIGNED_AT),
        checkpoint_message(41, bytes(32), SIGNED_AT),
        checkpoint_message(41, HEAD, SIGNED_AT + dt.timedelta(microseconds=1)),
    }
    assert message not in others
    assert len(others) == 3
    # The same instant in another zone is the same message: a time, not its spelling, is signed.
    as_bst = SIGNED_AT.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert checkpoint_message(41, HEAD, as_bst) == message


def test_a_signature_verifies_with_the_key_that_made_it() -> None:
    checkpoint = KEYS.sign(41, HEAD, SIGNED_AT)
    assert (checkpoint.seq, checkpoint.head_hash, checkpoint.key_id) == (41, HEAD, "unit-a1")
    assert signature_ok(checkpoint, KEYS.public) is True


@pytest.mark.parametrize(
    ("description", "change"),
    [
        ("another position", {"seq": 40}),
        ("another head", {"head_hash": bytes(32)}),
        ("another time", {"signed_at": SIGNED_AT + dt.timedelta(seconds=1)}),
        ("a flipped bit of the signature", "flip"),
    ],
)
def test_a_checkpoint_changed_after_signing_fails(description: str, change: object) -> None:
    checkpoint = KEYS.sign(41, HEAD, SIGNED_AT)
    if change == "flip":
        signature = bytearray(checkpoint.signature)
        signature[0] ^= 1
        changed = dataclasses.replace(checkpoint, signature=bytes(signature))
    else:
        assert isinstance(change, dict)
        changed = dataclasses.replace(checkpoint, **change)
    assert signature_ok(changed, KEYS.public) is False


def test_a_key_the_auditor_does_not_trust_is_unknown_not_bad() -> None:
    checkpoint = KEYS.sign(41, HEAD, SIGNED_AT)
    other = AuditKeys.generate("unit-a1")  # the same id, another key: a forger's
    assert signature_ok(checkpoint, other.public) is False
    assert signature_ok(checkpoint, {}) is None
    relabelled = dataclasses.replace(checkpoint, key_id="unit-zz")
    assert signature_ok(relabelled, KEYS.public) is None


def test_a_rotated_key_signs_and_the_old_one_still_verifies() -> None:
    before = KEYS.sign(41, HEAD, SIGNED_AT)
    rotated = KEYS.rotated("unit-a2")
    after = rotated.sign(42, HEAD, SIGNED_AT)
    assert (rotated.current, after.key_id) == ("unit-a2", "unit-a2")
    assert signature_ok(before, rotated.public) is True
    assert signature_ok(after, rotated.public) is True
    assert signature_ok(after, KEYS.public) is None  # the old set does not know the new key
    with pytest.raises(ConfigError, match="already have a key 'unit-a1'"):
        rotated.rotated("unit-a1")


def test_the_public_document_round_trips_and_holds_no_private_key(tmp_path: Path) -> None:
    rotated = KEYS.rotated("unit-a2")
    doc = rotated.public_document()
    assert doc == public_document(rotated.public)
    assert doc["algorithm"] == "Ed25519"
    assert sorted(doc["keys"]) == ["unit-a1", "unit-a2"]
    # An auditor reads the document back from JSON, and checks with it alone.
    keys = load_public_document(json.loads(json.dumps(doc)))
    assert signature_ok(rotated.sign(7, HEAD, SIGNED_AT), keys) is True
    path = tmp_path / "audit.json"
    rotated.save(path)
    private = set(json.loads(path.read_text())["keys"].values())
    assert private.isdisjoint(doc["keys"].values())


def test_a_public_document_of_another_algorithm_is_refused() -> None:
    doc = KEYS.public_document() | {"algorithm": "RSA"}
    with pytest.raises(ValueError, match="Ed25519"):
        load_public_document(doc)


def test_the_key_file_round_trips_and_only_its_owner_may_read_it(tmp_path: Path) -> None:
    rotated = KEYS.rotated("unit-a2")
    path = tmp_path / "secrets" / "audit.json"
    rotated.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = AuditKeys.load(path)
    assert loaded.current == "unit-a2"
    assert public_document(loaded.public) == rotated.public_document()
    assert signature_ok(loaded.sign(3, HEAD, SIGNED_AT), rotated.public) is True


@pytest.mark.parametrize(
    ("description", "content"),
    [
        ("not JSON", "{"),
        ("no keys", '{"current": "a1"}'),
        ("the current key is not among them", '{"current": "a9", "keys": {}}'),
        ("a key that is not base64", '{"current": "a1", "keys": {"a1": "not base64!"}}'),
        ("a key of the wrong length", '{"current": "a1", "keys": {"a1": "AAAA"}}'),
    ],
)
def test_a_faulty_key_file_is_a_configuration_error(tmp_path: Path, description: str, content: str) -> None:
    path = tmp_path / "audit.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="cannot load the audit signing keys"):
        AuditKeys.load(path)


def test_a_missing_key_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot load the audit signing keys"):
        AuditKeys.load(tmp_path / "absent.json")
