"""PNG plots for evaluation reports: confusion matrices and reliability diagrams.

Figures are drawn on matplotlib's Agg canvas directly (``Figure`` + ``FigureCanvasAgg``) rather than
through ``pyplot``: no global backend switch, no figure registry to leak, safe on headless machines
and in threads. Label text is drawn as given; matplotlib does not shape Arabic script, so Arabic
label names would render as disconnected letters.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["plot_confusion", "plot_reliability"]

_DPI = 150


def _save(fig: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(out, format="png", dpi=_DPI, bbox_inches="tight")
    return out


def plot_confusion(
    cm: Sequence[Sequence[int]] | np.ndarray, labels: Sequence[str], path: str | Path, title: str
) -> Path:
    """Draw a confusion matrix (rows gold, columns predicted) as a PNG at ``path``; returns the path.

    Cells are coloured by the row-normalised fraction (recall per gold label), so that rare labels
    are as readable as common ones, and annotated with the raw count and that fraction.
    """
    matrix = np.asarray(cm, dtype=float)
    k = len(labels)
    if matrix.shape != (k, k):
        raise ValueError(f"cm has shape {matrix.shape}, expected ({k}, {k}) for {k} labels")
    row_sums = matrix.sum(axis=1, keepdims=True)
    frac = np.divide(matrix, row_sums, out=np.zeros_like(matrix), where=row_sums > 0)

    size = max(4.0, 0.9 * k + 2.0)
    fig = Figure(figsize=(size + 1.0, size))
    ax = fig.add_subplot()
    image = ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of gold row")
    ax.set_xticks(range(k), labels=list(labels), rotation=45, ha="right")
    ax.set_yticks(range(k), labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    for i in range(k):
        for j in range(k):
            colour = "white" if frac[i, j] > 0.5 else "black"
            ax.text(
                j,
                i,
                f"{int(matrix[i, j])}\n{frac[i, j]:.0%}",
                ha="center",
                va="center",
                color=colour,
                fontsize=8,
            )
    return _save(fig, path)


def plot_reliability(bins: Sequence[dict[str, Any]], ece: float, path: str | Path, title: str) -> Path:
    """Draw a reliability diagram from :func:`eval.metrics.reliability_bins` output; returns the path.

    Top panel: accuracy per confidence bin against the diagonal of perfect calibration (empty bins
    are left blank). Bottom panel: how many items fall in each bin, since a large gap in a bin with
    three items means little.
    """
    if not bins:
        raise ValueError("bins is empty")
    lower = np.array([b["lower"] for b in bins], dtype=float)
    upper = np.array([b["upper"] for b in bins], dtype=float)
    counts = np.array([b["count"] for b in bins], dtype=float)
    filled = counts > 0
    acc = np.array([b["accuracy"] if b["count"] else 0.0 for b in bins], dtype=float)
    conf = np.array([b["confidence"] if b["count"] else 0.0 for b in bins], dtype=float)
    width = upper - lower

    fig = Figure(figsize=(5.0, 6.0))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    top.bar(
        lower[filled],
        acc[filled],
        width=width[filled],
        align="edge",
        color="tab:blue",
        edgecolor="black",
        linewidth=0.5,
        label="accuracy",
    )
    # Red gap bars between accuracy and mean confidence show where the model is over/under-confident.
    top.bar(
        lower[filled],
        conf[filled] - acc[filled],
        bottom=acc[filled],
        width=width[filled],
        align="edge",
        color="tab:red",
        alpha=0.3,
        edgecolor="tab:red",
        linewidth=0.5,
        label="gap",
    )
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.set_title(f"{title}\nECE = {ece:.3f}")
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(lower, counts, width=width, align="edge", color="grey", edgecolor="black", linewidth=0.5)
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("items")
    return _save(fig, path)
