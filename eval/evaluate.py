"""Benchmark a saved model on held-out data: metrics with confidence intervals, calibration, plots,
breakdowns by metadata, the most confident mistakes, and baselines scored on the same data.

``evaluate(model_path, data_files, out_dir)`` is the importable entry point and writes
``out_dir/report.md``, ``out_dir/metrics.json`` and ``out_dir/plots/*.png``; ``python -m eval`` is a
thin shell around it (see ``eval/__main__.py``).

Conventions (all documented in the report as well):

- every score is computed over the task's full label list, so a label missing from the data or
  never predicted counts as F1 = 0 in macro-F1;
- confidence intervals are 95% percentile bootstrap intervals; when the data has a group column
  (the article), whole articles are resampled, because sentences of one article are not
  independent and item resampling would give intervals that are too narrow;
- probabilities come from ``Tagger.predict_proba``, i.e. after the model's own temperature scaling;
- a task whose labels include ``favor`` and ``against`` also gets F_avg (mean F1 of the two,
  SemEval-2016 Task 6 / StanceEval convention).

The helpers (``load_eval_examples``, ``task_predictions``, ``majority_label``, ``breakdown``, …) are
shared with ``eval.compare`` and kept pure where they can be, so they are tested on hand-made inputs.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from data.config import DEFAULT_DATA_CONFIG, ConfigError, load_data_config, read_yaml, to_dict
from data.io import DataError, load_files
from data.schema import DataConfig, Example
from eval.metrics import (
    DEFAULT_F_AVG_LABELS,
    accuracy,
    bootstrap_ci,
    classification_metrics,
    expected_calibration_error,
    f_avg,
    macro_f1,
    reliability_bins,
)
from model.errors import ModelLoadError

if TYPE_CHECKING:  # model.tagger loads the text pipeline; import it only when a model is loaded
    from model.tagger import Tagger

__all__ = [
    "CI_ALPHA",
    "LINEAR_CONFIG",
    "SYSTEM_ORDER",
    "EvalInputError",
    "TaskPredictions",
    "align_probs",
    "breakdown",
    "cluster_groups",
    "evaluate",
    "format_summary",
    "load_eval_examples",
    "majority_label",
    "metadata_keys",
    "one_line_error",
    "resolve_data_config",
    "score_system",
    "task_labels",
    "task_predictions",
    "to_markdown",
    "top_mistakes",
]

REPO = Path(__file__).resolve().parents[1]
LINEAR_CONFIG = REPO / "configs" / "linear.yaml"
CI_ALPHA = 0.05  # 95% intervals, the level every report in the field uses
SYSTEM_ORDER = ("model", "majority", "linear")
MISSING = "(missing)"
# Breakdown tables in the report stop after this many values of one column (metrics.json has all):
# a column like `position` has dozens of values, most too small to read anything from.
REPORT_MAX_VALUES = 20
# Below this many items a subgroup's macro-F1 swings by tenths with a handful of sentences.
SMALL_SUBGROUP = 30


class EvalInputError(ValueError):
    """Bad evaluation input (files, tasks, labels); the message names the file (and line) at fault."""


# --------------------------------------------------------------------------------------------------
# Inputs


def resolve_data_config(
    data_config: DataConfig | str | Path | None = None, overrides: Sequence[str] | None = None
) -> DataConfig:
    """A ``DataConfig`` as given, or the ``data:`` section of a config file (default: the corpus)."""
    if isinstance(data_config, DataConfig):
        if overrides:
            raise ValueError("overrides apply to a config file, not to a DataConfig object")
        return data_config
    return load_data_config(data_config or DEFAULT_DATA_CONFIG, list(overrides or []))


def load_eval_examples(data_files: Sequence[str | Path], cfg: DataConfig) -> list[Example]:
    """Read every file with ``cfg``'s column map, reporting every problem in every file at once.

    Labels may be missing on some rows (a task is then scored on the rows that have it); a file
    with no rows at all is an error.
    """
    if not data_files:
        raise EvalInputError("no data files given")
    return [e for exs in load_files(list(data_files), cfg, require_labels=False) for e in exs]


def one_line_error(exc: BaseException) -> str:
    """The message of ``exc`` on one line; a ``DataError`` shows its first problem and a count."""
    if isinstance(exc, DataError) and exc.problems:
        first = exc.problems[0]
        where = f"{first.path}:{first.line}" if first.line else first.path
        text = f"{where}: {first.message}"
        more = len(exc.problems) - 1
        if more:
            text += f" (and {more} more problem(s); list them all with python -m data.validate)"
        return text
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def cluster_groups(examples: Sequence[Example]) -> list[str] | None:
    """Bootstrap clusters (the group column, i.e. the article), or None when no row has a group.

    A row without a group becomes its own cluster rather than being pooled with other such rows.
    """
    if not any(e.group is not None for e in examples):
        return None
    return [e.group if e.group is not None else f"\0row{i}" for i, e in enumerate(examples)]


def task_labels(config_labels: Sequence[str], model_labels: Sequence[str]) -> list[str]:
    """The label list a task is scored over: the config's, then any label only the model knows."""
    return list(config_labels) + [lab for lab in model_labels if lab not in config_labels]


def align_probs(probs: np.ndarray, model_labels: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Reorder probability columns from the model's label order into ``labels`` (zeros where absent)."""
    out = np.zeros((probs.shape[0], len(labels)), dtype=np.float64)
    for j, lab in enumerate(model_labels):
        out[:, list(labels).index(lab)] = probs[:, j]
    return out


@dataclass
class TaskPredictions:
    """Gold labels, predictions and probabilities of one task on the rows that have a gold label."""

    labels: list[str]
    rows: list[int]
    gold: list[str]
    pred: list[str]
    probs: np.ndarray | None  # (n, len(labels)) in ``labels`` order; None for a baseline without them


def task_predictions(
    tagger: Tagger, examples: Sequence[Example], cfg: DataConfig
) -> dict[str, TaskPredictions]:
    """Run ``tagger`` once over ``examples`` and keep, per shared task, the rows with a gold label."""
    pairs = None
    if tagger.text_pair:
        if not cfg.text_pair_column:
            raise EvalInputError(
                f"{tagger.model_id}: the model was trained on text pairs; set data.text_pair_column"
            )
        pairs = [e.text_pair or "" for e in examples]
    probs = tagger.predict_proba([e.text for e in examples], pairs)
    out: dict[str, TaskPredictions] = {}
    for task, config_labels in cfg.tasks.items():
        if task not in tagger.tasks:
            continue
        labels = task_labels(config_labels, tagger.tasks[task])
        rows = [i for i, e in enumerate(examples) if e.labels.get(task) is not None]
        if not rows:
            continue
        p = align_probs(np.asarray(probs[task])[rows], tagger.tasks[task], labels)
        out[task] = TaskPredictions(
            labels=labels,
            rows=rows,
            gold=[str(examples[i].labels[task]) for i in rows],
            pred=[labels[j] for j in p.argmax(axis=1)],
            probs=p,
        )
    return out


# --------------------------------------------------------------------------------------------------
# Pure aggregation helpers


def majority_label(train_labels: Sequence[str | None], labels: Sequence[str]) -> str | None:
    """The most frequent label in ``train_labels`` (None entries ignored), or None if there is none.

    Ties go to the label listed first in ``labels``, so the baseline is deterministic.
    """
    counts = Counter(lab for lab in train_labels if lab is not None)
    if not counts:
        return None
    order = {lab: i for i, lab in enumerate(labels)}
    return min(counts, key=lambda lab: (-counts[lab], order.get(lab, len(order)), lab))


def _value_text(value: Any) -> str:
    if value is None or value == "":
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def metadata_keys(examples: Sequence[Example], column: str) -> list[list[str]]:
    """The breakdown value(s) of each example for a metadata column.

    List values (topics) are exploded: an item counts once under each of its values. A ``date``
    column gives the year (its first four digits). Missing values become ``"(missing)"``.
    """
    keys: list[list[str]] = []
    for e in examples:
        value = e.meta.get(column)
        if isinstance(value, list | tuple | set):
            items = [_value_text(v) for v in value]
            keys.append(sorted(set(items)) if items else [MISSING])
        elif column == "date" and value not in (None, ""):
            match = re.match(r"\s*(\d{4})", str(value))
            keys.append([match.group(1) if match else f"unparsed date {value!r}"])
        else:
            keys.append([_value_text(value)])
    return keys


def _natural_key(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def breakdown(
    keys: Sequence[Sequence[str]], gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """n, macro-F1 and accuracy of the items under each value; ``keys[i]`` lists item i's values.

    Within a subgroup macro-F1 averages the labels that occur in its gold *or* its predictions: a
    label that is in neither has an undefined F1 (0/0), and counting it as 0 would punish an outlet
    for not writing, say, any ``favor`` sentence. A label in gold but never predicted (or predicted
    but never in gold) still counts as 0. Values are ordered numerically when all are numbers
    (years, positions), otherwise by n, largest first.
    """
    if not len(keys) == len(gold) == len(pred):
        raise ValueError(f"keys, gold and pred differ in length: {len(keys)}, {len(gold)}, {len(pred)}")
    members: dict[str, list[int]] = {}
    for i, item_keys in enumerate(keys):
        for key in dict.fromkeys(item_keys):  # an item listing a value twice still counts once
            members.setdefault(key, []).append(i)
    out: dict[str, dict[str, Any]] = {}
    for key, idx in members.items():
        g, p = [gold[i] for i in idx], [pred[i] for i in idx]
        seen = set(g) | set(p)
        present = [lab for lab in labels if lab in seen]
        out[key] = {"n": len(idx), "macro_f1": macro_f1(g, p, labels=present), "accuracy": accuracy(g, p)}
    if all(_natural_key(k)[0] == 0 for k in out):
        order = sorted(out, key=_natural_key)
    else:
        order = sorted(out, key=lambda k: (-out[k]["n"], k))
    return {k: out[k] for k in order}


def top_mistakes(
    examples: Sequence[Example], gold: Sequence[str], pred: Sequence[str], confidence: Sequence[float], n: int
) -> list[dict[str, Any]]:
    """The ``n`` wrong predictions with the highest predicted probability (ties: file order)."""
    wrong = [i for i in range(len(gold)) if gold[i] != pred[i]]
    wrong.sort(key=lambda i: (-float(confidence[i]), i))
    return [
        {
            "id": examples[i].id,
            "where": f"{examples[i].source}:{examples[i].line}",
            "gold": gold[i],
            "pred": pred[i],
            "prob": float(confidence[i]),
            "text": examples[i].text,
        }
        for i in wrong[: max(0, n)]
    ]


def score_system(
    gold: Sequence[str],
    pred: Sequence[str],
    labels: Sequence[str],
    groups: Sequence[Hashable] | None,
    n_boot: int,
    seed: int,
    probs: np.ndarray | None = None,
) -> dict[str, Any]:
    """Every metric of one system on one task: point metrics, CIs, F_avg, ECE (when ``probs``)."""
    labels = list(labels)
    m = classification_metrics(gold, pred, labels)

    def ci(fn: Any) -> dict[str, Any]:
        return bootstrap_ci(gold, pred, labels, fn, n_boot=n_boot, alpha=CI_ALPHA, seed=seed, groups=groups)

    m["ci"] = {"macro_f1": ci(functools.partial(macro_f1, labels=labels)), "accuracy": ci(accuracy)}
    m["f_avg"] = None
    if all(lab in labels for lab in DEFAULT_F_AVG_LABELS):
        m["f_avg"] = f_avg(gold, pred)
        m["ci"]["f_avg"] = ci(f_avg)
    m["ece"], m["reliability"] = None, None
    if probs is not None:
        gold_idx = np.array([labels.index(g) for g in gold], dtype=np.int64)
        m["ece"] = expected_calibration_error(probs, gold_idx)
        m["reliability"] = reliability_bins(probs, gold_idx)
    return m


# --------------------------------------------------------------------------------------------------
# Baselines


def _linear_baseline(
    cfg: DataConfig, train_file: Path, data_files: Sequence[str | Path], out_dir: Path
) -> tuple[Tagger, dict[str, Any]]:
    """Train the linear engine (configs/linear.yaml) on ``train_file`` with ``cfg``'s column map."""
    from model.tagger import Tagger
    from train.config import load_config
    from train.run import train

    eval_paths = {Path(p).resolve() for p in data_files}
    dev = cfg.dev
    # Calibrating on the evaluated data would flatter the baseline's ECE; without a separate dev
    # file the baseline keeps temperature 1.
    if dev is None or not Path(dev).is_file() or Path(dev).resolve() in eval_paths:
        dev = None
    raw = read_yaml(LINEAR_CONFIG)
    raw["data"] = {**to_dict(cfg), "train": str(train_file), "dev": dev, "test": None}
    training = dict(raw.get("training") or {})
    training.update({"output_dir": str(out_dir), "progress_bar": False})
    raw["training"] = training
    train(load_config(raw))
    info = {
        "path": str(out_dir),
        "train": str(train_file),
        "calibrated_on": dev,
        "config": _display(LINEAR_CONFIG),
    }
    return Tagger.load(out_dir), info


def _baseline_train_file(train_file: str | Path | None, cfg: DataConfig, notes: list[str]) -> Path | None:
    """The baselines' train file, or None (with a note) when the config's default does not exist.

    A file named explicitly must exist (reading it reports it if not); the config's default may
    legitimately be absent, e.g. for a model evaluated on another dataset.
    """
    if train_file is not None:
        return Path(train_file)
    if cfg.train is None:
        notes.append("baselines skipped: no data.train in the config (pass --train FILE)")
        return None
    if not Path(cfg.train).is_file():
        notes.append(f"baselines skipped: train file {cfg.train} not found (pass --train FILE)")
        return None
    return Path(cfg.train)


def _baselines(
    cfg: DataConfig,
    train_path: Path,
    examples: list[Example],
    files: list[str],
    preds: dict[str, TaskPredictions],
    out: Path,
    notes: list[str],
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, TaskPredictions]]]:
    """Majority-class and linear-engine predictions on ``examples``, both learnt from ``train_path``."""
    if train_path.resolve() in {Path(f).resolve() for f in files}:
        notes.append(f"the baselines are trained on {train_path}, which is also evaluated here")
    train_examples = load_eval_examples([train_path], cfg)
    majority: dict[str, TaskPredictions] = {}
    majority_labels: dict[str, str] = {}
    for task, tp in preds.items():
        label = majority_label([e.labels.get(task) for e in train_examples], cfg.tasks[task])
        if label is None:
            notes.append(f"majority baseline: no {task!r} labels in {train_path}; skipped for that task")
            continue
        majority[task] = TaskPredictions(tp.labels, tp.rows, tp.gold, [label] * len(tp.gold), None)
        majority_labels[task] = label
    linear, info = _linear_baseline(cfg, train_path, files, out / "baselines" / "linear")
    systems = {"majority": {"train": str(train_path), "labels": majority_labels}, "linear": info}
    return systems, {"majority": majority, "linear": task_predictions(linear, examples, cfg)}


# --------------------------------------------------------------------------------------------------
# evaluate()


def _display(path: Path) -> str:
    """``path`` relative to the working directory when it is under it (shorter in reports)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _safe_name(task: str) -> str:
    return re.sub(r"[^\w.-]+", "_", task) or "task"


def _metadata_columns(examples: Sequence[Example], cfg: DataConfig) -> list[str]:
    return [c for c in cfg.metadata_columns if any(c in e.meta for e in examples)]


def _task_result(
    task: str,
    tp: TaskPredictions,
    examples: list[Example],
    groups_all: list[str] | None,
    baselines: dict[str, TaskPredictions],
    meta_columns: list[str],
    by_file: bool,
    out: Path,
    n_boot: int,
    seed: int,
    top_errors: int,
) -> dict[str, Any]:
    """Scores of the model and baselines, plots, breakdowns and mistakes for one task."""
    from eval.plots import plot_confusion, plot_reliability

    groups = [groups_all[i] for i in tp.rows] if groups_all is not None else None
    task_examples = [examples[i] for i in tp.rows]
    assert tp.probs is not None  # the model always has probabilities
    scores = {"model": score_system(tp.gold, tp.pred, tp.labels, groups, n_boot, seed, tp.probs)}
    for name, bp in baselines.items():
        probs = align_probs(bp.probs, bp.labels, tp.labels) if bp.probs is not None else None
        scores[name] = score_system(tp.gold, bp.pred, tp.labels, groups, n_boot, seed, probs)
    model = scores["model"]
    name = _safe_name(task)
    confusion_png = plot_confusion(
        model["confusion_matrix"], tp.labels, out / "plots" / f"confusion_{name}.png", f"{task}: confusion"
    )
    reliability_png = plot_reliability(
        model["reliability"], model["ece"], out / "plots" / f"reliability_{name}.png", f"{task}: reliability"
    )
    breakdowns: dict[str, Any] = {}
    if by_file:
        breakdowns["file"] = breakdown([[e.source] for e in task_examples], tp.gold, tp.pred, tp.labels)
    for column in meta_columns:
        keys = metadata_keys(task_examples, column)
        breakdowns["year" if column == "date" else column] = breakdown(keys, tp.gold, tp.pred, tp.labels)
    confidence = tp.probs.max(axis=1).tolist()
    return {
        "labels": tp.labels,
        "n": len(tp.rows),
        "n_groups": len(set(groups)) if groups is not None else None,
        "systems": scores,
        "breakdown": breakdowns,
        "mistakes": top_mistakes(task_examples, tp.gold, tp.pred, confidence, top_errors),
        "n_mistakes": sum(g != p for g, p in zip(tp.gold, tp.pred, strict=True)),
        "plots": {
            "confusion": str(confusion_png.relative_to(out)),
            "reliability": str(reliability_png.relative_to(out)),
        },
    }


def evaluate(
    model_path: str | Path,
    data_files: Sequence[str | Path],
    out_dir: str | Path,
    data_config: DataConfig | str | Path | None = None,
    train_file: str | Path | None = None,
    baselines: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
    top_errors: int = 20,
) -> dict[str, Any]:
    """Score ``model_path`` on ``data_files`` and write ``out_dir/report.md``, ``metrics.json``, plots.

    ``data_config`` is a ``DataConfig`` or a config file whose ``data:`` section maps the columns
    (default ``configs/data/corpus.yaml``). Baselines (majority class and the linear engine) are
    trained on ``train_file``, default the config's ``data.train``; when there is none they are
    skipped with a note. Returns the dict written to ``metrics.json``.

    Raises ``DataError`` (bad rows, with file:line), ``EvalInputError``/``ConfigError`` (bad
    input), ``ModelLoadError`` (bad model).
    """
    from model.tagger import Tagger  # lazy: keeps `python -m eval --help` fast

    if n_boot < 1:
        raise EvalInputError(f"n_boot must be >= 1, got {n_boot}")
    cfg = resolve_data_config(data_config)
    files = [str(p) for p in data_files]
    out = Path(out_dir)
    examples = load_eval_examples(files, cfg)
    tagger = Tagger.load(model_path)
    notes: list[str] = []
    preds = task_predictions(tagger, examples, cfg)
    for task in cfg.tasks:
        if task not in tagger.tasks:
            notes.append(f"task {task!r} is in the data config but the model has no head for it; skipped")
        elif task not in preds:
            notes.append(f"task {task!r}: no gold labels in the data; skipped")
    for task in tagger.tasks:
        if task not in cfg.tasks:
            notes.append(f"the model's task {task!r} is not in the data config; skipped")
    if not preds:
        raise EvalInputError(f"{files[0]}: no gold labels for any of the model's tasks {list(tagger.tasks)}")
    for task, tp in preds.items():
        extra = [lab for lab in tp.labels if lab not in cfg.tasks[task]]
        if extra:
            notes.append(f"task {task!r}: the model predicts labels {extra} that the data config lacks")

    groups_all = cluster_groups(examples)
    n_groups = len(set(groups_all)) if groups_all is not None else None
    if groups_all is None:
        notes.append("no group column in the data: the bootstrap resamples sentences, not articles")

    # ---- baselines
    systems: dict[str, dict[str, Any]] = {}
    baseline_preds: dict[str, dict[str, TaskPredictions]] = {}
    if baselines:
        train_path = _baseline_train_file(train_file, cfg, notes)
        if train_path is not None:
            systems, baseline_preds = _baselines(cfg, train_path, examples, files, preds, out, notes)
    systems = {"model": {"path": str(model_path), "temperatures": tagger.temperatures}, **systems}

    # ---- per task
    meta_columns = _metadata_columns(examples, cfg)
    tasks_out = {
        task: _task_result(
            task,
            tp,
            examples,
            groups_all,
            {n: b[task] for n, b in baseline_preds.items() if task in b},
            meta_columns,
            len(files) > 1,
            out,
            n_boot,
            seed,
            top_errors,
        )
        for task, tp in preds.items()
    }

    result: dict[str, Any] = {
        "model": tagger.model_id,
        "data_files": files,
        "n": len(examples),
        "n_groups": n_groups,
        "group_column": cfg.group_column if groups_all is not None else None,
        "n_boot": n_boot,
        "seed": seed,
        "ci_level": 1 - CI_ALPHA,
        "systems": systems,
        "notes": notes,
        "tasks": tasks_out,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "report.md").write_text(to_markdown(result), encoding="utf-8")
    return result


# --------------------------------------------------------------------------------------------------
# Rendering


def _f(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def _with_ci(value: float | None, ci: dict[str, Any] | None) -> str:
    if value is None:
        return "–"
    if ci is None:
        return _f(value)
    return f"{value:.3f} [{ci['ci_low']:.3f}, {ci['ci_high']:.3f}]"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _systems_of(task_result: dict[str, Any]) -> list[str]:
    present = task_result["systems"]
    return [s for s in SYSTEM_ORDER if s in present] + [s for s in present if s not in SYSTEM_ORDER]


def to_markdown(result: dict[str, Any]) -> str:
    """Render :func:`evaluate` output as the Markdown report."""
    level = f"{result['ci_level'] * 100:g}%"
    unit = (
        f"whole articles resampled (`{result['group_column']}`, {result['n_groups']} groups)"
        if result["group_column"]
        else "sentences resampled"
    )
    temps = ", ".join(f"{t} {v:.3f}" for t, v in result["systems"]["model"]["temperatures"].items())
    out = [
        f"# Evaluation of `{result['model']}`",
        "",
        "- data: " + ", ".join(f"`{f}`" for f in result["data_files"]) + f" ({result['n']} sentences)",
        f"- confidence intervals: {level} percentile bootstrap, {result['n_boot']} resamples, {unit}, "
        f"seed {result['seed']}",
        "- scores over each task's full label list (a label never predicted or absent counts as F1 = 0); "
        "F_avg = mean F1 of favor and against (SemEval-2016 / StanceEval)",
        "- ECE: 15 equal-width bins of top-label confidence, on the model's temperature-scaled "
        f"probabilities (temperatures: {temps})",
    ]
    if "majority" in result["systems"]:
        out.append(f"- majority baseline: most frequent label of `{result['systems']['majority']['train']}`")
    if "linear" in result["systems"]:
        info = result["systems"]["linear"]
        calib = f"calibrated on `{info['calibrated_on']}`" if info["calibrated_on"] else "not calibrated"
        out.append(
            f"- linear baseline: `{info['config']}` trained on `{info['train']}`, {calib}, "
            f"saved in `{info['path']}`"
        )
    for note in result["notes"]:
        out.append(f"- note: {note}")

    out += [
        "",
        "## Summary",
        "",
        f"| task | system | n | macro-F1 [{level} CI] | accuracy [{level} CI] | F_avg [{level} CI] | ECE |",
        "|---|---|---:|---|---|---|---:|",
    ]
    for task, tr in result["tasks"].items():
        for system in _systems_of(tr):
            s = tr["systems"][system]
            out.append(
                f"| {_cell(task)} | {system} | {s['n']} | {_with_ci(s['macro_f1'], s['ci']['macro_f1'])} | "
                f"{_with_ci(s['accuracy'], s['ci']['accuracy'])} | "
                f"{_with_ci(s['f_avg'], s['ci'].get('f_avg'))} | {_f(s['ece'])} |"
            )

    for task, tr in result["tasks"].items():
        m = tr["systems"]["model"]
        labels = tr["labels"]
        out += ["", f"## {task}", "", "### Per class (model)", ""]
        out += ["| label | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
        for lab in labels:
            c = m["per_class"][lab]
            out.append(
                f"| {_cell(lab)} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |"
            )
        out += ["", "### Confusion matrix (model; rows gold, columns predicted)", ""]
        out += ["| gold \\ predicted | " + " | ".join(_cell(lab) for lab in labels) + " |"]
        out += ["|---|" + "---:|" * len(labels)]
        for lab, row in zip(labels, m["confusion_matrix"], strict=True):
            out.append(f"| {_cell(lab)} | " + " | ".join(str(c) for c in row) + " |")
        out += ["", f"![{task} confusion matrix]({tr['plots']['confusion']})", ""]
        out += ["### Calibration (model)", "", f"ECE = {_f(m['ece'])}.", ""]
        out += [f"![{task} reliability diagram]({tr['plots']['reliability']})", ""]
        out += ["### Breakdown (model)", ""]
        if not tr["breakdown"]:
            out += ["No metadata columns in the data.", ""]
        else:
            out += [
                "Macro-F1 within a subgroup averages the labels that occur in its gold or predictions; "
                f"subgroups under {SMALL_SUBGROUP} sentences are noisy. Lists (topics) count an item once "
                "under each of its values.",
                "",
            ]
        for column, values in tr["breakdown"].items():
            out += [f"#### {column}", "", "| value | n | macro-F1 | accuracy |", "|---|---:|---:|---:|"]
            for value, row in list(values.items())[:REPORT_MAX_VALUES]:
                out.append(f"| {_cell(value)} | {row['n']} | {row['macro_f1']:.3f} | {row['accuracy']:.3f} |")
            if len(values) > REPORT_MAX_VALUES:
                out.append(f"| … {len(values) - REPORT_MAX_VALUES} more values in metrics.json | | | |")
            out.append("")
        shown = len(tr["mistakes"])
        out += [
            "### Most confident mistakes (model)",
            "",
            f"{tr['n_mistakes']} of {tr['n']} sentences are wrong; the {shown} with the highest predicted "
            "probability:",
            "",
        ]
        if shown:
            out += [
                "| # | prob | gold | predicted | id | file:line | text |",
                "|---:|---:|---|---|---|---|---|",
            ]
            for i, mk in enumerate(tr["mistakes"], start=1):
                out.append(
                    f"| {i} | {mk['prob']:.3f} | {_cell(mk['gold'])} | {_cell(mk['pred'])} | "
                    f"{_cell(mk['id'] or '')} | {_cell(mk['where'])} | {_cell(mk['text'])} |"
                )
    return "\n".join(out) + "\n"


def format_summary(result: dict[str, Any]) -> str:
    """One line per task per system, for the terminal."""
    lines = []
    for task, tr in result["tasks"].items():
        for system in _systems_of(tr):
            s = tr["systems"][system]
            ci = s["ci"]["macro_f1"]
            line = (
                f"{task:<10} {system:<9} macro-F1 {s['macro_f1']:.3f} [{ci['ci_low']:.3f}, {ci['ci_high']:.3f}]"
                f"  acc {s['accuracy']:.3f}"
            )
            if s["f_avg"] is not None:
                line += f"  F_avg {s['f_avg']:.3f}"
            if s["ece"] is not None:
                line += f"  ECE {s['ece']:.3f}"
            lines.append(line + f"  n={s['n']}")
    return "\n".join(lines)


# Errors a user can fix (bad files, config, model); anything else is a bug and keeps its traceback.
USER_ERRORS = (ConfigError, DataError, EvalInputError, ModelLoadError, ValueError, OSError)
