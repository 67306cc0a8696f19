"""``welfare-hub``: serve, migrate, seed, demo, keys, tokens, links and the audit log.

Configuration comes from the environment (see :mod:`hub.config`); with no database configured, the
commands start an embedded PostgreSQL under the data directory (``WELFARE_HUB_DATA_DIR``, default
``./.welfare-hub``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.config import Settings
from hub.errors import ConfigError

if TYPE_CHECKING:
    import asyncpg
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from hub.audit.checkpoints import AuditKeys

__all__ = ["main"]

log = logging.getLogger("welfare_hub")


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[Settings]:
    """The configured server, or an embedded one started (and stopped again) for the command."""
    if settings.database_url is not None or settings.store_urls:
        yield settings
        return
    if settings.production:
        raise ConfigError(["production mode needs a configured database, not an embedded one"])
    from hub.ops.embedded import start_embedded

    server = start_embedded(settings.data_dir.resolve() / "pg")
    log.info("embedded PostgreSQL running in %s", server.data_dir)
    try:
        yield settings.with_database(server.dsn)
    finally:
        server.stop()


@contextlib.contextmanager
def _stopped_by_ctrl_c() -> Iterator[None]:
    """uvicorn shuts down on Ctrl-C, then re-raises the signal: by then the stop was orderly, so exit 0."""
    try:
        yield
    except KeyboardInterrupt:
        print("welfare-hub: stopped", file=sys.stderr)


def _with_local_keys(settings: Settings) -> Settings:
    """Outside production, default to (and create) the demo key files in the data directory."""
    if settings.production:
        return settings
    from hub.ops import demo

    paths = demo.ensure_keys(settings.data_dir)
    return replace(
        settings,
        jwks_path=settings.jwks_path or paths.jwks,
        keys_path=settings.keys_path or paths.key_ring,
        audit_keys_path=settings.audit_keys_path or paths.audit,
        link_model_path=settings.link_model_path or settings.data_dir / "link-model.json",
    )


def _cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from hub.ops.migrate import migrate

    with database(settings) as s:
        for report in asyncio.run(migrate(s)):
            print(f"{report.store}: applied {list(report.applied) or 'nothing new'}; already {list(report.already)}")
    return 0


def _cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    from hub.ops.demo import seed_sources

    with database(settings) as s:
        counts = asyncio.run(
            seed_sources(
                s, people=args.people, seed=args.seed, hb_coverage=args.hb_coverage, care_coverage=args.care_coverage
            )
        )
    for table, n in counts.items():
        print(f"{table}: {n} rows")
    return 0


def _cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from hub.serve import serve

    settings = _with_local_keys(settings)
    with _stopped_by_ctrl_c(), database(settings) as s:
        asyncio.run(serve(s))
    return 0


def _cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from hub.cli.demo import run_demo

    settings = _with_local_keys(replace(settings, port=args.port))
    with _stopped_by_ctrl_c(), database(settings) as s:
        asyncio.run(run_demo(s, people=args.people, seed=args.seed))
    return 0


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
            }
        )
    )
    return 0


def _cmd_keys_rotate(settings: Settings, args: argparse.Namespace) -> int:
    from hub.access.keys import rotate_key_ring, write_key_ring

    settings = _with_local_keys(settings)
    assert settings.keys_path is not None
    document = json.loads(settings.keys_path.read_text())
    write_key_ring(settings.keys_path, rotate_key_ring(document, args.key_id))
    print(f"key {args.key_id} is now current in {settings.keys_path}; run `welfare-hub keys rekey` next")
    return 0


def _cmd_keys_rekey(settings: Settings, args: argparse.Namespace) -> int:
    from hub.ops.linking import rekey

    settings = _with_local_keys(settings)
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


def _model_path(settings: Settings, args: argparse.Namespace) -> Path:
    if args.model:
        return Path(args.model)
    return settings.link_model_path or settings.data_dir / "link-model.json"


def _cmd_link_train(settings: Settings, args: argparse.Namespace) -> int:
    from hub.ops.linking import save_model, train_model

    settings = _with_local_keys(settings)
    with database(settings) as s:
        model = asyncio.run(train_model(s, sample=args.sample, progress=True))
    path = _model_path(settings, args)
    save_model(model, path)
    print(f"model {model.version} written to {path} (prior {model.prior:.3g}, {model.em_iterations} EM iterations)")
    return 0


def _cmd_link_build(settings: Settings, args: argparse.Namespace) -> int:
    from hub.ops.linking import build_links, load_model, save_model, train_model

    settings = _with_local_keys(settings)
    if args.link_threshold is not None:
        settings = replace(settings, link_threshold=args.link_threshold)
    if args.review_threshold is not None:
        settings = replace(settings, review_threshold=args.review_threshold)
    thresholds = settings.thresholds()  # ConfigError when they do not make bands
    path = _model_path(settings, args)
    with database(settings) as s:
        if path.exists():
            model = load_model(path)
        else:
            model = asyncio.run(train_model(s, progress=True))
            save_model(model, path)
        counts = asyncio.run(
            build_links(
                s,
                model=model,
                thresholds=thresholds,
                chunk=args.chunk,
                resume=not args.restart,
                workers=args.workers,
                force=args.full,
            )
        )
    print(json.dumps({"model": model.version, "counts": counts.by_source}, indent=2))
    return 0


def _cmd_policy_check(settings: Settings, args: argparse.Namespace) -> int:
    from hub.execution.schema import build_schema, load_purposes

    register = load_purposes(settings, build_schema(settings))  # raises ConfigError listing every problem
    grants = sum(len(p.fields) for p in register.purposes.values())
    sizes = f"{len(register.purposes)} purposes, {len(register.org_types)} org types, {grants} field grants"
    print(f"{settings.purposes_path}: {sizes}")
    return 0


def _cmd_policy_notice(settings: Settings, args: argparse.Namespace) -> int:
    from hub.access.notice import field_descriptions, render
    from hub.execution.schema import build_schema, load_purposes

    schema = build_schema(settings)
    register = load_purposes(settings, schema)
    if args.purpose is not None and args.purpose not in register.purposes:
        print(f"no purpose {args.purpose!r} in the register ({', '.join(register.purposes)})", file=sys.stderr)
        return 2
    sys.stdout.write(render(register, field_descriptions(schema._schema), args.format, args.purpose))
    return 0


def _in_hub(settings: Settings, work: Callable[[asyncpg.Connection], Awaitable[None]]) -> None:
    """Run an operator command's writes in the hub database (migrated first), as its owner."""
    from hub.ops.migrate import connect_store, migrate

    async def run(s: Settings) -> None:
        await migrate(s)
        async with connect_store(s, "hub") as conn:
            await work(conn)

    with database(settings) as s:
        asyncio.run(run(s))


def _cmd_orgs_load(settings: Settings, args: argparse.Namespace) -> int:
    from hub.access.orgs import parse_file
    from hub.execution.schema import build_schema, load_purposes
    from hub.records.orgs import upsert

    register = load_purposes(settings, build_schema(settings))
    orgs = parse_file(Path(args.file), org_types=register.org_types)
    _in_hub(settings, lambda conn: upsert(conn, orgs))
    print(f"{len(orgs)} organisations added or updated")
    return 0


def _cmd_orgs_staff(settings: Settings, args: argparse.Namespace) -> int:
    import csv

    from hub.access.keys import load_key_ring
    from hub.records.orgs import person_key_of, record_staff
    from linkage import check_nino, subject_hash, user_hash

    settings = _with_local_keys(settings)
    assert settings.keys_path is not None
    ring = load_key_ring(settings.keys_path)
    staff, problems = [], []
    with open(args.file, newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            nino = check_nino(row.get("nino") or "")
            if not row.get("org") or not row.get("user") or nino.nino is None:
                problems.append(f"line {line}: needs org, user and a valid nino")
                continue
            staff.append((user_hash(ring, row["org"], row["user"]), nino.nino))
    if problems:
        raise ConfigError(problems)

    async def record(conn: asyncpg.Connection) -> None:
        # Each user's hub person key too, from the link index, so their record is refused however reached.
        rows = [
            (user, subject_hash(ring, nino), await person_key_of(conn, [k.value for k in ring.hash_all(nino)]))
            for user, nino in staff
        ]
        await record_staff(conn, rows)

    _in_hub(settings, record)
    print(f"{len(staff)} users recorded (keyed hashes and person keys only)")
    return 0


def _audit_keys(settings: Settings) -> AuditKeys:
    from hub.audit.checkpoints import AuditKeys

    settings = _with_local_keys(settings)
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


def _cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    from hub.audit.verify import verify_database, verify_export

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

    _in_hub(settings, run)
    return _report_verification(found)


def _cmd_audit_export(settings: Settings, args: argparse.Namespace) -> int:
    from hub.audit.verify import export

    keys = _audit_keys(settings).public
    since, until = _timestamp(args.since), _timestamp(args.until)
    result: dict[str, Any] = {}

    with open(args.out, "w") as out:

        async def run(conn: asyncpg.Connection) -> None:
            result.update(await export(conn, out, since=since, until=until, public_keys=keys))

        _in_hub(settings, run)
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

    _in_hub(settings, run)
    signed = made[0]
    print(json.dumps({"signed": None if signed is None else {"seq": signed.seq, "key_id": signed.key_id}}))
    return 0


def _cmd_audit_report(settings: Settings, args: argparse.Namespace) -> int:
    import asyncpg

    from hub.audit.events import AuditLog
    from hub.audit.transparency import render_transparency
    from hub.ops.migrate import migrate, migration_url

    until = _timestamp(args.until) if args.until else dt.datetime.now(dt.UTC)
    since = _timestamp(args.since) if args.since else until - dt.timedelta(days=30)
    if not since < until:
        raise ConfigError(["--since must be before --until"])

    async def run(s: Settings) -> dict[str, Any]:
        await migrate(s)
        pool = await asyncpg.create_pool(migration_url(s, "hub"), min_size=1, max_size=2)
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

    settings = _with_local_keys(settings)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="welfare-hub", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create (if allowed) and migrate the four stores").set_defaults(func=_cmd_migrate)
    seed = sub.add_parser("seed", help="fill the three sources with synthetic people")
    seed.add_argument("--people", type=int, default=5000)
    seed.add_argument("--seed", type=int, default=1)
    seed.add_argument("--hb-coverage", type=float, default=None, help="share of people with an HB claim (0.3)")
    seed.add_argument("--care-coverage", type=float, default=None, help="share known to social care (0.15)")
    seed.set_defaults(func=_cmd_seed)
    sub.add_parser("serve", help="serve the GraphQL endpoint").set_defaults(func=_cmd_serve)
    demo = sub.add_parser("demo", help="embedded database, synthetic data, keys, tokens and the server")
    demo.add_argument("--people", type=int, default=3000)
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(func=_cmd_demo)
    keys = sub.add_parser("keys", help="key management")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    init = keys_sub.add_parser("init", help="make the hub key ring and a demo token issuer if missing")
    init.add_argument("--dir", default=None)
    init.set_defaults(func=_cmd_keys_init)
    audit = sub.add_parser("audit", help="the tamper-evident audit log: verify, export, checkpoint")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="recompute every hash and signature; name the first bad record")
    verify.add_argument("--file", default=None, help="an export file to verify offline instead of the database")
    verify.add_argument("--public-keys", default=None, help="the hub's published audit keys (JSON) to trust")
    verify.set_defaults(func=_cmd_audit_verify)
    export = audit_sub.add_parser("export", help="write a period's records and checkpoints to a file")
    export.add_argument("--since", required=True, help="ISO 8601 start (inclusive; UTC if no offset)")
    export.add_argument("--until", required=True, help="ISO 8601 end (exclusive)")
    export.add_argument("--out", required=True)
    export.set_defaults(func=_cmd_audit_export)
    audit_sub.add_parser("checkpoint", help="sign the chain head now").set_defaults(func=_cmd_audit_checkpoint)
    audit_sub.add_parser("keys", help="print the public audit keys to publish").set_defaults(func=_cmd_audit_keys)
    rotate_audit = audit_sub.add_parser("rotate-key", help="a new checkpoint signing key (the old ones keep verifying)")
    rotate_audit.add_argument("--key-id", required=True)
    rotate_audit.set_defaults(func=_cmd_audit_rotate)
    report = audit_sub.add_parser("report", help="the transparency report for a period (counts only)")
    report.add_argument("--since", default=None, help="ISO 8601 start (default: 30 days before --until)")
    report.add_argument("--until", default=None, help="ISO 8601 end, exclusive (default: now)")
    report.add_argument("--format", choices=("md", "csv"), default="md")
    report.set_defaults(func=_cmd_audit_report)
    rotate = keys_sub.add_parser("rotate", help="add a new NINO hashing key and make it current (dev key file)")
    rotate.add_argument("--key-id", required=True)
    rotate.set_defaults(func=_cmd_keys_rotate)
    rekey_cmd = keys_sub.add_parser("rekey", help="re-hash the link index with the current key (resumable)")
    rekey_cmd.add_argument("--chunk", type=int, default=2000)
    rekey_cmd.set_defaults(func=_cmd_keys_rekey)
    link = sub.add_parser("link", help="the link index: train the model, build or refresh links")
    link_sub = link.add_subparsers(dest="link_command", required=True)
    train = link_sub.add_parser("train", help="fit the Fellegi-Sunter model on a sample of the sources")
    train.add_argument("--sample", type=int, default=50_000)
    train.add_argument("--model", default=None, help="model file (default: DATA_DIR/link-model.json)")
    train.set_defaults(func=_cmd_link_train)
    build = link_sub.add_parser("build", help="build or refresh the link index (resumable, incremental)")
    build.add_argument("--model", default=None)
    build.add_argument("--chunk", type=int, default=2000)
    build.add_argument("--link-threshold", type=float, default=None, help="default: WELFARE_HUB_LINK_THRESHOLD")
    build.add_argument("--review-threshold", type=float, default=None, help="default: WELFARE_HUB_REVIEW_THRESHOLD")
    build.add_argument("--restart", action="store_true", help="start a new run instead of resuming")
    build.add_argument("--workers", type=int, default=2, help="processes deciding links in parallel")
    build.add_argument("--full", action="store_true", help="re-decide every record, changed or not")
    build.set_defaults(func=_cmd_link_build)
    orgs = sub.add_parser("orgs", help="the organisation register")
    orgs_sub = orgs.add_subparsers(dest="orgs_command", required=True)
    load = orgs_sub.add_parser("load", help="add or update organisations from a TOML file ([organisations.<id>])")
    load.add_argument("file")
    load.set_defaults(func=_cmd_orgs_load)
    staff = orgs_sub.add_parser("staff", help="who the hub's users are as people (CSV: org,user,nino; hashed on load)")
    staff.add_argument("file")
    staff.set_defaults(func=_cmd_orgs_staff)
    policy = sub.add_parser("policy", help="the purpose register")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    policy_sub.add_parser("check", help="validate the register against the schema").set_defaults(func=_cmd_policy_check)
    notice = policy_sub.add_parser("notice", help="the privacy notice, generated from the register")
    notice.add_argument("--format", choices=("md", "html"), default="md")
    notice.add_argument("--purpose", help="one purpose only")
    notice.set_defaults(func=_cmd_policy_notice)
    token = sub.add_parser("token", help="mint a token from the demo issuer (development only)")
    token.add_argument("--org", required=True)
    token.add_argument("--org-type", required=True)
    token.add_argument("--user", default="demo-user")
    token.add_argument("--purpose", action="append", default=[], required=True)
    token.add_argument("--role", default="user")
    token.add_argument("--lifetime", type=int, default=3600)
    token.set_defaults(func=_cmd_token)
    return parser


class JsonLines(logging.Formatter):
    """One JSON object a line (what a log platform ingests): time, level, logger, message, and an
    exception's type only (its message may quote data; the hub's own messages never do)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(*, json_lines: bool) -> None:
    """Plain lines for a person at a terminal; JSON lines in production."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonLines() if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    if not root.handlers:  # as logging.basicConfig: a host that set up logging (a test runner) keeps its own
        root.addHandler(handler)
        root.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    production = os.environ.get("WELFARE_HUB_ENV", "").strip().lower() == "production"
    configure_logging(json_lines=production)
    try:
        settings = Settings.from_environ(os.environ)
        if args.command == "token" and settings.production:
            raise ConfigError(["tokens come from your identity provider in production, not from the hub"])
        code: int = args.func(settings, args)
    except ConfigError as e:
        print(f"welfare-hub: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
