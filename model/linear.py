"""The linear engine: TF-IDF over hashed word and character n-grams of the preprocessed text
(``model.features.HashedNgrams``), and one multinomial logistic regression per task.

Saved without pickle: ``config.json`` (tasks, preprocessing, settings) and ``model.safetensors``
(the active hash buckets, their idf, coefficients and intercepts). Nothing executable is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file
from scipy import sparse  # noqa: F401  (features are scipy CSR matrices)
from sklearn.linear_model import LogisticRegression

from model.errors import ModelLoadError
from model.features import HashedNgrams

LINEAR_MODEL_TYPE = "tfidf-linear"


class LinearModel:
    """TF-IDF + logistic regression per task; ``logits(texts)`` returns per-task decision scores."""

    def __init__(self, config: dict[str, Any], featurizer: HashedNgrams, weights: dict[str, np.ndarray]):
        self.config = config
        self.featurizer = featurizer
        self.weights = weights
        self.task_order: list[str] = list(config["task_order"])
        self.tasks: dict[str, list[str]] = config["tasks"]
        for t in self.task_order:
            coef = weights.get(f"{t}.coef")
            if coef is None or coef.shape != (len(self.tasks[t]), featurizer.n_features):
                got = None if coef is None else coef.shape
                raise ModelLoadError(
                    f"linear model: task {t!r} has {len(self.tasks[t])} labels and {featurizer.n_features} features "
                    f"in config.json/model.safetensors but weights of shape {got}"
                )

    @classmethod
    def fit(
        cls, texts: list[str], labels: dict[str, list[int]], tasks: dict[str, list[str]], args: dict[str, Any], seed: int = 0
    ) -> LinearModel:
        feat = HashedNgrams.fit(texts, tuple(args["char_ngrams"]), args["word_ngrams"], args["hash_bits"], args["min_df"])
        X = feat.transform(texts)
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
        return cls(config, feat, weights)

    def features(self, texts: list[str]) -> sparse.csr_matrix:
        return self.featurizer.transform(texts)

    def logits(self, texts: list[str]) -> dict[str, np.ndarray]:
        X = self.features(texts)
        return {t: np.asarray(X @ self.weights[f"{t}.coef"].T) + self.weights[f"{t}.intercept"] for t in self.task_order}

    # ---- persistence (no pickle) ----
    def save_pretrained(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text(json.dumps(self.config, ensure_ascii=False, indent=2), encoding="utf-8")
        tensors = {k: np.ascontiguousarray(w) for k, w in self.weights.items()}
        tensors["features.active"] = self.featurizer.active
        tensors["features.idf"] = self.featurizer.idf
        save_file(tensors, str(path / "model.safetensors"))

    @classmethod
    def from_pretrained(cls, path: str | Path) -> LinearModel:
        path = Path(path)
        try:
            config = json.loads((path / "config.json").read_text(encoding="utf-8"))
            tensors = load_file(str(path / "model.safetensors"))
            args = config["linear"]
            feat = HashedNgrams(
                tuple(args["char_ngrams"]), args["word_ngrams"], args["hash_bits"],
                tensors.pop("features.active"), tensors.pop("features.idf"),
            )  # fmt: skip
        except (OSError, json.JSONDecodeError, KeyError, ValueError) as e:
            raise ModelLoadError(f"{path}: not a complete linear model ({type(e).__name__}: {e})") from None
        return cls(config, feat, tensors)
