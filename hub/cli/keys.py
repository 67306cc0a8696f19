"""``welfare-hub keys`` (the hub's NINO hashing keys: init, rotate, re-key the link index) and
``welfare-hub token`` (a token from the demo issuer)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.config import Settings

if TYPE_CHECKING:
    pass

from hub.cli.common import database, with_local_keys

__all__ = ["add_commands", "add_token_command"]

log = logging.getLogger("welfare_hub")


def _cmd_keys_init(settings: Settings, args: argparse.Namespace) -> int:
    from hub.ops.demo import ensure_keys

    paths = ensure_keys(Path(args.dir) if args.dir else settings.data_dir)
    print(
        json.dumps(
            {
                "key_ring": str(paths.key_ring),
                "jwks": str(paths.jwks),
                "issuer_key": str(paths.issuer),
                "audit_keys": str(paths.audit),
                "assertion_key": str(paths.assertion),
                "assertion_jwks": str(paths.assertion_jwks),
            }
        )
    )
    return 0


def _cmd_keys_rotate(settings: Settings, args: argparse.Namespace) -> int:
    from hub.access.keys import rotate_key_ring, write_key_ring

    settings = with_local_keys(settings)
    assert settings.keys_path is not None
    document = json.loads(settings.keys_path.read_text())
    write_key_ring(settings.keys_path, rotate_key_ring(document, args.key_id))
    print(f"key {args.key_id} is now current in {settings.keys_path}; run `welfare-hub keys rekey` next")
    return 0


def _cmd_keys_rekey(settings: Settings, args: argparse.Namespace) -> int:
    from hub.ops.linking import rekey

    settings = with_local_keys(settings)
    with database(settings) as s:
        print(json.dumps(asyncio.run(rekey(s, chunk=args.chunk))))
    return 0


def _cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    from hub.ops.demo import ensure_keys
    from hub.ops.issuer import IssuerKey

    paths = ensure_keys(settings.data_dir)
    token = IssuerKey.load(paths.issuer).mint(
        issuer=settings.issuer,
        audience=settings.audience,
        org=args.org,
        org_type=args.org_type,
        user=args.user,
        purposes=args.purpose,
        role=args.role,
        lifetime_seconds=args.lifetime,
    )
    print(token)
    return 0


def add_commands(sub: Any) -> None:
    keys = sub.add_parser("keys", help="key management")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    init = keys_sub.add_parser("init", help="make the hub key ring and a demo token issuer if missing")
    init.add_argument("--dir", default=None)
    init.set_defaults(func=_cmd_keys_init)
    rotate = keys_sub.add_parser("rotate", help="add a new NINO hashing key and make it current (dev key file)")
    rotate.add_argument("--key-id", required=True)
    rotate.set_defaults(func=_cmd_keys_rotate)
    rekey_cmd = keys_sub.add_parser("rekey", help="re-hash the link index with the current key (resumable)")
    rekey_cmd.add_argument("--chunk", type=int, default=2000)
    rekey_cmd.set_defaults(func=_cmd_keys_rekey)


def add_token_command(sub: Any) -> None:
    """Listed last in --help, after the register commands."""
    token = sub.add_parser("token", help="mint a token from the demo issuer (development only)")
    token.add_argument("--org", required=True)
    token.add_argument("--org-type", required=True)
    token.add_argument("--user", default="demo-user")
    token.add_argument("--purpose", action="append", default=[], required=True)
    token.add_argument("--role", default="user")
    token.add_argument("--lifetime", type=int, default=3600)
    token.set_defaults(func=_cmd_token)
