"""``python -m data.validate FILE…``: report every problem in labelled data files, with file and line.

Exit status 0 when all files are clean, 1 when any problem was found, 2 on a bad config.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from data.config import DEFAULT_DATA_CONFIG, ConfigError, load_data_config
from data.io import read_examples
from data.schema import DataConfig, Problem


def validate_files(paths: list[str | Path], cfg: DataConfig, require_labels: bool = True) -> list[Problem]:
    """Every problem in every file, plus ids duplicated *across* files."""
    problems: list[Problem] = []
    first_seen: dict[str, tuple[str, int]] = {}
    for path in paths:
        examples, probs = read_examples(path, cfg, require_labels)
        problems.extend(probs)
        for ex in examples:
            if ex.id is None:
                continue
            if ex.id in first_seen and first_seen[ex.id][0] != str(path):
                f, line = first_seen[ex.id]
                problems.append(Problem(str(path), ex.line, f"duplicate id {ex.id!r} (also {f}:{line})"))
            first_seen.setdefault(ex.id, (str(path), ex.line))
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m data.validate", description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="JSONL/CSV/TSV/parquet files to check")
    ap.add_argument("--config", default=DEFAULT_DATA_CONFIG, help="config whose data: section gives tasks/columns")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--unlabelled", action="store_true", help="do not require label columns")
    args = ap.parse_args(argv)
    try:
        cfg = load_data_config(args.config, args.overrides)
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    problems = validate_files(args.files, cfg, require_labels=not args.unlabelled)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s) in {len(args.files)} file(s)", file=sys.stderr)
        return 1
    print(f"ok: {len(args.files)} file(s), no problems", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
