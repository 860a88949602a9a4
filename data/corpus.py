"""Building the project's starter corpus from the authored article batches.

    python -m data.corpus build        # raw/*.jsonl -> articles.jsonl, pass1.jsonl, pass2_input/
    python -m data.corpus finalize     # pass1 + pass2 + adjudication -> corpus.jsonl and splits/

Layout under ``data/corpus/``:

- ``raw/wN_partM.jsonl``: what the writers produced, one article per line with pass-1 labels.
- ``articles.jsonl``: each article as running text (headline on its own line), with metadata.
- ``pass1.jsonl`` / ``pass2.jsonl``: the two independent annotation passes (id, stance, frame);
  ``pass2_input/``: what the second annotators saw (text and position only).
- ``adjudication/``: the adjudicator's decisions; ``adjudication.jsonl``: merged with both passes' labels.
- ``corpus.jsonl``: one line per sentence with the final labels; ``splits/``: train/dev/test.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from data.io import DataError, read_rows, write_jsonl_atomic
from data.schema import Problem
from data.text import split_sentences

CORPUS = Path("data/corpus")


def _tasks() -> dict[str, list[str]]:
    # the corpus's tasks and labels come from its data config, like everywhere else (not from code)
    from data.config import load_data_config

    return load_data_config().tasks


def read_raw(raw_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """All authored articles, and a list of problems (file:line: message)."""
    tasks = _tasks()
    articles, problems, seen = [], [], set()
    for f in sorted(raw_dir.glob("*.jsonl")):
        for n, a in read_rows(f, "jsonl"):
            where = f"{f}:{n}"
            if isinstance(a, Problem):
                problems.append(str(a))
                continue
            if a.get("article_id") in seen:
                problems.append(f"{where}: duplicate article_id {a.get('article_id')!r}")
                continue
            seen.add(a.get("article_id"))
            sents = a.get("sentences") or []
            if not 7 <= len(sents) <= 16:
                problems.append(f"{where}: {a.get('article_id')} has {len(sents)} sentences (headline + 6-15 expected)")
            for i, s in enumerate(sents):
                for task, labels in tasks.items():
                    if s.get(task) not in labels:
                        problems.append(f"{where}: {a['article_id']} sentence {i}: bad {task} label {s.get(task)!r}")
                if not str(s.get("text", "")).strip():
                    problems.append(f"{where}: {a['article_id']} sentence {i}: empty text")
            a["_where"] = where
            articles.append(a)
    return articles, problems


def article_text(a: dict[str, Any]) -> str:
    """Headline on its own line, then the body as one paragraph (how a news page reads)."""
    sents = [s["text"].strip() for s in a["sentences"]]
    return sents[0] + "\n" + " ".join(sents[1:])


def sentence_rows(a: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for i, s in enumerate(a["sentences"]):
        rows.append(
            {
                "id": f"{a['article_id']}-{i:02d}", "article_id": a["article_id"], "position": i,
                "is_headline": i == 0, "text": s["text"].strip(),
                "outlet_style": a["outlet_style"], "outlet": a.get("outlet", ""), "date": a.get("date", ""),
                "topics": a.get("topics", []), "source": "authored", "writer": a["article_id"].split("-")[0],
            }
        )  # fmt: skip
    return rows


def build(corpus: Path = CORPUS) -> int:
    articles, problems = read_raw(corpus / "raw")
    for a in articles:
        expected = [s["text"].strip() for s in a["sentences"]]
        got = [s.text for s in split_sentences(article_text(a))]
        if got != expected:
            problems.append(f"{a['_where']}: splitter yields {len(got)} sentences, article has {len(expected)}")
    for p in problems:
        print(p, file=sys.stderr)
    rows = [r for a in articles for r in sentence_rows(a)]
    write_jsonl_atomic(
        corpus / "articles.jsonl",
        ({k: a.get(k) for k in ("article_id", "outlet_style", "outlet", "date", "topics")} | {"text": article_text(a)} for a in articles),
    )
    write_jsonl_atomic(
        corpus / "pass1.jsonl",
        ({"id": f"{a['article_id']}-{i:02d}", "stance": s["stance"], "frame": s["frame"]} for a in articles for i, s in enumerate(a["sentences"])),
    )
    # the second pass sees text and position only: no labels, no outlet (the codebook says the outlet
    # must not decide the label); one input file per writer so annotators can work in parallel
    for writer in sorted({r["writer"] for r in rows}):
        write_jsonl_atomic(
            corpus / "pass2_input" / f"{writer}.jsonl",
            ({k: r[k] for k in ("id", "article_id", "position", "text")} for r in rows if r["writer"] == writer),
        )
    print(f"{len(articles)} articles, {len(rows)} sentences, {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


def _jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file through the project's reader; any problem is fatal here (our own files)."""
    rows = []
    for _, row in read_rows(path, "jsonl"):
        if isinstance(row, Problem):
            raise DataError([row])
        rows.append(row)
    return rows


def _read_labels(path: Path, tasks: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    return {str(r["id"]): {t: r[t] for t in tasks} for r in _jsonl(path)}


def finalize(corpus: Path = CORPUS, seed: int = 13) -> int:
    """Final labels = pass 1 where the passes agree, the adjudicated label where they do not."""
    from data.config import load_data_config
    from data.io import load_examples
    from data.split import find_leaks, group_overlap, split_by_group

    cfg = load_data_config()
    tasks = cfg.tasks
    articles, problems = read_raw(corpus / "raw")
    p1 = _read_labels(corpus / "pass1.jsonl", tasks)
    p2 = _read_labels(corpus / "pass2.jsonl", tasks)
    # the adjudicator's decisions (made blind to which pass said what), merged with both passes' labels
    adj: dict[tuple[str, str], str] = {}
    record = []
    for f in sorted((corpus / "adjudication").glob("*.jsonl")):
        for r in _jsonl(f):
            key = (str(r["id"]), r["task"])
            adj[key] = r["final"]
            record.append({"id": key[0], "task": key[1], "pass1": p1[key[0]][key[1]], "pass2": p2[key[0]][key[1]],
                           "final": r["final"], "rule": r.get("rule", "")})  # fmt: skip
    write_jsonl_atomic(corpus / "adjudication.jsonl", record)
    rows, unresolved = [], []
    for a in articles:
        for r in sentence_rows(a):
            for task in tasks:
                l1, l2 = p1[r["id"]][task], p2.get(r["id"], {}).get(task)
                if l2 is None:
                    unresolved.append(f"{r['id']}: no pass-2 {task} label")
                    final = l1
                elif l1 == l2:
                    final = l1
                elif (r["id"], task) in adj:
                    final = adj[(r["id"], task)]
                else:
                    unresolved.append(f"{r['id']}: {task} {l1} vs {l2} not adjudicated")
                    final = l1
                if final not in tasks[task]:
                    unresolved.append(f"{r['id']}: final {task} label {final!r} is not valid")
                r[task] = final
            rows.append(r)
    for u in unresolved[:30]:
        print(u, file=sys.stderr)
    write_jsonl_atomic(corpus / "corpus.jsonl", rows)
    examples = load_examples(corpus / "corpus.jsonl", cfg)
    # Articles keep the split they already have: a new writing round never moves a sentence into or
    # out of test. Only articles new to the corpus are split (same fractions, seed and stratification).
    placed: dict[str, str] = {}
    for name in ("train", "dev", "test"):
        path = corpus / "splits" / f"{name}.jsonl"
        if path.exists():
            placed.update({e.group: name for e in load_examples(path, cfg)})
    splits: dict[str, list] = {"train": [], "dev": [], "test": []}
    for e in examples:
        if e.group in placed:
            splits[placed[e.group]].append(e)
    new = [e for e in examples if e.group not in placed]
    if new:
        for name, exs in split_by_group(new, dev=0.15, test=0.18, stratify=["stance", "frame"], seed=seed).items():
            splits[name].extend(exs)
    for name, exs in splits.items():
        write_jsonl_atomic(corpus / "splits" / f"{name}.jsonl", (e.to_row(cfg) for e in exs))
        print(f"{name}: {len(exs)} sentences, {len({e.group for e in exs})} articles", file=sys.stderr)
    leaks, overlap = find_leaks(splits), group_overlap(splits)
    print(f"leakage: {len(leaks)} near-duplicate pairs, {len(overlap)} shared articles; {len(unresolved)} unresolved", file=sys.stderr)
    return 1 if unresolved or leaks or overlap else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m data.corpus", description="Build the authored starter corpus.")
    ap.add_argument("step", choices=["build", "finalize"])
    ap.add_argument("--corpus", default=str(CORPUS))
    args = ap.parse_args(argv)
    return build(Path(args.corpus)) if args.step == "build" else finalize(Path(args.corpus))


if __name__ == "__main__":
    raise SystemExit(main())
