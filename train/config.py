"""Training configuration: typed dataclasses with help text, read from YAML with ``--set`` overrides.

A config file has three sections: ``data`` (``data.schema.DataConfig``), ``model`` and ``training``.
Everything is validated before any data is read or any weight is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data.config import ConfigError, apply_overrides, build, read_yaml
from data.schema import DataConfig
from data.text import PreprocessingSpec
from model.modeling import DEFAULT_BASE_MODEL


@dataclass
class TinyEncoderArgs:
    """A tiny random BERT and a WordPiece tokenizer trained on the training text (offline, seconds)."""

    vocab_size: int = 2000
    hidden_size: int = 32
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    intermediate_size: int = 64
    max_position_embeddings: int = 130


@dataclass
class LinearArgs:
    """TF-IDF over hashed word and character n-grams, and a logistic regression per task."""

    word_ngrams: int = 2
    """Longest word n-gram (0: no word features, 1: unigrams, 2: uni+bigrams)."""
    char_ngrams: list[int] = field(default_factory=lambda: [2, 5])
    """Character n-gram lengths inside words: they carry Arabic morphology (و/ال/ب prefixes, suffixes)."""
    min_df: int = 2
    """Keep n-grams seen in at least this many training sentences (drops typos and one-offs)."""
    hash_bits: int = 22
    """Hash space 2**bits before pruning; 22 keeps collisions rare for corpora of this size."""
    C: float = 4.0
    class_weight: str | None = "balanced"

    def __post_init__(self) -> None:
        v = self.char_ngrams
        if len(v) != 2 or not 1 <= v[0] <= v[1] <= 8:
            raise ValueError(f"model.linear.char_ngrams must be [min, max] with 1 <= min <= max <= 8, got {v}")
        if self.word_ngrams not in (0, 1, 2):
            raise ValueError(f"model.linear.word_ngrams must be 0, 1 or 2, got {self.word_ngrams}")
        if not 16 <= self.hash_bits <= 26:
            raise ValueError(f"model.linear.hash_bits must be in [16, 26], got {self.hash_bits}")
        if self.C <= 0:
            raise ValueError(f"model.linear.C must be > 0, got {self.C}")
        if self.class_weight not in (None, "balanced"):
            raise ValueError(f"model.linear.class_weight must be null or 'balanced', got {self.class_weight!r}")


@dataclass
class ModelArgs:
    engine: str = "transformer"
    """transformer (shared encoder + heads) or linear (TF-IDF + logistic regression)."""
    base_model: str = DEFAULT_BASE_MODEL
    """Hub id or local path of the encoder; ignored when ``tiny`` is set or ``random_init`` is true."""
    random_init: bool = False
    """Build the base model's architecture with random weights (benchmarks; speed does not depend on weights)."""
    tokenizer: str | None = None
    """Tokenizer path/id when it differs from base_model."""
    tiny: TinyEncoderArgs | None = None
    max_length: int = 128
    """Max tokens per sentence; 128 covers >99% of news sentences and keeps attention cheap."""
    dropout: float = 0.1
    preprocessing: dict[str, Any] = field(default_factory=dict)
    """PreprocessingSpec fields; empty = AraBERT v0.2 preprocessing after the character fixes."""
    linear: LinearArgs = field(default_factory=LinearArgs)

    def __post_init__(self) -> None:
        if self.engine not in ("transformer", "linear"):
            raise ValueError(f"model.engine must be 'transformer' or 'linear', got {self.engine!r}")
        if not 8 <= self.max_length <= 512:
            raise ValueError(f"model.max_length must be in [8, 512], got {self.max_length}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout}")
        PreprocessingSpec.from_dict(self.preprocessing)  # fails now, not after an hour of training

    @property
    def preprocessing_spec(self) -> PreprocessingSpec:
        return PreprocessingSpec.from_dict(self.preprocessing)


@dataclass
class TrainingArgs:
    output_dir: str = "runs/model"
    seed: int = 42
    epochs: float = 5.0
    learning_rate: float = 3e-5
    batch_size: int = 32
    eval_batch_size: int = 64
    gradient_accumulation_steps: int = 1
    warmup_ratio: float = 0.1
    """Linear warmup over this share of steps, then linear decay (BERT fine-tuning recipe)."""
    weight_decay: float = 0.01
    max_steps: int = -1
    early_stopping_patience: int = 2
    """Stop after this many evaluations without a better dev mean macro-F1."""
    class_weights: str = "none"
    """none | balanced (inverse frequency on train, per task)."""
    task_weights: dict[str, float] = field(default_factory=dict)
    precision: str = "auto"
    """auto (bf16 on a GPU that supports it, else fp16 on GPU, else fp32) | fp32 | bf16 | fp16."""
    eval_strategy: str = "epoch"
    eval_steps: int = 0
    """With eval_strategy=steps: evaluate and checkpoint every this many steps."""
    logging_steps: int = 20
    save_total_limit: int = 2
    calibrate: bool = True
    """Fit one temperature per task on dev after training and save it in config.json."""
    progress_bar: bool = True
    dataloader_num_workers: int = 0

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs > 0, "learning_rate": 0 < self.learning_rate < 1, "batch_size": self.batch_size > 0,
            "eval_batch_size": self.eval_batch_size > 0, "gradient_accumulation_steps": self.gradient_accumulation_steps > 0,
            "warmup_ratio": 0 <= self.warmup_ratio < 1, "early_stopping_patience": self.early_stopping_patience >= 0,
        }  # fmt: skip
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"bad training value(s): {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")
        if self.class_weights not in ("none", "balanced"):
            raise ValueError(f"training.class_weights must be 'none' or 'balanced', got {self.class_weights!r}")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(f"training.precision must be auto|fp32|bf16|fp16, got {self.precision!r}")
        if self.eval_strategy not in ("epoch", "steps"):
            raise ValueError(f"training.eval_strategy must be 'epoch' or 'steps', got {self.eval_strategy!r}")
        if self.eval_strategy == "steps" and self.eval_steps <= 0:
            raise ValueError("training.eval_steps must be > 0 with eval_strategy=steps")


@dataclass
class Config:
    data: DataConfig
    model: ModelArgs = field(default_factory=ModelArgs)
    training: TrainingArgs = field(default_factory=TrainingArgs)

    def __post_init__(self) -> None:
        unknown = set(self.training.task_weights) - set(self.data.tasks)
        if unknown:
            raise ValueError(f"training.task_weights names unknown task(s) {sorted(unknown)}")


def load_config(path: str | Path | dict[str, Any], overrides: list[str] | None = None) -> Config:
    """Read, merge ``extends``, apply ``--set`` overrides, and validate a training config."""
    raw = read_yaml(path) if not isinstance(path, dict) else dict(path)
    raw = apply_overrides(raw, overrides)
    if "data" not in raw:
        raise ConfigError(f"{path}: no 'data:' section")
    return build(Config, raw, str(path) if not isinstance(path, dict) else "config")
