"""Temperature scaling (Guo et al., 2017): one scalar per task, fitted on dev by minimising NLL.

It changes confidence, never the argmax, so accuracy and F1 are untouched while probabilities
become trustworthy enough to rank "most confident" sentences and to pick what to label next.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def nll(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    p = softmax(logits, temperature)
    return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature in [0.05, 20] that minimises dev NLL (log-space search: T is a scale)."""
    logits, y = np.asarray(logits), np.asarray(y)
    keep = y >= 0
    if keep.sum() < 2:
        return 1.0
    res = minimize_scalar(lambda log_t: nll(logits[keep], y[keep], float(np.exp(log_t))), bounds=(np.log(0.05), np.log(20)), method="bounded")
    return float(np.exp(res.x))
