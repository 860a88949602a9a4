"""``python -m model.predict [INPUT …]``: articles in, per-sentence stance and frame out.

Inputs: .txt files, directories of .txt files, JSONL/CSV of articles (``id``, ``text``, any other
columns passed through as metadata), or stdin (``-`` or no argument). Output: one JSON line per
sentence (``--format csv`` for CSV) on stdout, or atomically into ``--out FILE``; per-article summaries
into ``--summary FILE`` (default ``OUT.summary.json`` with ``--out``), and as readable tables on a
terminal. Exit status: 0 all inputs tagged, 2 some inputs failed (the others' results are kept),
1 nothing could be tagged.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Iterator
from typing import IO, Any

from data.io import AtomicFile
from model.errors import ModelLoadError
from model.inputs import InputError, iter_inputs
from model.tagger import Article, ArticleResult, Tagger


def sentence_rows(result: ArticleResult, model_id: str) -> Iterator[dict[str, Any]]:
    for s in result.sentences:
        row: dict[str, Any] = {
            "article_id": s.article_id, "sentence_index": s.index, "start": s.start, "end": s.end, "text": s.text,
        }  # fmt: skip
        for task, label in s.labels.items():
            row[task] = label
            row[f"{task}_probs"] = s.probs[task]
        row["model"] = model_id
        if s.flags:
            row["flags"] = s.flags
        if result.meta:
            row["meta"] = result.meta
        yield row


def _csv_row(row: dict[str, Any]) -> dict[str, Any]:
    flat = {}
    for k, v in row.items():
        if k.endswith("_probs"):
            flat.update({f"{k[:-6]}_p_{lab}": p for lab, p in v.items()})
        elif isinstance(v, dict | list):
            flat[k] = json.dumps(v, ensure_ascii=False)
        else:
            flat[k] = v
    return flat


class RowWriter:
    """JSONL or CSV rows to a stream; the CSV header comes from the first row."""

    def __init__(self, stream: IO[str], fmt: str):
        self.stream, self.fmt, self._csv = stream, fmt, None

    def write(self, row: dict[str, Any]) -> None:
        if self.fmt == "jsonl":
            self.stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            return
        flat = _csv_row(row)
        if self._csv is None:
            self._csv = csv.DictWriter(self.stream, fieldnames=list(flat), extrasaction="ignore")
            self._csv.writeheader()
        self._csv.writerow(flat)


def format_table(result: ArticleResult, tasks: dict[str, list[str]], width: int = 70) -> str:
    """A readable per-article view for the terminal."""
    buf = io.StringIO()
    flags = f"  [{', '.join(result.flags)}]" if result.flags else ""
    buf.write(f"\n== {result.article_id} — {result.summary['n_sentences']} sentences{flags}\n")
    for s in result.sentences:
        text = s.text if len(s.text) <= width else s.text[: width - 1] + "…"
        labs = "  ".join(f"{s.labels[t]:<14}" for t in tasks)
        buf.write(f"{s.index:>4}  {labs}  {text}\n")
    for task, labels in tasks.items():
        ts = result.summary[task]
        shares = ts.get("shares_among_related", ts["shares"])
        basis = f"of {ts['n_related']} related" if "n_related" in ts else "of all"
        parts = "  ".join(f"{lab} {shares[lab]:.0%}" for lab in labels if lab in shares)
        net = f"  net {ts['net_score']:+.2f}" if "net_score" in ts else ""
        buf.write(f"  {task} ({basis}): {parts}{net}\n")
    return buf.getvalue()


def run(
    inputs: list[str], tagger: Tagger, out: IO[str], fmt: str = "jsonl", table: IO[str] | None = None,
    id_column: str = "id", text_column: str = "text", progress: bool = False,
) -> tuple[list[dict[str, Any]], list[InputError]]:  # fmt: skip
    """Tag every input, streaming rows to ``out``; returns (summaries, errors)."""
    from tqdm import tqdm

    errors: list[InputError] = []
    summaries: list[dict[str, Any]] = []

    def articles() -> Iterator[Article]:
        for item in iter_inputs(inputs, id_column=id_column, text_column=text_column):
            if isinstance(item, InputError):
                errors.append(item)
                print(f"error: {item}", file=sys.stderr)
            else:
                yield item

    writer = RowWriter(out, fmt)
    bar = tqdm(unit=" articles", disable=not progress, file=sys.stderr)
    for result in tagger.tag_articles(articles()):
        for row in sentence_rows(result, tagger.model_id):
            writer.write(row)
        summaries.append(result.summary_record())
        if "non_arabic" in result.flags:
            print(f"warning: {result.article_id}: mostly non-Arabic text; tagged, but labels are unreliable", file=sys.stderr)
        if table is not None:
            table.write(format_table(result, tagger.tasks))
        bar.update(1)
    bar.close()
    return summaries, errors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.predict", description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="*", help=".txt files, directories, JSONL/CSV of articles, or - for stdin")
    ap.add_argument("--model", default=None, help="model directory or hub id (default: the model shipped in the repo)")
    ap.add_argument("--out", help="write sentence rows here (atomically) instead of stdout")
    ap.add_argument("--format", choices=["jsonl", "csv"], default=None, help="default: from --out's extension, else jsonl")
    ap.add_argument("--summary", help="write per-article summaries (JSON) here; default OUT.summary.json with --out")
    ap.add_argument("--backend", choices=["torch", "onnx"], default="torch", help="transformer runtime (onnx: int8 export)")
    ap.add_argument("--batch-size", type=int, default=None, help="sentences per forward pass (default: 16 on CPU, 256 on GPU)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: all cores)")
    ap.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                    help="transformer weights: auto = bf16 where the hardware has bf16 matmuls, else fp32 (GPU: fp16)")
    ap.add_argument("--id-column", default="id", help="article id column in JSONL/CSV input")
    ap.add_argument("--text-column", default="text", help="article text column in JSONL/CSV input")
    args = ap.parse_args(argv)

    fmt = args.format or ("csv" if args.out and args.out.lower().endswith(".csv") else "jsonl")
    try:
        tagger = Tagger.load(
            args.model, backend=args.backend, threads=args.threads, batch_size=args.batch_size, precision=args.precision
        )
    except (ModelLoadError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"model: {tagger.model_id} ({', '.join(tagger.tasks)}; {tagger.runtime})", file=sys.stderr)

    tty_table = args.out is None and sys.stdout.isatty()
    sink = AtomicFile(args.out) if args.out else None
    out_stream: IO[str] = sink.stream if sink else (io.StringIO() if tty_table else sys.stdout)
    table = sys.stdout if tty_table else (sys.stderr if sys.stderr.isatty() else None)
    try:
        summaries, errors = run(
            args.inputs, tagger, out_stream, fmt, table, args.id_column, args.text_column, progress=sys.stderr.isatty()
        )
    except BaseException:
        if sink:
            sink.abort()
        raise
    if sink:
        sink.commit() if summaries else sink.abort()
    summary_path = args.summary or (f"{args.out}.summary.json" if args.out else None)
    if summary_path and summaries:
        s = AtomicFile(summary_path)
        json.dump(summaries, s.stream, ensure_ascii=False, indent=1)
        s.commit()
    n_sent = sum(x["summary"]["n_sentences"] for x in summaries)
    print(f"tagged {len(summaries)} article(s), {n_sent} sentence(s); {len(errors)} input error(s)", file=sys.stderr)
    if not summaries:
        return 1
    return 2 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
