"""k-fold cross-validation grouped by article, on the pooled train and dev files of a config.

Usage::

    python -m eval.cv --config CONFIG [--set key=value …] [--k 5] [--seed 0] [--out DIR]

The test file is never touched. The pooled rows are split into k folds whose articles are
disjoint (scikit-learn ``StratifiedGroupKFold``, stratified on the stance label or else the first
task). Fold i trains with the config on the other k-1 folds and uses fold i as its dev set *and* as
the scored set; with the transformer engine dev also drives early stopping and calibration, so the
fold scores are slightly optimistic and are for comparing settings, not for reporting. Prints the
per-fold scores and their mean and standard deviation; ``--out DIR`` keeps the fold models and
writes ``DIR/cv.json``. Exit status 0 on success, 1 on bad input (one ``error: …`` line).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from data.io import DataError, read_examples, write_jsonl_atomic
from data.schema import Example, Problem
from eval.evaluate import USER_ERRORS, EvalInputError, one_line_error
from eval.metrics import DEFAULT_F_AVG_LABELS

if TYPE_CHECKING:  # train.config pulls in torch and transformers: import it only when training
    from train.config import Config

__all__ = ["cross_validate", "fold_indices", "format_table", "main", "summarise"]

STRATIFY_TASK = "stance"
METRICS = ("macro_f1", "accuracy", "f_avg")


def _load_config(
    config: Config | str | Path | dict[str, Any], overrides: Sequence[str] | None = None
) -> Config:
    from train.config import Config, load_config

    if isinstance(config, Config):
        if overrides:
            raise ValueError("overrides apply to a config file or dict, not to a Config object")
        return copy.deepcopy(config)
    return load_config(config, list(overrides or []))


def _pool(config: Config) -> list[Example]:
    """The config's train and dev rows (never test), every problem in both files reported at once."""
    data = config.data
    if data.train is None:
        raise EvalInputError("the config has no data.train to cross-validate on")
    examples: list[Example] = []
    problems: list[Problem] = []
    for path in (data.train, data.dev):
        if path is None:
            continue
        exs, probs = read_examples(path, data, require_labels=False)
        examples.extend(exs)
        problems.extend(probs)
    if problems:
        raise DataError(problems)
    return examples


def fold_indices(
    strata: Sequence[str], groups: Sequence[str], k: int, seed: int = 0
) -> list[tuple[list[int], list[int]]]:
    """k (train, held-out) index pairs; held-out parts are group-disjoint and cover every item once."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(set(groups))
    if k < 2:
        raise EvalInputError(f"k must be at least 2, got {k}")
    if n_groups < k:
        raise EvalInputError(f"cannot make {k} folds from {n_groups} group(s)")
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [
        (train.tolist(), held.tolist())
        for train, held in splitter.split(np.zeros(len(strata)), list(strata), list(groups))
    ]


def summarise(folds: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per task and metric: the fold values, their mean and sample standard deviation (ddof 1)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for fold in folds:
        for task, scores in fold["tasks"].items():
            for metric, value in scores.items():
                if value is not None:
                    out.setdefault(task, {}).setdefault(metric, {"values": []})["values"].append(value)
    for per_metric in out.values():
        for entry in per_metric.values():
            values = entry["values"]
            entry["mean"] = statistics.fmean(values)
            entry["std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return out


def cross_validate(
    config: Config | str | Path | dict[str, Any],
    k: int = 5,
    seed: int = 0,
    out_dir: str | Path | None = None,
    overrides: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Cross-validate ``config`` (a ``train.config.Config``, a config file or a dict) with k folds.

    Fold files, models and logs go under ``out_dir/fold<i>/`` when given, else under a temporary
    folder removed afterwards. The folds depend on ``seed``; training keeps the config's own seed.

    Returns ``k``, ``seed``, ``engine``, ``stratify_task``, ``n_examples``, ``n_groups``,
    ``files`` (the pooled files), ``folds`` (per fold: ``n_train``, ``n_heldout``,
    ``heldout_groups`` and per-task ``macro_f1``/``accuracy``/``f_avg``) and ``summary`` (per task
    and metric: ``values``, ``mean``, ``std``).
    """
    from train.run import train

    if k < 2:  # before loading anything: fold_indices checks again, for direct callers
        raise EvalInputError(f"k must be at least 2, got {k}")
    base = _load_config(config, overrides)
    data = base.data
    examples = _pool(base)
    if not examples:
        raise EvalInputError(f"{data.train}: no examples to cross-validate on")
    task = STRATIFY_TASK if STRATIFY_TASK in data.tasks else next(iter(data.tasks))
    # Rows without a group become their own group, so they can land in any fold.
    groups = [e.group if e.group is not None else f"\0row{i}" for i, e in enumerate(examples)]
    strata = [str(e.labels.get(task)) for e in examples]
    splits = fold_indices(strata, groups, k, seed)

    with tempfile.TemporaryDirectory(prefix="cv-") as tmp:
        root = Path(out_dir) if out_dir is not None else Path(tmp)
        folds = []
        for i, (train_idx, held_idx) in enumerate(splits, start=1):
            fold_dir = root / f"fold{i}"
            train_file, held_file = fold_dir / "train.jsonl", fold_dir / "heldout.jsonl"
            write_jsonl_atomic(train_file, (examples[j].to_row(data) for j in train_idx))
            write_jsonl_atomic(held_file, (examples[j].to_row(data) for j in held_idx))
            fold_config = copy.deepcopy(base)
            fold_config.data.train = str(train_file)
            fold_config.data.dev = str(held_file)  # early stopping, calibration and the score
            fold_config.data.test = None  # never the config's test file
            fold_config.data.format = "auto"  # the fold files are JSONL whatever the source format
            fold_config.training.output_dir = str(fold_dir / "model")
            metrics = train(fold_config)
            scored = metrics.get("dev", {})
            folds.append(
                {
                    "fold": i,
                    "n_train": len(train_idx),
                    "n_heldout": len(held_idx),
                    "heldout_groups": sorted({groups[j] for j in held_idx}),
                    "tasks": {
                        t: {
                            "macro_f1": m["macro_f1"],
                            "accuracy": m["accuracy"],
                            "f_avg": _f_avg(m, data.tasks[t]),
                        }
                        for t, m in scored.items()
                        if isinstance(m, dict)
                    },
                }
            )
    result = {
        "k": k,
        "seed": seed,
        "engine": base.model.engine,
        "stratify_task": task,
        "n_examples": len(examples),
        "n_groups": len(set(groups)),
        "files": [p for p in (data.train, data.dev) if p is not None],
        "folds": folds,
        "summary": summarise(folds),
    }
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "cv.json").write_text(
            json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8"
        )
    return result


def _f_avg(task_metrics: dict[str, Any], labels: Sequence[str]) -> float | None:
    """F_avg from per-class F1 (as in eval.metrics.f_avg), for a task with favor and against."""
    if not all(lab in labels for lab in DEFAULT_F_AVG_LABELS):
        return None
    return float(np.mean([task_metrics["per_class"][lab]["f1"] for lab in DEFAULT_F_AVG_LABELS]))


def format_table(result: dict[str, Any]) -> str:
    """Per task and metric: one column per fold, then mean ± standard deviation."""
    k = result["k"]
    lines = [
        f"{k}-fold cross-validation ({result['engine']} engine) on {result['n_examples']} sentences, "
        f"{result['n_groups']} articles; folds by article, stratified on {result['stratify_task']}",
        "",
        f"{'task':<10} {'metric':<9} "
        + " ".join(f"{'fold' + str(i):>7}" for i in range(1, k + 1))
        + "   mean ± std",
    ]
    for task, per_metric in result["summary"].items():
        for metric, entry in per_metric.items():
            values = " ".join(f"{v:>7.3f}" for v in entry["values"])
            lines.append(f"{task:<10} {metric:<9} {values}   {entry['mean']:.3f} ± {entry['std']:.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    ap = argparse.ArgumentParser(
        prog="python -m eval.cv", description="k-fold cross-validation by article on train+dev of a config."
    )
    ap.add_argument("--config", required=True, help="training config (see configs/)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--k", type=int, default=5, help="number of folds (default 5)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the fold assignment (default 0)")
    ap.add_argument("--out", metavar="DIR", help="keep fold files and models here and write DIR/cv.json")
    args = ap.parse_args(argv)
    try:
        result = cross_validate(
            args.config, k=args.k, seed=args.seed, out_dir=args.out, overrides=args.overrides
        )
    except USER_ERRORS as exc:
        print(f"error: {one_line_error(exc)}", file=sys.stderr)
        return 1
    print(format_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
