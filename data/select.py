"""Active learning: pick the unlabelled sentences a model is least sure about, for annotators to label.

    python -m data.select INPUT … --model PATH --n 200 --strategy entropy --out to_label.jsonl \\
        [--max-per-article 3] [--exclude data/corpus/corpus.jsonl]

Inputs are what ``python -m model.predict`` accepts (.txt files, directories, JSONL/CSV of articles).
Every sentence is tagged, scored for informativeness over **all tasks together**, and the top ``--n``
are written in the ``model.predict`` row format plus ``score`` and ``rank``, ready for
``python -m data.exchange export``.

Strategies (p1, p2: the largest and second-largest probability of a task; K: its number of labels):

- ``entropy``: sum over tasks of the normalised entropy ``-sum(p log p) / log K`` (each task in [0, 1],
  so a 4-label task does not outweigh a 2-label one). Higher = more informative.
- ``margin``: the mean over tasks of ``1 - (p1 - p2)``. Margin sampling (Scheffer et al., 2001) picks
  the smallest margin ``p1 - p2``; written as ``1 - margin`` so that, as for entropy, higher = more
  informative.
- ``breaking-ties``: the mean over tasks of the margin ``p1 - p2`` itself, smallest first: Luo et al.
  (2005)'s "breaking ties" rule, which is margin sampling under another name, so it ranks exactly as
  ``margin`` does; only the score written differs (lower = more informative).

Spreading: neighbouring sentences of one article are often uncertain for the same reason, so at most
``--max-per-article`` sentences come from one article, taken round-robin by rank: first every
article's best sentence (in rank order), then every article's second best, and so on until ``--n``.
Sentences flagged ``non_arabic`` are skipped (their labels mean little), as are sentences identical
after normalisation to a better-ranked one or to one in an ``--exclude`` file (already labelled).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data.io import read_rows, write_jsonl_atomic
from data.schema import Problem

STRATEGIES = ("entropy", "margin", "breaking-ties")
# Candidates kept per article beyond --max-per-article, in case better-ranked copies of a sentence
# (wire copy repeated across outlets) knock some out; keeping only these bounds memory on big inputs.
_SLACK = 5


def informativeness(probs: dict[str, np.ndarray], strategy: str) -> np.ndarray:
    """One score per sentence from per-task probability arrays of shape (n, K_task).

    ``entropy`` and ``margin``: higher = more informative; ``breaking-ties``: lower = more
    informative (see the module docstring for the definitions).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    arrays = [np.asarray(p, dtype=np.float64) for p in probs.values()]
    if not arrays:
        raise ValueError("no task probabilities to score")
    n = arrays[0].shape[0]
    if strategy == "entropy":
        total = np.zeros(n)
        for p in arrays:
            plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)  # 0 log 0 = 0
            total += -plogp.sum(axis=1) / np.log(p.shape[1])
        return total
    margins = np.zeros(n)
    for p in arrays:
        top2 = np.sort(p, axis=1)[:, -2:]
        margins += top2[:, 1] - top2[:, 0]
    margins /= len(arrays)
    return 1.0 - margins if strategy == "margin" else margins


def ranking(scores: np.ndarray, strategy: str) -> np.ndarray:
    """Indices from most to least informative; ties keep input order (stable sort)."""
    key = scores if strategy == "breaking-ties" else -scores
    return np.argsort(key, kind="stable")


def spread(article_ids: Sequence[str], n: int, max_per_article: int | None) -> list[int]:
    """Positions (into ``article_ids``, which is in rank order) of the ``n`` sentences to label.

    Round-robin by rank: round r takes every article's r-th best sentence, in rank order; at most
    ``max_per_article`` rounds (``None`` or 0: no limit). Returned in selection order.
    """
    per_article: dict[str, list[int]] = {}
    for i, a in enumerate(article_ids):
        per_article.setdefault(a, []).append(i)
    rounds = max_per_article or max((len(v) for v in per_article.values()), default=0)
    chosen: list[int] = []
    for r in range(rounds):
        for i in sorted(v[r] for v in per_article.values() if len(v) > r):
            if len(chosen) == n:
                return chosen
            chosen.append(i)
    return chosen


def _probs_of(rows: list[dict[str, Any]], tasks: dict[str, list[str]]) -> dict[str, np.ndarray]:
    out = {}
    for t, labels in tasks.items():
        table = [[r[f"{t}_probs"][lab] for lab in labels] for r in rows]
        out[t] = np.array(table, dtype=np.float64).reshape(-1, len(labels))
    return out


def excluded_texts(paths: Sequence[str | Path], text_column: str = "text") -> tuple[set[str], list[Problem]]:
    """Normalised texts of sentences already labelled (so they are not asked for again)."""
    from data.split import normalise_for_matching

    seen: set[str] = set()
    problems: list[Problem] = []
    for p in paths:
        for _, row in read_rows(p):
            if isinstance(row, Problem):
                problems.append(row)
            elif isinstance(row.get(text_column), str):
                seen.add(normalise_for_matching(row[text_column]))
    return seen, problems


def select(
    inputs: Sequence[str], model: Any = None, n: int = 200, strategy: str = "entropy",
    max_per_article: int | None = 3, exclude: Sequence[str | Path] = (), id_column: str = "id",
    text_column: str = "text",
) -> tuple[list[dict[str, Any]], list[Any]]:  # fmt: skip
    """Tag ``inputs`` with ``model`` (a path, a hub id, None for the shipped model, or a ``Tagger``)
    and return (the ``n`` selected rows in selection order, input errors).

    Each row is a ``model.predict`` sentence row plus ``score`` (the strategy's informativeness)
    and ``rank`` (1 = labelled first).
    """
    from data.split import normalise_for_matching
    from model.inputs import InputError, iter_inputs
    from model.predict import sentence_rows
    from model.tagger import Article, Tagger

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if max_per_article is not None and max_per_article < 0:
        raise ValueError(f"max_per_article must be >= 0, got {max_per_article}")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    tagger = model if isinstance(model, Tagger) else Tagger.load(model)
    skip, problems = excluded_texts(exclude)  # labelled files: the corpus schema's "text" column
    if problems:
        raise ValueError(
            f"--exclude: {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )
    errors: list[InputError] = []

    def articles() -> Iterator[Article]:
        for item in iter_inputs(list(inputs), id_column=id_column, text_column=text_column):
            if isinstance(item, InputError):
                errors.append(item)
            else:
                yield item

    keep_per_article = max_per_article + _SLACK if max_per_article else None
    cands: list[tuple[float, dict[str, Any]]] = []  # (score, row), article by article
    for result in tagger.tag_articles(articles()):
        rows = [r for r in sentence_rows(result, tagger.model_id) if "non_arabic" not in r.get("flags", [])]
        if not rows:
            continue
        scores = informativeness(_probs_of(rows, tagger.tasks), strategy)
        best = ranking(scores, strategy)[:keep_per_article]
        cands.extend((float(scores[i]), rows[i]) for i in best)
    ordered = ranking(np.array([c[0] for c in cands]), strategy) if cands else np.array([], dtype=int)
    ranked: list[tuple[float, dict[str, Any]]] = []
    for i in ordered:  # drop repeats of a better-ranked sentence and already-labelled sentences
        score, row = cands[i]
        norm = normalise_for_matching(row["text"])
        if norm in skip:
            continue
        skip.add(norm)
        ranked.append((score, row))
    picked = spread([str(r["article_id"]) for _, r in ranked], n, max_per_article)
    out = []
    for rank, i in enumerate(picked, start=1):
        score, row = ranked[i]
        out.append({**row, "score": round(score, 6), "rank": rank})
    return out, errors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m data.select", description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", help=".txt files, directories, JSONL/CSV of articles")
    ap.add_argument(
        "--model", default=None, help="model directory or hub id (default: the model shipped in the repo)"
    )
    ap.add_argument("--n", type=int, default=200, help="sentences to select (default: 200)")
    ap.add_argument("--strategy", choices=STRATEGIES, default="entropy")
    ap.add_argument(
        "--max-per-article", type=int, default=3, help="at most this many per article; 0 = no limit"
    )
    ap.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="selected rows (JSONL, model.predict format + score, rank)",
    )
    ap.add_argument(
        "--exclude", nargs="*", default=[], metavar="FILE", help="labelled files whose sentences to skip"
    )
    ap.add_argument("--id-column", default="id", help="article id column in JSONL/CSV input")
    ap.add_argument("--text-column", default="text", help="article text column in JSONL/CSV input")
    args = ap.parse_args(argv)

    from model.errors import ModelLoadError

    try:
        rows, errors = select(
            args.inputs, args.model, args.n, args.strategy, args.max_per_article or None, args.exclude,
            args.id_column, args.text_column,
        )  # fmt: skip
    except (ModelLoadError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    if not rows:
        print("error: no sentence to select (no input could be tagged)", file=sys.stderr)
        return 1
    write_jsonl_atomic(args.out, rows)
    n_articles = len({r["article_id"] for r in rows})
    print(f"selected {len(rows)} sentence(s) from {n_articles} article(s) by {args.strategy} "
          f"into {args.out}; {len(errors)} input error(s)", file=sys.stderr)  # fmt: skip
    return 2 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
