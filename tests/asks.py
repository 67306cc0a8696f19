"""Asks for tests that read a source directly: every contract field, every council's records."""

from __future__ import annotations

import uuid

from resolvers.sources.contract import CONTRACT_FIELDS, Ask, Selection

__all__ = ["EVERYTHING", "full_ask"]

#: Every field of every contract type.
EVERYTHING: Selection = {t: frozenset(fields) for t, fields in CONTRACT_FIELDS.items()}


def full_ask(
    *,
    purpose: str = "CARE_CHARGING_DOMICILIARY",
    selection: Selection | None = None,
    councils: frozenset[str] | None = None,
) -> Ask:
    """An ask for ``selection`` (everything by default) of every council's records (or ``councils``')."""
    return Ask(
        purpose=purpose,
        legal_basis="test",
        org="test-org",
        org_type="council_care_finance",
        audit_id=uuid.uuid4(),
        selection=EVERYTHING if selection is None else selection,
        councils=councils,
    )
