"""The transformers ``Trainer``, subclassed only to add hooks; and the wiring that builds it.

Why the Trainer (and not a hand-written accelerate loop): it already gives early stopping, best
checkpoint, warmup + linear decay, gradient accumulation, bf16/fp16, DDP under ``accelerate launch``
and exact resume (optimizer, scheduler, RNG and data-order state). We add multi-task metrics and a
JSON-lines log file.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from sklearn.metrics import f1_score
from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, TrainingArguments

from train.config import Config

log = logging.getLogger("train")


class MultiTaskTrainer(Trainer):
    """Trainer whose only change is that every log record also goes to ``train.log`` as JSON."""

    log_path: Path | None = None

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        super().log(logs, *args, **kwargs)
        if self.log_path is not None and self.is_world_process_zero():
            with self.log_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"step": self.state.global_step, **logs}) + "\n")


def multitask_metrics(tasks: dict[str, list[str]]):
    """compute_metrics for the Trainer: macro-F1 per task and their mean (the early-stopping metric)."""

    def compute(eval_pred) -> dict[str, float]:
        preds = eval_pred.predictions if isinstance(eval_pred.predictions, tuple) else (eval_pred.predictions,)
        labels = eval_pred.label_ids
        out = {}
        for j, (task, names) in enumerate(tasks.items()):
            keep = labels[:, j] >= 0
            if keep.any():
                out[f"{task}_macro_f1"] = float(
                    f1_score(labels[keep, j], preds[j][keep].argmax(-1), labels=list(range(len(names))), average="macro", zero_division=0)
                )
        out["mean_macro_f1"] = float(np.mean(list(out.values()))) if out else 0.0
        return out

    return compute


def _precision(choice: str) -> dict[str, bool]:
    if choice == "auto":
        if torch.cuda.is_available():
            return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}
        return {}
    return {"bf16": choice == "bf16", "fp16": choice == "fp16"}


def tokenize(tokenizer, texts: list[str], pairs: list[str] | None, max_length: int) -> dict[str, list]:
    """Tokenise once, without padding: the collator pads each batch to its own longest sentence."""
    return dict(tokenizer(texts, pairs, truncation=True, max_length=max_length))


def make_trainer(config: Config, model, tokenizer, texts, pairs, ys, callbacks=None):
    t = config.training
    datasets = {}
    for split, split_texts in texts.items():
        enc = tokenize(tokenizer, split_texts, pairs.get(split), config.model.max_length)
        enc["labels"] = ys[split].tolist()
        datasets[split] = Dataset.from_dict(enc)
    out = Path(t.output_dir)
    has_dev = "dev" in datasets
    args = TrainingArguments(
        output_dir=str(out / "checkpoints"),
        seed=t.seed,
        data_seed=t.seed,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        learning_rate=t.learning_rate,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        warmup_steps=t.warmup_ratio,  # a float < 1 is a share of the total steps
        lr_scheduler_type="linear",
        weight_decay=t.weight_decay,
        eval_strategy=t.eval_strategy if has_dev else "no",
        save_strategy=t.eval_strategy,
        eval_steps=t.eval_steps or None,
        save_steps=t.eval_steps or None,
        load_best_model_at_end=has_dev,
        metric_for_best_model="mean_macro_f1" if has_dev else None,
        greater_is_better=True,
        save_total_limit=t.save_total_limit,
        logging_steps=t.logging_steps,
        report_to=[],
        disable_tqdm=not t.progress_bar,
        # group_by_length: batches of similar length waste less compute on padding (CPU training)
        train_sampling_strategy="group_by_length",
        dataloader_num_workers=t.dataloader_num_workers,
        use_cpu=not torch.cuda.is_available(),
        **_precision(t.precision),
    )
    cbs = list(callbacks or [])
    if has_dev and t.early_stopping_patience > 0:
        cbs.append(EarlyStoppingCallback(early_stopping_patience=t.early_stopping_patience))
    trainer = MultiTaskTrainer(
        model=model,
        args=args,
        train_dataset=datasets["train"],
        eval_dataset=datasets.get("dev"),
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=multitask_metrics(config.data.tasks),
        callbacks=cbs,
    )
    trainer.log_path = out / "train.log.jsonl"
    return trainer, datasets
