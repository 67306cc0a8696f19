"""What the audit log and tracing cost, and how fast the log verifies.

    python -m bench.observability [--people 20000] [--requests 2000] [--records 1000000]

1. The person query with the chained audit write and tracing on (spans exported by OTLP/HTTP to a receiver on
   loopback, as to a collector), with one or the other taken out, and with both taken out
   (``bench.unobserved``), one after the other in one run: latency, throughput and the hub's CPU per
   request, as ratios.
2. The audit write alone under concurrency: ``hub.audit_append`` (one chain, an advisory lock) against a plain
   INSERT of the same row into an unchained copy of the table (what the lock and hashing cost).
3. ``audit verify`` over ``--records`` records (written straight into a fresh hub store by COPY, chained and
   checkpointed every 100,000 as the hub does): records per second, in process and by the command.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg

from bench.enforcement import COUNCIL, _subjects
from bench.hubserver import add_load_arguments, bench_caller, hub_env, hub_server, seeded_stores
from bench.latency import _hub
from bench.results_file import this_command, write_result
from hub.audit.chain import BODY_FIELDS, AuditRecord, PgAuditSink, canonical_body, record_hash
from hub.audit.checkpoints import AuditKeys
from hub.audit.verify import verify_database
from hub.config import Settings, store_role_names
from hub.ops.demo import ensure_keys
from hub.ops.migrate import drop_stores, migrate, migration_url, quote_ident


class _Collector:
    """An OTLP/HTTP endpoint that accepts and counts (the spans' cost to the hub is the export, not the store)."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                collector.requests += 1
                collector.bytes += len(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"


async def _requests(args: argparse.Namespace, results: dict[str, Any]) -> None:
    settings, issuer = await seeded_stores(args.database_url, args.people)
    collector = _Collector()
    env = hub_env(settings)
    token = await bench_caller(settings, issuer, council=COUNCIL)
    try:
        ninos = await _subjects(settings)
        results["distinct_subjects"] = len(ninos)
        otlp = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.endpoint}
        runs = (
            ("observed", "hub", otlp),
            ("audit_only", "bench.unobserved", {"BENCH_TAKE_OUT": "tracing"}),
            ("tracing_only", "bench.unobserved", {**otlp, "BENCH_TAKE_OUT": "audit"}),
            ("unobserved", "bench.unobserved", {"BENCH_TAKE_OUT": "audit,tracing"}),
        )
        for label, module, extra in runs:
            async with hub_server({**env, **extra}, module=module) as (url, pid):
                for concurrency, n in ((1, max(200, args.requests // 5)), (32, args.requests)):
                    results[f"{label}_c{concurrency}"] = await _hub(url, token, ninos, n, concurrency, pid)
        results["otlp_exports"] = collector.requests
        results["otlp_bytes"] = collector.bytes
    finally:
        collector.server.shutdown()
        await drop_stores(settings)


def _record(i: int) -> AuditRecord:
    return AuditRecord(
        request_id=uuid.uuid4(),
        operation_type="query",
        operation_name="Charging",
        caller_org=f"council-{i % 40}",
        caller_org_type="council_care_finance",
        caller_user_hash=f"{i % 997:064x}",
        purpose="CARE_CHARGING_DOMICILIARY",
        legal_basis="SI 2012/1483 reg. 5",
        subject_key_id="k1",
        subject_hashes=[f"{random.getrandbits(256):064x}"],
        link_method="link_index",
        fields_released=["Query.person", "Person.subjectId", "Person.dwp", "DwpRecord.awardsInPayment"],
        sources_read=["dwp", "hb", "social_care"],
        decision="released",
        reason_codes=[],
        trace_id=f"{random.getrandbits(128):032x}",
    )


async def _writes(settings: Settings, results: dict[str, Any], total: int = 4000) -> None:
    """Audit writes per second, chained vs a plain INSERT, at several concurrencies."""
    admin = await asyncpg.connect(migration_url(settings, "hub"))
    await admin.execute("CREATE TABLE IF NOT EXISTS hub.audit_plain (LIKE hub.audit_event INCLUDING DEFAULTS)")
    service_role = store_role_names(settings.db_prefix, "hub")[1]
    await admin.execute(f"GRANT INSERT ON hub.audit_plain TO {quote_ident(service_role)}")
    pool = await asyncpg.create_pool(settings.service_url("hub"), min_size=32, max_size=32)
    sink = PgAuditSink(pool, timeout=30)
    columns = ", ".join(BODY_FIELDS)
    placeholders = ", ".join(f"${i}" for i in range(1, len(BODY_FIELDS) + 1))
    plain = f"INSERT INTO hub.audit_plain ({columns}) VALUES ({placeholders})"

    async def plain_write(record: AuditRecord) -> None:
        values = [getattr(record, n) for n in BODY_FIELDS]
        await pool.execute(plain, *[list(v) if isinstance(v, list | tuple) else v for v in values])

    try:
        for concurrency in (1, 8, 32):
            for label, write in (("chained", sink.write), ("plain", plain_write)):
                queue = [_record(i) for i in range(total)]

                async def worker(queue: list[AuditRecord] = queue, write: Any = write) -> None:
                    while queue:
                        await write(queue.pop())

                started = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(concurrency)))
                results[f"write_{label}_c{concurrency}"] = total / (time.perf_counter() - started)
    finally:
        await pool.close()
        await admin.execute("DROP TABLE hub.audit_plain")
        await admin.close()


async def _fill(settings: Settings, keys: AuditKeys, records: int) -> float:
    """``records`` chained records by COPY, a checkpoint every 100,000; seconds taken."""
    conn = await asyncpg.connect(migration_url(settings, "hub"))
    started = time.perf_counter()
    try:
        head = await conn.fetchrow(
            "SELECT seq, record_hash, occurred_at FROM hub.audit_event WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1"
        )
        seq = head["seq"] if head else 0
        prev = bytes(head["record_hash"]) if head else bytes(32)
        at = max(dt.datetime.now(dt.UTC), head["occurred_at"] if head else dt.datetime.now(dt.UTC))
        columns = ["seq", "prev_hash", "record_hash", "occurred_at", *BODY_FIELDS]
        batch: list[tuple[Any, ...]] = []
        for i in range(records):
            seq += 1
            record = _record(i)
            occurred = at + dt.timedelta(milliseconds=seq)
            digest = record_hash(prev, seq, occurred, canonical_body(record))
            values = [getattr(record, n) for n in BODY_FIELDS]
            batch.append(
                (seq, prev, digest, occurred, *[list(v) if isinstance(v, list | tuple) else v for v in values])
            )
            prev = digest
            if len(batch) == 50_000 or i == records - 1:
                await conn.copy_records_to_table("audit_event", schema_name="hub", columns=columns, records=batch)
                batch = []
            if seq % 100_000 == 0 or i == records - 1:
                signed = keys.sign(seq, prev, dt.datetime.now(dt.UTC))
                await conn.execute(
                    "INSERT INTO hub.audit_checkpoint (seq, head_hash, signed_at, key_id, signature) "
                    "VALUES ($1, $2, $3, $4, $5)",
                    signed.seq,
                    signed.head_hash,
                    signed.signed_at,
                    signed.key_id,
                    signed.signature,
                )
    finally:
        await conn.close()
    return time.perf_counter() - started


async def _verify(args: argparse.Namespace, results: dict[str, Any]) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="wh-audit-bench-"))
    paths = ensure_keys(data_dir)
    settings = Settings(
        database_url=args.database_url,
        db_prefix=f"auditb{uuid.uuid4().hex[:6]}_",
        data_dir=data_dir,
        keys_path=paths.key_ring,
        audit_keys_path=paths.audit,
    )
    await migrate(settings)
    keys = AuditKeys.load(paths.audit)
    try:
        await _writes(settings, results)
        results["fill_seconds"] = await _fill(settings, keys, args.records)
        conn = await asyncpg.connect(migration_url(settings, "hub"))
        try:
            results["records"] = await conn.fetchval("SELECT count(*) FROM hub.audit_event")
            started = time.perf_counter()
            report = await verify_database(conn, keys.public)
            results["verify_seconds"] = time.perf_counter() - started
        finally:
            await conn.close()
        assert report.ok, report.summary()
        results["verify_records_per_second"] = report.records / results["verify_seconds"]
        env = {
            **os.environ,
            "DATABASE_URL": args.database_url,
            "WELFARE_HUB_DB_PREFIX": settings.db_prefix,
            "WELFARE_HUB_DATA_DIR": str(data_dir),
        }
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "hub", "audit", "verify"], env=env, capture_output=True, text=True, check=False
        )
        results["cli_verify_seconds"] = time.perf_counter() - started
        results["cli_verify_exit"] = done.returncode
    finally:
        await drop_stores(settings)


async def main() -> None:
    parser = argparse.ArgumentParser()
    add_load_arguments(parser)
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    results: dict[str, Any] = {"people": args.people, "records_requested": args.records}
    await _requests(args, results)
    await _verify(args, results)

    rows = ["| run | concurrency | p50 ms | p99 ms | requests/s | hub CPU ms/request |", "|---|---|---|---|---|---|"]
    for c in (1, 32):
        on, off = results[f"observed_c{c}"], results[f"unobserved_c{c}"]
        for label, r in (
            ("audit + tracing on", on),
            ("audit only (tracing taken out)", results[f"audit_only_c{c}"]),
            ("tracing only (audit taken out)", results[f"tracing_only_c{c}"]),
            ("both taken out", off),
        ):
            rows.append(
                f"| {label} | {c} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['rps']:.0f} | "
                f"{r['server_cpu_ms_per_request']:.2f} |"
            )
        rows.append(
            f"| on / off | {c} | {on['p50_ms'] / off['p50_ms']:.2f}x | {on['p99_ms'] / off['p99_ms']:.2f}x | "
            f"{on['rps'] / off['rps']:.2f}x | "
            f"{on['server_cpu_ms_per_request'] / off['server_cpu_ms_per_request']:.2f}x |"
        )
    rows += ["", "| audit write | concurrency 1 | 8 | 32 |", "|---|---|---|---|"]
    for label in ("chained", "plain"):
        rates = " | ".join(f"{results[f'write_{label}_c{c}']:.0f}" for c in (1, 8, 32))
        rows.append(f"| {label} (records/s) | {rates} |")
    rows.append(
        "| chained / plain | "
        + " | ".join(f"{results[f'write_chained_c{c}'] / results[f'write_plain_c{c}']:.2f}x" for c in (1, 8, 32))
        + " |"
    )
    rows += [
        "",
        "| audit verify | records | seconds | records/s |",
        "|---|---|---|---|",
        f"| in process (hub.audit.verify) | {results['records']} | {results['verify_seconds']:.1f} | "
        f"{results['verify_records_per_second']:.0f} |",
        f"| `welfare-hub audit verify` (exit {results['cli_verify_exit']}) | {results['records']} | "
        f"{results['cli_verify_seconds']:.1f} | {results['records'] / results['cli_verify_seconds']:.0f} |",
    ]
    table = "\n".join(rows)
    print(table)
    write_result(
        "observability",
        "What the audit log and tracing cost, and how fast the log verifies",
        this_command("bench.observability"),
        [
            f"{args.people} synthetic people; {results['distinct_subjects']} subjects; the care-charging query (three "
            "sources). Each server is its own uvicorn process; spans go by OTLP/HTTP to a collector on loopback "
            f"({results['otlp_exports']} exports, {results['otlp_bytes']} bytes). One run, 2 shared cores.",
            f"The verified log: {results['records']} records written by COPY in {results['fill_seconds']:.0f} s, "
            "chained as hub.audit_append chains them, a signed checkpoint every 100,000.",
        ],
        table,
        results,
    )


if __name__ == "__main__":
    asyncio.run(main())
