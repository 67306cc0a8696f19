"""``welfare-hub link``: train the Fellegi-Sunter model, build or refresh the link index."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.config import Settings

if TYPE_CHECKING:
    pass

from hub.cli.common import database, with_local_keys

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


def _cmd_link_build(settings: Settings, args: argparse.Namespace) -> int:
    from hub.ops.linking import build_links, load_model, save_model, train_model

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
    print(json.dumps({"model": model.version, "counts": counts.by_source, "review": counts.review}, indent=2))
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
        "interrupted run resumes; clerical decisions stand.",
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
    build.add_argument("--restart", action="store_true", help="start a new run instead of resuming")
    build.add_argument("--workers", type=int, default=2, help="processes deciding links in parallel")
    build.add_argument("--full", action="store_true", help="re-decide every record, changed or not")
    build.set_defaults(func=_cmd_link_build)
