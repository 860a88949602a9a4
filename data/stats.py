"""``python -m data.stats FILE…``: label counts per task, per file (split) and per metadata column,
and the sentence length distribution. ``--where stance!=unrelated`` restricts to a subset.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from data.config import DEFAULT_DATA_CONFIG, ConfigError, load_data_config
from data.io import DataError, load_examples
from data.schema import DataConfig, Example


def _filter(examples: list[Example], where: list[str]) -> list[Example]:
    for cond in where:
        neg = "!=" in cond
        task, value = cond.split("!=" if neg else "=", 1)
        examples = [e for e in examples if (e.labels.get(task) == value) != neg]
    return examples


def _dist(examples: list[Example], cfg: DataConfig) -> dict[str, dict[str, Any]]:
    out = {}
    for task, labels in cfg.tasks.items():
        c = Counter(e.labels.get(task) for e in examples)
        n = max(len(examples), 1)
        out[task] = {lab: {"n": c[lab], "share": round(c[lab] / n, 4)} for lab in labels}
    return out


def compute_stats(files: dict[str, list[Example]], cfg: DataConfig) -> dict[str, Any]:
    everything = [e for exs in files.values() for e in exs]
    words = np.array([len(e.text.split()) for e in everything] or [0])
    stats: dict[str, Any] = {
        "n_sentences": len(everything),
        "n_groups": len({e.group for e in everything if e.group is not None}),
        "labels": _dist(everything, cfg),
        "per_file": {name: {"n": len(exs), "labels": _dist(exs, cfg)} for name, exs in files.items()},
        "length_words": {
            "min": int(words.min()), "p25": float(np.percentile(words, 25)), "median": float(np.median(words)),
            "p75": float(np.percentile(words, 75)), "p95": float(np.percentile(words, 95)), "max": int(words.max()),
            "mean": round(float(words.mean()), 2),
        },  # fmt: skip
        "per_metadata": {},
    }
    for col in cfg.metadata_columns:
        values = Counter(str(e.meta.get(col)) for e in everything if not isinstance(e.meta.get(col), list))
        if not values or len(values) > 40:  # ids, dates: too many values for a useful table
            continue
        stats["per_metadata"][col] = {
            v: {"n": n, "labels": _dist([e for e in everything if str(e.meta.get(col)) == v], cfg)}
            for v, n in sorted(values.items())
        }
    return stats


def format_markdown(stats: dict[str, Any], cfg: DataConfig) -> str:
    lines = [f"sentences: {stats['n_sentences']}   groups (articles): {stats['n_groups']}", ""]
    for task, labels in cfg.tasks.items():
        lines.append(f"## {task}")
        lines.append("| split | n | " + " | ".join(labels) + " |")
        lines.append("|---" * (len(labels) + 2) + "|")
        rows = [("all", stats["n_sentences"], stats["labels"])] + [
            (name, s["n"], s["labels"]) for name, s in stats["per_file"].items()
        ]
        for name, n, dist in rows:
            cells = [f"{dist[task][lab]['n']} ({dist[task][lab]['share']:.1%})" for lab in labels]
            lines.append(f"| {name} | {n} | " + " | ".join(cells) + " |")
        for col, values in stats["per_metadata"].items():
            lines.append(f"\nby {col}:\n")
            lines.append(f"| {col} | n | " + " | ".join(labels) + " |")
            lines.append("|---" * (len(labels) + 2) + "|")
            for v, s in values.items():
                cells = [f"{s['labels'][task][lab]['share']:.0%}" for lab in labels]
                lines.append(f"| {v} | {s['n']} | " + " | ".join(cells) + " |")
        lines.append("")
    ln = stats["length_words"]
    lines.append(
        f"sentence length (words): min {ln['min']}, p25 {ln['p25']:.0f}, median {ln['median']:.0f}, "
        f"p75 {ln['p75']:.0f}, p95 {ln['p95']:.0f}, max {ln['max']}, mean {ln['mean']}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m data.stats", description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--config", default=DEFAULT_DATA_CONFIG)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--where", action="append", default=[], metavar="TASK=LABEL|TASK!=LABEL")
    ap.add_argument("--json", action="store_true", help="print JSON instead of Markdown tables")
    args = ap.parse_args(argv)
    try:
        cfg = load_data_config(args.config, args.overrides)
        files = {Path(f).stem: _filter(load_examples(f, cfg), args.where) for f in args.files}
    except (ConfigError, DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    stats = compute_stats(files, cfg)
    print(json.dumps(stats, ensure_ascii=False, indent=2) if args.json else format_markdown(stats, cfg))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
