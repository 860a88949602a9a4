"""Inter-annotator agreement between two labelling passes over the same items.

Usage::

    python -m eval.agreement PASS1.jsonl PASS2.jsonl [--tasks stance frame] [--id-column id]
        [--labels stance=favor,against,neutral,unrelated] [--out report.md]

Each file has one JSON object per line with an id column and one string column per task. The
passes are joined on the id; every id must appear exactly once in each file. Prints Cohen's kappa,
observed agreement, per-label (positive specific) agreement and the confusion table per task as
Markdown, and writes the same report to ``--out`` if given.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from data.io import read_rows
from data.schema import Problem
from eval.metrics import agreement_report

__all__ = ["AgreementInputError", "agreement", "infer_tasks", "load_pass", "main", "to_markdown"]


class AgreementInputError(ValueError):
    """Bad input files: the message names the file (and line) at fault."""


Records = dict[str, tuple[int, dict[str, Any]]]  # id -> (line number, record)


def load_pass(path: str | Path, id_column: str) -> Records:
    """Read one pass: id -> (1-based line number, record). Blank lines are skipped."""
    path = Path(path)
    records: Records = {}
    if not path.is_file():
        raise AgreementInputError(f"{path}: cannot read: no such file")
    for lineno, record in read_rows(path, "jsonl"):  # the project's one JSONL reader (file:line errors)
        if isinstance(record, Problem):
            raise AgreementInputError(str(record))
        where = f"{path}:{lineno}"
        if id_column not in record:
            raise AgreementInputError(f"{where}: missing id column {id_column!r}")
        raw_id = record[id_column]
        # bool is an int subclass, but true/false are never meant as ids.
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or raw_id == "":
            raise AgreementInputError(f"{where}: id {raw_id!r} must be a non-empty string or an integer")
        item_id = str(raw_id)  # join 7 and "7" as the same item
        if item_id in records:
            raise AgreementInputError(
                f"{where}: duplicate id {item_id!r} (first on line {records[item_id][0]})"
            )
        records[item_id] = (lineno, record)
    if not records:
        raise AgreementInputError(f"{path}: no records")
    return records


def infer_tasks(passes: Sequence[Records], id_column: str) -> list[str]:
    """Columns that look like label columns: in every record of every pass, string values, no spaces.

    Free-text columns (the sentence itself) contain spaces and are skipped; pass ``tasks`` explicitly
    whenever the files carry other short string columns.
    """
    columns: set[str] | None = None
    for records in passes:
        for _, record in records.values():
            keys = {k for k, v in record.items() if isinstance(v, str) and not any(c.isspace() for c in v)}
            columns = keys if columns is None else columns & keys
    return sorted((columns or set()) - {id_column})


def _labels_of(
    task: str, passes: Sequence[tuple[Path, Records]], ids: list[str], given: Sequence[str] | None
) -> list[str]:
    seen: set[str] = set()
    for path, records in passes:
        for item_id in ids:
            lineno, record = records[item_id]
            if task not in record:
                raise AgreementInputError(f"{path}:{lineno}: missing column {task!r}")
            value = record[task]
            if not isinstance(value, str):
                raise AgreementInputError(f"{path}:{lineno}: {task!r} must be a string label, got {value!r}")
            if given is not None and value not in given:
                raise AgreementInputError(
                    f"{path}:{lineno}: {task!r} label {value!r} is not one of {list(given)}"
                )
            seen.add(value)
    # Given labels keep their order (and show unused labels); otherwise sort for a stable report.
    return list(given) if given is not None else sorted(seen)


def agreement(
    pass1_path: str | Path,
    pass2_path: str | Path,
    tasks: Sequence[str] | None = None,
    id_column: str = "id",
    labels: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Agreement between two passes, per task.

    ``tasks`` defaults to :func:`infer_tasks`. ``labels`` optionally maps a task to its label set
    (in report order); values outside it are an error. Without it, a task's labels are the values
    seen in either pass, sorted.

    Returns ``pass1``, ``pass2`` (paths as strings), ``id_column``, ``n_items`` and ``tasks``
    (task -> :func:`eval.metrics.agreement_report` dict). Raises :class:`AgreementInputError` on bad
    input: malformed JSON, a missing id or task column, duplicate ids, ids in only one file.
    """
    path1, path2 = Path(pass1_path), Path(pass2_path)
    pass1, pass2 = load_pass(path1, id_column), load_pass(path2, id_column)
    for this, that, this_path, that_path in ((pass1, pass2, path1, path2), (pass2, pass1, path2, path1)):
        only = [i for i in this if i not in that]
        if only:
            shown = ", ".join(repr(i) for i in only[:5]) + (" ..." if len(only) > 5 else "")
            raise AgreementInputError(
                f"{this_path}: {len(only)} id(s) not in {that_path}: {shown} "
                f"(first on line {this[only[0]][0]})"
            )
    if tasks is None:
        tasks = infer_tasks([pass1, pass2], id_column)
        if not tasks:
            raise AgreementInputError(f"{path1}: no label columns found; pass the task columns explicitly")
    tasks = list(tasks)
    if not tasks:
        raise AgreementInputError("no tasks given")
    unknown = set(labels or {}) - set(tasks)
    if unknown:
        raise AgreementInputError(f"labels given for unknown task(s) {sorted(unknown)}; tasks are {tasks}")
    ids = list(pass1)  # pass 1 file order
    per_task: dict[str, Any] = {}
    for task in tasks:
        given = (labels or {}).get(task)
        task_labels = _labels_of(task, [(path1, pass1), (path2, pass2)], ids, given)
        a = [pass1[i][1][task] for i in ids]
        b = [pass2[i][1][task] for i in ids]
        per_task[task] = agreement_report(a, b, task_labels)
    return {
        "pass1": str(path1),
        "pass2": str(path2),
        "id_column": id_column,
        "n_items": len(ids),
        "tasks": per_task,
    }


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|")


def _num(x: float | None) -> str:
    return "undefined" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def to_markdown(result: Mapping[str, Any]) -> str:
    """Render :func:`agreement` output as a Markdown report."""
    out = [
        "# Agreement between two labelling passes",
        "",
        f"- pass 1: `{result['pass1']}`",
        f"- pass 2: `{result['pass2']}`",
        f"- items (joined on `{result['id_column']}`): {result['n_items']}",
    ]
    for task, rep in result["tasks"].items():
        labels = rep["labels"]
        kappa = _num(rep["kappa"])
        if rep["kappa"] is None:
            kappa += " (chance agreement is 1: both passes gave every item the same label)"
        out += [
            "",
            f"## {task}",
            "",
            f"Cohen's κ = {kappa}; observed agreement = {_num(rep['observed_agreement'])}; "
            f"chance agreement = {_num(rep['expected_agreement'])}.",
            "",
            "| label | pass 1 | pass 2 | both | specific agreement |",
            "|---|---:|---:|---:|---:|",
        ]
        for label in labels:
            row = rep["per_label"][label]
            out.append(
                f"| {_cell(label)} | {row['n_a']} | {row['n_b']} | {row['n_both']} | "
                f"{_num(row['specific_agreement'])} |"
            )
        out += [
            "",
            "Confusion (rows: pass 1, columns: pass 2):",
            "",
            "| pass 1 \\ pass 2 | " + " | ".join(_cell(label) for label in labels) + " |",
            "|---|" + "---:|" * len(labels),
        ]
        for label, counts in zip(labels, rep["confusion"], strict=True):
            out.append(f"| {_cell(label)} | " + " | ".join(str(c) for c in counts) + " |")
    return "\n".join(out) + "\n"


def _parse_labels(specs: Sequence[str]) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for spec in specs:
        task, sep, values = spec.partition("=")
        names = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not task.strip() or not names:
            raise AgreementInputError(f"--labels {spec!r}: expected TASK=label1,label2,...")
        parsed[task.strip()] = names
    return parsed


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 2 bad input)."""
    parser = argparse.ArgumentParser(
        prog="python -m eval.agreement",
        description="Cohen's kappa and agreement tables between two labelling passes.",
    )
    parser.add_argument("pass1", help="JSONL file of the first pass")
    parser.add_argument("pass2", help="JSONL file of the second pass")
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=None,
        help="label columns to compare (default: every column holding a space-free string in all records)",
    )
    parser.add_argument("--id-column", default="id", help="column joining the two passes (default: id)")
    parser.add_argument(
        "--labels",
        action="append",
        default=[],
        metavar="TASK=L1,L2,...",
        help="label set of a task, in report order; repeat per task (default: labels seen, sorted)",
    )
    parser.add_argument("--out", help="also write the Markdown report to this file")
    args = parser.parse_args(argv)
    try:
        result = agreement(args.pass1, args.pass2, args.tasks, args.id_column, _parse_labels(args.labels))
        report = to_markdown(result)
        if args.out:
            try:
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                Path(args.out).write_text(report, encoding="utf-8")
            except OSError as exc:
                raise AgreementInputError(f"{args.out}: cannot write report: {exc}") from None
    except AgreementInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
