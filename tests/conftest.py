"""Shared fixtures: a small sample of the project corpus, and session-scoped tiny trained models.

The tiny transformer is a random 2-layer BERT (hidden 32) with a WordPiece tokenizer trained on the
sample text: the real training path end to end, offline, in seconds.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPLITS = REPO / "data" / "corpus" / "splits"
TASKS = {"stance": ["favor", "against", "neutral", "unrelated"], "frame": ["security", "sovereignty", "reconstruction", "other"]}


def _sample(path: Path, n_articles: int, seed: int = 0) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    arts = sorted({r["article_id"] for r in rows})
    keep = set(random.Random(seed).sample(arts, min(n_articles, len(arts))))
    return [r for r in rows if r["article_id"] in keep]


@pytest.fixture(scope="session")
def corpus_sample(tmp_path_factory) -> dict[str, Path]:
    """~40/10/10 articles of the corpus splits (group-disjoint, as in the real splits)."""
    out = tmp_path_factory.mktemp("sample")
    paths = {}
    for name, n in (("train", 40), ("dev", 10), ("test", 10)):
        rows = _sample(SPLITS / f"{name}.jsonl", n)
        paths[name] = out / f"{name}.jsonl"
        paths[name].write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return paths


def data_overrides(sample: dict[str, Path]) -> list[str]:
    return [f"data.{k}={v}" for k, v in sample.items()]


def _train(config_file: str, sample: dict[str, Path], out: Path) -> Path:
    from train.config import load_config
    from train.run import train

    train(load_config(REPO / "configs" / config_file, data_overrides(sample) + [f"training.output_dir={out}"]))
    return out


@pytest.fixture(scope="session")
def tiny_model(corpus_sample, tmp_path_factory) -> Path:
    return _train("tiny.yaml", corpus_sample, tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def linear_model(corpus_sample, tmp_path_factory) -> Path:
    return _train("linear.yaml", corpus_sample, tmp_path_factory.mktemp("linear_model"))
