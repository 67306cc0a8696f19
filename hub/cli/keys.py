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
    keys = sub.add_parser(
        "keys",
        help="key management",
        description="The hub's own keys: the NINO hashing key ring (and re-keying the link index after a "
        "rotation), plus the demo's token issuer, audit signing and assertion keys outside production.",
    )
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND", title="commands")
    init = keys_sub.add_parser(
        "init",
        help="make the hub key ring and a demo token issuer if missing",
        description="Create, where missing, the hub key ring, the audit signing keys, the demo token issuer "
        "and the hub's assertion key (with their public key sets) in DIR/keys; print their paths as JSON. "
        "Existing keys are kept.",
    )
    init.add_argument("--dir", default=None, metavar="DIR", help="where to make them (default: the data directory)")
    init.set_defaults(func=_cmd_keys_init)
    rotate = keys_sub.add_parser(
        "rotate",
        help="add a new NINO hashing key and make it current (dev key file)",
        description="Add a new HMAC key to the key ring file (WELFARE_HUB_KEYS, else the data directory's) and "
        "make it current; the old keys still match what they hashed. Run `welfare-hub keys rekey` next.",
    )
    rotate.add_argument("--key-id", required=True, help="the new key's id (any name not in the ring yet)")
    rotate.set_defaults(func=_cmd_keys_rotate)
    rekey_cmd = keys_sub.add_parser(
        "rekey",
        help="re-hash the link index with the current key (resumable)",
        description="Re-hash the link index with the key ring's current key, each NINO read again from its "
        "source; lookups keep working throughout, and an interrupted run resumes where it stopped.",
    )
    rekey_cmd.add_argument("--chunk", type=int, default=2000, help="link rows re-hashed per batch")
    rekey_cmd.set_defaults(func=_cmd_keys_rekey)


def add_token_command(sub: Any) -> None:
    """Listed last in --help, after the register commands."""
    token = sub.add_parser(
        "token",
        help="mint a token from the demo issuer (development only)",
        description="Print a token signed by the demo issuer in the data directory (the key the hub trusts "
        "outside production). The hub admits it only if --org is in the organisation register with the type "
        "--org-type (welfare-hub orgs load), and answers only for a purpose that type may use "
        "(policy/purposes.toml). `welfare-hub demo` registers its organisations and prints their tokens.",
    )
    token.add_argument("--org", required=True, help="the organisation's id in the register (e.g. northshire-hb)")
    token.add_argument(
        "--org-type",
        required=True,
        help="its type, as the register holds it ([org_types] of policy/purposes.toml, e.g. council_hb, auditor)",
    )
    token.add_argument("--user", default="demo-user", help="the user the token names, its sub claim")
    token.add_argument(
        "--purpose",
        action="append",
        default=[],
        required=True,
        help="a purpose the token grants (e.g. BLUE_BADGE, AUDIT); repeat for several",
    )
    token.add_argument(
        "--role",
        default="user",
        help="the role claim: user, or admin, who may use introspection and field suggestions in production",
    )
    token.add_argument("--lifetime", type=int, default=3600, help="seconds until the token expires")
    token.set_defaults(func=_cmd_token)
