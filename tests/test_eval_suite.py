"""The evaluation suite: ``python -m eval``, ``eval.compare`` and ``eval.cv``.

End-to-end tests run on the session fixtures (a corpus sample and models trained on it), with few
bootstrap resamples to stay fast; the aggregation helpers are checked on hand-made inputs whose
expected values are worked out in the comments.
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from data.config import load_data_config
from data.io import DataError
from data.schema import Problem
from eval.__main__ import main as eval_main
from eval.compare import compare
from eval.compare import main as compare_main
from eval.cv import cross_validate
from eval.evaluate import (
    align_probs,
    breakdown,
    evaluate,
    load_eval_examples,
    majority_label,
    metadata_keys,
    one_line_error,
    top_mistakes,
)
from model.tagger import Tagger
from tests.conftest import REPO, TASKS, data_overrides

N_BOOT = 200  # enough to exercise the bootstrap; the CIs themselves are tested in test_eval_metrics


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --------------------------------------------------------------------------------------------------
# python -m eval on the corpus sample (run once for the module)


@pytest.fixture(scope="module")
def report(linear_model: Path, corpus_sample: dict[str, Path], tmp_path_factory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("eval_out")
    argv = [
        "--model", str(linear_model), "--data", str(corpus_sample["test"]), "--out", str(out),
        "--train", str(corpus_sample["train"]), "--set", f"data.dev={corpus_sample['dev']}",
        "--n-boot", str(N_BOOT),
    ]  # fmt: skip
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = eval_main(argv)
    assert code == 0, stderr.getvalue()
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    return {"out": out, "metrics": metrics, "stdout": stdout.getvalue()}


def test_cli_writes_report_metrics_and_plots_for_both_tasks(report: dict[str, Any]) -> None:
    out, metrics = report["out"], report["metrics"]
    text = (out / "report.md").read_text(encoding="utf-8")
    assert set(metrics["tasks"]) == set(TASKS)
    for task in TASKS:
        for kind in ("confusion", "reliability"):
            rel = metrics["tasks"][task]["plots"][kind]
            png = out / rel
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"]({rel})" in text  # embedded in the report
        assert f"## {task}" in text
        model = metrics["tasks"][task]["systems"]["model"]
        assert set(model["per_class"]) == set(TASKS[task])
        assert model["ci"]["macro_f1"]["ci_low"] <= model["macro_f1"] <= model["ci"]["macro_f1"]["ci_high"]
        assert model["ci"]["macro_f1"]["unit"] == "group"  # cluster bootstrap by article
        assert 0.0 <= model["ece"] <= 1.0
    assert "| gold \\ predicted |" in text and "## Summary" in text
    # One terminal line per task per system.
    lines = report["stdout"].strip().splitlines()
    assert len(lines) == len(TASKS) * 3
    assert all("macro-F1" in line for line in lines)


def test_majority_baseline_matches_a_hand_computation(report: dict[str, Any], corpus_sample) -> None:
    train, test = _rows(corpus_sample["train"]), _rows(corpus_sample["test"])
    for task, labels in TASKS.items():
        counts = Counter(r[task] for r in train)
        top = max(counts.values())
        majority = next(lab for lab in labels if counts[lab] == top)
        gold = [r[task] for r in test]
        g, n = gold.count(majority), len(gold)
        # Predicting `majority` for all n items: TP = g, gold count g, predicted n, so its
        # F1 = 2g / (g + n); every other label is never predicted and scores 0.
        expected = 2 * g / (g + n) / len(labels)
        system = report["metrics"]["tasks"][task]["systems"]["majority"]
        assert report["metrics"]["systems"]["majority"]["labels"][task] == majority
        assert system["macro_f1"] == pytest.approx(expected)
        assert system["accuracy"] == pytest.approx(g / n)
        assert system["ece"] is None  # no probabilities
        linear = report["metrics"]["tasks"][task]["systems"]["linear"]
        assert linear["n"] == n and linear["ece"] is not None
    assert (report["out"] / "baselines" / "linear" / "config.json").is_file()


def test_f_avg_only_for_the_task_with_favor_and_against(report: dict[str, Any]) -> None:
    tasks = report["metrics"]["tasks"]
    stance = tasks["stance"]["systems"]["model"]
    per_class = stance["per_class"]
    assert stance["f_avg"] == pytest.approx((per_class["favor"]["f1"] + per_class["against"]["f1"]) / 2)
    assert "f_avg" in stance["ci"]
    frame = tasks["frame"]["systems"]["model"]
    assert frame["f_avg"] is None and "f_avg" not in frame["ci"]


def test_breakdown_by_outlet_style_and_year(report: dict[str, Any], corpus_sample) -> None:
    test = _rows(corpus_sample["test"])
    stance = report["metrics"]["tasks"]["stance"]["breakdown"]
    assert {"outlet_style", "year", "topics"} <= set(stance)
    assert {k: v["n"] for k, v in stance["outlet_style"].items()} == dict(
        Counter(r["outlet_style"] for r in test)
    )
    assert sum(v["n"] for v in stance["year"].values()) == len(test)
    assert all(len(year) == 4 for year in stance["year"])
    assert "#### outlet_style" in (report["out"] / "report.md").read_text(encoding="utf-8")


def test_mistakes_are_real_mistakes_sorted_by_confidence(
    report: dict[str, Any], linear_model, corpus_sample
) -> None:
    test = _rows(corpus_sample["test"])
    tagger = Tagger.load(linear_model)
    probs = tagger.predict_proba([r["text"] for r in test])
    for task, labels in TASKS.items():
        tr = report["metrics"]["tasks"][task]
        mistakes = tr["mistakes"]
        assert mistakes and len(mistakes) == min(20, tr["n_mistakes"])
        confidences = [m["prob"] for m in mistakes]
        assert confidences == sorted(confidences, reverse=True)
        for m in mistakes:
            path, line = m["where"].rsplit(":", 1)
            row = json.loads(Path(path).read_text(encoding="utf-8").splitlines()[int(line) - 1])
            assert row["id"] == m["id"] and row["text"] == m["text"]
            assert row[task] == m["gold"] != m["pred"]
            p = probs[task][int(line) - 1]
            assert labels[int(p.argmax())] == m["pred"]
            assert float(p.max()) == pytest.approx(m["prob"], abs=1e-5)
        # No unlisted mistake is more confident than the last one listed.
        listed = {m["id"] for m in mistakes}
        pred = [labels[i] for i in probs[task].argmax(axis=1)]
        unlisted = [
            float(probs[task][i].max())
            for i, r in enumerate(test)
            if pred[i] != r[task] and r["id"] not in listed
        ]
        assert max(unlisted, default=0.0) <= confidences[-1] + 1e-6


def test_bad_data_file_is_one_line_error_with_file_and_line(linear_model, tmp_path, capsys) -> None:
    good = {"id": "a", "article_id": "x", "text": "نص عربي", "stance": "favor", "frame": "other"}
    bad = tmp_path / "bad.jsonl"
    lines = [good, {**good, "id": "b"}, {**good, "id": "c", "stance": "Favor"}]
    bad.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    code = eval_main(["--model", str(linear_model), "--data", str(bad), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert f"{bad}:3:" in err and "Favor" in err
    assert eval_main(["--model", str(tmp_path / "nope"), "--data", str(bad), "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_evaluate_tiny_transformer_without_train_file_skips_baselines(
    tiny_model, corpus_sample, tmp_path
) -> None:
    cfg = load_data_config(REPO / "configs/data/corpus.yaml", ["data.train=null"])
    result = evaluate(tiny_model, [corpus_sample["test"]], tmp_path, data_config=cfg, n_boot=50)
    assert any("baselines skipped" in note for note in result["notes"])
    assert set(result["tasks"]["stance"]["systems"]) == {"model"}
    assert not (tmp_path / "baselines").exists()
    assert "baselines skipped" in (tmp_path / "report.md").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# Pure helpers on hand-made inputs


LABELS = ["favor", "against", "neutral", "unrelated"]
#   item  outlet_style  topics          gold       pred
#   r0    A             syria, un       favor      favor
#   r1    A             syria           favor      neutral
#   r2    A             (none)          neutral    neutral
#   r3    B             un              against    against
#   r4    B             syria           neutral    against
#   r5    (missing)     syria (twice)   unrelated  unrelated
GOLD = ["favor", "favor", "neutral", "against", "neutral", "unrelated"]
PRED = ["favor", "neutral", "neutral", "against", "against", "unrelated"]


def _hand_file(tmp_path: Path) -> Path:
    """Six rows with the corpus columns; topics lists, dates, one row without outlet_style."""
    rows = [
        ("r0", "A", "2014-03-01", ["syria", "un"]),
        ("r1", "A", "2014-12-31", ["syria"]),
        ("r2", "A", "2022-02-24", []),
        ("r3", "B", "2022-02-25", ["un"]),
        ("r4", "B", "2023", ["syria"]),
        ("r5", None, "2023-05-01", ["syria", "syria"]),
    ]
    path = tmp_path / "hand.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i, (rid, style, date, topics) in enumerate(rows):
            row = {
                "id": rid,
                "article_id": f"art{i // 2}",
                "text": "جملة",
                "stance": GOLD[i],
                "frame": "other",
            }
            row.update({"date": date, "topics": topics, **({"outlet_style": style} if style else {})})
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def test_metadata_keys_explode_lists_and_derive_the_year(tmp_path) -> None:
    examples = load_eval_examples([_hand_file(tmp_path)], load_data_config())
    assert metadata_keys(examples, "outlet_style") == [["A"], ["A"], ["A"], ["B"], ["B"], ["(missing)"]]
    assert metadata_keys(examples, "topics") == [
        ["syria", "un"], ["syria"], ["(missing)"], ["un"], ["syria"], ["syria"],
    ]  # fmt: skip
    assert metadata_keys(examples, "date") == [["2014"], ["2014"], ["2022"], ["2022"], ["2023"], ["2023"]]


def test_breakdown_by_hand(tmp_path) -> None:
    examples = load_eval_examples([_hand_file(tmp_path)], load_data_config())
    assert [e.labels["stance"] for e in examples] == GOLD
    by_outlet = breakdown(metadata_keys(examples, "outlet_style"), GOLD, PRED, LABELS)
    # Ordered by n: A (3), B (2), (missing) (1).
    assert list(by_outlet) == ["A", "B", "(missing)"]
    # A: gold favor favor neutral, pred favor neutral neutral. against/unrelated occur in neither, so
    # are left out. favor: TP 1, gold 2, pred 1 -> F1 = 2/3; neutral: TP 1, gold 1, pred 2 -> 2/3.
    assert by_outlet["A"] == pytest.approx({"n": 3, "macro_f1": 2 / 3, "accuracy": 2 / 3})
    # B: gold against neutral, pred against against. neutral is in gold but never predicted: F1 0.
    # against: TP 1, gold 1, pred 2 -> 2/3. Macro over {against, neutral} = 1/3.
    assert by_outlet["B"] == pytest.approx({"n": 2, "macro_f1": 1 / 3, "accuracy": 0.5})
    assert by_outlet["(missing)"] == pytest.approx({"n": 1, "macro_f1": 1.0, "accuracy": 1.0})

    by_topic = breakdown(metadata_keys(examples, "topics"), GOLD, PRED, LABELS)
    # syria: r0, r1, r4, r5 (r5 lists it twice, counted once). gold favor favor neutral unrelated,
    # pred favor neutral against unrelated. favor 2/3, neutral 0 (TP 0), against 0 (predicted, never
    # gold), unrelated 1 -> (2/3 + 0 + 0 + 1) / 4 = 5/12; accuracy 2/4.
    assert by_topic["syria"] == pytest.approx({"n": 4, "macro_f1": 5 / 12, "accuracy": 0.5})
    assert by_topic["un"] == pytest.approx({"n": 2, "macro_f1": 1.0, "accuracy": 1.0})
    assert by_topic["(missing)"]["n"] == 1

    by_year = breakdown(metadata_keys(examples, "date"), GOLD, PRED, LABELS)
    assert list(by_year) == ["2014", "2022", "2023"]  # numeric values in numeric order
    # 2022: r2, r3: neutral->neutral, against->against: both labels perfect.
    assert by_year["2022"]["macro_f1"] == pytest.approx(1.0)


def test_majority_label_ignores_missing_and_breaks_ties_by_label_order() -> None:
    assert majority_label(["neutral", "favor", "neutral", None, None, None], LABELS) == "neutral"
    # favor and unrelated tie at 2: favor is listed first.
    assert majority_label(["unrelated", "favor", "unrelated", "favor"], LABELS) == "favor"
    assert majority_label([None, None], LABELS) is None


def test_top_mistakes_keeps_only_errors_most_confident_first(tmp_path) -> None:
    examples = load_eval_examples([_hand_file(tmp_path)], load_data_config())
    conf = [0.99, 0.6, 0.9, 0.8, 0.7, 0.95]
    mistakes = top_mistakes(examples, GOLD, PRED, conf, n=5)
    # Wrong: r1 (0.6) and r4 (0.7) only; the confident r0/r5 are right.
    assert [(m["id"], m["gold"], m["pred"], m["prob"]) for m in mistakes] == [
        ("r4", "neutral", "against", 0.7),
        ("r1", "favor", "neutral", 0.6),
    ]
    assert mistakes[0]["where"].endswith("hand.jsonl:5")
    assert top_mistakes(examples, GOLD, PRED, conf, n=1)[0]["id"] == "r4"


def test_align_probs_reorders_and_pads_missing_labels() -> None:
    probs = np.array([[0.7, 0.3], [0.1, 0.9]])
    aligned = align_probs(probs, ["neutral", "favor"], LABELS)
    assert aligned.tolist() == [[0.3, 0.0, 0.7, 0.0], [0.9, 0.0, 0.1, 0.0]]


def test_one_line_error_names_the_first_problem_and_counts_the_rest() -> None:
    err = DataError([Problem("f.jsonl", 3, "malformed JSON"), Problem("f.jsonl", 7, "missing field 'text'")])
    text = one_line_error(err)
    assert "\n" not in text and text.startswith("f.jsonl:3: malformed JSON") and "1 more" in text
    assert one_line_error(DataError([Problem("g.jsonl", 0, "file not found")])) == "g.jsonl: file not found"


# --------------------------------------------------------------------------------------------------
# eval.compare


def test_compare_same_model_twice_is_no_difference(linear_model, corpus_sample) -> None:
    result = compare(
        linear_model, linear_model, [corpus_sample["test"]], load_data_config(), n_boot=N_BOOT, seed=0
    )
    assert set(result["tasks"]) == set(TASKS) and result["unit"] == "group"
    for t in result["tasks"].values():
        assert t["macro_f1"]["diff"] == 0.0 and t["macro_f1"]["p_value"] == 1.0
        assert t["accuracy"]["diff"] == 0.0 and t["accuracy"]["p_value"] == 1.0
        for verdict in (t["macro_f1"]["verdict"], t["accuracy"]["verdict"]):
            assert "no difference" in verdict and "significant at" not in verdict


def test_compare_cli_two_models_prints_table_and_writes_json(
    tiny_model, linear_model, corpus_sample, tmp_path, capsys
) -> None:
    out = tmp_path / "cmp.json"
    argv = [str(linear_model), str(tiny_model), "--data", str(corpus_sample["test"]), "--n-boot", str(N_BOOT)]
    assert compare_main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text(encoding="utf-8"))
    for task, t in result["tasks"].items():
        f1 = t["macro_f1"]
        assert f1["diff"] == pytest.approx(f1["metric_a"] - f1["metric_b"])
        assert 0.0 <= f1["p_value"] <= 1.0 and 0.0 <= t["accuracy"]["p_value"] <= 1.0
        assert f"{task} macro-F1: " in printed and "McNemar" in printed
    assert compare_main([*argv[:2], "--data", str(tmp_path / "missing.jsonl")]) == 1
    assert "missing.jsonl: file not found" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# eval.cv


def test_cross_validate_three_group_disjoint_folds(corpus_sample) -> None:
    from train.config import load_config

    cfg = load_config(REPO / "configs/linear.yaml", data_overrides(corpus_sample))
    result = cross_validate(cfg, k=3, seed=0)
    folds = result["folds"]
    assert len(folds) == 3
    held = [set(f["heldout_groups"]) for f in folds]
    assert not (held[0] & held[1] or held[0] & held[2] or held[1] & held[2])
    pooled = _rows(corpus_sample["train"]) + _rows(corpus_sample["dev"])
    assert set().union(*held) == {r["article_id"] for r in pooled}  # train + dev, every article once
    assert not set().union(*held) & {r["article_id"] for r in _rows(corpus_sample["test"])}
    assert sum(f["n_heldout"] for f in folds) == len(pooled) == result["n_examples"]
    for task in TASKS:
        for metric in ("macro_f1", "accuracy"):
            entry = result["summary"][task][metric]
            assert len(entry["values"]) == 3
            assert entry["mean"] == pytest.approx(statistics.fmean(entry["values"]))
            assert entry["std"] == pytest.approx(statistics.stdev(entry["values"]))
    assert "f_avg" in result["summary"]["stance"] and "f_avg" not in result["summary"]["frame"]
