"""``Tagger``: load any saved model (either engine), tag sentences and whole articles.

    >>> from model import Tagger
    >>> tagger = Tagger.load()                      # the model shipped in the repo
    >>> tagger.predict("أشاد الوزير بالدور الروسي في تثبيت وقف إطلاق النار.").labels
    {'stance': 'favor', 'frame': 'security'}
    >>> result = tagger.tag_article(text)           # sentences with offsets, labels, probabilities

Inference is batched across articles, sorted by length with dynamic padding, run under
``torch.inference_mode``; ``tag_articles`` streams, so memory stays flat however many come in.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from data.text import PREPROCESSING_VERSION, PreprocessingSpec, Preprocessor, arabic_ratio, split_sentences
from model.calibration import softmax
from model.errors import ModelLoadError, check_label_maps

DEFAULT_MODEL_DIR = Path(__file__).parent / "shipped"
NON_ARABIC_THRESHOLD = 0.5  # below this share of Arabic letters a sentence is flagged, still tagged


@dataclass
class Prediction:
    """Labels and the probability of every label, per task, for one sentence."""

    labels: dict[str, str]
    probs: dict[str, dict[str, float]]


@dataclass
class TaggedSentence:
    article_id: str
    index: int
    start: int
    end: int
    text: str
    labels: dict[str, str]
    probs: dict[str, dict[str, float]]
    flags: list[str] = field(default_factory=list)


@dataclass
class Article:
    id: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = ""


@dataclass
class ArticleResult:
    article_id: str
    sentences: list[TaggedSentence]
    summary: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary_record(self) -> dict[str, Any]:
        """The per-article line of a ``*.summary.json`` file."""
        return {"article_id": self.article_id, "meta": self.meta, "flags": self.flags, "summary": self.summary}


# ---------------------------------------------------------------------------------------------
# engines: the part that turns preprocessed text into per-task logits
# ---------------------------------------------------------------------------------------------


def native_bf16(device: str) -> bool:
    """Does this device run bfloat16 matmuls natively (so bf16 inference is faster, not emulated)?"""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:  # x86 CPUs with AVX512-BF16 or AMX: oneDNN runs bf16 GEMMs at about twice the fp32 rate
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: str) -> str:
    """auto → bf16 where native, fp16 on other GPUs, fp32 otherwise; fp16 is refused on CPU (slow)."""
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if precision == "fp16" and not device.startswith("cuda"):
        raise ValueError("fp16 inference needs a GPU; use bf16 or fp32 on CPU")
    if precision != "auto":
        return precision
    if native_bf16(device):
        return "bf16"
    return "fp16" if device.startswith("cuda") else "fp32"


class _TorchEngine:
    def __init__(
        self, path: str, threads: int | None = None, device: str | None = None, batch_size: int | None = None,
        precision: str = "auto",
    ):  # fmt: skip
        import torch
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        from model.modeling import MultiTaskModel

        hf_logging.disable_progress_bar()  # "Loading weights" bars are noise in a CLI that streams results
        if threads:
            torch.set_num_threads(threads)
        try:
            self.model = MultiTaskModel.from_pretrained(path)
            self.tokenizer = AutoTokenizer.from_pretrained(path)
        except ModelLoadError:
            raise
        except (OSError, RuntimeError, ValueError, KeyError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if "size mismatch" in str(e):
                first = "the saved head sizes do not match the label maps in config.json (" + first[:200] + ")"
            raise ModelLoadError(f"{path}: cannot load the model: {first}") from None
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # bf16 weights where the hardware has bf16 GEMMs: ~2x fp32 on an AVX512-BF16 CPU (eval.bench),
        # labels agreeing with fp32 on >99% of sentences; --precision fp32 for bit-exact results
        self.precision = resolve_precision(precision, self.device)
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[self.precision]
        self.model.to(self.device, dtype=dtype).eval()
        self.runtime = f"torch {self.precision} on {self.device}"
        self.config = self.model.config
        # CPU: 16 sentences keep padding near zero after length sorting while GEMMs stay large enough to
        # run at peak (eval.bench: 16 → 29.9, 64 → 25.3 sentences/s); a GPU wants far bigger batches.
        self.batch_size = batch_size or (16 if self.device == "cpu" else 256)
        self.max_length = self.config.max_seq_length

    def logits(self, texts: list[str], pairs: list[str] | None = None) -> dict[str, np.ndarray]:
        import torch

        tasks = self.config.task_order
        out = {t: np.empty((len(texts), len(self.config.tasks[t])), dtype=np.float32) for t in tasks}
        with torch.inference_mode():
            for idx, arrays in padded_batches(self.tokenizer, texts, pairs, self.max_length, self.batch_size):
                res = self.model(**{k: torch.from_numpy(v).to(self.device) for k, v in arrays.items()})
                for t, lg in zip(tasks, res.logits, strict=True):
                    out[t][idx] = lg.float().cpu().numpy()
        return out


def padded_batches(tokenizer, texts: list[str], pairs: list[str] | None, max_length: int, batch_size: int):
    """Tokenise once, sort by length, yield (row indices, int64 arrays padded to the batch's longest).

    Sorting by length keeps padding small; dynamic padding means a batch of short sentences costs
    what short sentences cost. Shared by the torch and ONNX runtimes.
    """
    enc = tokenizer(texts, pairs, truncation=True, max_length=max_length)
    ids = enc["input_ids"]
    types_all = enc.get("token_type_ids")
    order = np.argsort([len(x) for x in ids], kind="stable")
    pad = tokenizer.pad_token_id or 0
    for b in range(0, len(order), batch_size):
        idx = order[b : b + batch_size]
        width = max(len(ids[i]) for i in idx)
        input_ids = np.full((len(idx), width), pad, dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        types = np.zeros((len(idx), width), dtype=np.int64)
        for r, i in enumerate(idx):
            n = len(ids[i])
            input_ids[r, :n], mask[r, :n] = ids[i], 1
            if types_all is not None:
                types[r, :n] = types_all[i]
        yield idx, {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": types}


class _LinearEngine:
    def __init__(self, path: str):
        from model.linear import LinearModel

        self.model = LinearModel.from_pretrained(path)
        c = self.model.config
        # the attributes the Tagger reads from a transformer config, taken from the linear model's JSON
        self.config = SimpleNamespace(
            tasks=c["tasks"], task_order=c["task_order"], temperatures=c.get("temperatures", {}), text_pair=False
        )
        self.runtime = "linear (TF-IDF n-grams)"

    def logits(self, texts: list[str], pairs: list[str] | None = None) -> dict[str, np.ndarray]:
        return self.model.logits(texts)


def _read_config(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / "config.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ModelLoadError(f"{path}/config.json: not valid JSON (line {e.lineno})") from None


def check_preprocessing(cfg: dict[str, Any], where: str) -> PreprocessingSpec:
    try:
        spec = PreprocessingSpec.from_dict(cfg.get("preprocessing"))
    except (TypeError, ValueError) as e:
        raise ModelLoadError(f"{where}: bad preprocessing settings in config.json: {e}") from None
    if spec.version != PREPROCESSING_VERSION:
        raise ModelLoadError(
            f"{where}: the model was trained with preprocessing version {spec.version}, this code applies version "
            f"{PREPROCESSING_VERSION}; retrain the model or install the matching release"
        )
    return spec


# ---------------------------------------------------------------------------------------------
# the Tagger
# ---------------------------------------------------------------------------------------------


class Tagger:
    """Tags sentences with every task of a saved model; ``Tagger.load(path_or_id)`` to build one."""

    def __init__(self, engine: Any, model_id: str, preprocessing: PreprocessingSpec):
        self.engine = engine
        self.model_id = model_id
        self.preprocessor = Preprocessor(preprocessing)
        cfg = engine.config
        self.tasks: dict[str, list[str]] = {t: list(cfg.tasks[t]) for t in cfg.task_order}
        self.temperatures: dict[str, float] = {t: float((cfg.temperatures or {}).get(t, 1.0)) for t in self.tasks}
        self.text_pair = bool(getattr(cfg, "text_pair", False))
        self.runtime: str = getattr(engine, "runtime", type(engine).__name__)

    @classmethod
    def load(
        cls, path_or_id: str | Path | None = None, backend: str = "torch", threads: int | None = None,
        batch_size: int | None = None, device: str | None = None, precision: str = "auto",
    ) -> Tagger:  # fmt: skip
        """Load a model directory (either engine) or a hub id; ``None`` is the model shipped in the repo."""
        path = Path(path_or_id) if path_or_id is not None else DEFAULT_MODEL_DIR
        if path_or_id is None and not (path / "config.json").is_file():
            raise ModelLoadError(f"the default model is missing from {path}; rebuild it with `python -m train --config configs/shipped.yaml`")
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise ModelLoadError(f"{path}: no config.json; not a saved model directory")
            cfg = _read_config(path)
            check_label_maps(cfg, str(path))
            spec = check_preprocessing(cfg, str(path))
            if cfg.get("engine") == "linear":
                engine = _LinearEngine(str(path))
            elif backend == "onnx":
                from model.onnx_backend import OnnxEngine

                engine = OnnxEngine(str(path), threads=threads, batch_size=batch_size)
            else:
                engine = _TorchEngine(str(path), threads=threads, device=device, batch_size=batch_size, precision=precision)
            return cls(engine, str(path_or_id) if path_or_id is not None else f"default ({path.name})", spec)
        if Path(path_or_id).exists():
            raise ModelLoadError(f"{path_or_id}: not a model directory")
        if str(path_or_id).startswith((".", "/", "~")) or str(path_or_id).count("/") > 1:
            raise ModelLoadError(f"{path_or_id}: no such model directory")
        # a hub id: the same loading code, with a clear error when the hub cannot be reached
        try:
            from huggingface_hub import snapshot_download

            local = snapshot_download(str(path_or_id))
        except Exception as e:  # noqa: BLE001 - any hub failure becomes one clear message
            raise ModelLoadError(
                f"{path_or_id}: no such model directory, and fetching it from the Hugging Face hub failed "
                f"({type(e).__name__}); without network access, copy the model folder here and pass --model PATH"
            ) from None
        return cls.load(local, backend=backend, threads=threads, batch_size=batch_size, device=device, precision=precision)

    # ---- sentences ----
    def predict_proba(self, sentences: list[str], pairs: list[str] | None = None) -> dict[str, np.ndarray]:
        """Calibrated probabilities per task, shape (n, n_labels), in each task's label order."""
        if not sentences:
            return {t: np.zeros((0, len(labs)), dtype=np.float32) for t, labs in self.tasks.items()}
        if self.text_pair and pairs is None:
            raise ValueError("this model was trained on text pairs (e.g. a stance target); pass pairs=[...]")
        texts = [self.preprocessor(s) for s in sentences]
        pp = [self.preprocessor(p) for p in pairs] if pairs is not None else None
        logits = self.engine.logits(texts, pp)
        return {t: softmax(logits[t], self.temperatures[t]).astype(np.float32) for t in self.tasks}

    def _predictions(self, probs: dict[str, np.ndarray], n: int) -> list[Prediction]:
        out = []
        argmax = {t: p.argmax(-1) for t, p in probs.items()}
        for i in range(n):
            labels = {t: self.tasks[t][int(argmax[t][i])] for t in self.tasks}
            pr = {t: {lab: round(float(probs[t][i, j]), 4) for j, lab in enumerate(self.tasks[t])} for t in self.tasks}
            out.append(Prediction(labels, pr))
        return out

    def predict(self, sentences: str | list[str], pairs: str | list[str] | None = None) -> Prediction | list[Prediction]:
        """Tag one sentence (returns a ``Prediction``) or a list (returns a list)."""
        single = isinstance(sentences, str)
        sents = [sentences] if single else list(sentences)
        prs = [pairs] if isinstance(pairs, str) else pairs
        preds = self._predictions(self.predict_proba(sents, prs), len(sents))
        return preds[0] if single else preds

    # ---- articles ----
    def tag_article(self, text: str, article_id: str = "article", meta: dict[str, Any] | None = None) -> ArticleResult:
        return next(self.tag_articles([Article(article_id, text, meta or {})]))

    def tag_articles(self, articles: Iterable[Article], chunk_sentences: int = 4096) -> Iterator[ArticleResult]:
        """Stream results in input order; sentences from several articles share batches.

        Articles are gathered until ``chunk_sentences`` sentences are pending, tagged in one call,
        and emitted; a single huge article is tagged in chunks of that size.
        """
        pending: list[tuple[Article, list]] = []
        n_pending = 0
        for art in articles:
            sents = split_sentences(art.text)
            pending.append((art, sents))
            n_pending += len(sents)
            if n_pending >= chunk_sentences:
                yield from self._flush(pending, chunk_sentences)
                pending, n_pending = [], 0
        if pending:
            yield from self._flush(pending, chunk_sentences)

    def _flush(self, pending: list[tuple[Article, list]], chunk: int) -> Iterator[ArticleResult]:
        flat = [s.text for _, sents in pending for s in sents]
        preds: list[Prediction] = []
        for b in range(0, len(flat), chunk):
            part = flat[b : b + chunk]
            preds.extend(self._predictions(self.predict_proba(part), len(part)))
        k = 0
        for art, sents in pending:
            tagged = []
            for i, s in enumerate(sents):
                p = preds[k]
                k += 1
                flags = ["non_arabic"] if arabic_ratio(s.text) < NON_ARABIC_THRESHOLD else []
                tagged.append(TaggedSentence(art.id, i, s.start, s.end, s.text, p.labels, p.probs, flags))
            art_flags = []
            if not tagged:
                art_flags.append("no_sentences")
            elif sum("non_arabic" in t.flags for t in tagged) > len(tagged) / 2:
                art_flags.append("non_arabic")
            yield ArticleResult(art.id, tagged, summarize(tagged, self.tasks), art.meta, art_flags)


def summarize(sentences: list[TaggedSentence], tasks: dict[str, list[str]], top_k: int = 3) -> dict[str, Any]:
    """Per-article summary: label counts and shares per task, shares among related sentences for a task
    with an ``unrelated`` label, a net score (favor − against) / related, and the most confident
    sentences per label."""
    summary: dict[str, Any] = {"n_sentences": len(sentences)}
    for task, labels in tasks.items():
        counts = Counter(s.labels[task] for s in sentences)
        n = max(len(sentences), 1)
        ts: dict[str, Any] = {
            "counts": {lab: counts[lab] for lab in labels},
            "shares": {lab: round(counts[lab] / n, 4) for lab in labels},
        }
        if "unrelated" in labels:
            related = len(sentences) - counts["unrelated"]
            ts["n_related"] = related
            ts["shares_among_related"] = {
                lab: round(counts[lab] / related, 4) if related else 0.0 for lab in labels if lab != "unrelated"
            }
            if "favor" in labels and "against" in labels:
                ts["net_score"] = round((counts["favor"] - counts["against"]) / related, 4) if related else 0.0
        ts["most_confident"] = {
            lab: [
                {"index": s.index, "prob": s.probs[task][lab], "text": s.text}
                for s in sorted((s for s in sentences if s.labels[task] == lab), key=lambda s: -s.probs[task][lab])[:top_k]
            ]
            for lab in labels
        }
        summary[task] = ts
    return summary
