"""Tests for eval.agreement (two-pass inter-annotator agreement) and eval.plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eval.agreement import AgreementInputError, agreement, infer_tasks, load_pass, main, to_markdown
from eval.metrics import reliability_bins
from eval.plots import plot_confusion, plot_reliability

# 8 sentences. Stance, pass 1 vs pass 2:
#   s1 favor/favor  s2 favor/favor  s3 favor/against  s4 against/against  s5 against/against
#   s6 neutral/neutral  s7 neutral/unrelated  s8 unrelated/unrelated
# observed = 6/8 = .75
# marginals pass 1: favor 3, against 2, neutral 2, unrelated 1
#           pass 2: favor 2, against 3, neutral 1, unrelated 2
# chance = (3*2 + 2*3 + 2*1 + 1*2) / 64 = 16/64 = .25  ->  kappa = (.75 - .25) / (1 - .25) = 2/3
# specific agreement: favor 2*2/(3+2) = .8, against 2*2/(2+3) = .8, neutral 2*1/(2+1) = 2/3,
#                     unrelated 2*1/(1+2) = 2/3
# Frame is identical in both passes: kappa 1, observed 1.
STANCE_1 = ["favor", "favor", "favor", "against", "against", "neutral", "neutral", "unrelated"]
STANCE_2 = ["favor", "favor", "against", "against", "against", "neutral", "unrelated", "unrelated"]
FRAME = ["security", "security", "sovereignty", "reconstruction", "other", "other", "security", "sovereignty"]


def _write(path: Path, rows: list[dict[str, Any]] | list[str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def passes(tmp_path: Path) -> tuple[Path, Path]:
    rows1 = [
        {"id": f"s{i + 1}", "text": f"جملة رقم {i + 1}", "stance": s, "frame": f}
        for i, (s, f) in enumerate(zip(STANCE_1, FRAME, strict=True))
    ]
    rows2 = [
        {"id": f"s{i + 1}", "text": f"جملة رقم {i + 1}", "stance": s, "frame": f}
        for i, (s, f) in enumerate(zip(STANCE_2, FRAME, strict=True))
    ]
    # Pass 2 in a different order and with a blank line: the join is on id, not on position.
    p1 = _write(tmp_path / "pass1.jsonl", rows1)
    p2 = _write(tmp_path / "pass2.jsonl", [*reversed(rows2[4:]), "", *rows2[:4]])
    return p1, p2


def test_agreement_by_hand(passes: tuple[Path, Path]) -> None:
    result = agreement(*passes, tasks=["stance", "frame"], id_column="id")
    assert result["n_items"] == 8
    stance = result["tasks"]["stance"]
    assert stance["labels"] == ["against", "favor", "neutral", "unrelated"]  # seen labels, sorted
    assert stance["kappa"] == pytest.approx(2 / 3)
    assert stance["observed_agreement"] == pytest.approx(0.75)
    assert stance["expected_agreement"] == pytest.approx(0.25)
    specific = {label: row["specific_agreement"] for label, row in stance["per_label"].items()}
    assert specific == pytest.approx({"favor": 0.8, "against": 0.8, "neutral": 2 / 3, "unrelated": 2 / 3})
    # rows pass 1, columns pass 2, order against, favor, neutral, unrelated
    assert stance["confusion"] == [[2, 0, 0, 0], [1, 2, 0, 0], [0, 0, 1, 1], [0, 0, 0, 1]]
    frame = result["tasks"]["frame"]
    assert frame["kappa"] == pytest.approx(1.0) and frame["observed_agreement"] == 1.0


def test_given_label_order_and_unused_labels(passes: tuple[Path, Path]) -> None:
    order = ["favor", "against", "neutral", "unrelated", "mixed"]
    result = agreement(*passes, tasks=["stance"], labels={"stance": order})
    stance = result["tasks"]["stance"]
    assert stance["labels"] == order
    assert stance["kappa"] == pytest.approx(2 / 3)  # an unused label changes nothing
    assert stance["per_label"]["mixed"]["specific_agreement"] is None
    with pytest.raises(AgreementInputError, match="not one of"):
        agreement(*passes, tasks=["stance"], labels={"stance": ["favor", "against"]})


def test_tasks_are_inferred_without_free_text(passes: tuple[Path, Path]) -> None:
    # "text" has spaces (free text) and "id" is the join column: only the label columns remain.
    assert infer_tasks([load_pass(p, "id") for p in passes], "id") == ["frame", "stance"]
    assert set(agreement(*passes)["tasks"]) == {"frame", "stance"}


def test_integer_and_string_ids_join(tmp_path: Path) -> None:
    p1 = _write(tmp_path / "a.jsonl", [{"sid": 1, "stance": "favor"}, {"sid": 2, "stance": "against"}])
    p2 = _write(tmp_path / "b.jsonl", [{"sid": "2", "stance": "against"}, {"sid": "1", "stance": "favor"}])
    result = agreement(p1, p2, ["stance"], id_column="sid")
    assert result["tasks"]["stance"]["observed_agreement"] == 1.0


def test_markdown_report(passes: tuple[Path, Path]) -> None:
    md = to_markdown(agreement(*passes, tasks=["stance", "frame"]))
    assert "## stance" in md and "## frame" in md
    assert "Cohen's κ = 0.667" in md
    assert "| favor | 3 | 2 | 2 | 0.800 |" in md
    assert "| pass 1 \\ pass 2 | against | favor | neutral | unrelated |" in md
    assert "| favor | 1 | 2 | 0 | 0 |" in md


def test_cli_prints_and_writes_report(
    passes: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reports" / "agreement.md"
    code = main([str(passes[0]), str(passes[1]), "--tasks", "stance", "frame", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "Cohen's κ = 0.667" in printed
    assert out.read_text(encoding="utf-8") == printed


def test_cli_labels_option(passes: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            str(passes[0]),
            str(passes[1]),
            "--tasks",
            "stance",
            "--labels",
            "stance=favor,against,neutral,unrelated",
        ]
    )
    assert code == 0
    assert "| pass 1 \\ pass 2 | favor | against | neutral | unrelated |" in capsys.readouterr().out


def _cli_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(args)
    captured = capsys.readouterr()
    assert code != 0
    assert captured.out == ""
    err = captured.err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_cli_malformed_json_names_file_and_line(
    passes: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write(tmp_path / "bad.jsonl", [{"id": "s1", "stance": "favor"}, '{"id": "s2", "stance": '])
    err = _cli_error([str(passes[0]), str(bad)], capsys)
    assert f"{bad}:2: malformed JSON" in err


def test_cli_missing_id(
    passes: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write(tmp_path / "noid.jsonl", [{"id": "s1", "stance": "favor"}, {"stance": "favor"}])
    err = _cli_error([str(passes[0]), str(bad)], capsys)
    assert f"{bad}:2: missing id column 'id'" in err


def test_cli_ids_in_one_file_only(
    passes: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [json.loads(line) for line in passes[1].read_text(encoding="utf-8").splitlines() if line.strip()]
    short = _write(tmp_path / "short.jsonl", [r for r in rows if r["id"] != "s3"])
    err = _cli_error([str(passes[0]), str(short), "--tasks", "stance"], capsys)
    assert f"{passes[0]}: 1 id(s) not in {short}: 's3'" in err
    extra = _write(tmp_path / "extra.jsonl", [*rows, {"id": "s99", "stance": "favor", "frame": "other"}])
    err = _cli_error([str(passes[0]), str(extra), "--tasks", "stance"], capsys)
    assert f"{extra}: 1 id(s) not in {passes[0]}: 's99'" in err


def test_cli_other_bad_input(
    passes: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dup = _write(tmp_path / "dup.jsonl", [{"id": "s1", "stance": "favor"}, {"id": "s1", "stance": "favor"}])
    assert "duplicate id 's1' (first on line 1)" in _cli_error([str(dup), str(passes[1])], capsys)
    assert "cannot read" in _cli_error([str(tmp_path / "missing.jsonl"), str(passes[1])], capsys)
    assert "missing column 'topic'" in _cli_error([*map(str, passes), "--tasks", "topic"], capsys)
    null = _write(tmp_path / "null.jsonl", [{"id": f"s{i}", "stance": None} for i in range(1, 9)])
    assert f"{null}:1: 'stance' must be a string label" in _cli_error(
        [str(passes[0]), str(null), "--tasks", "stance"], capsys
    )
    assert "expected TASK=" in _cli_error([*map(str, passes), "--labels", "stance"], capsys)


# -------------------------------------------------------------------------------------------------- plots


def test_plots_write_png(tmp_path: Path) -> None:
    png = b"\x89PNG"
    cm_path = plot_confusion(
        [[2, 1, 0], [0, 0, 0], [1, 0, 3]],
        ["favor", "against", "neutral"],
        tmp_path / "figs" / "cm.png",
        "stance",
    )
    assert cm_path.read_bytes()[:4] == png
    probs = np.array([[0.9, 0.1], [0.7, 0.3], [0.35, 0.65], [0.45, 0.55]])
    bins = reliability_bins(probs, np.array([0, 1, 1, 0]), n_bins=5)
    rel_path = plot_reliability(bins, 0.25, tmp_path / "rel.png", "stance")
    assert rel_path.read_bytes()[:4] == png
    with pytest.raises(ValueError, match="shape"):
        plot_confusion([[1, 2]], ["a", "b"], tmp_path / "x.png", "t")
