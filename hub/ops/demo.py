"""The demo's operating work: keys, synthetic data in the sources, a handful of registered organisations
and their tokens (an auditor's among them, for the console).

Everything here uses the real parts (PostgreSQL, Ed25519-signed tokens, HMAC keys); only the data and the
organisations are invented.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from hub.access.keys import new_key_ring_document, write_key_ring
from hub.audit.checkpoints import AuditKeys
from hub.config import Settings
from hub.ops.issuer import IssuerKey
from hub.ops.migrate import connect_store, migrate, migration_url
from hub.types import SOURCE_STORES

__all__ = [
    "DEMO_AUDITOR",
    "DEMO_COUNCIL",
    "DEMO_ORGS",
    "DemoOrg",
    "KeyPaths",
    "ensure_keys",
    "mint_demo_tokens",
    "register_demo_orgs",
    "seed_sources",
]


@dataclass(frozen=True)
class KeyPaths:
    key_ring: Path
    issuer: Path
    jwks: Path
    audit: Path
    assertion: Path  # the hub's own key for the purpose assertions it signs to subgraphs
    assertion_jwks: Path  # its public half, as the subgraphs are given it


#: The council the demo organisations serve (the synthetic data's first).
DEMO_COUNCIL = "E09000901"


@dataclass(frozen=True)
class DemoOrg:
    """A demo organisation as the register holds it, and the purposes its demo token grants."""

    org_id: str
    org_type: str
    purposes: tuple[str, ...]
    council_code: str | None = DEMO_COUNCIL  # None: a national body, serving no one council's area

    @property
    def token_variable(self) -> str:
        """The shell variable the demo prints its token into."""
        return self.org_id.upper().replace("-", "_") + "_TOKEN"


#: The auditor, for the console: purpose AUDIT (which the console's pages run under) is for organisations of
#: type auditor only; registered as national, since the purpose register has auditors oversee every council.
DEMO_AUDITOR = DemoOrg("internal-audit", "auditor", ("AUDIT",), council_code=None)
DEMO_ORGS: tuple[DemoOrg, ...] = (
    DemoOrg("northshire-blue-badge", "council_blue_badge", ("BLUE_BADGE",)),
    DemoOrg("northshire-hb", "council_hb", ("HB_OVERNIGHT_CARER_ROOM", "DISCRETIONARY_HOUSING_PAYMENT")),
    DemoOrg(
        "northshire-care-finance", "council_care_finance", ("CARE_CHARGING_DOMICILIARY", "CARE_CHARGING_RESIDENTIAL")
    ),
    DEMO_AUDITOR,
)


def ensure_keys(data_dir: Path) -> KeyPaths:
    """Create the hub key ring, the audit signing keys and a demo token issuer in ``data_dir/keys`` unless
    they exist."""
    # The data directory holds private keys and live tokens: this user's alone when we make it.
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = data_dir / "keys"
    paths = KeyPaths(
        folder / "hub-key-ring.json",
        folder / "demo-issuer.json",
        folder / "demo-issuer.jwks.json",
        folder / "audit-signing.json",
        folder / "hub-assertion.json",
        folder / "hub-assertion.jwks.json",
    )
    if not paths.key_ring.exists():
        write_key_ring(paths.key_ring, new_key_ring_document())
    if not paths.audit.exists():
        AuditKeys.generate().save(paths.audit)
    if not paths.issuer.exists():
        IssuerKey.generate().save(paths.issuer)
    paths.jwks.write_text(json.dumps(IssuerKey.load(paths.issuer).jwks(), indent=2))
    if not paths.assertion.exists():
        IssuerKey.generate(kid=f"hub-{uuid.uuid4().hex[:8]}").save(paths.assertion)
    paths.assertion_jwks.write_text(json.dumps(IssuerKey.load(paths.assertion).jwks(), indent=2))
    return paths


async def seed_sources(
    settings: Settings,
    *,
    people: int,
    seed: int,
    hb_coverage: float | None = None,
    care_coverage: float | None = None,
    extracts: Path | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """Migrate, then replace the sources' contents with ``people`` synthetic people, as each source's system
    would export them and ``welfare-hub import`` loads them (:func:`hub.ops.synth.import_extracts`): the
    extracts and their mappings kept in ``extracts``, or in a temporary directory removed afterwards.
    A generated row the import rejects fails the seed (``GeneratedRowRejected``), with nothing committed."""
    from hub.ops.synth import SynthParams, generate, import_extracts
    from hub.ops.synth.addresses import council_areas
    from hub.records.orgs import load_areas

    await migrate(settings)
    params = SynthParams(people=people, seed=seed)
    if hb_coverage is not None:
        params = dataclasses.replace(params, hb_coverage=hb_coverage)
    if care_coverage is not None:
        params = dataclasses.replace(params, social_care_coverage=care_coverage)
    data = await asyncio.to_thread(generate, params)
    conns: dict[str, asyncpg.Connection] = {
        store: await asyncpg.connect(migration_url(settings, store)) for store in SOURCE_STORES
    }
    hub = await asyncpg.connect(migration_url(settings, "hub"))
    try:
        # The councils' areas, so that a council team's lookups can show a legitimate relationship.
        await load_areas(hub, council_areas(params))
        return await import_extracts(conns, data, extracts, progress=progress)
    finally:
        await asyncio.gather(hub.close(), *(c.close() for c in conns.values()))


async def register_demo_orgs(settings: Settings) -> None:
    """The demo organisations in the organisation register: three teams of one council (E09000901, the
    synthetic data's first) and a national auditor."""
    from hub.access.orgs import Organisation
    from hub.records.orgs import upsert

    async with connect_store(settings, "hub") as conn:
        await upsert(
            conn,
            [
                Organisation(
                    org.org_id,
                    org.org_id.replace("-", " ").title(),
                    org.org_type,
                    council_code=org.council_code,
                    national=org.council_code is None,
                )
                for org in DEMO_ORGS
            ],
        )


def mint_demo_tokens(settings: Settings, issuer: IssuerKey, *, lifetime_seconds: int = 12 * 3600) -> dict[str, str]:
    """A token for each demo organisation (org id -> token), signed by ``issuer`` for ``settings``' hub:
    its registered type, its purposes, one officer."""
    return {
        org.org_id: issuer.mint(
            issuer=settings.issuer,
            audience=settings.audience,
            org=org.org_id,
            org_type=org.org_type,
            user=f"{org.org_id}-officer",
            purposes=org.purposes,
            lifetime_seconds=lifetime_seconds,
        )
        for org in DEMO_ORGS
    }
