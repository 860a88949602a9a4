"""A shared encoder with one classification head per task.

One forward pass serves every task. The model is a regular ``PreTrainedModel``: it saves and loads
with ``save_pretrained`` / ``from_pretrained``, and its ``config.json`` carries the tasks with their
ordered labels, the base model id, the preprocessing settings, the fitted temperatures and the
training config, so a saved model describes itself completely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

from model.errors import ModelLoadError, check_label_maps

DEFAULT_BASE_MODEL = "aubmindlab/bert-base-arabertv02"


class MultiTaskConfig(PretrainedConfig):
    model_type = "multitask-encoder"

    def __init__(
        self,
        encoder: dict[str, Any] | None = None,
        tasks: dict[str, list[str]] | None = None,
        base_model: str = DEFAULT_BASE_MODEL,
        preprocessing: dict[str, Any] | None = None,
        max_seq_length: int = 128,
        classifier_dropout: float = 0.1,
        task_weights: dict[str, float] | None = None,
        class_weights: dict[str, list[float]] | None = None,
        temperatures: dict[str, float] | None = None,
        text_pair: bool = False,
        training_config: dict[str, Any] | None = None,
        task_order: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.encoder = encoder or {}
        self.tasks = {k: list(v) for k, v in (tasks or {}).items()}
        # config.json is written with sorted keys, so the task order (= label column order) is kept apart.
        self.task_order = list(task_order or self.tasks)
        self.base_model = base_model
        self.preprocessing = preprocessing or {}
        self.max_seq_length = max_seq_length
        self.classifier_dropout = classifier_dropout
        self.task_weights = task_weights or {}
        self.class_weights = class_weights or {}
        self.temperatures = temperatures or {}
        self.text_pair = text_pair
        self.training_config = training_config or {}
        # Label maps in the familiar HF shape too (per task), for tools that read config.json.
        self.task_id2label = {t: dict(enumerate(labels)) for t, labels in self.tasks.items()}
        self.task_label2id = {t: {lab: i for i, lab in enumerate(labels)} for t, labels in self.tasks.items()}

    def validate_tasks(self) -> None:
        """Loud check that the label maps are consistent (on construction of the model, as on load)."""
        check_label_maps(self.to_dict(), "config.json")

    def encoder_config(self) -> PretrainedConfig:
        enc = dict(self.encoder)
        model_type = enc.pop("model_type", "bert")
        return AutoConfig.for_model(model_type, **enc)


@dataclass
class MultiTaskOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: tuple[torch.Tensor, ...] | None = None


class MultiTaskModel(PreTrainedModel):
    """Encoder → [CLS] vector → dropout → one linear head per task.

    ``labels`` is a ``(batch, n_tasks)`` LongTensor in task order, ``-100`` where a task is unlabelled
    (so datasets labelled for only some tasks still train). The loss is the weighted sum of the
    per-task cross-entropies.
    """

    config_class = MultiTaskConfig
    base_model_prefix = "encoder"
    supports_gradient_checkpointing = True
    _no_split_modules = ["BertLayer"]

    def __init__(self, config: MultiTaskConfig) -> None:
        super().__init__(config)
        config.validate_tasks()
        # add_pooling_layer=False: we classify from [CLS] directly; BERT's pooler was trained for NSP
        # and costs a 768x768 matmul per sentence that adds nothing here.
        self.encoder = AutoModel.from_config(config.encoder_config(), add_pooling_layer=False)
        hidden = self.encoder.config.hidden_size
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.heads = nn.ModuleDict({t: nn.Linear(hidden, len(config.tasks[t])) for t in config.task_order})
        for t, w in config.class_weights.items():
            self.register_buffer(f"class_weight_{t}", torch.tensor(w, dtype=torch.float), persistent=False)
        self.post_init()

    @property
    def task_names(self) -> list[str]:
        return list(self.config.task_order)

    def _init_weights(self, module: nn.Module) -> None:
        # BERT's scheme for every module (the heads included); a pretrained encoder's weights are
        # loaded *after* construction (see train.build), so this never overwrites them.
        std = getattr(self.config.encoder_config(), "initializer_range", 0.02)
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(0.0, std)
            if module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.data.normal_(0.0, std)
            if module.padding_idx is not None:
                module.weight.data[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            module.weight.data.fill_(1.0)
            module.bias.data.zero_()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> MultiTaskOutput:
        kwargs.pop("num_items_in_batch", None)
        enc_kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            enc_kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**enc_kwargs).last_hidden_state[:, 0]
        hidden = self.dropout(hidden)
        logits = tuple(self.heads[t](hidden) for t in self.task_names)
        loss = None
        if labels is not None:
            loss = hidden.new_zeros(())
            for i, t in enumerate(self.task_names):
                y = labels[:, i]
                if (y != -100).any():
                    weight = getattr(self, f"class_weight_{t}", None)
                    ce = nn.functional.cross_entropy(logits[i].float(), y, weight=weight, ignore_index=-100)
                    loss = loss + self.config.task_weights.get(t, 1.0) * ce
        return MultiTaskOutput(loss=loss, logits=logits)


AutoConfig.register(MultiTaskConfig.model_type, MultiTaskConfig)
AutoModel.register(MultiTaskConfig, MultiTaskModel)


def load_encoder(base_model: str, **kwargs: Any) -> PreTrainedModel:
    """``AutoModel.from_pretrained(base_model)`` with a clear error when the hub is unreachable."""
    try:
        return AutoModel.from_pretrained(base_model, add_pooling_layer=False, **kwargs)
    except (OSError, ValueError) as e:
        raise ModelLoadError(
            f"could not load the base model {base_model!r}: {str(e).splitlines()[0]}\n"
            "If this machine cannot reach the Hugging Face hub, download the model where it can "
            f"(e.g. `huggingface-cli download {base_model} --local-dir ./arabertv02`), copy the folder "
            "here and pass its path: `--set model.base_model=./arabertv02` (training) or `--model PATH` (predict)."
        ) from None
