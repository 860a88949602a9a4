"""``python -m train --config CONFIG.yaml [--set key=value …] [--resume]``."""

from __future__ import annotations

import argparse
import json
import sys

from data.config import ConfigError
from data.io import DataError
from model.errors import ModelLoadError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m train", description="Train a multi-task sentence tagger.")
    ap.add_argument("--config", required=True, help="YAML config (see configs/)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config value, e.g. --set training.epochs=3 (unknown keys are rejected)")
    ap.add_argument("--resume", action="store_true", help="continue from the last complete checkpoint")
    args = ap.parse_args(argv)
    from train.config import load_config
    from train.run import train

    try:
        config = load_config(args.config, args.overrides)
        metrics = train(config, resume=args.resume)
    except (ConfigError, DataError, ModelLoadError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    summary = {split: {t: round(v["macro_f1"], 4) for t, v in m.items() if isinstance(v, dict)}
               for split, m in metrics.items() if split in ("dev", "test")}
    print(json.dumps({"output_dir": config.training.output_dir, "macro_f1": summary}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
