"""Splink 5 (DuckDB) baseline on the synthetic welfare-hub sources in PostgreSQL, beside `welfare-hub link build`.

Run by hand, never as a test:

    cd /work/main && .venv/bin/python -m bench.linkage.scale_splink --prefix scale_ \
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

Reads ``<prefix>src_dwp`` (dwp.person: the spine, one row per person), ``<prefix>src_hb`` (hb.claim_person: every member of a claim) and
``<prefix>src_social_care`` (social_care.client) as the postgres user. The council records (HB claims and
social-care clients, with a ``source`` column) are the left table and the DWP people the right; Splink links
them (link_only) on names, date of birth, postcode and first address line. This is the no-NINO fallback:
no NINO is compared or blocked on. The left records' ``nino`` column is only read as ``nino IS NULL``, to
report the records that had none separately; no NINO value leaves PostgreSQL, so none can be printed.

Pipeline (unsupervised, no labels):

- light cleaning (upper case, accents stripped, only letters and spaces in names), a Soundex of the family
  name (jellyfish, as our blocking does) and the birth year, for blocking;
- the prior from a deterministic rule (exact given name, family name and date of birth, assumed recall 0.7);
- u by random sampling (seeded);
- m by EM, one session blocked on date of birth and one on given + family name, each capped at
  ``--em-max-pairs`` pairs (see ``_train``);
- prediction blocked on the union of: date of birth; postcode; family-name Soundex + birth year; exact
  given + family name; given and family name swapped (ours also uses these, plus birthday/town keys);
- per left record, the best-scoring spine person with match_probability >= threshold (0.5 and 0.999).

Truth: ``synth_truth.record_identity`` in each source database ('hb:<claim_ref>', 'sc:<client_id>' ->
true_person_id; a DWP person's person_id is its own true_person_id). A link is right when the spine
person_id equals the left record's true_person_id. Precision = right / linked, recall = right / records
(every left record has its person in the spine), as in ``bench/linkage/evaluate.py``.

Wall time covers the Splink part: from the three tables in memory (pandas) to the best match per left record
(cleaning, training, prediction, choosing the best); not reading PostgreSQL or scoring. Peak memory is the
process's ``ru_maxrss``: DuckDB runs in-process, so its memory counts there (its spill files on disk do not).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import json
import logging
import os
import platform
import re
import resource
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pandas as pd

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
THRESHOLDS = (0.5, 0.999)
LEFT_NAME = "council"
SPINE_NAME = "dwp_spine"

# The spine: every DWP person. address_line2 (a locality) is read but not compared: the council tables
# have no second address line, and town is left out because the postcode area determines it.
SPINE_SQL = """
SELECT 'dwp:' || person_id AS unique_id, 'dwp' AS source, given_name, family_name,
       to_char(date_of_birth, 'YYYY-MM-DD') AS date_of_birth, postcode, address_line1, address_line2, town
FROM dwp.person
"""
# The left records with their truth. Only ``nino IS NULL`` is read of the NINO, never its value, and the
# truth's true_nino is not read at all.
LEFT_SOURCES = {
    "hb": (
        "src_hb",
        """
        SELECT 'hb:' || c.record_ref AS unique_id, 'hb' AS source, c.given_name, c.family_name,
               to_char(c.date_of_birth, 'YYYY-MM-DD') AS date_of_birth, c.postcode, c.address_line1, c.town,
               c.nino IS NULL AS nino_missing, r.true_person_id
        FROM hb.claim_person c LEFT JOIN synth_truth.record_identity r ON r.record_id = 'hb:' || c.record_ref
        """,
    ),
    "social_care": (
        "src_social_care",
        """
        SELECT 'sc:' || c.client_id AS unique_id, 'social_care' AS source, c.given_name, c.family_name,
               to_char(c.date_of_birth, 'YYYY-MM-DD') AS date_of_birth, c.postcode, c.address_line1, c.town,
               c.nino IS NULL AS nino_missing, r.true_person_id
        FROM social_care.client c LEFT JOIN synth_truth.record_identity r ON r.record_id = 'sc:' || c.client_id
        """,
    ),
}
# What Splink sees, on both sides.
MODEL_COLUMNS = (
    "unique_id",
    "source",
    "given_name",
    "family_name",
    "date_of_birth",
    "postcode",
    "address_line1",
    "family_sound",
    "birth_year",
)


def _url_for(database_url: str, database: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path="/" + database))


def _maxrss_gib() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


async def _copy_frame(url: str, sql: str) -> pd.DataFrame:
    """One query through COPY ... TO STDOUT (CSV), parsed by pandas: no per-row Python objects."""
    conn = await asyncpg.connect(url)
    try:
        buf = io.BytesIO()
        await conn.copy_from_query(sql, output=buf, format="csv", header=True)
    finally:
        await conn.close()
    buf.seek(0)
    # Every column as text; an empty field (NULL, or an empty string) is missing.
    return pd.read_csv(buf, dtype=str, keep_default_na=False, na_values=[""])


async def load(database_url: str, prefix: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(spine, left, truth): the truth frame is unique_id, source, nino_missing, true_person_id."""
    spine_url = _url_for(database_url, f"{prefix}src_dwp")
    frames = await asyncio.gather(
        _copy_frame(spine_url, SPINE_SQL),
        *(_copy_frame(_url_for(database_url, f"{prefix}{db}"), sql) for db, sql in LEFT_SOURCES.values()),
    )
    spine, lefts = frames[0], frames[1:]
    left = pd.concat(lefts, ignore_index=True)
    truth = left[["unique_id", "source", "nino_missing", "true_person_id"]].copy()
    truth["nino_missing"] = truth["nino_missing"].eq("t")
    left = left.drop(columns=["nino_missing", "true_person_id"])
    if truth["true_person_id"].isna().any():
        raise SystemExit(f"{int(truth['true_person_id'].isna().sum())} left records have no synth_truth row")
    return spine, left, truth


# --- the Splink part -------------------------------------------------------------------------------------


def _run(con: Any, sql: str) -> list[tuple[Any, ...]]:
    """Execute and fetch everything (DuckDB 2 refuses new work while a result is left unfinished)."""
    result: list[tuple[Any, ...]] = con.execute(sql).fetchall()
    return result


def _clean_sql(raw: str) -> str:
    name = "trim(regexp_replace(upper(strip_accents({c})), '[^A-Z ]+', '', 'g'))"
    return f"""
    SELECT unique_id, source,
           nullif({name.format(c="given_name")}, '') AS given_name,
           nullif({name.format(c="family_name")}, '') AS family_name,
           date_of_birth,
           nullif(upper(trim(postcode)), '') AS postcode,
           nullif(trim(regexp_replace(upper(strip_accents(address_line1)), '[^A-Z0-9 ]+', ' ', 'g')), '')
               AS address_line1,
           substr(date_of_birth, 1, 4) AS birth_year
    FROM {raw}
    """


def _prepare(con: Any, spine: pd.DataFrame, left: pd.DataFrame) -> None:
    """Clean both sides into DuckDB tables ``spine_in`` and ``left_in`` (columns MODEL_COLUMNS)."""
    import jellyfish

    con.register("spine_raw", spine)
    con.register("left_raw", left)
    _run(con, f"CREATE TABLE spine_c AS {_clean_sql('spine_raw')}")
    _run(con, f"CREATE TABLE left_c AS {_clean_sql('left_raw')}")
    con.unregister("spine_raw")
    con.unregister("left_raw")
    # Soundex over the distinct family names only (a few thousand), joined back.
    names = [
        r[0]
        for r in _run(
            con,
            "SELECT DISTINCT family_name FROM (SELECT family_name FROM spine_c UNION SELECT family_name FROM left_c) "
            "WHERE family_name IS NOT NULL",
        )
    ]
    sounds = pd.DataFrame(
        {"family_name": names, "family_sound": [jellyfish.soundex(n.replace(" ", "")) for n in names]}
    )
    con.register("sounds", sounds)
    cols = ", ".join(f"c.{c}" if c != "family_sound" else "s.family_sound" for c in MODEL_COLUMNS)
    for side in ("spine", "left"):
        _run(con, f"CREATE TABLE {side}_in AS SELECT {cols} FROM {side}_c c LEFT JOIN sounds s USING (family_name)")
        _run(con, f"DROP TABLE {side}_c")
    con.unregister("sounds")


# Prediction blocking rules, as (label, SQL); l is either side (Splink orders the two sources itself).
PREDICTION_RULES = (
    ("date_of_birth", "l.date_of_birth = r.date_of_birth"),
    ("postcode", "l.postcode = r.postcode"),
    ("family_sound + birth_year", "l.family_sound = r.family_sound AND l.birth_year = r.birth_year"),
    ("given + family name", "l.given_name = r.given_name AND l.family_name = r.family_name"),
    ("names swapped", "l.given_name = r.family_name AND l.family_name = r.given_name"),
)
# Per-rule pair counts (before Splink's de-duplication across rules): sum over key values of n_left * n_spine.
_RULE_KEYS = {
    "date_of_birth": (("date_of_birth",), ("date_of_birth",)),
    "postcode": (("postcode",), ("postcode",)),
    "family_sound + birth_year": (("family_sound", "birth_year"), ("family_sound", "birth_year")),
    "given + family name": (("given_name", "family_name"), ("given_name", "family_name")),
    "names swapped": (("given_name", "family_name"), ("family_name", "given_name")),
}


def count_rule_pairs(con: Any) -> dict[str, int]:
    out = {}
    for label, (lk, rk) in _RULE_KEYS.items():
        lsel = ", ".join(f"{c} AS k{i}" for i, c in enumerate(lk))
        rsel = ", ".join(f"{c} AS k{i}" for i, c in enumerate(rk))
        on = " AND ".join(f"a.k{i} = b.k{i}" for i in range(len(lk)))
        notnull_l = " AND ".join(f"{c} IS NOT NULL" for c in lk)
        notnull_r = " AND ".join(f"{c} IS NOT NULL" for c in rk)
        ((n,),) = _run(
            con,
            f"""
            SELECT coalesce(sum(a.n * b.n), 0)::BIGINT FROM
              (SELECT {lsel}, count(*) AS n FROM left_in WHERE {notnull_l} GROUP BY ALL) a
              JOIN (SELECT {rsel}, count(*) AS n FROM spine_in WHERE {notnull_r} GROUP BY ALL) b ON {on}
            """,
        )
        out[label] = int(n)
    return out


def _dob_comparison() -> Any:
    """Date of birth (text 'YYYY-MM-DD'): exact; day and month transposed; one edit; two edits; else."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    transposed = (
        "substr(date_of_birth_l, 1, 4) = substr(date_of_birth_r, 1, 4) "
        "AND substr(date_of_birth_l, 6, 2) = substr(date_of_birth_r, 9, 2) "
        "AND substr(date_of_birth_l, 9, 2) = substr(date_of_birth_r, 6, 2)"
    )
    return cl.CustomComparison(
        output_column_name="date_of_birth",
        comparison_description="date of birth with transposed day/month",
        comparison_levels=[
            cll.NullLevel("date_of_birth"),
            cll.ExactMatchLevel("date_of_birth"),
            cll.CustomLevel(transposed, label_for_charts="day and month transposed"),
            cll.DamerauLevenshteinLevel("date_of_birth", 1),
            cll.DamerauLevenshteinLevel("date_of_birth", 2),
            cll.ElseLevel(),
        ],
    )


class _SplinkLogCapture(logging.Handler):
    """Keeps Splink's '[EM sampling]' lines, to report how many pairs each EM session really used."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "[EM sampling]" in message:
            self.lines.append(message)


@dataclass
class EMSession:
    rule: str
    full_pairs: int
    sampled: bool
    sample_fraction: float | None
    materialised_pairs: int


@dataclass
class SplinkRun:
    wall_seconds: float
    phase_seconds: dict[str, float]
    rule_pairs: dict[str, int]
    em_sessions: list[EMSession]
    prior: float
    predicted_pairs_ge_05: int
    best: pd.DataFrame = field(repr=False)  # left_id, spine_id, match_probability (best with p >= 0.5)
    duckdb_memory_limit: str = ""


def run_splink(
    spine: pd.DataFrame,
    left: pd.DataFrame,
    *,
    seed: int,
    u_max_pairs: float,
    em_max_pairs: float,
    memory_limit: str,
    temp_dir: str,
) -> SplinkRun:
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    phases: dict[str, float] = {}
    start = time.perf_counter()
    mark = start

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases[name] = now - mark
        mark = now
        print(f"  {name}: {phases[name]:.1f} s, peak {_maxrss_gib():.2f} GiB", file=sys.stderr, flush=True)

    con = duckdb.connect(
        config={
            "memory_limit": memory_limit,
            "threads": os.cpu_count() or 1,
            "temp_directory": temp_dir,
            "preserve_insertion_order": False,
        }
    )
    _prepare(con, spine, left)
    lap("clean + soundex")
    rule_pairs = count_rule_pairs(con)
    lap("count blocked pairs per rule")

    db_api = DuckDBAPI(connection=con)
    left_sdf = db_api.register("left_in", dataset_display_name=LEFT_NAME)
    spine_sdf = db_api.register("spine_in", dataset_display_name=SPINE_NAME)
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("family_name"),
            _dob_comparison(),
            # Exact / sector ('AA9A 9') / district ('AA9A') / area ('AA') / else.
            cl.PostcodeComparison("postcode"),
            cl.JaroWinklerAtThresholds("address_line1", [0.9, 0.7]),
        ],
        blocking_rules_to_generate_predictions=[sql for _, sql in PREDICTION_RULES],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    capture = _SplinkLogCapture()
    logging.getLogger("splink").addHandler(capture)
    linker = Linker([left_sdf, spine_sdf], settings, log_level=logging.INFO)
    for handler in logging.getLogger("splink").handlers:
        if handler is not capture:
            handler.setLevel(logging.WARNING)  # keep stderr quiet; the capture still sees INFO

    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "family_name", "date_of_birth")], recall=0.7
    )
    prior = float(linker._settings_obj._probability_two_random_records_match)
    lap("prior (deterministic rule)")
    linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
    lap("u (random sampling)")

    # EM cap. Splink 5's max_pairs runs a probe blocking pass on a 1% hash sample of each side's records to
    # estimate the session's full pair count P, then keeps a deterministic hash sample of a fraction
    # p = sqrt(max_pairs / P) of the records on EACH side (left and spine independently), so the session
    # blocks ~p^2 * P = max_pairs pairs. A true pair survives only if both its records do (probability
    # p^2, the same as any pair), so the match rate in the sample - what EM learns from - is unbiased. We
    # aim at 90% of the cap to leave room for the estimate's error, count the pairs actually materialised
    # (from Splink's log) and fail if a session went over the cap.
    em_sessions: list[EMSession] = []
    for label, rule in (
        ("date_of_birth", block_on("date_of_birth")),
        ("given + family name", block_on("given_name", "family_name")),
    ):
        full = rule_pairs[label]
        capture.lines.clear()
        session = linker.training.estimate_parameters_using_expectation_maximisation(rule, max_pairs=0.9 * em_max_pairs)
        info = session._sample_info or {}
        sampled = bool(info.get("sampling_applied"))
        materialised = full
        for line in capture.lines:
            found = re.search(r"Materialised blocked pair count after sampling: (\d+)", line)
            if found:
                materialised = int(found.group(1))
        if sampled and materialised == full:
            raise SystemExit(f"EM on {label}: sampling applied but the materialised pair count was not logged")
        if materialised > em_max_pairs:
            raise SystemExit(f"EM on {label} used {materialised:,} pairs, over the cap of {em_max_pairs:,.0f}")
        em_sessions.append(
            EMSession(
                label,
                full,
                sampled,
                (info["sample_threshold"] / info["sample_modulus"]) if sampled else None,
                materialised,
            )
        )
        lap(f"EM blocked on {label}")

    # Only pairs at p >= 0.5 are kept (the lower threshold reported): every pair is still scored, but the
    # materialised table holds just the candidates for the best-match step.
    predictions = linker.inference.predict(threshold_match_probability=min(THRESHOLDS))
    lap("predict")
    pred = predictions.physical_name
    ((n_pred,),) = _run(con, f"SELECT count(*) FROM {pred}")
    best = con.execute(
        f"""
        WITH oriented AS (
            SELECT CASE WHEN source_dataset_l = '{LEFT_NAME}' THEN unique_id_l ELSE unique_id_r END AS left_id,
                   CASE WHEN source_dataset_l = '{LEFT_NAME}' THEN unique_id_r ELSE unique_id_l END AS spine_id,
                   match_probability
            FROM {pred}
        )
        SELECT left_id, spine_id, match_probability FROM oriented
        QUALIFY row_number() OVER (PARTITION BY left_id ORDER BY match_probability DESC, spine_id) = 1
        """
    ).df()
    lap("best match per left record")
    wall = time.perf_counter() - start
    con.close()
    return SplinkRun(wall, phases, rule_pairs, em_sessions, prior, int(n_pred), best, memory_limit)


# --- scoring and report ----------------------------------------------------------------------------------


def score(truth: pd.DataFrame, best: pd.DataFrame) -> list[dict[str, Any]]:
    merged = truth.merge(best, how="left", left_on="unique_id", right_on="left_id")
    merged["predicted_person"] = merged["spine_id"].str.removeprefix("dwp:")
    merged["correct"] = merged["predicted_person"].eq(merged["true_person_id"])
    groups = {
        "all": merged,
        "all, nino missing": merged[merged["nino_missing"]],
    }
    for source in sorted(merged["source"].unique()):
        groups[source] = merged[merged["source"] == source]
        groups[f"{source}, nino missing"] = merged[(merged["source"] == source) & merged["nino_missing"]]
    rows = []
    for threshold in THRESHOLDS:
        for group, frame in groups.items():
            linked = frame["match_probability"].ge(threshold)
            right = int((linked & frame["correct"]).sum())
            n_linked = int(linked.sum())
            precision = right / n_linked if n_linked else 0.0
            recall = right / len(frame) if len(frame) else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            rows.append(
                {
                    "threshold": threshold,
                    "group": group,
                    "records": len(frame),
                    "linked": n_linked,
                    "right": right,
                    "wrong": n_linked - right,
                    "precision": precision,
                    "recall": recall,
                    "f1": f1,
                }
            )
    return rows


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("splink", "duckdb", "pandas", "asyncpg", "jellyfish"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def _command() -> str:
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd() + os.sep) else sys.executable
    return " ".join(
        [f"cd {shlex.quote(os.getcwd())} &&", shlex.quote(python), "-m", "bench.linkage.scale_splink"]
        + [shlex.quote(arg) for arg in sys.argv[1:]]
    )


def report(
    args: argparse.Namespace,
    stamp: str,
    counts: dict[str, int],
    load_seconds: float,
    rss_after_load: float,
    run: SplinkRun,
    peak_gib: float,
    rows: list[dict[str, Any]],
) -> str:
    table = [
        "| threshold | group | records | linked | right | wrong | precision | recall | F1 | wall s | peak GiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    table += [
        f"| {r['threshold']:g} | {r['group']} | {r['records']} | {r['linked']} | {r['right']} | {r['wrong']} "
        f"| {r['precision']:.5f} | {r['recall']:.5f} | {r['f1']:.5f} | {run.wall_seconds:.1f} | {peak_gib:.2f} |"
        for r in rows
    ]
    phases = "\n".join(f"| {k} | {v:.1f} |" for k, v in run.phase_seconds.items())
    rules = "\n".join(f"| {label} | `{sql}` | {run.rule_pairs[label]:,} |" for label, sql in PREDICTION_RULES)
    em = "\n".join(
        f"| {s.rule} | {s.full_pairs:,} | {'yes' if s.sampled else 'no'} "
        f"| {'' if s.sample_fraction is None else f'{s.sample_fraction:.4f}'} | {s.materialised_pairs:,} |"
        for s in run.em_sessions
    )
    versions = ", ".join(f"{k} {v}" for k, v in _versions().items())
    counts_text = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    return "\n".join(
        [
            f"# Splink 5 baseline on the synthetic sources, prefix `{args.prefix}` ({stamp})",
            "",
            f"Command: `{_command()}`",
            "",
            f"Rows: {counts_text}. Left = HB claims + social-care clients; right (spine) = DWP people. "
            "No NINO used (the `nino` column is read only as `nino IS NULL` for the 'nino missing' rows).",
            "",
            f"Wall time (Splink part: pandas frames in memory -> best match per left record): "
            f"**{run.wall_seconds:.1f} s**. Reading PostgreSQL (COPY, not timed above): {load_seconds:.1f} s. "
            f"Peak RSS of the process (ru_maxrss, includes in-process DuckDB; not its spill files): "
            f"**{peak_gib:.2f} GiB** ({rss_after_load:.2f} GiB after loading, before Splink). DuckDB "
            f"memory_limit {run.duckdb_memory_limit}, {os.cpu_count()} cores, shared machine.",
            "",
            f"Versions: {versions}.",
            "",
            "Model: NameComparison (Jaro-Winkler 0.92/0.88/0.7) on given and family name; date of birth exact / "
            "day-month transposed / 1 edit / 2 edits; PostcodeComparison exact / sector / district / area; "
            "Jaro-Winkler 0.9/0.7 on address_line1; no town, no TF adjustments. Prior from exact "
            f"given+family+dob at recall 0.7: {run.prior:.3e} (1 / spine size = {1 / counts['spine']:.3e}). "
            f"u from {args.u_max_pairs:,.0f} random pairs (seed {args.seed}); EM capped at "
            f"{args.em_max_pairs:,.0f} pairs per session. A left record links to its best spine person "
            "(ties: lowest id) when that pair's match_probability >= threshold.",
            "",
            table[0],
            table[1],
            *table[2:],
            "",
            "Prediction blocking rules (pairs per rule before Splink removes pairs found by an earlier rule):",
            "",
            "| rule | SQL | pairs |",
            "|---|---|---|",
            rules,
            "",
            f"Pairs scored at match_probability >= 0.5 (kept): {run.predicted_pairs_ge_05:,}.",
            "",
            "EM sessions:",
            "",
            "| blocked on | full pairs | sampled | record fraction per side | pairs used |",
            "|---|---|---|---|---|",
            em,
            "",
            "Phases (s):",
            "",
            "| phase | s |",
            "|---|---|",
            phases,
            "",
            "```json",
            json.dumps(
                {
                    "wall_seconds": run.wall_seconds,
                    "peak_gib": peak_gib,
                    "counts": counts,
                    "rule_pairs": run.rule_pairs,
                    "em_sessions": [asdict(s) for s in run.em_sessions],
                    "prior": run.prior,
                    "results": rows,
                },
                indent=1,
            ),
            "```",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", required=True, help="database prefix, e.g. scale_ or lk2_")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--u-max-pairs", type=float, default=1e7)
    parser.add_argument("--em-max-pairs", type=float, default=5e6, help="cap on the pairs each EM session sees")
    parser.add_argument("--memory-limit", default="10GB", help="DuckDB memory_limit (it spills beyond it)")
    parser.add_argument(
        "--count-only", action="store_true", help="load, clean and count each prediction rule's pairs; no Splink"
    )
    parser.add_argument("--no-write", action="store_true", help="print the report, do not write bench/results")
    args = parser.parse_args(argv)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")

    t0 = time.perf_counter()
    spine, left, truth = asyncio.run(load(args.database_url, args.prefix))
    load_seconds = time.perf_counter() - t0
    counts = {"spine": len(spine), **{s: int((left["source"] == s).sum()) for s in LEFT_SOURCES}}
    counts["left nino missing"] = int(truth["nino_missing"].sum())
    rss_after_load = _maxrss_gib()
    print(f"loaded in {load_seconds:.1f} s: {counts}; peak {rss_after_load:.2f} GiB", file=sys.stderr, flush=True)

    if args.count_only:
        import duckdb

        con = duckdb.connect()
        _prepare(con, spine, left)
        print(json.dumps(count_rule_pairs(con), indent=1))
        return

    with tempfile.TemporaryDirectory(prefix="scale_splink_duckdb_") as temp_dir:
        run = run_splink(
            spine,
            left,
            seed=args.seed,
            u_max_pairs=args.u_max_pairs,
            em_max_pairs=args.em_max_pairs,
            memory_limit=args.memory_limit,
            temp_dir=temp_dir,
        )
    peak_gib = _maxrss_gib()
    rows = score(truth, run.best)
    text = report(args, stamp, counts, load_seconds, rss_after_load, run, peak_gib, rows)
    print(text)
    if not args.no_write:
        out = Path(__file__).resolve().parent.parent / "results" / f"scale-splink-{stamp}.md"
        out.write_text(text)
        print(f"\nwritten to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
