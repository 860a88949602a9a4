"""Round trip with annotation tools: model predictions out to Label Studio or doccano, labels back in.

    python -m data.exchange export --predictions preds.jsonl --to labelstudio --out tasks.json
    python -m data.exchange export --predictions preds.jsonl --to doccano --out tasks.jsonl
    python -m data.exchange import project-export.json [MORE …] --out labelled.jsonl [--format auto]
    python -m data.exchange labelstudio-config [--out configs/labelstudio.xml]

**Export** reads ``python -m model.predict`` (or ``python -m data.select``) JSONL rows and writes

- Label Studio tasks (a JSON array): ``data`` holds ``text``, ``article_id``, ``sentence_index``, ``id``
  (the sentence id, ``ARTICLE-NN`` as in the corpus) and the article's metadata; ``predictions`` holds one
  ``choices`` result per task, ``score`` = the mean over tasks of the chosen labels' probabilities. The
  labelling config matching the tasks is ``labelstudio_config(tasks)``; the one for the corpus tasks is
  shipped as ``configs/labelstudio.xml``.
- doccano JSONL for a text-classification project: ``text``, ``label`` (the predicted labels, imported by
  doccano as pre-annotations), ``sentence_id``, ``article_id``, ``sentence_index`` and the metadata.
  doccano has one flat label list per text, so a label that names a label of two tasks is written
  ``task:label``; every other label is written bare.

**Import** reads what the tools export and writes rows in the corpus schema (``id``, ``article_id``,
``position``, ``text``, one column per task, ``source`` = ``labelstudio``/``doccano``, the metadata,
and ``annotator`` when the export names one):

- ``labelstudio-json``: the full JSON export. Annotations with ``was_cancelled`` (``skipped`` in old
  versions) are ignored; a task with no other annotation is skipped (not a problem).
- ``labelstudio-min`` (JSON-MIN) and ``labelstudio-csv`` (CSV or TSV): one flat record per annotation
  with the task names as keys; a record with none of them is an unlabelled task and is skipped.
- ``doccano-jsonl`` (also a doccano JSON array) and ``doccano-csv``: ``label`` (or ``labels``) is a list
  in JSONL and a ``#``-joined string in CSV; an example with no label is skipped.

``--format auto`` (the default) tells them apart by content: a JSON array whose items have ``data`` or
``annotations`` is the full Label Studio export, one with ``label``/``labels`` keys is doccano, any other
is JSON-MIN; JSON lines are doccano; a CSV/TSV with a ``label``/``labels`` column is doccano, one with a
task-name column is Label Studio.

Which label wins: **the most recent annotation** of a sentence: the latest ``updated_at`` (else
``created_at``); without timestamps, or on a tie, the one later in the file. This applies to several
annotations of one Label Studio task (several annotators), to JSON-MIN/CSV, which have one record per
annotation, and to a sentence exported in two tasks; disagreements are counted in the summary.

The sentence id comes from ``sentence_id``, else (full Label Studio JSON) ``data.id``, else is rebuilt
from ``article_id`` and ``sentence_index``: in JSON-MIN, CSV and doccano exports ``id`` is the tool's own
task number, not ours. A row with none of these (text typed into the tool by hand) gets
``txt-`` + a hash of its normalised text, and no article.

Every problem is reported as ``file:line: message``; for a JSON array the "line" is the 1-based
position of the item in the array. Bad rows are skipped, the good ones written
(``write_jsonl_atomic``), and the exit status is 1 if there was any problem.
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from data.config import DEFAULT_DATA_CONFIG, ConfigError, load_data_config
from data.io import read_rows, write_jsonl_atomic, write_text_atomic
from data.schema import DataConfig, Problem

REPO = Path(__file__).resolve().parents[1]
SHIPPED_LABELSTUDIO_CONFIG = REPO / "configs" / "labelstudio.xml"

IMPORT_FORMATS = ("labelstudio-json", "labelstudio-min", "labelstudio-csv", "doccano-jsonl", "doccano-csv")
EXPORT_TARGETS = ("labelstudio", "doccano")

# Keys the tools (or our own export) add that are bookkeeping, not metadata of the sentence.
_TOOL_KEYS = frozenset({
    "id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time", "agreement",
    "annotations", "completions", "predictions", "drafts", "Comments", "comments", "username",
    "doc_id", "annotation_approver", "label", "labels", "meta",
})  # fmt: skip
_EXPORT_KEYS = frozenset({
    "text", "article_id", "sentence_index", "sentence_id", "position", "selection_score", "model",
    "score", "rank", "start", "end", "flags",
})  # fmt: skip
JSON_LINE_NOTE = (
    "for a JSON array the number after the file name is the item's position in the array (from 1)"
)


class ExchangeError(ValueError):
    """A whole file cannot be used (unknown format, unreadable); one line, naming the file."""


def sentence_id(article_id: str, index: int) -> str:
    """The corpus convention for sentence ids: ``w1-001`` sentence 3 is ``w1-001-03``."""
    return f"{article_id}-{index:02d}"


# ---------------------------------------------------------------------------------------------
# the Label Studio labelling config
# ---------------------------------------------------------------------------------------------


def labelstudio_config(tasks: dict[str, list[str]]) -> str:
    """Label Studio labelling config (XML) with one required single-choice control per task.

    Control names are the task names and the object is ``text``, which is what ``export`` writes and
    ``import`` reads; the sentence is shown right to left.
    """
    lines = [
        "<View>",
        "  <!-- One required single choice per task. Generated from the data config's tasks by",
        "       `python -m data.exchange labelstudio-config`; regenerate it when the tasks change. -->",
        '  <Header value="$article_id" size="6"/>',
        '  <View style="direction: rtl; text-align: right; font-size: 1.25em; line-height: 1.6">',
        '    <Text name="text" value="$text"/>',
        "  </View>",
    ]
    for task, labels in tasks.items():
        lines.append(f"  <Header value={quoteattr(task)}/>")
        attrs = 'toName="text" choice="single-radio" required="true" showInline="true"'
        lines.append(f"  <Choices name={quoteattr(task)} {attrs}>")
        lines.extend(f"    <Choice value={quoteattr(label)}/>" for label in labels)
        lines.append("  </Choices>")
    lines.append("</View>")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------------


def read_predictions(
    path: str | Path, tasks: dict[str, list[str]]
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Prediction rows (``model.predict`` JSONL) that carry a valid label and probabilities per task."""
    rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    src = str(path)
    for line, row in read_rows(path, "jsonl"):
        if isinstance(row, Problem):
            problems.append(row)
            continue
        errs = []
        if not isinstance(row.get("text"), str) or not row["text"].strip():
            errs.append("missing or empty 'text'")
        if row.get("article_id") in (None, ""):
            errs.append("missing 'article_id'")
        if _to_int(row.get("sentence_index")) is None:
            errs.append("missing or non-integer 'sentence_index'")
        for task, labels in tasks.items():
            label, probs = row.get(task), row.get(f"{task}_probs")
            if label not in labels:
                errs.append(
                    f"{task} label {label!r} is not one of {', '.join(labels)} (a model with other tasks?)"
                )
            elif not isinstance(probs, dict) or not isinstance(probs.get(label), int | float):
                errs.append(f"missing '{task}_probs' with the probability of {label!r}")
        if errs:
            problems.extend(Problem(src, line, e) for e in errs)
        else:
            rows.append(row)
    return rows, problems


def _meta_fields(row: dict[str, Any], reserved: Iterable[str]) -> dict[str, Any]:
    """The article's metadata from a prediction row, minus names the export itself uses."""
    taken = set(reserved)
    return {k: v for k, v in (row.get("meta") or {}).items() if k not in taken}


def to_labelstudio(rows: list[dict[str, Any]], tasks: dict[str, list[str]]) -> list[dict[str, Any]]:
    """One Label Studio task per sentence, with the model's labels as a prediction."""
    out = []
    for r in rows:
        idx = int(r["sentence_index"])
        data: dict[str, Any] = {
            "text": r["text"], "article_id": str(r["article_id"]), "sentence_index": idx,
            "id": sentence_id(str(r["article_id"]), idx),
        }  # fmt: skip
        if "score" in r:  # informativeness from data.select: lets annotators sort in the data manager
            data["selection_score"] = r["score"]
        data.update(_meta_fields(r, [*data, *tasks]))
        result = [
            {
                "id": f"pred-{task}",
                "from_name": task,
                "to_name": "text",
                "type": "choices",
                "value": {"choices": [r[task]]},
            }
            for task in tasks
        ]
        score = sum(float(r[f"{task}_probs"][r[task]]) for task in tasks) / len(tasks)
        out.append(
            {
                "data": data,
                "predictions": [
                    {"model_version": str(r.get("model", "")), "score": round(score, 4), "result": result}
                ],
            }
        )
    return out


def doccano_label_names(tasks: dict[str, list[str]]) -> dict[tuple[str, str], str]:
    """(task, label) -> the name doccano shows: bare, or ``task:label`` when two tasks share the label."""
    uses = Counter(label for labels in tasks.values() for label in labels)
    return {
        (t, lab): lab if uses[lab] == 1 else f"{t}:{lab}" for t, labels in tasks.items() for lab in labels
    }


def to_doccano(rows: list[dict[str, Any]], tasks: dict[str, list[str]]) -> list[dict[str, Any]]:
    """One doccano text-classification example per sentence, the predicted labels pre-annotated."""
    names = doccano_label_names(tasks)
    out = []
    for r in rows:
        idx = int(r["sentence_index"])
        ex: dict[str, Any] = {
            "text": r["text"], "label": [names[(t, r[t])] for t in tasks],
            "sentence_id": sentence_id(str(r["article_id"]), idx), "article_id": str(r["article_id"]),
            "sentence_index": idx,
        }  # fmt: skip
        if "score" in r:
            ex["selection_score"] = r["score"]
        ex.update(_meta_fields(r, [*ex, *tasks, "id"]))  # doccano numbers examples itself under "id"
        out.append(ex)
    return out


def export(predictions: str | Path, out: str | Path, to: str, cfg: DataConfig) -> tuple[int, list[Problem]]:
    """Write ``predictions`` as Label Studio tasks (``to="labelstudio"``) or doccano JSONL.

    Returns (sentences written, problems); rows with problems are left out.
    """
    if to not in EXPORT_TARGETS:
        raise ExchangeError(f"unknown export target {to!r}; choose one of {', '.join(EXPORT_TARGETS)}")
    if not Path(predictions).is_file():
        raise ExchangeError(f"{predictions}: file not found")
    rows, problems = read_predictions(predictions, cfg.tasks)
    if to == "labelstudio":
        write_text_atomic(
            out, json.dumps(to_labelstudio(rows, cfg.tasks), ensure_ascii=False, indent=1) + "\n"
        )
    else:
        write_jsonl_atomic(out, to_doccano(rows, cfg.tasks))
    return len(rows), problems


# ---------------------------------------------------------------------------------------------
# import: shared pieces
# ---------------------------------------------------------------------------------------------


@dataclass
class _Candidate:
    """One labelled sentence read from an export, before choosing among annotations of the same sentence."""

    id: str
    row: dict[str, Any]
    labels: dict[str, str | None]
    where: str
    stamp: float | None
    order: int


@dataclass
class ImportResult:
    """What ``import_files`` found: good rows (corpus schema), problems, and counts for the summary."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)


def _to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            f = float(value.strip())
        except ValueError:
            return None
        return int(f) if f.is_integer() else None
    return None


def _stamp(record: dict[str, Any]) -> float | None:
    """When an annotation was last touched (``updated_at``, else ``created_at``), as a POSIX time."""
    for key in ("updated_at", "created_at"):
        v = record.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
        if isinstance(v, str) and v.strip():
            try:
                return datetime.fromisoformat(v.strip().replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None


def _recency(stamp: float | None, order: int) -> tuple[float, int]:
    """Sort key for "the most recent annotation wins": timestamp first, then position in the file."""
    return (stamp if stamp is not None else float("-inf"), order)


def _cell(value: Any) -> Any:
    """A CSV cell back to a value: JSON (or a Python list repr, which pandas writes) where it parses."""
    if not isinstance(value, str):
        return value
    s = value.strip()
    if s[:1] in "[{":
        try:
            return json.loads(s)
        except ValueError:
            try:
                return ast.literal_eval(s)  # literals only: never executes anything
            except (ValueError, SyntaxError):
                return value
    return value


def _annotator(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("email") or value.get("username") or value.get("id")
    if value is None or value == "":
        return None
    return str(value)


def _check_choices(
    raw: dict[str, list[Any]], tasks: dict[str, list[str]]
) -> tuple[dict[str, str | None], list[str]]:
    """Per task: the one chosen label (or None), and every problem in the same words as data.validate."""
    labels: dict[str, str | None] = {}
    errs: list[str] = []
    for task, valid in tasks.items():
        chosen = raw.get(task) or []
        labels[task] = None
        if len(chosen) > 1:
            errs.append(f"{len(chosen)} {task} labels ({', '.join(map(str, chosen))}); expected one")
        elif chosen:
            label = chosen[0]
            if not isinstance(label, str) or label not in valid:
                errs.append(f"unknown {task} label {label!r}; valid labels: {', '.join(valid)}")
            else:
                labels[task] = label
    return labels, errs


def _text_hash_id(text: str) -> str:
    from data.split import normalise_for_matching  # lazy: pulls scikit-learn

    return "txt-" + hashlib.sha1(normalise_for_matching(text).encode("utf-8")).hexdigest()[:12]


def _candidate(
    fields: dict[str, Any], labels: dict[str, str | None], tool: str, cfg: DataConfig, src: str, n: int,
    stamp: float | None, own_id: Any = None, annotator: str | None = None,
) -> _Candidate | str:  # fmt: skip
    """The corpus row for record ``n`` of ``src`` with its chosen ``labels``, or why it cannot be one."""
    text = fields.get("text")
    if not isinstance(text, str) or not text.strip():
        return "missing or empty 'text'"
    art = fields.get("article_id")
    art = None if art in (None, "") else str(art)
    idx = _to_int(fields.get("sentence_index", fields.get("position")))
    sid = fields.get("sentence_id")
    if sid not in (None, ""):
        sid = str(sid)
    elif own_id not in (None, ""):
        sid = str(own_id)
    elif art is not None and idx is not None:
        sid = sentence_id(art, idx)
    else:
        sid = _text_hash_id(text)
    row: dict[str, Any] = {cfg.id_column or "id": sid}
    if art is not None:
        row[cfg.group_column or "article_id"] = art
    if idx is not None:
        row["position"] = idx
    row[cfg.text_column] = text
    for task, label in labels.items():
        row[cfg.label_column(task)] = label
    row["source"] = tool
    if annotator:
        row["annotator"] = annotator
    meta = dict(fields["meta"]) if isinstance(fields.get("meta"), dict) else {}  # old doccano nests it
    meta.update({k: _cell(v) for k, v in fields.items() if k not in _TOOL_KEYS and k not in _EXPORT_KEYS})
    for k, v in meta.items():
        if k not in row and k not in labels:
            row[k] = v
    return _Candidate(str(sid), row, labels, f"{src}:{n}", stamp, n)


def _finish_labels(
    labels: dict[str, str | None], errs: list[str], allow_partial: bool
) -> tuple[str, list[str]]:
    """Whether a record is ``ok``, ``unlabelled`` (nothing chosen: skipped quietly) or ``bad`` (+ why)."""
    if errs:
        return "bad", errs
    missing = [t for t, lab in labels.items() if lab is None]
    if len(missing) == len(labels):
        return "unlabelled", []
    if missing and not allow_partial:
        return "bad", [f"no {t} label (label every task, or import with --allow-partial)" for t in missing]
    return "ok", []


# ---------------------------------------------------------------------------------------------
# import: the formats
# ---------------------------------------------------------------------------------------------


def _load_json(path: Path) -> list[Any] | Problem:
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        return Problem(str(path), 0, f"not valid UTF-8 (byte offset {e.start})")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        return Problem(str(path), e.lineno, f"malformed JSON: {e.msg} (column {e.colno})")
    if isinstance(data, dict):  # a single task saved on its own
        data = [data]
    if not isinstance(data, list):
        return Problem(str(path), 1, f"expected a JSON array of tasks, got {type(data).__name__}")
    return data


def _ls_json(
    path: Path, items: list[Any], cfg: DataConfig, res: ImportResult, allow_partial: bool
) -> Iterator[_Candidate]:
    """Full Label Studio export: the most recent non-cancelled annotation of each task."""
    src = str(path)
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("data"), dict):
            res.problems.append(Problem(src, n, "not a Label Studio task (no 'data' object)"))
            continue
        who = f"task {item['id']}: " if item.get("id") is not None else ""
        anns = item.get("annotations", item.get("completions")) or []
        if not isinstance(anns, list):
            res.problems.append(Problem(src, n, f"{who}'annotations' is not a list"))
            continue
        live = [
            (i, a) for i, a in enumerate(anns)
            if isinstance(a, dict) and not a.get("was_cancelled") and not a.get("skipped")
        ]  # fmt: skip
        res.counts["cancelled annotations"] += len(anns) - len(live)
        if not live:
            res.counts["tasks without an annotation"] += 1
            continue
        parsed = []
        for i, a in live:
            raw: dict[str, list[Any]] = {}
            errs = []
            result = a.get("result") or []
            for r in result if isinstance(result, list) else []:
                if not isinstance(r, dict):
                    continue
                name = r.get("from_name")
                if name not in cfg.tasks:
                    res.counts[f"results of other controls ignored ({name})"] += 1
                    continue
                choices = (r.get("value") or {}).get("choices")
                if not isinstance(choices, list):
                    errs.append(f"{name} result has no 'choices' list")
                    continue
                raw.setdefault(name, []).extend(choices)
            labels, label_errs = _check_choices(raw, cfg.tasks)
            parsed.append((_stamp(a), i, a, labels, errs + label_errs))
        stamp, _, ann, labels, errs = max(parsed, key=lambda p: _recency(p[0], p[1]))
        if len({tuple(p[3].items()) for p in parsed}) > 1:
            res.counts["tasks whose annotators disagreed (most recent kept)"] += 1
        status, errs = _finish_labels(labels, errs, allow_partial)
        if status == "unlabelled":
            errs = ["the most recent annotation has no label for any task"]
        if errs:
            res.problems.extend(Problem(src, n, f"{who}{e}") for e in errs)
            continue
        data = item["data"]
        cand = _candidate(
            data,
            labels,
            "labelstudio",
            cfg,
            src,
            n,
            stamp,
            data.get("id"),
            _annotator(ann.get("completed_by")),
        )
        if isinstance(cand, str):
            res.problems.append(Problem(src, n, f"{who}{cand}"))
        else:
            yield cand


def _dict_records(
    src: str, records: Iterable[tuple[int, dict[str, Any] | Problem]], res: ImportResult
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The flat records of a JSON-MIN/CSV/doccano file; read problems and non-objects go to ``res``."""
    for n, rec in records:
        if isinstance(rec, Problem):
            res.problems.append(rec)
        elif not isinstance(rec, dict):
            res.problems.append(Problem(src, n, f"expected an object, got {type(rec).__name__}"))
        else:
            yield n, {k.lstrip("\ufeff"): v for k, v in rec.items()}  # a CSV header may start with a BOM


def _emit(
    rec: dict[str, Any], labels: dict[str, str], status: str, errs: list[str], source: str, unlabelled_key: str,
    annotator: str | None, cfg: DataConfig, src: str, n: int, res: ImportResult,
) -> Iterator[_Candidate]:  # fmt: skip
    """Turn one checked record into a candidate row, or record why not."""
    if status == "unlabelled":
        res.counts[unlabelled_key] += 1
        return
    if errs:
        res.problems.extend(Problem(src, n, e) for e in errs)
        return
    cand = _candidate(rec, labels, source, cfg, src, n, _stamp(rec), annotator=annotator)
    if isinstance(cand, str):
        res.problems.append(Problem(src, n, cand))
    else:
        yield cand


def _flat_choices(value: Any) -> list[Any]:
    """A task's value in a JSON-MIN/CSV record: "favor", {"choices": [...]}, a list, or empty."""
    value = _cell(value)
    if value is None or value == "":
        return []
    if isinstance(value, dict):
        value = value.get("choices", [])
    return list(value) if isinstance(value, list) else [value]


def _ls_flat(
    path: Path,
    records: Iterable[tuple[int, dict[str, Any] | Problem]],
    cfg: DataConfig,
    res: ImportResult,
    allow_partial: bool,
) -> Iterator[_Candidate]:
    """JSON-MIN and CSV: one flat record per annotation, the task names as keys."""
    src = str(path)
    for n, rec in _dict_records(src, records, res):
        labels, errs = _check_choices({t: _flat_choices(rec.get(t)) for t in cfg.tasks}, cfg.tasks)
        status, errs = _finish_labels(labels, errs, allow_partial)
        yield from _emit(rec, labels, status, errs, "labelstudio", "unlabelled tasks", _annotator(rec.get("annotator")),
                         cfg, src, n, res)  # fmt: skip


def _doccano(
    path: Path,
    records: Iterable[tuple[int, dict[str, Any] | Problem]],
    cfg: DataConfig,
    res: ImportResult,
    allow_partial: bool,
) -> Iterator[_Candidate]:
    """doccano text classification: one flat label list per text, mapped back to the tasks."""
    src = str(path)
    # name -> the (task, label) pairs it can mean: "task:label" one, a bare label one per task that has it
    owners: dict[str, list[tuple[str, str]]] = {}
    for task, labels_of_task in cfg.tasks.items():
        for label in labels_of_task:
            owners.setdefault(label, []).append((task, label))
            owners[f"{task}:{label}"] = [(task, label)]
    for n, rec in _dict_records(src, records, res):
        value = rec.get("label", rec.get("labels"))
        if isinstance(value, str):
            value = [v.strip() for v in value.split("#") if v.strip()]  # doccano CSV joins labels with '#'
        value = value or []
        raw: dict[str, list[Any]] = {}
        errs = []
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str):
                errs.append(f"label {item!r} is not a category name (a sequence-labelling export?)")
                continue
            targets = owners.get(item, [])
            if not targets:
                valid = "; ".join(f"{t}: {', '.join(ls)}" for t, ls in cfg.tasks.items())
                errs.append(f"unknown label {item!r}; valid labels: {valid}")
            elif len(targets) > 1:
                errs.append(
                    f"label {item!r} belongs to {' and '.join(t for t, _ in targets)}; write it as task:label"
                )
            else:
                raw.setdefault(targets[0][0], []).append(targets[0][1])
        labels, label_errs = _check_choices(raw, cfg.tasks)
        status, errs = _finish_labels(labels, errs + label_errs, allow_partial)
        who = _annotator(rec.get("username") or rec.get("annotator"))
        yield from _emit(rec, labels, status, errs, "doccano", "unlabelled examples", who, cfg, src, n, res)


def _csv_kind(path: Path) -> str:
    with path.open(encoding="utf-8-sig", errors="replace") as f:
        header = f.readline()
    return "tsv" if header.count("\t") > header.count(",") else "csv"


def detect_import_format(path: str | Path, tasks: Iterable[str]) -> str:
    """Which tool and export format wrote ``path``, from its content (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ExchangeError(f"{path}: file not found")
    with path.open(encoding="utf-8-sig", errors="replace") as f:
        head = f.read(1 << 16)
    start = head.lstrip()[:1]
    if not start:
        raise ExchangeError(f"{path}: empty file")
    if start in "[{":
        data = _load_json(path)
        if isinstance(data, Problem) and start == "[":
            raise ExchangeError(str(data))
        if isinstance(data, list):
            dicts = [x for x in data if isinstance(x, dict)]
            if any("data" in x or "annotations" in x or "completions" in x for x in dicts):
                return "labelstudio-json"
            if any("label" in x or "labels" in x for x in dicts):
                return "doccano-jsonl"  # doccano's JSON export: the same records as an array
            return "labelstudio-min"
        # more than one JSON document: JSON lines, which only doccano writes
        for _, row in read_rows(path, "jsonl"):
            if isinstance(row, dict):
                if "label" in row or "labels" in row:
                    return "doccano-jsonl"
                break
        raise ExchangeError(
            f"{path}: JSON lines without a 'label' field; cannot tell the format, pass --format"
        )
    header = next(csv.reader([head.splitlines()[0]], delimiter="\t" if _csv_kind(path) == "tsv" else ","))
    cols = {c.strip().lstrip("\ufeff") for c in header}
    if cols & {"label", "labels"}:
        return "doccano-csv"
    if cols & set(tasks):
        return "labelstudio-csv"
    raise ExchangeError(
        f"{path}: cannot tell the format (a CSV header without 'label' or a task column: "
        f"{', '.join(tasks)}); pass --format"
    )


def _candidates(
    path: Path, fmt: str, cfg: DataConfig, res: ImportResult, allow_partial: bool
) -> Iterator[_Candidate]:
    is_array = path.read_text(encoding="utf-8-sig", errors="replace").lstrip()[:1] == "["
    if fmt in ("labelstudio-json", "labelstudio-min") or (fmt == "doccano-jsonl" and is_array):
        data = _load_json(path)
        if isinstance(data, Problem):
            res.problems.append(data)
            return
        if fmt == "labelstudio-json":
            yield from _ls_json(path, data, cfg, res, allow_partial)
        elif fmt == "labelstudio-min":
            yield from _ls_flat(path, enumerate(data, start=1), cfg, res, allow_partial)
        else:
            yield from _doccano(path, enumerate(data, start=1), cfg, res, allow_partial)
    elif fmt == "doccano-jsonl":
        yield from _doccano(path, read_rows(path, "jsonl"), cfg, res, allow_partial)
    elif fmt in ("labelstudio-csv", "doccano-csv"):
        records = read_rows(path, _csv_kind(path))
        yield from (_ls_flat if fmt == "labelstudio-csv" else _doccano)(
            path, records, cfg, res, allow_partial
        )
    else:
        raise ExchangeError(
            f"unknown import format {fmt!r}; choose auto or one of {', '.join(IMPORT_FORMATS)}"
        )


def import_files(
    paths: list[str | Path], cfg: DataConfig, fmt: str = "auto", allow_partial: bool = False
) -> ImportResult:
    """Read annotation exports into corpus rows, one per sentence (the most recent annotation wins).

    Raises ``ExchangeError`` for a file that cannot be used at all; row-level problems are collected
    in ``ImportResult.problems`` and those rows left out.
    """
    res = ImportResult()
    cands: list[_Candidate] = []
    for i, p in enumerate(paths):
        path = Path(p)
        if not path.is_file():
            raise ExchangeError(f"{path}: file not found")
        f = detect_import_format(path, cfg.tasks) if fmt == "auto" else fmt
        res.formats[str(path)] = f
        for c in _candidates(path, f, cfg, res, allow_partial):
            c.order = i * 10**9 + c.order  # later files count as later in the file order
            cands.append(c)
    best: dict[str, _Candidate] = {}
    seen: dict[str, list[_Candidate]] = {}
    for c in cands:
        seen.setdefault(c.id, []).append(c)
        if c.id not in best or _recency(c.stamp, c.order) >= _recency(best[c.id].stamp, best[c.id].order):
            best[c.id] = c
    for sid, group in seen.items():
        if len(group) > 1:
            res.counts["sentences with several annotations (most recent kept)"] += 1
            if len({tuple(g.labels.items()) for g in group}) > 1:
                wheres = ", ".join(g.where for g in group)
                res.notes.append(
                    f"{sid}: {len(group)} annotations disagree ({wheres}); kept {best[sid].where}"
                )
    res.rows = [best[sid].row for sid in seen]  # first-seen order, most recent labels
    return res


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m data.exchange", description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", default=DEFAULT_DATA_CONFIG, help="config whose data: section declares the tasks"
    )
    common.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    sub = ap.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", parents=[common], help="predictions -> Label Studio tasks or doccano JSONL")
    ex.add_argument(
        "--predictions", required=True, metavar="FILE", help="JSONL from model.predict or data.select"
    )
    ex.add_argument("--to", required=True, choices=EXPORT_TARGETS)
    ex.add_argument(
        "--out", required=True, metavar="FILE", help="tasks.json (Label Studio) or tasks.jsonl (doccano)"
    )
    im = sub.add_parser(
        "import", parents=[common], help="Label Studio / doccano export -> corpus rows (JSONL)"
    )
    im.add_argument("files", nargs="+", metavar="FILE", help="export file(s) from Label Studio or doccano")
    im.add_argument("--out", required=True, metavar="FILE", help="labelled rows in the corpus schema (JSONL)")
    im.add_argument("--format", default="auto", choices=("auto", *IMPORT_FORMATS))
    im.add_argument(
        "--allow-partial", action="store_true", help="keep rows that label only some tasks (others null)"
    )
    lc = sub.add_parser(
        "labelstudio-config", parents=[common], help="the Label Studio labelling config (XML)"
    )
    lc.add_argument("--out", metavar="FILE", help="write it here (default: stdout)")
    args = ap.parse_args(argv)

    try:
        cfg = load_data_config(args.config, args.overrides)
        if args.command == "labelstudio-config":
            xml = labelstudio_config(cfg.tasks)
            if args.out:
                write_text_atomic(args.out, xml)
            else:
                sys.stdout.write(xml)
            return 0
        if args.command == "export":
            n, problems = export(args.predictions, args.out, args.to, cfg)
            for p in problems:
                print(p, file=sys.stderr)
            print(
                f"exported {n} sentence(s) to {args.out} ({args.to}); {len(problems)} problem(s)",
                file=sys.stderr,
            )
            return 1 if problems or n == 0 else 0
        res = import_files(args.files, cfg, args.format, args.allow_partial)
    except (ConfigError, ExchangeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for p in res.problems:
        print(p, file=sys.stderr)
    if res.problems and any(f in ("labelstudio-json", "labelstudio-min") for f in res.formats.values()):
        print(f"note: {JSON_LINE_NOTE}", file=sys.stderr)
    for note in res.notes:
        print(f"note: {note}", file=sys.stderr)
    write_jsonl_atomic(args.out, res.rows)
    formats = ", ".join(f"{k} ({v})" for k, v in res.formats.items())
    counts = "".join(f"; {v} {k}" for k, v in sorted(res.counts.items()) if v)
    print(f"imported {len(res.rows)} labelled sentence(s) from {formats} to {args.out}{counts}; "
          f"{len(res.problems)} problem(s)", file=sys.stderr)  # fmt: skip
    if not res.rows and not res.problems:
        print("error: no labelled sentence found", file=sys.stderr)
        return 1
    return 1 if res.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
