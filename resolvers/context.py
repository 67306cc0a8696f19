"""What every resolver can reach: the long-lived services, and the per-request context.

The request context also gathers what the audit record needs (subjects, fields released, sources read),
so the record is built from what actually happened rather than from what was asked.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from strawberry.dataloader import DataLoader

from hub.audit import AuditSink
from hub.auth import Caller
from hub.config import Settings
from hub.policy import PurposeSpec, Register
from linkage import KeyedHash, KeyRing, NormalisedNino
from resolvers.sources import Source

__all__ = ["RequestContext", "Services"]


@dataclass(frozen=True)
class Services:
    settings: Settings
    sources: Mapping[str, Source]
    key_ring: KeyRing
    register: Register
    audit: AuditSink


@dataclass
class RequestContext:
    services: Services
    caller: Caller
    request_id: uuid.UUID = field(default_factory=uuid.uuid4)
    purpose: PurposeSpec | None = None
    claimed_purpose: str | None = None  # what the operation asked for, recorded even when refused
    allowed_fields: frozenset[str] = frozenset()
    refused: bool = False
    audited: bool = False
    subjects: list[KeyedHash] = field(default_factory=list)
    released: set[str] = field(default_factory=set)
    sources_read: set[str] = field(default_factory=set)
    _loaders: dict[str, DataLoader[NormalisedNino, Any]] = field(default_factory=dict)

    def loader(self, source_name: str) -> DataLoader[NormalisedNino, Any]:
        """One DataLoader per source per request: N people cost one query per source, not N."""
        loader = self._loaders.get(source_name)
        if loader is None:
            source = self.services.sources[source_name]

            async def batch(ninos: list[NormalisedNino]) -> Sequence[Any]:
                answer = await source.fetch_by_nino(ninos)
                self.sources_read.add(source.name)  # only once it answered
                return answer

            loader = DataLoader(load_fn=batch)
            self._loaders[source_name] = loader
        return loader
