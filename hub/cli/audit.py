"""``welfare-hub audit``: verify, export, checkpoint, keys, rotate-key and the transparency report."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.config import Settings
from hub.errors import ConfigError

if TYPE_CHECKING:
    import asyncpg
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from hub.audit.checkpoints import AuditKeys
    from hub.audit.receipts import Receipt

from hub.cli.common import database, in_hub, with_local_keys

__all__ = ["add_commands"]

log = logging.getLogger("welfare_hub")


def _audit_keys(settings: Settings) -> AuditKeys:
    from hub.audit.checkpoints import AuditKeys

    settings = with_local_keys(settings)
    if settings.audit_keys_path is None:
        raise ConfigError(["WELFARE_HUB_AUDIT_KEYS (the keys that sign audit checkpoints) is not set"])
    return AuditKeys.load(settings.audit_keys_path)


def _trusted_keys(settings: Settings, args: argparse.Namespace) -> dict[str, Ed25519PublicKey]:
    """The keys an auditor trusts: the published document they pinned, or else the hub's own."""
    from hub.audit.checkpoints import load_public_document

    if args.public_keys:
        try:
            return load_public_document(json.loads(Path(args.public_keys).read_text()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise ConfigError([f"cannot read the public keys in {args.public_keys}: {type(e).__name__}"]) from None
    return _audit_keys(settings).public


def _report_verification(summary: dict[str, Any]) -> int:
    print(json.dumps(summary, indent=2))
    if summary["ok"]:
        print(
            f"audit verify: OK, {summary['records']} records through {summary['last_seq']}, "
            f"{summary['checkpoints']} checkpoints, {summary['unsigned_records']} records not yet signed",
            file=sys.stderr,
        )
        return 0
    first = summary["first_problem"]
    print(f"audit verify: FAILED: {first['kind']}: {first['message']}", file=sys.stderr)
    return 1


def _read_receipt(where: str) -> Receipt:
    """The receipt a caller kept (FILE, or ``-`` for standard input): the receipt object, or a whole saved
    response carrying one in ``extensions.auditReceipt``."""
    from hub.audit.receipts import Receipt

    text = sys.stdin.read() if where == "-" else Path(where).read_text()
    return Receipt.from_document(json.loads(text))


def _cmd_audit_verify_receipt(settings: Settings, args: argparse.Namespace) -> int:
    from hub.audit.verify import verify_receipt

    try:
        receipt = _read_receipt(args.receipt)
    except (OSError, ValueError) as e:
        print(f"audit verify: receipt {args.receipt}: {e}", file=sys.stderr)
        return 2
    keys = _trusted_keys(settings, args)
    found: dict[str, Any] = {}

    async def run(conn: asyncpg.Connection) -> None:
        found.update((await verify_receipt(conn, receipt, keys)).summary())

    in_hub(settings, run)
    print(json.dumps(found, indent=2))
    if found["ok"]:
        print(
            f"audit verify: OK, the log holds record {found['seq']} as the receipt names it "
            f"(signed by {found['key_id']}; the log ends at {found['log_last_seq']})",
            file=sys.stderr,
        )
        return 0
    first = found["first_problem"]
    print(f"audit verify: FAILED: {first['kind']}: {first['message']}", file=sys.stderr)
    return 1


def _cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    from hub.audit.verify import verify_database, verify_export

    if args.receipt:
        if args.file:
            raise ConfigError(["--receipt and --file check different things: give one"])
        return _cmd_audit_verify_receipt(settings, args)
    keys = _trusted_keys(settings, args) if (args.public_keys or not args.file) else None
    if args.file:
        try:
            with open(args.file) as f:
                report, header = verify_export(f, keys)
        except (OSError, ValueError) as e:
            print(f"audit verify: {args.file}: {e}", file=sys.stderr)
            return 2
        summary = report.summary()
        if keys is None:
            summary["keys"] = "taken from the export itself: compare them with the hub's published keys"
            summary["public_keys"] = header["public_keys"]
        return _report_verification(summary)
    found: dict[str, Any] = {}

    async def run(conn: asyncpg.Connection) -> None:
        assert keys is not None
        found.update((await verify_database(conn, keys)).summary())

    in_hub(settings, run)
    return _report_verification(found)


def _cmd_audit_export(settings: Settings, args: argparse.Namespace) -> int:
    from hub.audit.verify import export

    keys = _audit_keys(settings).public
    since, until = _timestamp(args.since), _timestamp(args.until)
    result: dict[str, Any] = {}

    with open(args.out, "w") as out:

        async def run(conn: asyncpg.Connection) -> None:
            result.update(await export(conn, out, since=since, until=until, public_keys=keys))

        in_hub(settings, run)
    shown = {k: result[k] for k in ("first_seq", "through_seq", "records", "checkpoints")}
    print(json.dumps(shown | {"file": args.out}))
    return 0


def _timestamp(text: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError([f"{text!r} is not an ISO 8601 date or time"]) from None
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def _cmd_audit_checkpoint(settings: Settings, args: argparse.Namespace) -> int:
    from hub.audit.checkpoints import write_checkpoint

    keys = _audit_keys(settings)
    made: list[Any] = []

    async def run(conn: asyncpg.Connection) -> None:
        made.append(await write_checkpoint(conn, keys))

    in_hub(settings, run)
    signed = made[0]
    print(json.dumps({"signed": None if signed is None else {"seq": signed.seq, "key_id": signed.key_id}}))
    return 0


def _cmd_audit_report(settings: Settings, args: argparse.Namespace) -> int:

    from hub.audit.events import AuditLog
    from hub.audit.transparency import render_transparency
    from hub.db import create_store_pool
    from hub.ops.migrate import migrate, migration_url

    until = _timestamp(args.until) if args.until else dt.datetime.now(dt.UTC)
    since = _timestamp(args.since) if args.since else until - dt.timedelta(days=30)
    if not since < until:
        raise ConfigError(["--since must be before --until"])

    async def run(s: Settings) -> dict[str, Any]:
        await migrate(s)
        # Every wait bounded, as the service's: a report over a long log may take minutes, not for ever.
        pool = await create_store_pool(migration_url(s, "hub"), acquire_timeout=30, statement_timeout=600, max_size=2)
        try:
            return await AuditLog(pool, timeout=600).transparency(since, until)
        finally:
            await pool.close()

    with database(settings) as s:
        found = asyncio.run(run(s))
    print(render_transparency(found, args.format), end="")
    return 0


def _cmd_audit_rotate(settings: Settings, args: argparse.Namespace) -> int:
    from hub.audit.checkpoints import AuditKeys

    settings = with_local_keys(settings)
    assert settings.audit_keys_path is not None
    keys = AuditKeys.load(settings.audit_keys_path).rotated(args.key_id)
    keys.save(settings.audit_keys_path)
    print(
        f"audit key {args.key_id} now signs checkpoints ({settings.audit_keys_path}); the old keys still verify. "
        "Publish the new public keys: welfare-hub audit keys"
    )
    return 0


def _cmd_audit_keys(settings: Settings, args: argparse.Namespace) -> int:
    print(json.dumps(_audit_keys(settings).public_document(), indent=2))
    return 0


def add_commands(sub: Any) -> None:
    audit = sub.add_parser(
        "audit",
        help="the tamper-evident audit log: verify, export, checkpoint",
        description="The hash-chained, signed audit log of every request: check it, export a period to "
        "verify elsewhere, sign its head, publish and rotate its keys, report on it.",
    )
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND", title="commands")
    verify = audit_sub.add_parser(
        "verify",
        help="recompute every hash and signature; name the first bad record",
        description="Recompute every record's hash and every checkpoint's signature, in the database or in an "
        "export file (--file), and name the first bad record; or check one caller's receipt (--receipt). "
        "Exit status 0 when it verifies, 1 when it does not.",
    )
    verify.add_argument(
        "--file", default=None, metavar="FILE", help="an export file to verify offline instead of the database"
    )
    verify.add_argument(
        "--public-keys",
        default=None,
        metavar="FILE",
        help="the hub's published audit keys (JSON) to trust (default: the hub's own; for --file, the export's)",
    )
    verify.add_argument(
        "--receipt",
        default=None,
        metavar="FILE",
        help="check a caller's audit receipt (JSON, or - for stdin) against the log and the published keys",
    )
    verify.set_defaults(func=_cmd_audit_verify)
    export = audit_sub.add_parser(
        "export",
        help="write a period's records and checkpoints to a file",
        description="Write a period's records, with the checkpoints that sign them and the public keys, to a "
        "file that `welfare-hub audit verify --file` checks offline.",
    )
    export.add_argument("--since", required=True, help="ISO 8601 start (inclusive; UTC if no offset)")
    export.add_argument("--until", required=True, help="ISO 8601 end (exclusive)")
    export.add_argument("--out", required=True, metavar="FILE", help="the file to write (replaced if it exists)")
    export.set_defaults(func=_cmd_audit_export)
    audit_sub.add_parser(
        "checkpoint",
        help="sign the chain head now",
        description="Sign the chain's head now with the current audit key (the hub also does so every "
        "WELFARE_HUB_AUDIT_CHECKPOINT_SECONDS); prints the record signed through, or null if nothing new.",
    ).set_defaults(func=_cmd_audit_checkpoint)
    audit_sub.add_parser(
        "keys",
        help="print the public audit keys to publish",
        description="Print the public halves of the audit signing keys (JSON), for auditors and callers to pin.",
    ).set_defaults(func=_cmd_audit_keys)
    rotate_audit = audit_sub.add_parser(
        "rotate-key",
        help="a new checkpoint signing key (the old ones keep verifying)",
        description="Add a new audit signing key and make it the one that signs checkpoints; the old keys "
        "still verify what they signed. Publish the new public keys afterwards (welfare-hub audit keys).",
    )
    rotate_audit.add_argument("--key-id", required=True, help="the new key's id (any name not used yet)")
    rotate_audit.set_defaults(func=_cmd_audit_rotate)
    report = audit_sub.add_parser(
        "report",
        help="the transparency report for a period (counts only)",
        description="The transparency report for a period: requests, releases and refusals as counts by "
        "purpose, organisation type and reason; no person, user or organisation is named.",
    )
    report.add_argument("--since", default=None, help="ISO 8601 start (default: 30 days before --until)")
    report.add_argument("--until", default=None, help="ISO 8601 end, exclusive (default: now)")
    report.add_argument("--format", choices=("md", "csv"), default="md", help="Markdown or CSV")
    report.set_defaults(func=_cmd_audit_report)
