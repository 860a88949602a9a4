"""``python -m eval --model PATH_OR_ID --data FILE [FILE …] --out DIR``: benchmark a model on held-out data.

Writes ``DIR/report.md``, ``DIR/metrics.json`` and ``DIR/plots/*.png`` and prints one line per task
per system. Exit status 0 on success, 1 on bad input (one ``error: …`` line naming the file and line).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from data.config import DEFAULT_DATA_CONFIG


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    ap = argparse.ArgumentParser(
        prog="python -m eval",
        description="Evaluate a model on held-out data: metrics with bootstrap CIs, calibration, plots, "
        "breakdowns, confident mistakes and baselines.",
    )
    ap.add_argument("--model", required=True, help="saved model directory (either engine) or hub id")
    ap.add_argument("--data", nargs="+", required=True, metavar="FILE", help="labelled held-out file(s)")
    ap.add_argument(
        "--out", required=True, metavar="DIR", help="output folder for report.md, metrics.json, plots"
    )
    ap.add_argument(
        "--config", default=DEFAULT_DATA_CONFIG, help="config whose data: section maps the columns"
    )
    ap.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set data.text_column=sentence",
    )
    ap.add_argument(
        "--train", metavar="FILE", help="train file for the baselines (default: the config's data.train)"
    )
    ap.add_argument("--no-baselines", action="store_true", help="skip the majority and linear baselines")
    ap.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default: 1000)")
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    ap.add_argument(
        "--top-errors", type=int, default=20, help="confident mistakes listed per task (default: 20)"
    )
    args = ap.parse_args(argv)

    from eval.evaluate import USER_ERRORS, evaluate, format_summary, one_line_error, resolve_data_config

    try:
        cfg = resolve_data_config(args.config, args.overrides)
        result = evaluate(
            args.model,
            args.data,
            args.out,
            data_config=cfg,
            train_file=args.train,
            baselines=not args.no_baselines,
            n_boot=args.n_boot,
            seed=args.seed,
            top_errors=args.top_errors,
        )
    except USER_ERRORS as exc:
        print(f"error: {one_line_error(exc)}", file=sys.stderr)
        return 1
    print(format_summary(result))
    for note in result["notes"]:
        print(f"note: {note}", file=sys.stderr)
    print(f"report: {args.out}/report.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
