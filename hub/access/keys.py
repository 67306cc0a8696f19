"""The hub's HMAC key ring as a file: made, rotated, written and loaded.

In production the key ring comes from a secret and tokens from the councils' identity provider; these
helpers exist so a newcomer's demo and the tests use real keys and real signatures, never shortcuts.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

from hub.errors import ConfigError
from linkage import KeyId, KeyRing

__all__ = ["load_key_ring", "new_key_ring_document", "rotate_key_ring", "write_key_ring"]


def new_key_ring_document(key_id: str = "k1") -> dict[str, Any]:
    return {
        "current": key_id,
        "keys": {key_id: base64.b64encode(secrets.token_bytes(32)).decode()},
        "pseudonym_key": base64.b64encode(secrets.token_bytes(32)).decode(),
    }


def rotate_key_ring(document: dict[str, Any], key_id: str) -> dict[str, Any]:
    """A new current key; the old ones stay (lookups and re-keying need them until the index moves)."""
    if key_id in document["keys"]:
        raise ConfigError([f"the key ring already has a key {key_id!r}: choose a new key id"])
    return {
        **document,
        "current": key_id,
        "keys": {**document["keys"], key_id: base64.b64encode(secrets.token_bytes(32)).decode()},
    }


def write_key_ring(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))


def load_key_ring(path: Path) -> KeyRing:
    try:
        doc = json.loads(path.read_text())
        keys = {KeyId(kid): base64.b64decode(value, validate=True) for kid, value in doc["keys"].items()}
        return KeyRing(
            keys=keys,
            current=KeyId(doc["current"]),
            pseudonym_key=base64.b64decode(doc["pseudonym_key"], validate=True),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        # The message names the file and the kind of fault, never the key material.
        raise ConfigError([f"cannot load the hub key ring from {path}: {type(e).__name__}: {e}"]) from None
