"""Merge newly labelled sentences into a new version of the corpus and its splits.

    python -m data.merge --corpus data/corpus/corpus.jsonl --splits data/corpus/splits \\
        --new labelled.jsonl [--new more.jsonl …] --out data/corpus-v2 [--dev-share 0.15]

Writes ``OUT/corpus.jsonl``, ``OUT/splits/{train,dev,test}.jsonl``, ``OUT/MERGE_REPORT.md`` and
``OUT/merge_report.json``; the input corpus and splits are only read. The rules:

- **The test split is frozen.** A test-split id is never relabelled and no sentence is added to test;
  the test file is copied byte for byte. A new sentence identical or near-identical to a test sentence
  (``data.split.normalise_for_matching``, then ``find_leaks``' character 4-gram Jaccard >=
  ``--threshold``) is refused, and so is a new sentence of an article that is in the test split.
- **Known ids are relabelled**: a new label for an id of the train or dev split (or of the corpus)
  replaces the old one, reported old -> new per task; a task left empty keeps its label. An id whose
  text differs from the corpus text is refused (an id reused for another sentence).
- **New ids are added to train**, or with ``--dev-share 0.15`` about 15% of them to dev, whole articles
  at a time (seeded). A sentence of an article already in train or dev joins that split, so articles
  never straddle splits. A new sentence must label every task, and is refused if it (near-)duplicates
  a sentence of another split, which would leak between train and dev.
- **Duplicates in the new files** (the same id twice) are collapsed: the last one wins (later file,
  then later line), and each collapse is reported.

Exit status 0 when the new version was written (refusals are reported, not errors), 1 on bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data.config import DEFAULT_DATA_CONFIG, ConfigError, load_data_config
from data.io import DataError, read_examples, read_rows, write_jsonl_atomic
from data.schema import DataConfig, Example, Problem
from data.split import find_leaks, normalise_for_matching

SPLITS = ("train", "dev", "test")


class MergeError(ValueError):
    """Bad merge input (paths, options); the message names the file or option."""


@dataclass
class _Loaded:
    """A file's rows as written (every column kept) and, aligned with them, its validated examples."""

    rows: list[dict[str, Any]]
    examples: list[Example]


def _load(path: Path, cfg: DataConfig, require_labels: bool) -> _Loaded:
    examples, problems = read_examples(path, cfg, require_labels=require_labels)
    if problems:
        raise DataError(problems)
    raw = {line: row for line, row in read_rows(path, cfg.format) if not isinstance(row, Problem)}
    return _Loaded([raw[e.line] for e in examples], examples)


def _where(ex: Example) -> str:
    return f"{ex.source}:{ex.line}"


def _choose_dev_groups(groups: dict[str, int], share: float, seed: int) -> set[str]:
    """Whole groups (articles) for dev, about ``share`` of the rows, chosen by a seeded shuffle."""
    if share <= 0 or not groups:
        return set()
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    target, taken, chosen = round(share * sum(groups.values())), 0, set()
    for g in order:
        if taken >= target:
            break
        chosen.add(g)
        taken += groups[g]
    return chosen


def merge(
    corpus: str | Path, splits_dir: str | Path, new_files: list[str | Path], out_dir: str | Path,
    cfg: DataConfig | None = None, dev_share: float = 0.0, seed: int = 13, threshold: float = 0.85,
    force: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Write a new corpus version to ``out_dir`` (see the module docstring) and return the report.

    Raises ``DataError`` (bad rows in any input, with file:line), ``MergeError`` or ``ConfigError``.
    """
    cfg = cfg or load_data_config()
    if not cfg.id_column:
        raise MergeError("merging needs row ids: set data.id_column")
    if not 0 <= dev_share < 1:
        raise MergeError(f"--dev-share must be in [0, 1), got {dev_share}")
    if not new_files:
        raise MergeError("no --new file given")
    corpus, splits_dir, out = Path(corpus), Path(splits_dir), Path(out_dir)
    split_paths = {s: splits_dir / f"{s}.jsonl" for s in SPLITS}
    inputs = [corpus, *split_paths.values(), *map(Path, new_files)]
    for p in inputs:
        if not p.is_file():
            raise MergeError(f"{p}: file not found")
    outputs = [out / "corpus.jsonl", *(out / "splits" / f"{s}.jsonl" for s in SPLITS)]
    clash = {o.resolve() for o in outputs} & {p.resolve() for p in inputs}
    if clash:
        raise MergeError(
            f"--out {out} would overwrite an input ({sorted(map(str, clash))[0]}); choose a new folder"
        )
    if (out / "corpus.jsonl").exists() and not force:
        raise MergeError(f"{out / 'corpus.jsonl'} exists; choose a new folder or pass --force")

    base = _load(corpus, cfg, require_labels=False)
    splits = {s: _load(p, cfg, require_labels=False) for s, p in split_paths.items()}
    id_split = {e.id: s for s, ld in splits.items() for e in ld.examples}
    group_split = {e.group: s for s, ld in splits.items() for e in ld.examples if e.group is not None}
    corpus_index = {e.id: i for i, e in enumerate(base.examples)}
    old_text = {e.id: e.text for e in base.examples} | {
        e.id: e.text for ld in splits.values() for e in ld.examples
    }

    # new rows: ids checked here, not by read_examples, because duplicates are collapsed, not errors
    no_id_cfg = dataclasses.replace(cfg, id_column=None)
    latest: dict[str, tuple[Example, dict[str, Any]]] = {}
    dup_where: dict[str, list[str]] = {}
    problems: list[Problem] = []
    n_read = 0
    for f in new_files:
        ld = _load(Path(f), no_id_cfg, require_labels=False)
        for ex, row in zip(ld.examples, ld.rows, strict=True):
            rid = row.get(cfg.id_column)
            if rid in (None, ""):
                problems.append(Problem(ex.source, ex.line, f"missing id field {cfg.id_column!r}"))
                continue
            n_read += 1
            ex = dataclasses.replace(ex, id=str(rid))
            dup_where.setdefault(ex.id, []).append(_where(ex))
            latest.pop(ex.id, None)  # re-insert: the order of the output follows the winning row
            latest[ex.id] = (ex, row)
    if problems:
        raise DataError(problems)
    duplicates = [{"id": i, "kept": w[-1], "dropped": w[:-1]} for i, w in dup_where.items() if len(w) > 1]

    refused: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    unchanged: list[str] = []
    corpus_rows = [dict(r) for r in base.rows]
    split_rows = {s: [dict(r) for r in ld.rows] for s, ld in splits.items()}
    split_pos = {s: {e.id: i for i, e in enumerate(ld.examples)} for s, ld in splits.items()}
    to_add: list[tuple[Example, dict[str, Any], str]] = []  # (example, row, split or "" = not decided)

    def refuse(ex: Example, reason: str, detail: str) -> None:
        refused.append(
            {"id": ex.id, "where": _where(ex), "reason": reason, "detail": detail, "text": ex.text}
        )

    for ex, row in latest.values():
        split = id_split.get(ex.id)
        if split == "test":
            refuse(ex, "test_id", "the id is in the test split, which is never changed")
        elif ex.id in old_text:
            if normalise_for_matching(ex.text) != normalise_for_matching(old_text[ex.id]):
                refuse(ex, "id_clash", f"the corpus has another text under this id: {old_text[ex.id][:80]}")
                continue
            # the same sentence in corpus.jsonl and in its split file: both get the new label
            copies = [corpus_rows[corpus_index[ex.id]]] if ex.id in corpus_index else []
            if split is not None:
                copies.append(split_rows[split][split_pos[split][ex.id]])
            changes = {}
            for task, label in ex.labels.items():
                col = cfg.label_column(task)
                old = copies[0].get(col)
                if label is not None and label != old:  # a task left empty keeps its label
                    changes[task] = {"old": old, "new": label}
                    for r in copies:
                        r[col] = label
            if changes:
                changed.append({"id": ex.id, "split": split, "where": _where(ex), "changes": changes})
            else:
                unchanged.append(ex.id)
        elif any(lab is None for lab in ex.labels.values()):
            missing = [t for t, lab in ex.labels.items() if lab is None]
            refuse(
                ex, "incomplete_labels", f"a new sentence needs every label; missing: {', '.join(missing)}"
            )
        elif ex.group is not None and group_split.get(ex.group) == "test":
            refuse(ex, "test_article", f"its article {ex.group!r} is in the test split")
        else:
            to_add.append((ex, row, group_split.get(ex.group, "") if ex.group is not None else ""))

    # destinations: known articles stay where they are; new articles go to train, or some to dev
    new_groups = Counter(ex.group or f"\0{ex.id}" for ex, _, s in to_add if not s)
    dev_groups = _choose_dev_groups(new_groups, dev_share, seed)
    to_add = [
        (ex, row, s or ("dev" if (ex.group or f"\0{ex.id}") in dev_groups else "train"))
        for ex, row, s in to_add
    ]

    # leakage: a new sentence must not (near-)duplicate a sentence of another split
    leak_of = _leaks(to_add, splits, threshold)
    added: list[dict[str, Any]] = []
    for ex, row, dest in to_add:
        if ex.id in leak_of:
            other_split, other_id, sim = leak_of[ex.id]
            how = "identical to" if sim >= 1.0 else f"near-identical (similarity {sim:.2f}) to"
            reason = "near_duplicate_of_test" if other_split == "test" else "near_duplicate_across_splits"
            refuse(ex, reason, f"{how} {other_split} sentence {other_id}")
            continue
        corpus_rows.append(row)
        split_rows[dest].append(ex.to_row(cfg))
        added.append({"id": ex.id, "split": dest, "where": _where(ex), "article": ex.group})

    out.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(out / "corpus.jsonl", corpus_rows)
    for s in ("train", "dev"):
        write_jsonl_atomic(out / "splits" / f"{s}.jsonl", split_rows[s])
    shutil.copyfile(split_paths["test"], out / "splits" / "test.jsonl")  # frozen: byte for byte

    label_changes: dict[str, Counter[str]] = {t: Counter() for t in cfg.tasks}
    for c in changed:
        for task, ch in c["changes"].items():
            label_changes[task][f"{ch['old']} -> {ch['new']}"] += 1
    report = {
        "inputs": {"corpus": str(corpus), "splits": str(splits_dir), "new": [str(f) for f in new_files]},
        "out": str(out),
        "options": {"dev_share": dev_share, "seed": seed, "threshold": threshold},
        "counts": {
            "new_rows_read": n_read,
            "duplicates_collapsed": sum(len(d["dropped"]) for d in duplicates),
            "added": {s: sum(a["split"] == s for a in added) for s in ("train", "dev")},
            "changed": len(changed),
            "unchanged": len(unchanged),
            "refused": len(refused),
            "refused_by_reason": dict(Counter(r["reason"] for r in refused)),
        },
        "split_sizes": {
            "before": {s: len(ld.rows) for s, ld in splits.items()},
            "after": {s: len(rows) for s, rows in split_rows.items()},
        },
        "corpus_size": {"before": len(base.rows), "after": len(corpus_rows)},
        "label_changes": {t: dict(c) for t, c in label_changes.items() if c},
        "added": added,
        "changed": changed,
        "unchanged": unchanged,
        "refused": refused,
        "duplicates": duplicates,
    }
    (out / "merge_report.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    (out / "MERGE_REPORT.md").write_text(to_markdown(report), encoding="utf-8")
    return report


def _leaks(
    to_add: list[tuple[Example, dict[str, Any], str]], splits: dict[str, _Loaded], threshold: float
) -> dict[str, tuple[str, str, float]]:
    """New id -> (other split, other id, similarity) of its worst leak, the test split first.

    Only pairs that involve a new sentence are compared (old-old leaks are not this merge's doing);
    between two new sentences bound for train and dev, the dev one is refused.
    """
    worst: dict[str, tuple[str, str, float]] = {}

    def note(new_id: str, other_split: str, other_id: str, sim: float) -> None:
        key = (other_split == "test", sim)
        if new_id not in worst or key > (worst[new_id][0] == "test", worst[new_id][2]):
            worst[new_id] = (other_split, other_id, sim)

    # which split an old sentence is in, by file:line (unique, unlike ids in a broken file)
    split_at = {_where(e): s for s, ld in splits.items() for e in ld.examples}
    norm_index: dict[str, tuple[str, str]] = {}
    for s in ("train", "dev", "test"):  # test last, so an exact test match is the one remembered
        for e in splits[s].examples:
            norm_index[normalise_for_matching(e.text)] = (s, str(e.id))
    new_by_split = {s: [ex for ex, _, d in to_add if d == s] for s in ("train", "dev")}
    for s, exs in new_by_split.items():
        others = [e for o in SPLITS if o != s for e in splits[o].examples]
        for ex in exs:  # exact copies first: find_leaks skips word trigrams shared by > 200 sentences
            hit = norm_index.get(normalise_for_matching(ex.text))
            if hit and hit[0] != s:
                note(str(ex.id), hit[0], hit[1], 1.0)
        if exs and others:
            for leak in find_leaks({"new": exs, "old": others}, threshold):
                new, old = (leak["a"], leak["b"]) if leak["a"]["split"] == "new" else (leak["b"], leak["a"])
                note(str(new["id"]), split_at[old["where"]], str(old["id"]), leak["similarity"])
    if new_by_split["train"] and new_by_split["dev"]:
        for leak in find_leaks({"train": new_by_split["train"], "dev": new_by_split["dev"]}, threshold):
            dev, train = (leak["a"], leak["b"]) if leak["a"]["split"] == "dev" else (leak["b"], leak["a"])
            note(str(dev["id"]), "train", str(train["id"]), leak["similarity"])
    return worst


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(report: dict[str, Any], max_rows: int = 500) -> str:
    """MERGE_REPORT.md: counts, split sizes, then every refusal, label change, duplicate and addition."""
    c = report["counts"]
    lines = [
        "# Merge report", "",
        f"New corpus version in `{report['out']}` from `{report['inputs']['corpus']}` and the splits in "
        f"`{report['inputs']['splits']}`, with {len(report['inputs']['new'])} new file(s): "
        + ", ".join(f"`{f}`" for f in report["inputs"]["new"]) + ".",
        f"Options: dev share {report['options']['dev_share']}, seed {report['options']['seed']}, "
        f"near-duplicate threshold {report['options']['threshold']}. The test split is copied unchanged.", "",
        "| sentences | count |", "|---|---:|",
        f"| read from the new files | {c['new_rows_read']} |",
        f"| duplicates collapsed (the last one wins) | {c['duplicates_collapsed']} |",
        f"| added to train | {c['added']['train']} |",
        f"| added to dev | {c['added']['dev']} |",
        f"| labels changed | {c['changed']} |",
        f"| same labels as before | {c['unchanged']} |",
        f"| refused | {c['refused']} |",
    ]  # fmt: skip
    lines += [f"| refused: {reason} | {n} |" for reason, n in sorted(c["refused_by_reason"].items())]
    lines += ["", "| split | before | after |", "|---|---:|---:|"]
    lines += [
        f"| {s} | {report['split_sizes']['before'][s]} | {report['split_sizes']['after'][s]} |"
        for s in SPLITS
    ]
    lines.append(f"| corpus.jsonl | {report['corpus_size']['before']} | {report['corpus_size']['after']} |")

    if report["label_changes"]:
        lines += ["", "## Label changes by task", "", "| task | old -> new | count |", "|---|---|---:|"]
        for task, ch in report["label_changes"].items():
            lines += [f"| {task} | {k} | {n} |" for k, n in sorted(ch.items(), key=lambda kv: -kv[1])]
    tables = [
        ("Refused", ["id", "reason", "detail", "where"],
         [[r["id"], r["reason"], r["detail"], r["where"]] for r in report["refused"]]),
        ("Changed labels", ["id", "split", "task", "old", "new", "where"],
         [[x["id"], x["split"], t, ch["old"], ch["new"], x["where"]]
          for x in report["changed"] for t, ch in x["changes"].items()]),
        ("Duplicates collapsed", ["id", "kept", "dropped"],
         [[d["id"], d["kept"], ", ".join(d["dropped"])] for d in report["duplicates"]]),
        ("Added", ["id", "split", "article", "where"],
         [[a["id"], a["split"], a["article"], a["where"]] for a in report["added"]]),
    ]  # fmt: skip
    for title, header, rows in tables:
        if not rows:
            continue
        lines += [
            "",
            f"## {title} ({len(rows)})",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        lines += ["| " + " | ".join(_md_cell(v) for v in r) + " |" for r in rows[:max_rows]]
        if len(rows) > max_rows:
            lines.append(f"\n… and {len(rows) - max_rows} more (all of them are in merge_report.json)")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m data.merge", description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True, metavar="FILE", help="the current corpus.jsonl (only read)")
    ap.add_argument(
        "--splits", required=True, metavar="DIR", help="folder with train.jsonl, dev.jsonl, test.jsonl"
    )
    ap.add_argument(
        "--new", action="append", required=True, metavar="FILE", help="labelled rows (data.exchange import)"
    )
    ap.add_argument("--out", required=True, metavar="DIR", help="folder for the new version")
    ap.add_argument(
        "--dev-share", type=float, default=0.0, help="share of new sentences for dev, by article (default 0)"
    )
    ap.add_argument("--seed", type=int, default=13, help="seed for choosing the dev articles")
    ap.add_argument(
        "--threshold", type=float, default=0.85, help="near-duplicate Jaccard threshold (as data.split)"
    )
    ap.add_argument("--force", action="store_true", help="overwrite an existing version in --out")
    ap.add_argument("--config", default=DEFAULT_DATA_CONFIG)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    try:
        cfg = load_data_config(args.config, args.overrides)
        report = merge(
            args.corpus,
            args.splits,
            args.new,
            args.out,
            cfg,
            args.dev_share,
            args.seed,
            args.threshold,
            args.force,
        )
    except DataError as e:
        for p in e.problems:
            print(p, file=sys.stderr)
        print(f"error: {len(e.problems)} data problem(s); nothing written", file=sys.stderr)
        return 1
    except (ConfigError, MergeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    c = report["counts"]
    reasons = ", ".join(f"{n} {r}" for r, n in sorted(c["refused_by_reason"].items()))
    print(f"added {c['added']['train']} to train and {c['added']['dev']} to dev; changed {c['changed']}; "
          f"unchanged {c['unchanged']}; refused {c['refused']}{f' ({reasons})' if reasons else ''}; "
          f"{c['duplicates_collapsed']} duplicate(s) collapsed", file=sys.stderr)  # fmt: skip
    print(f"report: {Path(args.out) / 'MERGE_REPORT.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
