"""Where articles come from: .txt files, directories of them, JSONL/CSV of articles, or stdin.

``iter_inputs`` yields ``Article`` objects and ``InputError`` objects in input order; a bad input
never stops the others. Every error names the file (and line for JSONL/CSV).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from data.io import read_rows
from data.schema import Problem
from model.tagger import Article

TEXT_SUFFIXES = {".txt", ".text"}
TABLE_SUFFIXES = {".jsonl", ".ndjson", ".csv", ".tsv"}


@dataclass
class InputError:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def _read_text(path: Path) -> Article | InputError:
    try:
        raw = path.read_bytes()
    except OSError as e:
        return InputError(str(path), f"cannot read ({e.strerror})")
    if not raw.strip():
        return InputError(str(path), "empty file")
    if b"\x00" in raw[:8192]:
        return InputError(str(path), "looks like a binary file, not text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        return InputError(f"{path}:{line}", f"not valid UTF-8 text (byte offset {e.start}); re-save the file as UTF-8")
    return Article(id=path.stem, text=text, source=str(path))


def _read_table(path: Path, id_column: str, text_column: str) -> Iterator[Article | InputError]:
    seen = 0
    for line, row in read_rows(path):
        if isinstance(row, Problem):
            yield InputError(f"{row.path}:{row.line}", row.message)
            continue
        text = row.get(text_column)
        if not isinstance(text, str) or not text.strip():
            yield InputError(f"{path}:{line}", f"missing or empty {text_column!r} field")
            continue
        seen += 1
        art_id = str(row.get(id_column) if row.get(id_column) not in (None, "") else f"{path.stem}:{line}")
        meta = {k: v for k, v in row.items() if k not in (id_column, text_column)}
        yield Article(id=art_id, text=text, meta=meta, source=f"{path}:{line}")
    if seen == 0:
        yield InputError(str(path), "no articles found")


def iter_inputs(paths: list[str], id_column: str = "id", text_column: str = "text") -> Iterator[Article | InputError]:
    """Articles (and errors) from every path; ``-`` (or no path) reads one article from stdin."""
    if not paths:
        paths = ["-"]
    for p in paths:
        if p == "-":
            text = sys.stdin.read()
            yield Article(id="stdin", text=text, source="stdin") if text.strip() else InputError("stdin", "no text on standard input")
            continue
        path = Path(p)
        if path.is_dir():
            files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in TEXT_SUFFIXES)
            if not files:
                yield InputError(str(path), "directory has no .txt files")
            for f in files:
                yield _read_text(f)
        elif not path.exists():
            yield InputError(str(path), "no such file or directory")
        elif path.suffix.lower() in TABLE_SUFFIXES:
            yield from _read_table(path, id_column, text_column)
        else:
            yield _read_text(path)
