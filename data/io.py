"""Readers for JSONL, CSV/TSV and anything ``datasets`` loads, with line-accurate problem reports.

``read_examples`` never stops at the first problem: it returns every good example and every
problem (file, line, message), so ``python -m data.validate`` can list them all at once and
training can refuse to start with the full list in front of the user.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from data.schema import DataConfig, Example, Problem

_EXT_FORMAT = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv",
    ".parquet": "parquet", ".json": "json", ".arrow": "arrow",
}  # fmt: skip


class DataError(ValueError):
    """Raised with every problem found, one per line of the message."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "\n".join(str(p) for p in problems[:50])
        more = f"\n… and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} data problem(s):\n{shown}{more}")


def detect_format(path: str | Path, fmt: str = "auto") -> str:
    if fmt != "auto":
        return fmt
    ext = Path(path).suffix.lower()
    if ext not in _EXT_FORMAT:
        raise ValueError(f"{path}: cannot tell the format from the extension {ext!r}; set data.format")
    return _EXT_FORMAT[ext]


def _decode_lines(path: Path) -> Iterator[tuple[int, str | Problem]]:
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield lineno, Problem(str(path), lineno, f"not valid UTF-8 (byte {e.start} of the line: {raw[e.start:e.start + 1]!r})")


def read_rows(path: str | Path, fmt: str = "auto") -> Iterator[tuple[int, dict[str, Any] | Problem]]:
    """Yield ``(line, row)`` or ``(line, Problem)`` for every record of a file."""
    path = Path(path)
    if not path.is_file():
        yield 0, Problem(str(path), 0, "file not found")
        return
    fmt = detect_format(path, fmt)
    if fmt == "jsonl":
        for lineno, text in _decode_lines(path):
            if isinstance(text, Problem):
                yield lineno, text
                continue
            if lineno == 1:
                text = text.removeprefix("\ufeff")  # byte-order mark from some Windows editors
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as e:
                yield lineno, Problem(str(path), lineno, f"malformed JSON: {e.msg} (column {e.colno})")
                continue
            if not isinstance(row, dict):
                yield lineno, Problem(str(path), lineno, f"expected a JSON object, got {type(row).__name__}")
                continue
            yield lineno, row
    elif fmt in ("csv", "tsv"):
        bad_lines = set()
        lines = []
        for lineno, text in _decode_lines(path):
            if isinstance(text, Problem):
                bad_lines.add(lineno)
                yield lineno, text
                text = ""
            lines.append(text)
        reader = csv.DictReader(io.StringIO("".join(lines), newline=""), delimiter="\t" if fmt == "tsv" else ",")
        start = 2  # line 1 is the header
        for row in reader:
            end = reader.line_num
            if not any(n in bad_lines for n in range(start, end + 1)):
                if None in row:
                    yield start, Problem(str(path), start, "more fields than the header has columns")
                else:
                    yield start, {k: v for k, v in row.items()}
            start = end + 1
    else:
        from datasets import load_dataset  # lazy: heavy import, only for the formats it adds

        ds = load_dataset(fmt, data_files=str(path), split="train")
        for i, row in enumerate(ds, start=1):
            yield i, dict(row)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def read_examples(
    path: str | Path, cfg: DataConfig, require_labels: bool = True
) -> tuple[list[Example], list[Problem]]:
    """Read a file into examples, collecting (not raising) every problem with its line."""
    examples: list[Example] = []
    problems: list[Problem] = []
    seen_ids: dict[str, int] = {}
    src = str(path)
    for lineno, row in read_rows(path, cfg.format):
        if isinstance(row, Problem):
            problems.append(row)
            continue
        errs: list[str] = []
        text = row.get(cfg.text_column)
        if cfg.text_column not in row:
            errs.append(f"missing field {cfg.text_column!r}")
        elif not isinstance(text, str):
            errs.append(f"field {cfg.text_column!r} must be a string, got {type(text).__name__}")
        elif not text.strip():
            errs.append(f"empty or whitespace-only {cfg.text_column!r}")
        labels: dict[str, str | None] = {}
        for task, valid in cfg.tasks.items():
            col = cfg.label_column(task)
            value = _as_text(row.get(col))
            if value is None or value == "":
                if require_labels:
                    errs.append(f"missing label field {col!r} (task {task!r})")
                labels[task] = None
            elif value not in valid:
                errs.append(f"unknown {task} label {value!r}; valid labels: {', '.join(valid)}")
                labels[task] = None
            else:
                labels[task] = value
        ex_id = _as_text(row.get(cfg.id_column)) if cfg.id_column else None
        if ex_id is not None:
            if ex_id in seen_ids:
                errs.append(f"duplicate id {ex_id!r} (first on line {seen_ids[ex_id]})")
            else:
                seen_ids[ex_id] = lineno
        if errs:
            problems.extend(Problem(src, lineno, e) for e in errs)
            continue
        examples.append(
            Example(
                text=text,
                labels=labels,
                id=ex_id,
                text_pair=_as_text(row.get(cfg.text_pair_column)) if cfg.text_pair_column else None,
                group=_as_text(row.get(cfg.group_column)) if cfg.group_column else None,
                meta={c: row.get(c) for c in cfg.metadata_columns if c in row},
                source=src,
                line=lineno,
            )
        )
    return examples, problems


def load_examples(path: str | Path, cfg: DataConfig, require_labels: bool = True) -> list[Example]:
    """Like ``read_examples`` but raise ``DataError`` listing every problem if there is any."""
    examples, problems = read_examples(path, cfg, require_labels)
    if problems:
        raise DataError(problems)
    return examples


class AtomicFile:
    """A text file written under a temporary name in its folder and renamed into place on ``commit``:
    readers never see half a file, and a crash leaves the old file (if any) untouched.

    Usable as a context manager (commit on success, abort on an exception).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o666 & ~umask)  # mkstemp makes files owner-only; outputs are meant to be shared
        self.stream = os.fdopen(fd, "w", encoding="utf-8", newline="")

    def commit(self) -> None:
        self.stream.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.stream.close()
        Path(self.tmp).unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.commit() if exc_type is None else self.abort()


def write_text_atomic(path: str | Path, text: str) -> None:
    with AtomicFile(path) as f:
        f.stream.write(text)


def load_files(paths: list[str | Path], cfg: DataConfig, require_labels: bool = True) -> list[list[Example]]:
    """``load_examples`` over several files, with every problem of every file in one ``DataError``
    (a file with no rows counts as a problem)."""
    out: list[list[Example]] = []
    problems: list[Problem] = []
    for path in paths:
        examples, probs = read_examples(path, cfg, require_labels)
        problems.extend(probs)
        if not examples and not probs:
            problems.append(Problem(str(path), 0, "no examples"))
        out.append(examples)
    if problems:
        raise DataError(problems)
    return out


def write_jsonl_atomic(path: str | Path, rows: list[dict[str, Any]] | Iterator[dict[str, Any]]) -> int:
    """Write rows as JSONL through a temp file + rename, so a crash never leaves half a file."""
    n = 0
    with AtomicFile(path) as f:
        for row in rows:
            f.stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n
