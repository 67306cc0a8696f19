"""Finding a person's records in a source by demographics, and reading records for batch linkage.

Each source table that holds people is described once (:class:`PeopleTable`); the SQL here is built
from that description only (identifiers from code, never from input) and takes every value as a bind
parameter. Candidate search is the blocking step of the probabilistic fallback: a union of indexed
look-ups (see the sources' ``0002_blocking_indexes.sql``), each capped per query record so that a very
common key (Smith in London) cannot flood the comparison step.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from linkage import PLACEHOLDER_DOBS, Demographics, known_dob
from linkage.normalise import normalise_dob, normalise_postcode

__all__ = [
    "PeopleTable",
    "QueryBatch",
    "candidate_sql",
    "query_batch",
    "record_from_row",
    "scan_sql",
    "ties_sql",
]

_IDENT = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?")

#: Most candidates one blocking key may contribute for one query record.
PER_KEY_LIMIT = 100


@dataclass(frozen=True)
class PeopleTable:
    table: str
    id_column: str
    nino_column: str | None
    id_type: str = "text"
    address_line2: bool = False
    nhs_column: str | None = None
    #: The source keeps NINOs normalised (DWP): look up on the column itself, through its own index.
    nino_normalised: bool = False
    #: The council a record belongs to (a claim or a case at that council), if the source says.
    council_column: str | None = None
    #: When a record still ties its person to that council (SQL over alias t; code, never input).
    council_current: str | None = None
    #: The records whose person the source answers for, when not every record of ``table`` is one (HB: a
    #: claim's claimant and partner, not its non-dependants): what ties a person to a council, and what a
    #: NINO's record ids are. A table or view with ``table``'s columns.
    holders: str | None = None

    def __post_init__(self) -> None:
        # SQL is built from these names: they come from code, and are checked anyway.
        names = [
            self.table,
            self.holders or "x",
            self.id_column,
            self.nino_column or "x",
            self.nhs_column or "x",
            self.council_column or "x",
        ]
        bad = [n for n in names if not _IDENT.fullmatch(n)]
        if bad or self.id_type not in {"text", "bigint"}:
            raise ValueError(f"unsafe people-table description: {bad or self.id_type}")

    @property
    def answering(self) -> str:
        """The table of the records the source answers for (``holders``, else every record)."""
        return self.holders or self.table

    @property
    def first_cursor(self) -> object:
        return -(2**63) if self.id_type == "bigint" else ""

    def select_list(self, alias: str = "t") -> str:
        cols = [
            f"{alias}.{self.id_column}::text AS record_id",
            f"{alias}.{self.nino_column} AS nino" if self.nino_column else "NULL::text AS nino",
            f"{alias}.given_name",
            f"{alias}.family_name",
            f"{alias}.middle_names",
            f"{alias}.known_as",
            f"{alias}.name_suffix",
            f"{alias}.previous_family_names",
            f"{alias}.date_of_birth",
            f"{alias}.postcode",
            f"{alias}.address_line1",
            f"{alias}.address_line2" if self.address_line2 else "NULL::text AS address_line2",
            f"{alias}.town",
            f"{alias}.{self.nhs_column} AS nhs_number" if self.nhs_column else "NULL::text AS nhs_number",
        ]
        return ", ".join(cols)


_KEYS = (
    # (what it catches, join condition on query q and table t). Each key pairs two facts, so a block is a
    # handful of people even in a national-size source, and each survives a different kind of error;
    # a record needs only one key to survive (it would have to be wrong in two places for most keys).
    (
        "moved: date of birth and surname sound",
        "t.date_of_birth = q.dob AND public.soundex(t.family_name) = public.soundex(q.family)",
    ),
    ("name mistyped: date of birth and postcode", "t.date_of_birth = q.dob AND t.postcode = q.postcode"),
    (
        "day and month transposed",
        "t.date_of_birth = q.dob_swapped AND public.soundex(t.family_name) = public.soundex(q.family)",
    ),
    (
        "day mistyped: surname sound and birth month",
        "public.soundex(t.family_name) = public.soundex(q.family)"
        " AND t.date_of_birth BETWEEN q.month_start AND q.month_end",
    ),
    (
        "surname changed: postcode and given name initial",
        "t.postcode = q.postcode AND upper(left(t.given_name, 1)) = left(q.given, 1)",
    ),
    (
        "date of birth wrong: both names and the postcode",
        "upper(t.family_name) = q.family AND upper(t.given_name) = q.given AND t.postcode = q.postcode",
    ),
    (
        "date of birth and postcode wrong: both names and birth year",
        "upper(t.family_name) = q.family AND upper(t.given_name) = q.given"
        " AND t.date_of_birth BETWEEN q.year_start AND q.year_end",
    ),
    ("names swapped between boxes", "upper(t.family_name) = q.given AND upper(t.given_name) = q.family"),
    # A new surname (marriage) at a new address: nothing above survives both. A given name on a date of
    # birth is a handful of people even nationally (about 2,300 a day, a common name 1% of them).
    (
        "surname changed and moved: date of birth and given name",
        "t.date_of_birth = q.dob AND upper(t.given_name) = q.given",
    ),
)


def candidate_sql(spec: PeopleTable) -> str:
    lookups = "\n        UNION\n".join(
        f"""        SELECT q.i, k.rid FROM q CROSS JOIN LATERAL (
            SELECT t.{spec.id_column} AS rid FROM {spec.table} t WHERE {condition} LIMIT {PER_KEY_LIMIT}) k"""
        for _, condition in _KEYS
    )
    # Identifiers from PeopleTable (code, checked); every value is a bind parameter.
    return f"""
WITH q AS (
    SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::date[], $5::date[], $6::text[], $7::text[],
                         $8::date[], $9::date[], $10::date[], $11::date[])
           AS q(i, given, family, dob, dob_swapped, postcode, town, month_start, month_end, year_start, year_end)
), c AS (
{lookups}
)
SELECT c.i, {spec.select_list()} FROM c JOIN {spec.table} t ON t.{spec.id_column} = c.rid
"""


def ties_sql(spec: PeopleTable, kind: str) -> str:
    """The council and postcode of the records one kind of subject key finds (a legitimate relationship)."""
    council = f"t.{spec.council_column}" if spec.council_column else "NULL::text"
    owner = council  # whose record it is, whether or not it still ties its person there
    if kind == "id":
        key, where = f"t.{spec.id_column}::text", f"t.{spec.id_column} = ANY($1::{spec.id_type}[])"
    elif spec.nino_column is None:
        key, where = "NULL::text", "false"
    elif spec.nino_normalised:
        key, where = f"t.{spec.nino_column}", f"t.{spec.nino_column} = ANY($1::text[])"
    else:
        key = f"upper(replace(t.{spec.nino_column}, ' ', ''))"
        where = f"{key} = ANY($1::text[])"
    if spec.council_column and spec.council_current:
        council = f"CASE WHEN {spec.council_current} THEN {council} END"
    # Identifiers and conditions from PeopleTable (code, checked); every value is a bind parameter.
    return (
        f"SELECT {key} AS k, {council} AS council_code, {owner} AS owner_council, t.postcode "
        f"FROM {spec.answering} t WHERE {where}"
    )


def scan_sql(spec: PeopleTable) -> str:
    """A keyset-paginated read of the whole table, for batch linkage (resumable by the last id)."""
    return (  # Identifiers from PeopleTable (code, checked); values are bind parameters.
        f"SELECT {spec.select_list()} FROM {spec.table} t WHERE t.{spec.id_column} > $1::{spec.id_type} "
        f"ORDER BY t.{spec.id_column} LIMIT $2"
    )


@dataclass(frozen=True)
class QueryBatch:
    args: tuple[list[Any], ...]


def _upper(value: str | None) -> str | None:
    return value.strip().upper() if value and value.strip() else None


def _swap(dob: dt.date | None) -> dt.date | None:
    if dob is None or dob.day > 12 or dob.day == dob.month:
        return None
    return dt.date(dob.year, dob.day, dob.month)


def _as_date(value: dt.date | str | None, placeholders: frozenset[dt.date]) -> dt.date | None:
    # A placeholder is no date of birth: as a key it would find everyone the source holds with it.
    compact = normalise_dob(value, placeholders)
    return None if compact is None else dt.date(int(compact[:4]), int(compact[4:6]), int(compact[6:]))


def _month_end(d: dt.date) -> dt.date:
    first_of_next = dt.date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return first_of_next - dt.timedelta(days=1)


def query_batch(queries: Sequence[Demographics], placeholders: frozenset[dt.date] = PLACEHOLDER_DOBS) -> QueryBatch:
    """The blocking keys of each query as candidate_sql's bind parameters; a date of birth in
    ``placeholders`` (the searched source's, :mod:`linkage.placeholders`) is no key."""
    dobs = [_as_date(q.dob, placeholders) for q in queries]
    columns: tuple[list[Any], ...] = (
        list(range(len(queries))),
        [_upper(q.given_name) for q in queries],
        [_upper(q.family_name) for q in queries],
        dobs,
        [_swap(d) for d in dobs],
        [normalise_postcode(q.postcode) for q in queries],
        [_upper(q.town) for q in queries],
        [dt.date(d.year, d.month, 1) if d else None for d in dobs],
        [_month_end(d) if d else None for d in dobs],
        [dt.date(d.year, 1, 1) if d else None for d in dobs],
        [dt.date(d.year, 12, 31) if d else None for d in dobs],
    )
    return QueryBatch(columns)


def record_from_row(row: Mapping[str, Any] | Any, placeholders: frozenset[dt.date] = PLACEHOLDER_DOBS) -> Demographics:
    """A people-table row as linkage reads it: a date of birth that is missing, or one of the source's
    ``placeholders`` for "not known", is None."""
    get = row.__getitem__
    return Demographics(
        given_name=get("given_name"),
        family_name=get("family_name"),
        middle_names=get("middle_names"),
        known_as=get("known_as"),
        name_suffix=get("name_suffix"),
        previous_family_names=get("previous_family_names"),
        dob=known_dob(get("date_of_birth"), placeholders),
        postcode=get("postcode"),
        address_line1=get("address_line1"),
        address_line2=get("address_line2"),
        town=get("town"),
        nhs_number=get("nhs_number"),
        nino=get("nino"),
        record_id=get("record_id"),
    )
