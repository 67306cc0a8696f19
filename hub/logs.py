"""The hub's logs: plain lines for a person at a terminal, JSON lines in production, and OpenTelemetry log
records by OTLP when ``OTEL_LOGS_EXPORTER`` names ``otlp`` (or ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` is set).

Every record written during a request carries what ties it to the rest: the trace and span it was written
in (``trace_id``, ``span_id``: the same ids the audit record and the exported spans carry) and the
request's audit id (``request_id``, the ``requestId`` of the caller's receipt). An exception is recorded by
its type only, in either form: its message may quote input, and the hub's own messages never do.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace

__all__ = ["REQUEST_ID", "JsonLines", "configure"]

#: The audit request id of the request being served (set where its context is made).
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("welfare_hub_request_id", default=None)


def _correlation() -> dict[str, str]:
    ids: dict[str, str] = {}
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        ids["trace_id"] = f"{ctx.trace_id:032x}"
        ids["span_id"] = f"{ctx.span_id:016x}"
    request = REQUEST_ID.get()
    if request is not None:
        ids["request_id"] = request
    return ids


class JsonLines(logging.Formatter):
    """One JSON object a line (what a log platform ingests): time, level, logger, message, the trace, span
    and audit request the line was written in, and an exception's type only."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_correlation(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False)


def _otlp(env: Mapping[str, str]) -> bool:
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = {e.strip().lower() for e in env.get("OTEL_LOGS_EXPORTER", "").split(",") if e.strip()}
    if "none" in exporters:
        return False
    return "otlp" in exporters or bool(env.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"))


def _otlp_handler(env: Mapping[str, str]) -> logging.Handler:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    endpoint = env.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT") or (
        env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/logs" if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") else None
    )
    provider = LoggerProvider(resource=Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or "welfare-hub"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint)))

    class Redacted(LoggingHandler):
        """The SDK's handler, given a copy of each record with its exception reduced to the type (the SDK
        would send the message and the traceback) and the audit request id as an attribute."""

        def emit(self, record: logging.LogRecord) -> None:
            copy = logging.makeLogRecord(record.__dict__)
            if record.exc_info and record.exc_info[0] is not None:
                copy.__dict__["exception.type"] = record.exc_info[0].__name__
            copy.exc_info, copy.exc_text, copy.stack_info = None, None, None
            request = REQUEST_ID.get()
            if request is not None:
                copy.__dict__["welfare_hub.request_id"] = request
            super().emit(copy)

    return Redacted(level=logging.INFO, logger_provider=provider)


def configure(*, json_lines: bool, env: Mapping[str, str]) -> None:
    """The process's logging, once (a host that set up logging, a test runner, keeps its own handlers): a
    stream of plain or JSON lines, and OTLP export when ``env`` says so."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonLines() if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    if _otlp(env):
        root.addHandler(_otlp_handler(env))
    root.setLevel(logging.INFO)
