"""The linear engine: TF-IDF over word and character n-grams of the preprocessed text, and one
multinomial logistic regression per task.

Saved without pickle: ``config.json`` (tasks, preprocessing, settings), ``vectorizer.json``
(vocabularies and idf weights) and ``model.safetensors`` (coefficients and intercepts). Loading
rebuilds the scikit-learn vectorizers from those values, so nothing executable is ever loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from model.errors import ModelLoadError

LINEAR_MODEL_TYPE = "tfidf-linear"


def _vectorizers(args: dict[str, Any]) -> dict[str, TfidfVectorizer]:
    common = {"sublinear_tf": args["sublinear_tf"], "min_df": args["min_df"], "dtype": np.float32, "lowercase": True}
    return {
        "word": TfidfVectorizer(analyzer="word", ngram_range=tuple(args["word_ngrams"]), token_pattern=r"(?u)\b\w+\b", **common),
        "char": TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(args["char_ngrams"]), **common),
    }


class LinearModel:
    """TF-IDF + logistic regression per task; ``logits(texts)`` returns per-task decision scores."""

    def __init__(self, config: dict[str, Any], vectorizers: dict[str, TfidfVectorizer], weights: dict[str, np.ndarray]):
        self.config = config
        self.vectorizers = vectorizers
        self.weights = weights
        self.task_order: list[str] = list(config["task_order"])
        self.tasks: dict[str, list[str]] = config["tasks"]
        for t in self.task_order:
            coef = weights.get(f"{t}.coef")
            if coef is None or coef.shape[0] != len(self.tasks[t]):
                got = None if coef is None else coef.shape[0]
                raise ModelLoadError(f"linear model: task {t!r} has {len(self.tasks[t])} labels in config.json but {got} rows of weights")

    @classmethod
    def fit(
        cls, texts: list[str], labels: dict[str, list[int]], tasks: dict[str, list[str]], args: dict[str, Any], seed: int = 0
    ) -> LinearModel:
        vecs = _vectorizers(args)
        max_per = args["max_features"] // 2
        for v in vecs.values():
            v.set_params(max_features=max_per)
        X = sparse.hstack([v.fit_transform(texts) for v in vecs.values()]).tocsr()
        weights = {}
        for t, y in labels.items():
            y = np.asarray(y)
            keep = y >= 0
            clf = LogisticRegression(C=args["C"], class_weight=args["class_weight"], max_iter=2000, random_state=seed)
            clf.fit(X[keep], y[keep])
            coef = np.zeros((len(tasks[t]), X.shape[1]), dtype=np.float32)
            intercept = np.full(len(tasks[t]), -1e4, dtype=np.float32)  # a label unseen in training is never predicted
            present = clf.classes_
            if len(present) == 2:  # sklearn stores one row for binary problems: expand to two logits
                coef[present[1]], intercept[present[1]] = clf.coef_[0] / 2, clf.intercept_[0] / 2
                coef[present[0]], intercept[present[0]] = -clf.coef_[0] / 2, -clf.intercept_[0] / 2
            else:
                coef[present], intercept[present] = clf.coef_, clf.intercept_
            weights[f"{t}.coef"], weights[f"{t}.intercept"] = coef, intercept
        config = {"model_type": LINEAR_MODEL_TYPE, "engine": "linear", "tasks": tasks, "task_order": list(labels), "linear": args}
        return cls(config, vecs, weights)

    def features(self, texts: list[str]) -> sparse.csr_matrix:
        return sparse.hstack([v.transform(texts) for v in self.vectorizers.values()]).tocsr()

    def logits(self, texts: list[str]) -> dict[str, np.ndarray]:
        X = self.features(texts)
        return {t: np.asarray(X @ self.weights[f"{t}.coef"].T) + self.weights[f"{t}.intercept"] for t in self.task_order}

    # ---- persistence (no pickle) ----
    def save_pretrained(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text(json.dumps(self.config, ensure_ascii=False, indent=2), encoding="utf-8")
        vec_state = {
            name: {"vocabulary": {k: int(i) for k, i in v.vocabulary_.items()}, "idf": v.idf_.tolist()}
            for name, v in self.vectorizers.items()
        }
        (path / "vectorizer.json").write_text(json.dumps(vec_state, ensure_ascii=False), encoding="utf-8")
        save_file({k: np.ascontiguousarray(w) for k, w in self.weights.items()}, str(path / "model.safetensors"))

    @classmethod
    def from_pretrained(cls, path: str | Path) -> LinearModel:
        path = Path(path)
        try:
            config = json.loads((path / "config.json").read_text(encoding="utf-8"))
            state = json.loads((path / "vectorizer.json").read_text(encoding="utf-8"))
            weights = load_file(str(path / "model.safetensors"))
        except (OSError, json.JSONDecodeError) as e:
            raise ModelLoadError(f"{path}: not a complete linear model ({e})") from None
        vecs = _vectorizers(config["linear"])
        for name, v in vecs.items():
            v.set_params(vocabulary=state[name]["vocabulary"])
            v.idf_ = np.asarray(state[name]["idf"], dtype=np.float32)
            if len(v.idf_) != len(state[name]["vocabulary"]):
                raise ModelLoadError(f"{path}/vectorizer.json: {name} idf and vocabulary sizes differ")
        return cls(config, vecs, weights)
