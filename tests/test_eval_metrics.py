"""Tests for eval.metrics: every expected value is worked out by hand in the comments."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eval import metrics
from eval.metrics import (
    accuracy,
    agreement_report,
    bootstrap_ci,
    classification_metrics,
    cohen_kappa,
    expected_calibration_error,
    f_avg,
    macro_f1,
    mcnemar,
    paired_bootstrap,
    reliability_bins,
    verdict,
)

LABELS = ["favor", "against", "neutral", "unrelated"]

# 8 items. "against" never occurs in gold; "unrelated" is never predicted.
#   item  gold       pred
#   1     favor      favor      ok
#   2     favor      favor      ok
#   3     favor      against
#   4     neutral    neutral    ok
#   5     neutral    neutral    ok
#   6     neutral    favor
#   7     unrelated  neutral
#   8     unrelated  neutral
GOLD = ["favor", "favor", "favor", "neutral", "neutral", "neutral", "unrelated", "unrelated"]
PRED = ["favor", "favor", "against", "neutral", "neutral", "favor", "neutral", "neutral"]


def test_classification_metrics_by_hand() -> None:
    m = classification_metrics(GOLD, PRED, LABELS)
    # accuracy: items 1, 2, 4, 5 correct -> 4/8.
    assert m["n"] == 8
    assert m["accuracy"] == pytest.approx(0.5)
    # favor: TP 2 (items 1, 2); predicted 3 times (1, 2, 6); gold 3 times -> P = R = F1 = 2/3.
    assert m["per_class"]["favor"] == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3}
    )
    # against (absent from gold): predicted once, never right -> P = 0, R = 0/0 -> 0, F1 = 0, support 0.
    assert m["per_class"]["against"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # neutral: TP 2 (4, 5); predicted 4 times (4, 5, 7, 8); gold 3 -> P = 1/2, R = 2/3,
    # F1 = 2 * (1/2) * (2/3) / (1/2 + 2/3) = (2/3) / (7/6) = 4/7.
    assert m["per_class"]["neutral"] == pytest.approx(
        {"precision": 0.5, "recall": 2 / 3, "f1": 4 / 7, "support": 3}
    )
    # unrelated (absent from predictions): P = 0/0 -> 0, R = 0/2 = 0, F1 = 0, support 2.
    assert m["per_class"]["unrelated"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    # Macro over all four labels, absent ones included: F1 (2/3 + 0 + 4/7 + 0) / 4 = (26/21) / 4 = 13/42,
    # P (2/3 + 0 + 1/2 + 0) / 4 = 7/24, R (2/3 + 0 + 2/3 + 0) / 4 = 1/3.
    assert m["macro_f1"] == pytest.approx(13 / 42)
    assert m["macro_precision"] == pytest.approx(7 / 24)
    assert m["macro_recall"] == pytest.approx(1 / 3)
    # Rows gold, columns pred, label order favor, against, neutral, unrelated.
    assert m["confusion_matrix"] == [
        [2, 1, 0, 0],  # favor -> favor x2 (1, 2), against x1 (3)
        [0, 0, 0, 0],  # against never gold
        [1, 0, 2, 0],  # neutral -> favor (6), neutral x2 (4, 5)
        [0, 0, 2, 0],  # unrelated -> neutral x2 (7, 8)
    ]
    assert m["labels"] == LABELS


def test_macro_f1_and_accuracy_match_classification_metrics() -> None:
    assert macro_f1(GOLD, PRED, LABELS) == pytest.approx(13 / 42)
    assert accuracy(GOLD, PRED) == pytest.approx(0.5)


def test_f_avg_by_hand() -> None:
    # Default counts favor (F1 2/3) and against (F1 0): (2/3 + 0) / 2 = 1/3.
    assert f_avg(GOLD, PRED) == pytest.approx(1 / 3)
    # favor and neutral: (2/3 + 4/7) / 2 = 13/21.
    assert f_avg(GOLD, PRED, labels=("favor", "neutral")) == pytest.approx(13 / 21)


def test_unknown_labels_and_bad_shapes_raise() -> None:
    with pytest.raises(ValueError, match="not in labels"):
        classification_metrics(GOLD, PRED[:-1] + ["Favor"], LABELS)
    with pytest.raises(ValueError, match="length"):
        classification_metrics(GOLD, PRED[:-1], LABELS)
    with pytest.raises(ValueError, match="empty"):
        classification_metrics([], [], LABELS)
    with pytest.raises(ValueError, match="duplicates"):
        macro_f1(GOLD, PRED, LABELS + ["favor"])


# ---------------------------------------------------------------------------------------------- bootstrap


def _noisy(n: int, acc: float, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    gold = [str(x) for x in rng.choice(LABELS, size=n)]
    pred = [g if rng.random() < acc else str(rng.choice(LABELS)) for g in gold]
    return gold, pred


def test_bootstrap_ci_contains_estimate_and_is_deterministic() -> None:
    gold, pred = _noisy(300, 0.7, seed=1)
    a = bootstrap_ci(gold, pred, LABELS, f_avg, n_boot=500, seed=7)
    b = bootstrap_ci(gold, pred, LABELS, f_avg, n_boot=500, seed=7)
    c = bootstrap_ci(gold, pred, LABELS, f_avg, n_boot=500, seed=8)
    assert a == b
    assert (a["ci_low"], a["ci_high"]) != (c["ci_low"], c["ci_high"])
    assert a["estimate"] == pytest.approx(f_avg(gold, pred))
    assert a["ci_low"] < a["estimate"] < a["ci_high"]
    assert a["unit"] == "item" and a["n_units"] == 300 and a["n_boot"] == 500


def test_bootstrap_of_perfect_predictions_is_degenerate() -> None:
    # Every resample of a perfect system is perfect: CI [1, 1], se 0.
    r = bootstrap_ci(GOLD, GOLD, LABELS, accuracy, n_boot=50)
    assert (r["estimate"], r["ci_low"], r["ci_high"], r["se"]) == (1.0, 1.0, 1.0, 0.0)


@pytest.mark.parametrize(
    "metric",
    [
        accuracy,
        f_avg,
        functools.partial(f_avg, labels=("neutral",)),
        functools.partial(macro_f1, labels=LABELS),
    ],
)
def test_fast_path_matches_calling_the_metric(metric: metrics.MetricFn) -> None:
    # The vectorised (confusion-matrix) path and the plain call path share the same draws, so a
    # lambda wrapper (not recognised, so called per resample) must give exactly the same interval.
    gold, pred = _noisy(40, 0.6, seed=2)
    groups = [i // 4 for i in range(40)]
    for grp in (None, groups):
        fast = bootstrap_ci(gold, pred, LABELS, metric, n_boot=50, seed=3, groups=grp)
        slow = bootstrap_ci(gold, pred, LABELS, lambda g, p: metric(g, p), n_boot=50, seed=3, groups=grp)
        assert fast == pytest.approx(slow)


def test_cluster_bootstrap_resamples_whole_groups() -> None:
    # Use the item identity as the label so a (slow-path) metric can see which items were drawn.
    ids = [f"i{j}" for j in range(12)]
    groups = ["a", "a", "a", "b", "b", "c", "c", "c", "c", "d", "e", "e"]
    members = {g: [i for i, gg in zip(ids, groups, strict=True) if gg == g] for g in set(groups)}
    seen: list[list[str]] = []

    def record(gold: Sequence[str], pred: Sequence[str]) -> float:
        seen.append(list(gold))
        return 0.0

    r = bootstrap_ci(ids, ids, ids, record, n_boot=30, seed=0, groups=groups)
    assert r["unit"] == "group" and r["n_units"] == 5
    resamples = seen[1:]  # seen[0] is the observed (full-data) call
    assert len(resamples) == 30
    for sample in resamples:
        counts = {i: sample.count(i) for i in ids}
        for items in members.values():
            # all items of a group appear equally often: the group was drawn as a whole
            assert len({counts[i] for i in items}) == 1
        # 5 groups drawn with replacement: total size is a sum of 5 group sizes, not always 12.
    assert {len(s) for s in resamples} != {12}


def test_cluster_bootstrap_is_wider_for_correlated_groups() -> None:
    # 10 articles of 10 sentences; 5 articles entirely right, 5 entirely wrong. Item resampling
    # sees 100 independent coin flips (se ~ sqrt(.25 / 100) = .05); group resampling sees 10
    # (se ~ sqrt(.25 / 10) ~ .16), so its interval must be much wider.
    gold = ["favor"] * 100
    pred = ["favor"] * 50 + ["against"] * 50
    groups = [i // 10 for i in range(100)]
    items = bootstrap_ci(gold, pred, LABELS, accuracy, n_boot=1000, seed=0)
    clusters = bootstrap_ci(gold, pred, LABELS, accuracy, n_boot=1000, seed=0, groups=groups)
    assert clusters["n_units"] == 10
    assert items["se"] == pytest.approx(0.05, abs=0.01)
    assert clusters["se"] == pytest.approx(math.sqrt(0.25 / 10), abs=0.03)
    assert clusters["ci_high"] - clusters["ci_low"] > 2.5 * (items["ci_high"] - items["ci_low"])


def test_singleton_groups_equal_item_bootstrap() -> None:
    gold, pred = _noisy(60, 0.5, seed=4)
    items = bootstrap_ci(gold, pred, LABELS, f_avg, n_boot=200, seed=5)
    singletons = bootstrap_ci(gold, pred, LABELS, f_avg, n_boot=200, seed=5, groups=list(range(60)))
    assert {k: v for k, v in items.items() if k != "unit"} == {
        k: v for k, v in singletons.items() if k != "unit"
    }


def test_bootstrap_rejects_f_avg_labels_outside_label_set() -> None:
    # favor/against default on a task whose labels are named differently would silently score 0.
    with pytest.raises(ValueError, match="not in labels"):
        bootstrap_ci(["pro", "anti"], ["pro", "pro"], ["pro", "anti"], f_avg, n_boot=10)


def test_bootstrap_is_fast() -> None:
    import time

    gold, pred = _noisy(5000, 0.7, seed=6)
    start = time.perf_counter()
    bootstrap_ci(gold, pred, LABELS, f_avg, n_boot=1000)
    bootstrap_ci(gold, pred, LABELS, f_avg, n_boot=1000, groups=[i // 10 for i in range(5000)])
    assert time.perf_counter() - start < 3.0


# ------------------------------------------------------------------------------------- paired bootstrap


def test_paired_bootstrap_identical_systems() -> None:
    gold, pred = _noisy(200, 0.6, seed=9)
    r = paired_bootstrap(gold, pred, list(pred), LABELS, f_avg, n_boot=300)
    # Every resampled difference is exactly 0: frac(<= 0) = frac(>= 0) = 1 -> p = min(1, 2) = 1.
    assert r["diff"] == 0.0 and r["p_value"] == 1.0
    assert r["ci_low"] == r["ci_high"] == 0.0


def test_paired_bootstrap_clearly_better_system() -> None:
    # A is always right, B is right on half the items (accuracy 1 vs 0.5): observed diff 0.5.
    gold = ["favor", "against"] * 50
    pred_a = list(gold)
    pred_b = ["favor"] * 100
    r = paired_bootstrap(gold, pred_a, pred_b, LABELS, accuracy, n_boot=1000, seed=1)
    assert r["metric_a"] == 1.0 and r["metric_b"] == 0.5 and r["diff"] == 0.5
    assert r["p_value"] < 0.01
    assert 0.35 < r["ci_low"] < 0.5 < r["ci_high"] < 0.65
    # Swapping the systems flips the sign but not the p-value.
    s = paired_bootstrap(gold, pred_b, pred_a, LABELS, accuracy, n_boot=1000, seed=1)
    assert s["diff"] == -0.5 and s["p_value"] == r["p_value"]


def test_paired_bootstrap_p_value_definition() -> None:
    # Recompute the test by hand: the same draws (numpy default_rng(seed).integers(0, n, (n_boot, n)))
    # and p = min(1, 2 * min(frac(d <= 0), frac(d >= 0))).
    gold, pred_a = _noisy(30, 0.6, seed=10)
    _, pred_b = _noisy(30, 0.5, seed=11)
    n_boot, seed = 400, 12
    r = paired_bootstrap(gold, pred_a, pred_b, LABELS, accuracy, n_boot=n_boot, seed=seed)
    g, a, b = (np.array(x) for x in (gold, pred_a, pred_b))
    idx = np.random.default_rng(seed).integers(0, 30, size=(n_boot, 30))
    d = (a[idx] == g[idx]).mean(axis=1) - (b[idx] == g[idx]).mean(axis=1)
    expected = min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0)))
    assert r["p_value"] == pytest.approx(expected)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(tuple(np.quantile(d, [0.025, 0.975])))


# ----------------------------------------------------------------------------------------------- McNemar


def test_mcnemar_exact_by_hand() -> None:
    # 10 items. A right / B wrong on 1 item (b = 1); A wrong / B right on 6 (c = 6); both right on 2,
    # both wrong on 1. Discordant 7 < 25 -> exact: P(X <= 1 | Bin(7, 1/2)) = (1 + 7) / 128 = 1/16,
    # two-sided p = 2/16 = 0.125.
    gold = ["x"] * 10
    pred_a = ["x"] + ["y"] * 6 + ["x", "x"] + ["y"]
    pred_b = ["y"] + ["x"] * 6 + ["x", "x"] + ["y"]
    r = mcnemar(gold, pred_a, pred_b)
    assert (r["b"], r["c"], r["n_discordant"], r["method"]) == (1, 6, 7, "exact-binomial")
    assert r["statistic"] == 1.0
    assert r["p_value"] == pytest.approx(0.125)


def test_mcnemar_chi_square_by_hand() -> None:
    # b = 30, c = 10 -> 40 discordant pairs >= 25 -> chi2 = (|30 - 10| - 1)^2 / 40 = 361/40 = 9.025.
    # For 1 degree of freedom the survival function is erfc(sqrt(x / 2)) ~ 0.00266.
    gold = ["x"] * 45
    pred_a = ["x"] * 30 + ["y"] * 10 + ["x"] * 5
    pred_b = ["y"] * 30 + ["x"] * 10 + ["x"] * 5
    r = mcnemar(gold, pred_a, pred_b)
    assert (r["b"], r["c"], r["method"]) == (30, 10, "chi2-continuity")
    assert r["statistic"] == pytest.approx(9.025)
    assert r["p_value"] == pytest.approx(math.erfc(math.sqrt(9.025 / 2)))
    assert r["p_value"] == pytest.approx(0.00266, abs=1e-5)


def test_mcnemar_no_discordant_pairs() -> None:
    r = mcnemar(GOLD, PRED, PRED)
    assert (r["b"], r["c"], r["p_value"]) == (0, 0, 1.0)


# ------------------------------------------------------------------------------------------- calibration

# 4 items, 5 bins with edges 0, .2, .4, .6, .8, 1 (right-closed):
#   probs        gold  conf  pred  correct  bin
#   [.90, .10]   0     .90   0     yes      (.8, 1]
#   [.70, .30]   1     .70   0     no       (.6, .8]
#   [.35, .65]   1     .65   1     yes      (.6, .8]
#   [.45, .55]   0     .55   1     no       (.4, .6]
# bin (.4, .6]: 1 item, conf .55, acc 0   -> |gap| .55
# bin (.6, .8]: 2 items, conf .675, acc .5 -> |gap| .175
# bin (.8, 1]:  1 item, conf .90, acc 1   -> |gap| .10
# ECE = (1 * .55 + 2 * .175 + 1 * .10) / 4 = 1.0 / 4 = 0.25
PROBS = np.array([[0.9, 0.1], [0.7, 0.3], [0.35, 0.65], [0.45, 0.55]])
GOLD_IDX = np.array([0, 1, 1, 0])


def test_ece_by_hand() -> None:
    assert expected_calibration_error(PROBS, GOLD_IDX, n_bins=5) == pytest.approx(0.25)


def test_reliability_bins_by_hand() -> None:
    bins = reliability_bins(PROBS, GOLD_IDX, n_bins=5)
    assert [b["count"] for b in bins] == [0, 0, 1, 2, 1]
    assert bins[0]["confidence"] is None and bins[0]["accuracy"] is None
    assert bins[3]["confidence"] == pytest.approx(0.675) and bins[3]["accuracy"] == pytest.approx(0.5)
    assert (bins[3]["lower"], bins[3]["upper"]) == pytest.approx((0.6, 0.8))


def test_reliability_bin_edges_are_right_closed() -> None:
    # conf exactly .6 belongs to (.4, .6] and .8 to (.6, .8], despite 0.6 * 5 = 3.0000000000000004.
    bins = reliability_bins(np.array([[0.6, 0.4], [0.8, 0.2], [1.0, 0.0]]), np.array([0, 0, 0]), n_bins=5)
    assert [b["count"] for b in bins] == [0, 0, 1, 1, 1]


def test_ece_zero_when_calibrated() -> None:
    # Two items at confidence .5 (argmax picks class 0 on ties), one right: acc .5 = conf .5.
    probs = np.array([[0.5, 0.5], [0.5, 0.5]])
    assert expected_calibration_error(probs, np.array([0, 1])) == pytest.approx(0.0)


def test_calibration_rejects_logits() -> None:
    with pytest.raises(ValueError, match="logits"):
        expected_calibration_error(np.array([[2.0, -1.0]]), np.array([0]))
    with pytest.raises(ValueError, match="sum to 1"):
        expected_calibration_error(np.array([[0.2, 0.2]]), np.array([0]))
    with pytest.raises(ValueError, match="gold_idx"):
        expected_calibration_error(PROBS, np.array([0, 1, 2, 0]))


# --------------------------------------------------------------------------------------------- agreement

# 10 items, two passes over labels x, y (z never used):
#   both x: 5, a x / b y: 1, a y / b x: 1, both y: 3
# observed po = 8/10 = .8; marginals a (x 6, y 4), b (x 6, y 4) -> chance pe = .6 * .6 + .4 * .4 = .52
# kappa = (.8 - .52) / (1 - .52) = .28 / .48 = 7/12
PASS_A = ["x"] * 5 + ["x"] + ["y"] + ["y"] * 3
PASS_B = ["x"] * 5 + ["y"] + ["x"] + ["y"] * 3


def test_cohen_kappa_by_hand() -> None:
    assert cohen_kappa(PASS_A, PASS_B, ["x", "y"]) == pytest.approx(7 / 12)
    # An unused label adds an all-zero row and column: kappa unchanged.
    assert cohen_kappa(PASS_A, PASS_B, ["x", "y", "z"]) == pytest.approx(7 / 12)


def test_cohen_kappa_undefined() -> None:
    # Both passes use one label everywhere: pe = 1, kappa = 0/0.
    assert math.isnan(cohen_kappa(["x", "x"], ["x", "x"], ["x", "y"]))
    assert agreement_report(["x", "x"], ["x", "x"], ["x", "y"])["kappa"] is None


def test_agreement_report_by_hand() -> None:
    r = agreement_report(PASS_A, PASS_B, ["x", "y", "z"])
    assert r["kappa"] == pytest.approx(7 / 12)
    assert r["observed_agreement"] == pytest.approx(0.8)
    assert r["expected_agreement"] == pytest.approx(0.52)
    # x: 2 * 5 / (6 + 6) = 5/6; y: 2 * 3 / (4 + 4) = 3/4; z used by neither pass: undefined.
    assert r["per_label"]["x"] == {
        "n_a": 6,
        "n_b": 6,
        "n_both": 5,
        "specific_agreement": pytest.approx(5 / 6),
    }
    assert r["per_label"]["y"] == {"n_a": 4, "n_b": 4, "n_both": 3, "specific_agreement": pytest.approx(0.75)}
    assert r["per_label"]["z"]["specific_agreement"] is None
    assert r["confusion"] == [[5, 1, 0], [1, 3, 0], [0, 0, 0]]


# -------------------------------------------------------------------------------------------------- verdict


def test_verdict_sentences() -> None:
    s = verdict(0.004, 0.031, "AraBERT", "baseline")
    assert s.startswith("AraBERT scores higher than baseline by 0.031 (p = 0.004)")
    assert "is statistically significant at the 5% level" in s
    s = verdict(0.2, -0.01, "A", "B", alpha=0.01)
    assert "A scores lower than B" in s and "not statistically significant at the 1% level" in s
    assert "p < 0.001" in verdict(0.0, 0.5, "A", "B")
    assert "score the same" in verdict(1.0, 0.0, "A", "B")
    assert s.endswith(".")
    with pytest.raises(ValueError):
        verdict(float("nan"), 0.1, "A", "B")


# ----------------------------------------------------------------------------------------------- property


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(LABELS), st.sampled_from(LABELS)), min_size=1, max_size=30))
def test_confusion_metric_path_agrees_with_sklearn(pairs: list[tuple[str, str]]) -> None:
    gold = [g for g, _ in pairs]
    pred = [p for _, p in pairs]
    cm = np.array(classification_metrics(gold, pred, LABELS)["confusion_matrix"])[None]
    fast_macro = metrics._fast_metric(functools.partial(macro_f1, labels=LABELS), LABELS)
    fast_favg = metrics._fast_metric(f_avg, LABELS)
    assert fast_macro is not None and fast_favg is not None
    assert fast_macro(cm)[0] == pytest.approx(macro_f1(gold, pred, LABELS))
    assert fast_favg(cm)[0] == pytest.approx(f_avg(gold, pred))
    assert cm.sum() == len(pairs)
