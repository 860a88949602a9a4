"""Errors with messages meant for users, and the label-map check every saved model passes on load
(kept free of heavy imports so the CLI starts fast)."""

from __future__ import annotations

from typing import Any


class ModelLoadError(RuntimeError):
    """A model could not be loaded or does not match what it claims to be; the message says why."""


def check_label_maps(cfg: dict[str, Any], where: str) -> None:
    """The tasks, their order and any id2label/label2id maps in config.json must agree."""
    tasks = cfg.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        raise ModelLoadError(f"{where}: config.json has no 'tasks' with label lists")
    order = cfg.get("task_order") or list(tasks)
    if sorted(order) != sorted(tasks):
        raise ModelLoadError(f"{where}: task_order {order} does not match tasks {sorted(tasks)}")
    for t, labels in tasks.items():
        if not isinstance(labels, list) or len(labels) < 2 or len(set(labels)) != len(labels):
            raise ModelLoadError(f"{where}: task {t!r} labels must be a list of ≥2 unique names, got {labels}")
        id2label = (cfg.get("task_id2label") or {}).get(t)
        if id2label is not None and {int(k): v for k, v in id2label.items()} != dict(enumerate(labels)):
            raise ModelLoadError(f"{where}: task {t!r}: task_id2label {id2label} does not match tasks {labels}")
        label2id = (cfg.get("task_label2id") or {}).get(t)
        if label2id is not None and label2id != {lab: i for i, lab in enumerate(labels)}:
            raise ModelLoadError(f"{where}: task {t!r}: task_label2id {label2id} does not match tasks {labels}")
