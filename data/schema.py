"""What a dataset looks like: the tasks with their label sets, and how columns map onto them.

Nothing about stance or frames is hard-coded in the code: the default tasks live in
``configs/data/corpus.yaml`` and any other dataset declares its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class DataConfig:
    """Where the data is and how its columns map onto tasks (the ``data:`` section of a config)."""

    tasks: dict[str, list[str]] = field(default_factory=dict)
    """Task name -> ordered label list, e.g. ``{stance: [favor, against, neutral, unrelated]}``."""
    train: str | None = None
    """Training file (JSONL, CSV/TSV, or any format ``datasets`` loads: parquet, json, arrow)."""
    dev: str | None = None
    """Development file: early stopping, calibration and model selection use it."""
    test: str | None = None
    """Held-out test file, reported once after training."""
    format: str = "auto"
    """auto | jsonl | csv | tsv | parquet | json | arrow; auto picks by file extension."""
    text_column: str = "text"
    text_pair_column: str | None = None
    """Optional second text fed as a pair (e.g. a stance target such as «روسيا»)."""
    label_columns: dict[str, str] = field(default_factory=dict)
    """Task -> column holding its label; a task missing here reads the column named like the task."""
    id_column: str | None = "id"
    """Unique row id; duplicates are reported. Set to null for files without ids."""
    group_column: str | None = "article_id"
    """Rows sharing a group (an article) never straddle train/dev/test."""
    metadata_columns: list[str] = field(default_factory=list)
    """Columns passed through to outputs and used for breakdowns (outlet, date, topic)."""

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError("data.tasks is empty: declare at least one task with its labels")
        for name, labels in self.tasks.items():
            if len(labels) < 2:
                raise ValueError(f"task {name!r} needs at least two labels, got {labels}")
            if len(set(labels)) != len(labels):
                raise ValueError(f"task {name!r} has duplicate labels: {labels}")
        unknown = set(self.label_columns) - set(self.tasks)
        if unknown:
            raise ValueError(f"label_columns names unknown task(s) {sorted(unknown)}; tasks: {list(self.tasks)}")
        if self.format not in ("auto", "jsonl", "csv", "tsv", "parquet", "json", "arrow"):
            raise ValueError(f"unknown data format {self.format!r}")

    def label_column(self, task: str) -> str:
        return self.label_columns.get(task, task)

    @property
    def task_names(self) -> list[str]:
        return list(self.tasks)


@dataclass
class Example:
    """One labelled (or unlabelled) sentence, with where it came from for error messages."""

    text: str
    labels: dict[str, str | None]
    id: str | None = None
    text_pair: str | None = None
    group: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    line: int = 0

    def to_row(self, cfg: DataConfig) -> dict[str, Any]:
        """Back to a flat row in ``cfg``'s column names (for writing split files)."""
        row: dict[str, Any] = {}
        if cfg.id_column and self.id is not None:
            row[cfg.id_column] = self.id
        if cfg.group_column and self.group is not None:
            row[cfg.group_column] = self.group
        row[cfg.text_column] = self.text
        if cfg.text_pair_column:
            row[cfg.text_pair_column] = self.text_pair
        for task, label in self.labels.items():
            row[cfg.label_column(task)] = label
        row.update(self.meta)
        return row


@dataclass(frozen=True)
class Problem:
    """A data problem, always with its file and line (1-based; data row for CSV/parquet)."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"
