"""``welfare-hub link``: train the Fellegi-Sunter model, build or refresh the link index."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.cli.common import database, with_local_keys
from hub.config import Settings
from hub.errors import ConfigError

if TYPE_CHECKING:
    from hub.ops.linking import Partition

__all__ = ["add_commands"]

log = logging.getLogger("welfare_hub")


def _model_path(settings: Settings, args: argparse.Namespace) -> Path:
    if args.model:
        return Path(args.model)
    return settings.link_model_path or settings.data_dir / "link-model.json"


def _cmd_link_train(settings: Settings, args: argparse.Namespace) -> int:
    from hub.ops.linking import save_model, train_model

    settings = with_local_keys(settings)
    with database(settings) as s:
        model = asyncio.run(train_model(s, sample=args.sample, progress=True))
    path = _model_path(settings, args)
    save_model(model, path)
    print(f"model {model.version} written to {path} (prior {model.prior:.3g}, {model.em_iterations} EM iterations)")
    return 0


#: What a Kubernetes Indexed Job sets in each of its pods: the pod's index, from 0 to completions - 1.
INDEX_VARIABLE = "JOB_COMPLETION_INDEX"


def _partition_arg(text: str) -> Partition:
    from hub.ops.linking import Partition

    try:
        return Partition.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _partitions_arg(text: str) -> int:
    from hub.ops.linking.rows import MAX_PARTITIONS

    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_PARTITIONS):
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a number of partitions from 1 to {MAX_PARTITIONS}")
    return int(text)


def partition_from(partition: Partition | None, partitions: int | None, env: Mapping[str, str]) -> Partition:
    """The partition this process builds: ``--partition I/N`` as given; ``--partitions N`` with I from
    JOB_COMPLETION_INDEX (each pod of an Indexed Job has its own); neither, the whole build."""
    from hub.ops.linking import Partition

    if partition is not None:
        return partition
    if partitions is None:
        return Partition()
    raw = env.get(INDEX_VARIABLE, "").strip()
    if not raw:
        raise ConfigError(
            [
                f"--partitions {partitions} takes this process's partition from {INDEX_VARIABLE}, which is not set "
                "(a Kubernetes Indexed Job sets it in each pod): set it, or give --partition I/N"
            ]
        )
    try:
        if not (raw.isascii() and raw.isdigit()):
            raise ValueError(f"{INDEX_VARIABLE} is {raw[:20]!r}, not a number")
        return Partition(int(raw), partitions)
    except ValueError as e:
        raise ConfigError(
            [f"{e} (--partitions {partitions}: {INDEX_VARIABLE} runs from 0 to {partitions - 1})"]
        ) from None


def _cmd_link_build(settings: Settings, args: argparse.Namespace) -> int:
    from hub.ops.linking import build_links, load_model, save_model, train_model

    partition = partition_from(args.partition, args.partitions, os.environ)
    settings = with_local_keys(settings)
    if args.link_threshold is not None:
        settings = replace(settings, link_threshold=args.link_threshold)
    if args.review_threshold is not None:
        settings = replace(settings, review_threshold=args.review_threshold)
    thresholds = settings.thresholds()  # ConfigError when they do not make bands
    path = _model_path(settings, args)
    with database(settings) as s:
        if path.exists():
            model = load_model(path)
        elif partition.count > 1:
            # Each process would train its own model on its own sample: partitions of one run share one.
            raise ConfigError(
                [
                    f"no model file at {path}: a partitioned build needs one model for all its processes; "
                    "train it first (`welfare-hub link train`) and give each process the same file"
                ]
            )
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
                partition=partition,
            )
        )
    out: dict[str, Any] = {"model": model.version, "run": counts.run_id, "partition": str(partition)}
    if counts.run_finished:
        out["run_finished"] = True
    else:  # the run's report is printed by the process that ends it (the last partition to finish)
        out.update(run_finished=False, partitions_to_finish=counts.pending)
    print(json.dumps({**out, "counts": counts.by_source, "review": counts.review}, indent=2))
    return 0


def add_commands(sub: Any) -> None:
    link = sub.add_parser(
        "link",
        help="the link index: train the model, build or refresh links",
        description="The link index: which council records (Housing Benefit, social care) are which DWP "
        "person, decided by a Fellegi-Sunter model, so lookups find records whose NINO is missing or wrong.",
    )
    link_sub = link.add_subparsers(dest="link_command", required=True, metavar="COMMAND", title="commands")
    train = link_sub.add_parser(
        "train",
        help="fit the Fellegi-Sunter model on a sample of the sources",
        description="Fit the Fellegi-Sunter model on a sample of the sources (u from random pairs, m from "
        "council records whose NINO finds a DWP record) and write it, versioned, to the model file.",
    )
    train.add_argument("--sample", type=int, default=50_000, help="records sampled from the sources")
    train.add_argument(
        "--model",
        default=None,
        metavar="FILE",
        help="model file (default: WELFARE_HUB_LINK_MODEL, else DATA_DIR/link-model.json)",
    )
    train.set_defaults(func=_cmd_link_train)
    build = link_sub.add_parser(
        "build",
        help="build or refresh the link index (resumable, incremental)",
        description="Link every council record to the DWP spine with the model (trained first if the model "
        "file is missing). Incremental: only records or a model changed since are decided again; an "
        "interrupted run resumes; clerical decisions stand. Split over N processes or pods with --partition "
        "I/N: each decides its own share of the records, and may be stopped and started again.",
    )
    build.add_argument(
        "--model",
        default=None,
        metavar="FILE",
        help="model file (default: WELFARE_HUB_LINK_MODEL, else DATA_DIR/link-model.json)",
    )
    build.add_argument("--chunk", type=int, default=2000, help="records decided per batch")
    build.add_argument(
        "--link-threshold",
        type=float,
        default=None,
        help="match probability at or above which a record is linked (default: WELFARE_HUB_LINK_THRESHOLD, else 0.999)",
    )
    build.add_argument(
        "--review-threshold",
        type=float,
        default=None,
        help="probability at or above which a record below the link threshold goes to clerical review "
        "(default: WELFARE_HUB_REVIEW_THRESHOLD, else 0.5)",
    )
    build.add_argument(
        "--restart",
        action="store_true",
        help="start a new run instead of resuming the last unfinished one (refused while a build runs: without "
        "it, a process joins the running build's run)",
    )
    build.add_argument("--workers", type=int, default=2, help="processes deciding links in parallel")
    build.add_argument("--full", action="store_true", help="re-decide every record, changed or not")
    split = build.add_mutually_exclusive_group()
    split.add_argument(
        "--partition",
        type=_partition_arg,
        default=None,
        metavar="I/N",
        help="decide only partition I of N (I from 0 to N-1) of the records, against the whole spine: run the "
        "other partitions in other processes or pods, with the same N and model file, at the same time or not; "
        "the last to finish ends the run (default: the whole build in this process)",
    )
    split.add_argument(
        "--partitions",
        type=_partitions_arg,
        default=None,
        metavar="N",
        help=f"as --partition, with I from {INDEX_VARIABLE} (set in each pod of a Kubernetes Indexed Job) "
        "(default: the whole build in this process)",
    )
    build.set_defaults(func=_cmd_link_build)
