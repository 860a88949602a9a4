"""``python -m data.split FILE --out DIR``: split by group (article) into train/dev/test, stratified
on a task's labels with a fixed seed, then check the splits for leaked (near-)duplicate sentences.

``python -m data.split --check train.jsonl dev.jsonl test.jsonl`` runs the leakage check alone.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from data.config import DEFAULT_DATA_CONFIG, ConfigError, load_data_config
from data.io import DataError, load_examples, write_jsonl_atomic
from data.schema import DataConfig, Example
from data.text import fix_characters

_DIACRITICS = re.compile(r"[\u064b-\u0652\u0670\u0640]")  # harakat, dagger alef, tatweel
_NON_WORD = re.compile(r"[^\w\s]")


def _strat_key(ex: Example, tasks: list[str]) -> str:
    return "|".join(str(ex.labels.get(t)) for t in tasks)


def _take_fold(examples: list[Example], fraction: float, tasks: list[str], seed: int) -> tuple[list[int], list[int]]:
    """Indices (rest, held) with ~``fraction`` of examples held out, whole groups, stratified."""
    n_splits = max(2, round(1 / fraction))
    y = [_strat_key(e, tasks) for e in examples]
    groups = [e.group if e.group is not None else f"__row{i}" for i, e in enumerate(examples)]
    sgkf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    rest, held = next(sgkf.split(np.zeros(len(examples)), y, groups))
    return list(rest), list(held)


def split_by_group(
    examples: list[Example], dev: float = 0.15, test: float = 0.15, stratify: list[str] | None = None, seed: int = 13
) -> dict[str, list[Example]]:
    """Group-disjoint train/dev/test split, stratified on ``stratify`` tasks' labels (joint key)."""
    if not 0 < dev < 1 or not 0 < test < 1 or dev + test >= 1:
        raise ValueError(f"dev ({dev}) and test ({test}) must be fractions summing below 1")
    tasks = stratify or []
    rest_idx, test_idx = _take_fold(examples, test, tasks, seed)
    rest = [examples[i] for i in rest_idx]
    # dev is a fraction of everything, so of the remainder it is dev / (1 - test)
    train_idx, dev_idx = _take_fold(rest, dev / (1 - test), tasks, seed + 1)
    return {"train": [rest[i] for i in train_idx], "dev": [rest[i] for i in dev_idx], "test": [examples[i] for i in test_idx]}


def normalise_for_matching(text: str) -> str:
    """Lower, unify letters and digits, drop diacritics and punctuation: what "the same sentence" means."""
    t = _DIACRITICS.sub("", fix_characters(text)).lower()
    t = t.replace("أ", "ا").replace("إ", "ا").replace("آ", "ا").replace("ى", "ي").replace("ة", "ه")
    return " ".join(_NON_WORD.sub(" ", t).split())


def _shingles(text: str, n: int = 4) -> set[str]:
    t = f" {text} "
    return {t[i : i + n] for i in range(max(1, len(t) - n + 1))}


def find_leaks(splits: dict[str, list[Example]], threshold: float = 0.85) -> list[dict]:
    """Pairs of sentences in different splits that are identical or near-identical after normalising.

    Near-identical = Jaccard similarity of character 4-grams >= ``threshold``. Candidates come from
    an inverted index on word trigrams, so the check stays near-linear on large corpora.
    """
    items = [(name, ex, normalise_for_matching(ex.text)) for name, exs in splits.items() for ex in exs]
    index: dict[str, list[int]] = defaultdict(list)
    for i, (_, _, norm) in enumerate(items):
        words = norm.split()
        keys = {" ".join(words[j : j + 3]) for j in range(max(1, len(words) - 2))}
        for k in keys:
            index[k].append(i)
    leaks, seen = [], set()
    shingle_cache: dict[int, set[str]] = {}
    for bucket in index.values():
        if len(bucket) < 2 or len(bucket) > 200:  # very common trigrams ("في هذا الإطار") prove nothing
            continue
        for a_pos, a in enumerate(bucket):
            for b in bucket[a_pos + 1 :]:
                if items[a][0] == items[b][0] or (a, b) in seen:
                    continue
                seen.add((a, b))
                sa = shingle_cache.setdefault(a, _shingles(items[a][2]))
                sb = shingle_cache.setdefault(b, _shingles(items[b][2]))
                sim = len(sa & sb) / len(sa | sb)
                if sim >= threshold:
                    leaks.append(
                        {
                            "similarity": round(sim, 3),
                            "a": {"split": items[a][0], "id": items[a][1].id, "where": f"{items[a][1].source}:{items[a][1].line}", "text": items[a][1].text},
                            "b": {"split": items[b][0], "id": items[b][1].id, "where": f"{items[b][1].source}:{items[b][1].line}", "text": items[b][1].text},
                        }
                    )  # fmt: skip
    return sorted(leaks, key=lambda x: -x["similarity"])


def group_overlap(splits: dict[str, list[Example]]) -> dict[str, list[str]]:
    """Groups (articles) found in more than one split."""
    where: dict[str, set[str]] = defaultdict(set)
    for name, exs in splits.items():
        for e in exs:
            if e.group is not None:
                where[e.group].add(name)
    return {g: sorted(s) for g, s in where.items() if len(s) > 1}


def _report_leaks(splits: dict[str, list[Example]], threshold: float) -> int:
    leaks, overlap = find_leaks(splits, threshold), group_overlap(splits)
    for g, names in overlap.items():
        print(f"group {g!r} appears in {', '.join(names)}")
    for leak in leaks:
        a, b = leak["a"], leak["b"]
        print(f"{a['where']} ({a['split']}) ~ {b['where']} ({b['split']}) similarity {leak['similarity']}: {a['text'][:80]}")
    print(f"leakage check: {len(leaks)} near-duplicate pair(s), {len(overlap)} shared group(s)", file=sys.stderr)
    return 1 if leaks or overlap else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m data.split", description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="input file(s) to split, or with --check the split files")
    ap.add_argument("--out", help="output directory for train/dev/test.jsonl")
    ap.add_argument("--config", default=DEFAULT_DATA_CONFIG)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--dev", type=float, default=0.15, help="dev fraction of all sentences")
    ap.add_argument("--test", type=float, default=0.15, help="test fraction of all sentences")
    ap.add_argument("--stratify", nargs="*", default=None, help="tasks to stratify on (default: all)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threshold", type=float, default=0.85, help="near-duplicate Jaccard threshold")
    ap.add_argument("--check", action="store_true", help="only check the given split files for leakage")
    args = ap.parse_args(argv)
    try:
        cfg: DataConfig = load_data_config(args.config, args.overrides)
        if args.check:
            return _report_leaks({Path(f).stem: load_examples(f, cfg) for f in args.files}, args.threshold)
        if not args.out:
            ap.error("--out is required unless --check")
        examples = [e for f in args.files for e in load_examples(f, cfg)]
        splits = split_by_group(examples, args.dev, args.test, args.stratify or cfg.task_names, args.seed)
    except (ConfigError, DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for name, exs in splits.items():
        write_jsonl_atomic(Path(args.out) / f"{name}.jsonl", (e.to_row(cfg) for e in exs))
        print(f"{name}: {len(exs)} sentences, {len({e.group for e in exs})} groups", file=sys.stderr)
    return _report_leaks(splits, args.threshold)


if __name__ == "__main__":
    raise SystemExit(main())
