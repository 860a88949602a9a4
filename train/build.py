"""Build the multi-task model and its tokenizer from a config: pretrained, random-init or tiny."""

from __future__ import annotations

import logging

import numpy as np
from transformers import AutoConfig, AutoTokenizer

from data.config import to_dict
from model.errors import ModelLoadError
from model.modeling import MultiTaskConfig, MultiTaskModel, load_encoder
from train.config import Config
from train.tiny import random_bert_config, train_wordpiece

log = logging.getLogger("train")


def _class_weights(config: Config, y_train: np.ndarray) -> dict[str, list[float]]:
    if config.training.class_weights != "balanced":
        return {}
    out = {}
    for j, (task, labels) in enumerate(config.data.tasks.items()):
        y = y_train[:, j][y_train[:, j] >= 0]
        counts = np.bincount(y, minlength=len(labels)).astype(float)
        # inverse frequency, normalised so a balanced set gets weight 1; unseen labels get 1 too
        w = np.where(counts > 0, len(y) / (len(labels) * np.maximum(counts, 1)), 1.0)
        out[task] = w.round(4).tolist()
    return out


def build_model_and_tokenizer(config: Config, train_texts: list[str], y_train: np.ndarray, tokenizer_from: str | None = None):
    m = config.model
    if m.tiny is not None:
        if tokenizer_from:
            tokenizer = AutoTokenizer.from_pretrained(tokenizer_from)
        else:
            tokenizer = train_wordpiece(train_texts, m.tiny.vocab_size)
        shape = to_dict(m.tiny)
        vocab = max(shape.pop("vocab_size"), len(tokenizer))
        encoder_config = random_bert_config(vocab, **shape)
        pretrained = None
        base = f"random-bert(vocab={vocab}, hidden={m.tiny.hidden_size}, layers={m.tiny.num_hidden_layers})"
    else:
        try:
            tokenizer = AutoTokenizer.from_pretrained(m.tokenizer or m.base_model)
            encoder_config = AutoConfig.from_pretrained(m.base_model)
        except (OSError, ValueError) as e:
            raise ModelLoadError(
                f"could not load {m.tokenizer or m.base_model!r} (tokenizer/config): {str(e).splitlines()[0]}\n"
                "Without access to the Hugging Face hub, download the model elsewhere "
                f"(`huggingface-cli download {m.base_model} --local-dir ./arabertv02`) and pass "
                "`--set model.base_model=./arabertv02`."
            ) from None
        pretrained = None if m.random_init else load_encoder(m.base_model)
        base = m.base_model
    if m.max_length > encoder_config.max_position_embeddings:
        raise ValueError(f"model.max_length {m.max_length} exceeds the encoder's {encoder_config.max_position_embeddings} positions")
    mt_config = MultiTaskConfig(
        encoder=encoder_config.to_dict(),
        tasks=config.data.tasks,
        base_model=base,
        preprocessing=m.preprocessing_spec.to_dict(),
        max_seq_length=m.max_length,
        classifier_dropout=m.dropout,
        task_weights=config.training.task_weights,
        class_weights=_class_weights(config, y_train),
        text_pair=config.data.text_pair_column is not None,
    )
    model = MultiTaskModel(mt_config)
    if pretrained is not None:
        missing, unexpected = model.encoder.load_state_dict(pretrained.state_dict(), strict=False)
        if missing:
            raise ModelLoadError(f"pretrained encoder {base!r} lacks weights: {missing[:5]}")
    log.info("model: %s, %.1fM parameters", base, sum(p.numel() for p in model.parameters()) / 1e6)
    return model, tokenizer

