"""Is model A better than model B on the same held-out data? Paired significance tests per task.

Usage::

    python -m eval.compare MODEL_A MODEL_B --data FILE [FILE …] [--config CONFIG] [--set key=value …]
        [--n-boot N] [--seed S] [--out FILE.json]

Per task shared by both models: a paired bootstrap on the macro-F1 difference (whole articles
resampled when the data has a group column, since sentences of one article are not independent)
and McNemar's test on accuracy (per sentence), each with its p-value and a verdict in words.
Exit status 0 on success, 1 on bad input (one ``error: …`` line).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data.config import DEFAULT_DATA_CONFIG
from data.schema import DataConfig
from eval.evaluate import (
    USER_ERRORS,
    EvalInputError,
    cluster_groups,
    load_eval_examples,
    one_line_error,
    resolve_data_config,
    task_labels,
    task_predictions,
)
from eval.metrics import accuracy, macro_f1, mcnemar, paired_bootstrap, verdict

__all__ = ["compare", "format_table", "main", "system_names"]

# paired_bootstrap's own default: p-values resolve to 2 / n_boot, so 2000 resamples give 0.001.
DEFAULT_N_BOOT = 2000


def system_names(model_a: str | Path, model_b: str | Path) -> tuple[str, str]:
    """Short, distinct names for the verdict sentences (the folder names, tagged A/B if equal)."""
    a, b = Path(str(model_a)).name or str(model_a), Path(str(model_b)).name or str(model_b)
    if a == b:
        return f"{a} (A)", f"{b} (B)"
    return a, b


def compare(
    model_a: str | Path,
    model_b: str | Path,
    data_files: Sequence[str | Path],
    data_config: DataConfig | str | Path | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> dict[str, Any]:
    """Paired comparison of two models on the same data, per task both models have.

    Returns ``model_a``, ``model_b``, ``names``, ``data_files``, ``n``, ``unit`` ("group" or
    "item"), ``n_boot``, ``seed`` and ``tasks``: task -> ``macro_f1`` (the paired bootstrap result
    of :func:`eval.metrics.paired_bootstrap` plus ``verdict``) and ``accuracy`` (``accuracy_a``,
    ``accuracy_b``, ``diff``, the :func:`eval.metrics.mcnemar` result and ``verdict``).
    """
    from model.tagger import Tagger  # lazy: keeps --help fast

    cfg = resolve_data_config(data_config)
    files = [str(p) for p in data_files]
    examples = load_eval_examples(files, cfg)
    tagger_a, tagger_b = Tagger.load(model_a), Tagger.load(model_b)
    preds_a = task_predictions(tagger_a, examples, cfg)
    preds_b = task_predictions(tagger_b, examples, cfg)
    shared = [t for t in preds_a if t in preds_b]
    if not shared:
        raise EvalInputError(
            f"{model_a} and {model_b} share no task with gold labels in {files[0]} "
            f"(tasks: {list(tagger_a.tasks)} vs {list(tagger_b.tasks)})"
        )
    name_a, name_b = system_names(model_a, model_b)
    groups_all = cluster_groups(examples)
    tasks: dict[str, Any] = {}
    for task in shared:
        pa, pb = preds_a[task], preds_b[task]
        # Score both over one label list; a label only one model knows counts for both.
        labels = task_labels(pa.labels, pb.labels)
        gold = pa.gold
        groups = [groups_all[i] for i in pa.rows] if groups_all is not None else None
        boot = paired_bootstrap(
            gold,
            pa.pred,
            pb.pred,
            labels,
            functools.partial(macro_f1, labels=labels),
            n_boot=n_boot,
            seed=seed,
            groups=groups,
        )
        boot["verdict"] = verdict(boot["p_value"], boot["diff"], name_a, name_b)
        acc_a, acc_b = accuracy(gold, pa.pred), accuracy(gold, pb.pred)
        test = mcnemar(gold, pa.pred, pb.pred)
        tasks[task] = {
            "n": len(gold),
            "labels": labels,
            "macro_f1": boot,
            "accuracy": {
                "accuracy_a": acc_a,
                "accuracy_b": acc_b,
                "diff": acc_a - acc_b,
                **test,
                "verdict": verdict(test["p_value"], acc_a - acc_b, name_a, name_b),
            },
        }
    return {
        "model_a": tagger_a.model_id,
        "model_b": tagger_b.model_id,
        "names": [name_a, name_b],
        "data_files": files,
        "n": len(examples),
        "unit": "group" if groups_all is not None else "item",
        "group_column": cfg.group_column if groups_all is not None else None,
        "n_boot": n_boot,
        "seed": seed,
        "tasks": tasks,
    }


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table (two rows per task) followed by the verdicts."""
    name_a, name_b = result["names"]
    unit = f"by {result['group_column']}" if result["group_column"] else "by sentence"
    header = f"{'task':<10} {'metric':<9} {'A':>7} {'B':>7} {'A-B':>8}  {'95% CI of A-B':<18} {'p':>7}  test"
    lines = [f"A = {name_a} ({result['model_a']})", f"B = {name_b} ({result['model_b']})", "", header]
    for task, t in result["tasks"].items():
        f1, acc = t["macro_f1"], t["accuracy"]
        ci = f"[{f1['ci_low']:+.3f}, {f1['ci_high']:+.3f}]"
        lines.append(
            f"{task:<10} {'macro-F1':<9} {f1['metric_a']:>7.3f} {f1['metric_b']:>7.3f} {f1['diff']:>+8.3f}  "
            f"{ci:<18} {f1['p_value']:>7.3f}  paired bootstrap {unit}, {result['n_boot']} resamples"
        )
        lines.append(
            f"{task:<10} {'accuracy':<9} {acc['accuracy_a']:>7.3f} {acc['accuracy_b']:>7.3f} "
            f"{acc['diff']:>+8.3f}  {'':<18} {acc['p_value']:>7.3f}  McNemar ({acc['method']})"
        )
    lines.append("")
    for task, t in result["tasks"].items():
        lines.append(f"{task} macro-F1: {t['macro_f1']['verdict']}")
        lines.append(f"{task} accuracy: {t['accuracy']['verdict']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    ap = argparse.ArgumentParser(
        prog="python -m eval.compare",
        description="Paired significance tests between two models on the same held-out data.",
    )
    ap.add_argument("model_a", help="first model directory or hub id")
    ap.add_argument("model_b", help="second model directory or hub id")
    ap.add_argument("--data", nargs="+", required=True, metavar="FILE", help="labelled held-out file(s)")
    ap.add_argument(
        "--config", default=DEFAULT_DATA_CONFIG, help="config whose data: section maps the columns"
    )
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument(
        "--n-boot", type=int, default=DEFAULT_N_BOOT, help=f"resamples (default {DEFAULT_N_BOOT})"
    )
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    ap.add_argument("--out", metavar="FILE", help="also write the result as JSON")
    args = ap.parse_args(argv)
    try:
        cfg = resolve_data_config(args.config, args.overrides)
        result = compare(args.model_a, args.model_b, args.data, cfg, n_boot=args.n_boot, seed=args.seed)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    except USER_ERRORS as exc:
        print(f"error: {one_line_error(exc)}", file=sys.stderr)
        return 1
    print(format_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
