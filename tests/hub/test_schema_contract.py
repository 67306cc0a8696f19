"""schema.graphql is the public contract: the served schema must print exactly as checked in."""

from __future__ import annotations

from pathlib import Path

from hub.config import Settings
from hub.execution.schema import build_schema

CONTRACT = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_served_schema_equals_the_contract() -> None:
    printed = build_schema(Settings()).as_str() + "\n"
    assert printed == CONTRACT.read_text(), "schema changed: review it, then regenerate schema.graphql"


def test_production_schema_is_the_same_contract() -> None:
    assert build_schema(Settings(production=True)).as_str() == build_schema(Settings()).as_str()
