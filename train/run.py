"""``train(config) -> metrics``: the training stage, importable; ``python -m train`` is a thin shell.

Read top to bottom: load and validate data → preprocess → fit (transformer or linear engine) →
calibrate on dev → score dev and test → save model, resolved config, metrics.json, model card.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from data.config import to_dict
from data.io import load_files
from data.schema import Example
from data.text import Preprocessor
from eval.metrics import classification_metrics, expected_calibration_error
from model.calibration import fit_temperature, softmax
from model.linear import LinearModel
from train.config import Config

log = logging.getLogger("train")

# split name -> (per-task logits, the (n, n_tasks) label matrix in the same row order)
LogitsFn = Callable[[str], tuple[dict[str, np.ndarray], np.ndarray]]


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


def load_splits(config: Config) -> dict[str, list[Example]]:
    """Read train/dev/test, reporting every problem in every file before failing."""
    names = [n for n in ("train", "dev", "test") if getattr(config.data, n) is not None]
    loaded = load_files([getattr(config.data, n) for n in names], config.data, require_labels=False)
    splits = dict(zip(names, loaded, strict=True))
    if not splits.get("train"):
        raise ValueError(f"no training data: data.train = {config.data.train!r}")
    for name, exs in splits.items():
        for task in config.data.tasks:
            if all(e.labels[task] is None for e in exs):
                log.warning("%s split has no labels for task %r", name, task)
    return splits


def label_matrix(examples: list[Example], tasks: dict[str, list[str]]) -> np.ndarray:
    """(n, n_tasks) int array of label ids in task order, -100 where a task is unlabelled."""
    out = np.full((len(examples), len(tasks)), -100, dtype=np.int64)
    for j, (task, labels) in enumerate(tasks.items()):
        index = {lab: i for i, lab in enumerate(labels)}
        for i, e in enumerate(examples):
            if e.labels.get(task) is not None:
                out[i, j] = index[e.labels[task]]
    return out


# ---------------------------------------------------------------------------------------------
# scoring (shared by both engines)
# ---------------------------------------------------------------------------------------------


def score_split(
    logits: dict[str, np.ndarray], y: np.ndarray, tasks: dict[str, list[str]], temperatures: dict[str, float]
) -> dict[str, Any]:
    """Per task: macro-F1, accuracy, per-class P/R/F1, confusion, ECE before and after calibration."""
    out: dict[str, Any] = {}
    for j, (task, labels) in enumerate(tasks.items()):
        keep = y[:, j] >= 0
        if not keep.any():
            continue
        lg, gold = logits[task][keep], y[keep, j]
        pred = lg.argmax(-1)
        m = classification_metrics([labels[i] for i in gold], [labels[i] for i in pred], labels)
        m["ece_uncalibrated"] = expected_calibration_error(softmax(lg), gold)
        m["ece"] = expected_calibration_error(softmax(lg, temperatures.get(task, 1.0)), gold)
        m["n"] = int(keep.sum())
        out[task] = m
    if out:
        out["mean_macro_f1"] = float(np.mean([v["macro_f1"] for k, v in out.items() if isinstance(v, dict)]))
    return out


def calibrate(dev_logits: dict[str, np.ndarray], y_dev: np.ndarray, tasks: dict[str, list[str]]) -> dict[str, float]:
    return {task: fit_temperature(dev_logits[task], y_dev[:, j]) for j, task in enumerate(tasks)}


# ---------------------------------------------------------------------------------------------
# the linear engine
# ---------------------------------------------------------------------------------------------


def _train_linear(config: Config, texts: dict[str, list[str]], ys: dict[str, np.ndarray]) -> tuple[Any, LogitsFn]:
    tasks = config.data.tasks
    labels = {task: ys["train"][:, j].tolist() for j, task in enumerate(tasks)}
    model = LinearModel.fit(texts["train"], labels, tasks, to_dict(config.model.linear), seed=config.training.seed)
    return model, lambda split: (model.logits(texts[split]), ys[split])


# ---------------------------------------------------------------------------------------------
# the transformer engine
# ---------------------------------------------------------------------------------------------


def _train_transformer(
    config: Config,
    texts: dict[str, list[str]],
    pairs: dict[str, list[str] | None],
    ys: dict[str, np.ndarray],
    resume: bool,
    callbacks: list | None,
) -> tuple[Any, LogitsFn, Any]:
    from transformers.trainer_utils import get_last_checkpoint

    from train.build import build_model_and_tokenizer
    from train.trainer import make_trainer

    ckpt_dir = Path(config.training.output_dir) / "checkpoints"
    last = get_last_checkpoint(str(ckpt_dir)) if resume and ckpt_dir.is_dir() else None
    if resume and last is None:
        raise ValueError(f"--resume: no complete checkpoint under {ckpt_dir}")
    # on resume the tokenizer comes from the checkpoint: a WordPiece vocabulary retrained from scratch
    # can order tied pieces differently, which would silently remap every token id
    model, tokenizer = build_model_and_tokenizer(config, texts["train"], ys["train"], tokenizer_from=last)
    trainer, datasets = make_trainer(config, model, tokenizer, texts, pairs, ys, callbacks)
    trainer.train(resume_from_checkpoint=last)

    def logits_fn(split: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
        # Labels come back with the predictions: the Trainer's evaluation loader may reorder rows
        # (length grouping), so pairing its predictions with our own label order would be wrong.
        out = trainer.predict(datasets[split])
        preds = out.predictions if isinstance(out.predictions, tuple) else (out.predictions,)
        logits = {task: np.asarray(p, dtype=np.float32) for task, p in zip(config.data.tasks, preds, strict=True)}
        return logits, np.asarray(out.label_ids, dtype=np.int64)

    return trainer.model, logits_fn, trainer


# ---------------------------------------------------------------------------------------------
# train(config)
# ---------------------------------------------------------------------------------------------


def _setup_logging(out: Path) -> logging.Handler:
    out.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("train", "transformers"):
        logging.getLogger(name).addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


def train(config: Config, resume: bool = False, callbacks: list | None = None) -> dict[str, Any]:
    """Train a model as ``config`` says and save it under ``config.training.output_dir``.

    Returns the metrics dict also written to ``metrics.json`` (dev and test, per task).
    """
    from transformers import set_seed

    set_seed(config.training.seed)
    out = Path(config.training.output_dir)
    is_main = int(os.environ.get("RANK", "0")) == 0
    handler = _setup_logging(out) if is_main else None
    started = time.time()
    try:
        splits = load_splits(config)
        spec = config.model.preprocessing_spec
        pre = Preprocessor(spec)
        texts = {name: pre.batch([e.text for e in exs]) for name, exs in splits.items()}
        pairs = {
            name: pre.batch([e.text_pair or "" for e in exs]) if config.data.text_pair_column else None
            for name, exs in splits.items()
        }
        ys = {name: label_matrix(exs, config.data.tasks) for name, exs in splits.items()}
        log.info("data: %s", {k: len(v) for k, v in splits.items()})

        trainer = None
        if config.model.engine == "linear":
            model, logits_fn = _train_linear(config, texts, ys)
        else:
            model, logits_fn, trainer = _train_transformer(config, texts, pairs, ys, resume, callbacks)

        scored = {name: logits_fn(name) for name in ("dev", "test") if name in splits}
        temperatures = {t: 1.0 for t in config.data.tasks}
        if config.training.calibrate and "dev" in scored:
            temperatures = calibrate(*scored["dev"], config.data.tasks)
        metrics: dict[str, Any] = {
            name: score_split(lg, y, config.data.tasks, temperatures) for name, (lg, y) in scored.items()
        }
        metrics["temperatures"] = temperatures
        metrics["n_examples"] = {k: len(v) for k, v in splits.items()}
        metrics["train_seconds"] = round(time.time() - started, 1)
        metrics["n_processes"] = trainer.args.world_size if trainer is not None else 1
        if is_main:
            _save(config, model, trainer, temperatures, metrics, out)
        return metrics
    finally:
        if handler is not None:
            for name in ("train", "transformers"):
                logging.getLogger(name).removeHandler(handler)
            handler.close()


def _save(config: Config, model: Any, trainer: Any, temperatures: dict[str, float], metrics: dict, out: Path) -> None:
    from train.card import write_model_card

    resolved = to_dict(config)
    if config.model.engine == "linear":
        model.config.update(
            {"temperatures": temperatures, "preprocessing": config.model.preprocessing_spec.to_dict(), "training_config": resolved}
        )
        model.save_pretrained(out)
    else:
        model.config.temperatures = temperatures
        model.config.training_config = resolved
        # not trainer.save_model: it adds training_args.bin, a pickle; everything here is safetensors/JSON
        model.save_pretrained(out)
        trainer.processing_class.save_pretrained(out)
    (out / "training_config.yaml").write_text(yaml.safe_dump(resolved, allow_unicode=True, sort_keys=False), encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    write_model_card(out, config, metrics)
    log.info("saved model to %s", out)
