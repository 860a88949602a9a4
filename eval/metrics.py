"""Evaluation metrics for single-label classification tasks (stance, frame, or any configured task).

Everything here is a pure function over plain sequences of label strings (or numpy arrays for the
calibration metrics); nothing knows which task or label set it is scoring. Labels are always passed
in explicitly so that a label absent from a sample still counts (as F1 = 0) instead of silently
dropping out of the macro average.

Metric callables
----------------
``bootstrap_ci`` and ``paired_bootstrap`` take a ``metric_fn(gold, pred) -> float``. The built-in
:func:`accuracy`, :func:`f_avg` and :func:`macro_f1` (the last bound to its labels with
``functools.partial(macro_f1, labels=...)``), and ``functools.partial`` of them with keyword
arguments, are recognised and computed from batched confusion matrices, which makes 1,000 resamples
of 5,000 items take milliseconds. Any other callable works too; it is called once per resample on
numpy arrays of label strings (slower, same resamples, same result).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score, precision_recall_fscore_support

__all__ = [
    "DEFAULT_F_AVG_LABELS",
    "MetricFn",
    "accuracy",
    "agreement_report",
    "bootstrap_ci",
    "classification_metrics",
    "cohen_kappa",
    "expected_calibration_error",
    "f_avg",
    "macro_f1",
    "mcnemar",
    "paired_bootstrap",
    "reliability_bins",
    "verdict",
]

# SemEval-2016 Task 6 convention: F_avg averages the F1 of the two polar classes only.
DEFAULT_F_AVG_LABELS: tuple[str, ...] = ("favor", "against")

# Below this many discordant pairs the chi-square approximation of McNemar's test is poor
# (the usual textbook rule); use the exact binomial test instead.
MCNEMAR_EXACT_BELOW = 25

# Upper bound on the size of one block of resample indices (n_resamples x n_units), to bound memory.
_MAX_BLOCK = 4_000_000

MetricFn = Callable[[Sequence[str], Sequence[str]], float]
_CmMetric = Callable[[np.ndarray], np.ndarray]  # (b, k, k) confusion matrices -> (b,) scores


# --------------------------------------------------------------------------------------------------
# Validation helpers


def _check_labels(labels: Sequence[str]) -> list[str]:
    out = list(labels)
    if not out:
        raise ValueError("labels must not be empty")
    if len(set(out)) != len(out):
        raise ValueError(f"labels contain duplicates: {out}")
    return out


def _check_same_length(**seqs: Sequence[Any]) -> int:
    lengths = {name: len(seq) for name, seq in seqs.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"inputs differ in length: {lengths}")
    n = next(iter(lengths.values()))
    if n == 0:
        raise ValueError("inputs are empty")
    return n


def _encode(values: Sequence[str], labels: list[str], what: str) -> np.ndarray:
    """Map label strings to their index in ``labels``; unknown values are an error, not a miss.

    Silently scoring an unknown label (a typo, "Favor" vs "favor", a task mix-up) would give
    plausible-looking but wrong numbers, so we refuse instead.
    """
    index = {label: i for i, label in enumerate(labels)}
    try:
        return np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values))
    except (KeyError, TypeError):
        unknown = sorted({repr(v) for v in values if not isinstance(v, Hashable) or v not in index})
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise ValueError(f"{what} contains values not in labels {labels}: {shown}") from None


def _confusion(rows: np.ndarray, cols: np.ndarray, k: int) -> np.ndarray:
    # numpy rather than sklearn.metrics.confusion_matrix, which warns whenever one label is seen
    # even when the full label list is passed.
    return np.bincount(rows * k + cols, minlength=k * k).reshape(k, k)


# --------------------------------------------------------------------------------------------------
# Point metrics


def classification_metrics(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    Every label in ``labels`` is scored, including labels that never occur in ``gold`` or ``pred``
    (their precision/recall/F1 are 0, scikit-learn's ``zero_division=0``), so macro-F1 is always the
    mean over the full label set. Values outside ``labels`` raise ``ValueError``.

    Returns a dict with keys ``n``, ``labels``, ``accuracy``, ``macro_f1``, ``macro_precision``,
    ``macro_recall``, ``per_class`` (label -> {precision, recall, f1, support}) and
    ``confusion_matrix`` (nested lists; rows are gold, columns are predictions, both in label order).
    """
    labels = _check_labels(labels)
    n = _check_same_length(gold=gold, pred=pred)
    cm = _confusion(_encode(gold, labels, "gold"), _encode(pred, labels, "pred"), len(labels))
    gold_l, pred_l = list(gold), list(pred)
    precision, recall, f1, support = precision_recall_fscore_support(
        gold_l, pred_l, labels=labels, average=None, zero_division=0
    )
    return {
        "n": n,
        "labels": labels,
        "accuracy": float(accuracy_score(gold_l, pred_l)),
        "macro_f1": float(np.mean(f1)),
        "macro_precision": float(np.mean(precision)),
        "macro_recall": float(np.mean(recall)),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion_matrix": cm.astype(int).tolist(),
    }


def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Fraction of items whose prediction equals the gold label."""
    _check_same_length(gold=gold, pred=pred)
    return float(accuracy_score(list(gold), list(pred)))


def macro_f1(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> float:
    """Unweighted mean F1 over all of ``labels`` (absent labels count as 0; unknown values raise)."""
    labels = _check_labels(labels)
    _check_same_length(gold=gold, pred=pred)
    _encode(gold, labels, "gold")
    _encode(pred, labels, "pred")
    scores = f1_score(list(gold), list(pred), labels=labels, average=None, zero_division=0)
    return float(np.mean(scores))


def f_avg(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] = DEFAULT_F_AVG_LABELS) -> float:
    """Mean F1 of ``labels`` only (SemEval-2016 Task 6 F_avg; by default favor and against).

    Precision and recall of each counted label are computed over all items, so predicting
    ``neutral`` for a ``favor`` item still costs ``favor`` recall. A counted label absent from both
    gold and pred has F1 = 0. Here ``labels`` is the set of labels that *count*, not the full label set.
    """
    counted = _check_labels(labels)
    _check_same_length(gold=gold, pred=pred)
    scores = f1_score(list(gold), list(pred), labels=counted, average=None, zero_division=0)
    return float(np.mean(scores))


# --------------------------------------------------------------------------------------------------
# Vectorised metrics over batches of confusion matrices (used by the bootstrap)


def _mean_f1_from_cm(cms: np.ndarray, idx: np.ndarray) -> np.ndarray:
    # F1 = 2PR/(P+R) = 2TP/(n_gold + n_pred); 0 when the label is in neither (zero_division=0).
    tp = cms[:, idx, idx].astype(float)
    denom = (cms.sum(axis=2)[:, idx] + cms.sum(axis=1)[:, idx]).astype(float)
    f1 = np.divide(2.0 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return f1.mean(axis=1)


def _accuracy_from_cm(cms: np.ndarray) -> np.ndarray:
    return np.trace(cms, axis1=1, axis2=2) / cms.sum(axis=(1, 2))


def _fast_metric(metric_fn: Callable[..., float], labels: list[str]) -> _CmMetric | None:
    """Return a confusion-matrix version of a built-in metric, or None for an arbitrary callable."""
    func: Any = metric_fn
    keywords: dict[str, Any] = {}
    if isinstance(metric_fn, functools.partial):
        if metric_fn.args:  # positional binding would shift gold/pred; leave it to the slow path
            return None
        func, keywords = metric_fn.func, dict(metric_fn.keywords)
    if func is accuracy and not keywords:
        return _accuracy_from_cm
    if func in (f_avg, macro_f1) and set(keywords) <= {"labels"}:
        if func is macro_f1 and "labels" not in keywords:
            return None  # macro_f1 without labels cannot be called; let the call raise TypeError
        counted = _check_labels(keywords.get("labels", DEFAULT_F_AVG_LABELS))
        missing = [c for c in counted if c not in labels]
        if missing:
            # Almost always a configuration error, e.g. the default favor/against on a task whose
            # polar labels are named differently; the metric would silently be 0.
            raise ValueError(f"metric counts labels {missing} that are not in labels {labels}")
        idx = np.array([labels.index(c) for c in counted])
        return functools.partial(_mean_f1_from_cm, idx=idx)
    return None


# --------------------------------------------------------------------------------------------------
# Bootstrap


class _Resampler:
    """Draws bootstrap resamples of units (items, or groups of items) and turns them into statistics.

    The same draws feed the fast (confusion-matrix) and slow (call the metric) paths, so both give
    identical bootstrap distributions for the same seed.
    """

    def __init__(self, gold_codes: np.ndarray, k: int, groups: Sequence[Hashable] | None) -> None:
        self.k = k
        self.n = len(gold_codes)
        if groups is None:
            self.unit = "item"
            self.unit_of_item = np.arange(self.n)
        else:
            if len(groups) != self.n:
                raise ValueError(f"groups has length {len(groups)}, expected {self.n}")
            ids: dict[Hashable, int] = {}
            self.unit_of_item = np.fromiter((ids.setdefault(g, len(ids)) for g in groups), np.int64, self.n)
            self.unit = "group"
        self.n_units = int(self.unit_of_item.max()) + 1
        self.members: list[np.ndarray] = []
        if self.unit == "group":  # item indices of each group, for the slow path
            order = np.argsort(self.unit_of_item, kind="stable")
            bounds = np.searchsorted(self.unit_of_item[order], np.arange(self.n_units + 1))
            self.members = [order[bounds[u] : bounds[u + 1]] for u in range(self.n_units)]

    def draws(self, n_boot: int, seed: int) -> Iterator[np.ndarray]:
        """Yield blocks of shape (b, n_units) of unit indices drawn with replacement."""
        rng = np.random.default_rng(seed)
        block = max(1, _MAX_BLOCK // self.n_units)
        done = 0
        while done < n_boot:
            b = min(block, n_boot - done)
            yield rng.integers(0, self.n_units, size=(b, self.n_units))
            done += b

    def confusion_batch(self, draw: np.ndarray, pair_codes: np.ndarray) -> np.ndarray:
        """Confusion matrices (b, k, k) of the resamples in ``draw`` for one system."""
        b, kk = draw.shape[0], self.k * self.k
        offsets = (np.arange(b) * kk)[:, None]
        if self.unit == "item":
            flat = np.bincount((pair_codes[draw] + offsets).ravel(), minlength=b * kk)
            return flat.reshape(b, self.k, self.k)
        # Cluster bootstrap: count how often each group was drawn, then weight per-group matrices.
        per_group = np.bincount(self.unit_of_item * kk + pair_codes, minlength=self.n_units * kk)
        per_group = per_group.reshape(self.n_units, kk)
        unit_offsets = (np.arange(b) * self.n_units)[:, None]
        weights = np.bincount((draw + unit_offsets).ravel(), minlength=b * self.n_units)
        return (weights.reshape(b, self.n_units) @ per_group).reshape(b, self.k, self.k)

    def item_indices(self, units: np.ndarray) -> np.ndarray:
        if self.unit == "item":
            return units
        return np.concatenate([self.members[u] for u in units])


def _check_boot_args(n_boot: int, alpha: float) -> None:
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def _boot_stats(
    gold: Sequence[str],
    preds: list[Sequence[str]],
    labels: list[str],
    metric_fn: MetricFn,
    n_boot: int,
    seed: int,
    groups: Sequence[Hashable] | None,
) -> tuple[list[float], np.ndarray, _Resampler]:
    """Observed metric per system and the (n_boot, n_systems) bootstrap distribution."""
    k = len(labels)
    gold_codes = _encode(gold, labels, "gold")
    pair_codes = [gold_codes * k + _encode(p, labels, "pred") for p in preds]
    observed = [float(metric_fn(gold, p)) for p in preds]
    resampler = _Resampler(gold_codes, k, groups)
    fast = _fast_metric(metric_fn, labels)
    gold_arr = np.asarray(list(gold), dtype=object)
    pred_arrs = [np.asarray(list(p), dtype=object) for p in preds]
    blocks = []
    for draw in resampler.draws(n_boot, seed):
        if fast is not None:
            blocks.append(np.stack([fast(resampler.confusion_batch(draw, pc)) for pc in pair_codes], axis=1))
            continue
        block = np.empty((draw.shape[0], len(preds)))
        for r, units in enumerate(draw):
            idx = resampler.item_indices(units)
            block[r] = [metric_fn(gold_arr[idx], pa[idx]) for pa in pred_arrs]
        blocks.append(block)
    return observed, np.concatenate(blocks, axis=0), resampler


def bootstrap_ci(
    gold: Sequence[str],
    pred: Sequence[str],
    labels: Sequence[str],
    metric_fn: MetricFn,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    groups: Sequence[Hashable] | None = None,
) -> dict[str, Any]:
    """Percentile bootstrap confidence interval for ``metric_fn(gold, pred)``.

    Without ``groups`` items are resampled with replacement. With ``groups`` (one id per item,
    e.g. the article id) whole groups are resampled (cluster bootstrap): sentences of one article
    are not independent, and item resampling would give intervals that are too narrow.

    ``labels`` is the full label set: every gold/pred value must be in it. ``metric_fn`` is called as
    ``metric_fn(gold, pred)``; see the module docstring for which callables are vectorised.

    Returns a dict with ``estimate`` (metric on the full data), ``ci_low``/``ci_high`` (the
    ``alpha/2`` and ``1 - alpha/2`` quantiles of the bootstrap distribution), ``se`` (its standard
    deviation), ``alpha``, ``n_boot``, ``seed``, ``unit`` ("item" or "group") and ``n_units``.
    """
    labels = _check_labels(labels)
    _check_same_length(gold=gold, pred=pred)
    _check_boot_args(n_boot, alpha)
    observed, boot, resampler = _boot_stats(gold, [pred], labels, metric_fn, n_boot, seed, groups)
    values = boot[:, 0]
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return {
        "estimate": observed[0],
        "ci_low": float(low),
        "ci_high": float(high),
        "se": float(values.std(ddof=1)) if n_boot > 1 else 0.0,
        "alpha": alpha,
        "n_boot": n_boot,
        "seed": seed,
        "unit": resampler.unit,
        "n_units": resampler.n_units,
    }


def paired_bootstrap(
    gold: Sequence[str],
    pred_a: Sequence[str],
    pred_b: Sequence[str],
    labels: Sequence[str],
    metric_fn: MetricFn,
    n_boot: int = 2000,
    seed: int = 0,
    groups: Sequence[Hashable] | None = None,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Paired bootstrap test of ``metric_fn(gold, pred_a) - metric_fn(gold, pred_b)``.

    Both systems are scored on the *same* resamples (items, or groups when ``groups`` is given), so
    the test accounts for the correlation between them. With ``d*`` the resampled differences:

        p = min(1, 2 * min(frac(d* <= 0), frac(d* >= 0)))

    i.e. the fraction of resampled differences on the far side of zero from most of them, doubled
    for a two-sided test (Efron & Tibshirani's percentile test, in the spirit of Koehn 2004 and
    Berg-Kirkpatrick et al. 2012). Resampled differences of exactly zero count against a
    difference, which is conservative. Identical systems get p = 1. The resolution is limited by
    ``n_boot``: p = 0 means no resample fell on the far side, i.e. p < 2 / n_boot.

    Returns ``metric_a``, ``metric_b``, ``diff`` (a - b, on the full data), ``ci_low``/``ci_high``
    (percentile CI of the difference at level ``1 - alpha``), ``p_value``, ``n_boot``, ``seed``,
    ``unit`` and ``n_units``.
    """
    labels = _check_labels(labels)
    _check_same_length(gold=gold, pred_a=pred_a, pred_b=pred_b)
    _check_boot_args(n_boot, alpha)
    observed, boot, resampler = _boot_stats(gold, [pred_a, pred_b], labels, metric_fn, n_boot, seed, groups)
    diffs = boot[:, 0] - boot[:, 1]
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    p_value = min(1.0, 2.0 * min(float(np.mean(diffs <= 0)), float(np.mean(diffs >= 0))))
    return {
        "metric_a": observed[0],
        "metric_b": observed[1],
        "diff": observed[0] - observed[1],
        "ci_low": float(low),
        "ci_high": float(high),
        "p_value": p_value,
        "alpha": alpha,
        "n_boot": n_boot,
        "seed": seed,
        "unit": resampler.unit,
        "n_units": resampler.n_units,
    }


# --------------------------------------------------------------------------------------------------
# Significance of a paired difference in accuracy


def mcnemar(gold: Sequence[str], pred_a: Sequence[str], pred_b: Sequence[str]) -> dict[str, Any]:
    """McNemar's test on the items where exactly one of two systems is correct.

    ``b`` = items A gets right and B gets wrong, ``c`` = items A gets wrong and B gets right.
    With fewer than 25 discordant pairs the exact two-sided binomial test (``b ~ Bin(b + c, 1/2)``)
    is used and ``statistic`` is ``min(b, c)``; otherwise the chi-square test with continuity
    correction, ``statistic = (|b - c| - 1)^2 / (b + c)`` on 1 degree of freedom. With no discordant
    pairs p = 1.

    Returns ``b``, ``c``, ``n_discordant``, ``statistic``, ``p_value`` and ``method``
    ("exact-binomial" or "chi2-continuity").
    """
    _check_same_length(gold=gold, pred_a=pred_a, pred_b=pred_b)
    g, a, bb = (np.asarray(list(x), dtype=object) for x in (gold, pred_a, pred_b))
    right_a, right_b = a == g, bb == g
    b = int(np.sum(right_a & ~right_b))
    c = int(np.sum(~right_a & right_b))
    n = b + c
    if n < MCNEMAR_EXACT_BELOW:
        p = 1.0 if n == 0 else float(stats.binomtest(b, n, 0.5, alternative="two-sided").pvalue)
        statistic, method = float(min(b, c)), "exact-binomial"
    else:
        statistic = (abs(b - c) - 1) ** 2 / n
        p, method = float(stats.chi2.sf(statistic, df=1)), "chi2-continuity"
    return {
        "b": b,
        "c": c,
        "n_discordant": n,
        "statistic": float(statistic),
        "p_value": min(1.0, p),
        "method": method,
    }


# --------------------------------------------------------------------------------------------------
# Calibration


def _check_probs(probs: np.ndarray, gold_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=float)
    gold_idx = np.asarray(gold_idx)
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] == 0:
        raise ValueError(f"probs must have shape (n, k) with n, k > 0, got {probs.shape}")
    if gold_idx.shape != (probs.shape[0],):
        raise ValueError(f"gold_idx must have shape ({probs.shape[0]},), got {gold_idx.shape}")
    if not np.issubdtype(gold_idx.dtype, np.integer):
        raise ValueError(f"gold_idx must be integers, got dtype {gold_idx.dtype}")
    if gold_idx.min() < 0 or gold_idx.max() >= probs.shape[1]:
        raise ValueError(f"gold_idx must lie in [0, {probs.shape[1]})")
    if not np.all(np.isfinite(probs)) or probs.min() < 0 or probs.max() > 1 + 1e-6:
        raise ValueError("probs must be finite probabilities in [0, 1] (did you pass logits?)")
    # Loose tolerance: float16/float32 softmax outputs do not sum to exactly 1.
    if not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("each row of probs must sum to 1 (did you pass logits or unnormalised scores?)")
    return probs, gold_idx


def reliability_bins(probs: np.ndarray, gold_idx: np.ndarray, n_bins: int = 15) -> list[dict[str, Any]]:
    """Top-label reliability diagram data over ``n_bins`` equal-width confidence bins on [0, 1].

    An item's confidence is its largest probability, its prediction the argmax (first on ties).
    Bin ``i`` holds confidences in ``(i / n_bins, (i + 1) / n_bins]`` (the first bin also holds 0).

    Returns one dict per bin with ``lower``, ``upper``, ``count``, ``confidence`` (mean confidence)
    and ``accuracy`` (fraction correct); the last two are None for empty bins.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    probs, gold_idx = _check_probs(probs, gold_idx)
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == gold_idx).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # searchsorted on the inner edges gives right-closed bins; comparing against the same linspace
    # edges (rather than ceil(conf * n_bins)) keeps e.g. 0.6 out of the bin above it.
    which = np.searchsorted(edges[1:-1], conf, side="left")
    count = np.bincount(which, minlength=n_bins)
    conf_sum = np.bincount(which, weights=conf, minlength=n_bins)
    correct_sum = np.bincount(which, weights=correct, minlength=n_bins)
    return [
        {
            "lower": float(edges[i]),
            "upper": float(edges[i + 1]),
            "count": int(count[i]),
            "confidence": float(conf_sum[i] / count[i]) if count[i] else None,
            "accuracy": float(correct_sum[i] / count[i]) if count[i] else None,
        }
        for i in range(n_bins)
    ]


def expected_calibration_error(probs: np.ndarray, gold_idx: np.ndarray, n_bins: int = 15) -> float:
    """Top-label expected calibration error with equal-width bins (Guo et al. 2017).

    ``ECE = sum_b (n_b / n) * |accuracy_b - confidence_b|`` over the bins of :func:`reliability_bins`.
    15 bins is the common default in the calibration literature, which keeps numbers comparable.
    """
    bins = reliability_bins(probs, gold_idx, n_bins)
    n = sum(b["count"] for b in bins)
    return float(sum(b["count"] / n * abs(b["accuracy"] - b["confidence"]) for b in bins if b["count"]))


# --------------------------------------------------------------------------------------------------
# Agreement between two annotation passes


def _expected_agreement(cm: np.ndarray) -> float:
    n = cm.sum()
    return float(cm.sum(axis=1) @ cm.sum(axis=0)) / float(n * n)


def cohen_kappa(a: Sequence[str], b: Sequence[str], labels: Sequence[str]) -> float:
    """Cohen's kappa between two label sequences (scikit-learn), or NaN when it is undefined.

    Kappa is undefined (0/0) when chance agreement is 1, i.e. both passes give every item the same
    single label; we return NaN then rather than let scikit-learn warn.
    """
    labels = _check_labels(labels)
    _check_same_length(a=a, b=b)
    cm = _confusion(_encode(a, labels, "a"), _encode(b, labels, "b"), len(labels))
    if math.isclose(_expected_agreement(cm), 1.0):
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(cohen_kappa_score(list(a), list(b), labels=labels))


def agreement_report(a: Sequence[str], b: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Agreement between two passes over the same items.

    Returns ``n``, ``labels``, ``kappa`` (None when undefined), ``observed_agreement`` (fraction of
    identical labels), ``expected_agreement`` (chance agreement from the marginals), ``per_label``
    (label -> {n_a, n_b, n_both, specific_agreement}) and ``confusion`` (nested lists, rows pass
    ``a``, columns pass ``b``, in label order).

    Positive specific agreement for a label is ``2 * n_both / (n_a + n_b)``, where ``n_both`` counts
    items both passes gave that label (Fleiss 1975; the Dice coefficient of the two passes). It is
    None for a label neither pass used.
    """
    labels = _check_labels(labels)
    n = _check_same_length(a=a, b=b)
    kappa = cohen_kappa(a, b, labels)
    cm = _confusion(_encode(a, labels, "a"), _encode(b, labels, "b"), len(labels))
    n_a, n_b, n_both = cm.sum(axis=1), cm.sum(axis=0), np.diag(cm)
    per_label = {
        label: {
            "n_a": int(n_a[i]),
            "n_b": int(n_b[i]),
            "n_both": int(n_both[i]),
            "specific_agreement": float(2 * n_both[i] / (n_a[i] + n_b[i])) if n_a[i] + n_b[i] else None,
        }
        for i, label in enumerate(labels)
    }
    return {
        "n": n,
        "labels": labels,
        "kappa": None if math.isnan(kappa) else kappa,
        "observed_agreement": float(np.trace(cm)) / n,
        "expected_agreement": _expected_agreement(cm),
        "per_label": per_label,
        "confusion": cm.astype(int).tolist(),
    }


# --------------------------------------------------------------------------------------------------
# Reporting


def _fmt_number(x: float) -> str:
    return f"{x:.1e}" if 0 < abs(x) < 0.001 else f"{x:.3f}"


def _fmt_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def verdict(p_value: float, diff: float, name_a: str, name_b: str, alpha: float = 0.05) -> str:
    """One plain-English sentence on whether ``name_a`` and ``name_b`` differ significantly.

    ``diff`` is metric(a) - metric(b); the sentence says "higher"/"lower" rather than "better" so
    that it stays correct for metrics where lower is better (e.g. ECE).
    """
    if not 0.0 <= p_value <= 1.0:  # also rejects NaN
        raise ValueError(f"p_value must be in [0, 1], got {p_value}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    level = f"the {alpha * 100:g}% level"
    if diff == 0:
        return (
            f"{name_a} and {name_b} score the same ({_fmt_p(p_value)}), so there is no difference to report."
        )
    direction = "higher" if diff > 0 else "lower"
    gap = f"{name_a} scores {direction} than {name_b} by {_fmt_number(abs(diff))} ({_fmt_p(p_value)})"
    if p_value < alpha:
        return f"{gap}, and the difference is statistically significant at {level}."
    return f"{gap}, but the difference is not statistically significant at {level}."
