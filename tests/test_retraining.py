"""The retraining loop: select -> export -> (annotators) -> import -> merge -> retrain -> evaluate.

Unit tests use small hand-written exports of every supported format and hand-computed scores; the
end-to-end test runs the whole loop on the corpus sample with the linear engine, with annotators
simulated by editing the exported Label Studio JSON.
"""

from __future__ import annotations

import csv
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from data.config import load_data_config
from data.exchange import (
    SHIPPED_LABELSTUDIO_CONFIG,
    detect_import_format,
    doccano_label_names,
    import_files,
    labelstudio_config,
)
from data.exchange import main as exchange_main
from data.merge import main as merge_main
from data.merge import merge
from data.schema import DataConfig
from data.select import informativeness, ranking, spread
from data.select import main as select_main
from tests.conftest import REPO, TASKS

CFG = load_data_config()


def _write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write_csv(path: Path, rows: list[dict[str, Any]], delimiter: str = ",") -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=delimiter)
        w.writeheader()
        w.writerows(rows)
    return path


S1 = "أشاد الوزير بالدور الروسي في تثبيت وقف إطلاق النار في الجنوب السوري خلال الأسابيع الماضية."
S2 = "انتقدت منظمات حقوقية الغارات الروسية على الأحياء السكنية في إدلب."
S3 = "ارتفعت أسعار الخبز في الأسواق المحلية بنسبة كبيرة خلال الشهر الماضي."
S4 = "وقعت موسكو ودمشق اتفاقا لإعادة تأهيل محطات الكهرباء في حمص."
S5 = "أكدت الحكومة أن قرار بقاء القواعد الأجنبية شأن سيادي يخضع للمصلحة الوطنية."


def _choice(task: str, label: str) -> dict[str, Any]:
    return {"from_name": task, "to_name": "text", "type": "choices", "value": {"choices": [label]}}


def _ann(
    stance: str, frame: str, when: str = "2024-05-01T10:00:00Z", cancelled: bool = False, who: int = 1
) -> dict:
    result = [_choice("stance", stance), _choice("frame", frame)]
    return {"id": who * 100, "completed_by": who, "result": result,
            "was_cancelled": cancelled, "created_at": when, "updated_at": when}  # fmt: skip


def _ls_task(n: int, text: str, annotations: list[dict], article: str = "n-001") -> dict[str, Any]:
    data = {
        "text": text,
        "article_id": article,
        "sentence_index": n,
        "id": f"{article}-{n:02d}",
        "outlet": "وكالة",
    }
    return {"id": 40 + n, "data": data, "annotations": annotations, "predictions": []}


# ---------------------------------------------------------------------------------------------
# the Label Studio config
# ---------------------------------------------------------------------------------------------


def test_shipped_labelstudio_config_is_the_generated_one():
    assert SHIPPED_LABELSTUDIO_CONFIG == REPO / "configs" / "labelstudio.xml"
    assert SHIPPED_LABELSTUDIO_CONFIG.read_text(encoding="utf-8") == labelstudio_config(CFG.tasks), (
        "configs/labelstudio.xml is stale; regenerate it with "
        "python -m data.exchange labelstudio-config --out configs/labelstudio.xml"
    )


def test_labelstudio_config_has_one_control_per_task_with_every_label():
    root = ET.fromstring(labelstudio_config({**TASKS, "odd": ['a "quoted" <label>', "b&c"]}))
    controls = {c.get("name"): [x.get("value") for x in c] for c in root.iter("Choices")}
    assert controls == {**TASKS, "odd": ['a "quoted" <label>', "b&c"]}
    assert {c.get("toName") for c in root.iter("Choices")} == {"text"}
    assert [t.get("value") for t in root.iter("Text")] == ["$text"]


# ---------------------------------------------------------------------------------------------
# import: one test per format
# ---------------------------------------------------------------------------------------------


def test_import_labelstudio_json(tmp_path):
    tasks = [
        _ls_task(0, S1, [_ann("favor", "security")]),
        # two annotators: the most recently updated one wins, whatever its place in the list
        _ls_task(
            1,
            S2,
            [_ann("neutral", "other", "2024-05-03T09:00:00Z", who=2), _ann("against", "security", who=1)],
        ),
        _ls_task(2, S3, [_ann("unrelated", "other", cancelled=True)]),  # cancelled only: skipped
        _ls_task(3, S4, []),  # nobody labelled it: skipped
        _ls_task(
            4,
            S5,
            [_ann("favor", "other", "2024-06-01T00:00:00Z", cancelled=True), _ann("neutral", "sovereignty")],
        ),
        _ls_task(5, S1 + " 2", [_ann("pro", "security")]),  # unknown label: a problem
    ]
    path = _write_json(tmp_path / "project.json", tasks)
    assert detect_import_format(path, CFG.tasks) == "labelstudio-json"
    res = import_files([path], CFG)
    got = {r["id"]: (r["stance"], r["frame"]) for r in res.rows}
    assert got == {
        "n-001-00": ("favor", "security"),
        "n-001-01": ("neutral", "other"),
        "n-001-04": ("neutral", "sovereignty"),
    }
    assert [str(p) for p in res.problems] == [
        f"{path}:6: task 45: unknown stance label 'pro'; valid labels: favor, against, neutral, unrelated"
    ]
    assert res.counts["cancelled annotations"] == 2 and res.counts["tasks without an annotation"] == 2
    row = res.rows[0]
    assert row["article_id"] == "n-001" and row["position"] == 0 and row["source"] == "labelstudio"
    assert row["outlet"] == "وكالة" and row["annotator"] == "1" and "selection_score" not in row

    out = tmp_path / "labelled.jsonl"
    assert exchange_main(["import", str(path), "--out", str(out)]) == 1  # a problem: exit 1, good rows kept
    assert [r["id"] for r in _read_jsonl(out)] == ["n-001-00", "n-001-01", "n-001-04"]


def test_import_labelstudio_json_min(tmp_path):
    def rec(task_id: int, n: int, text: str, when: str, **labels: Any) -> dict[str, Any]:
        return {"text": text, "article_id": "m-7", "sentence_index": n, "topics": ["syria"], "id": task_id,
                "annotator": "ali@example.org", "annotation_id": task_id * 10, "created_at": when,
                "updated_at": when, "lead_time": 3.2, **labels}  # fmt: skip

    records = [
        # JSON-MIN lists the newest annotation of a task first: recency, not order, decides
        rec(1, 0, S1, "2024-05-02T00:00:00Z", stance="against", frame="security"),
        rec(1, 0, S1, "2024-05-01T00:00:00Z", stance="favor", frame="security"),
        rec(2, 1, S2, "2024-05-01T00:00:00Z"),  # an unlabelled task: no task keys
        rec(3, 2, S4, "2024-05-01T00:00:00Z", stance={"choices": ["favor"]}, frame="reconstruction"),
        rec(4, 3, S3, "2024-05-01T00:00:00Z", stance="unrelated", frame="economy"),
    ]
    path = _write_json(tmp_path / "min.json", records)
    assert detect_import_format(path, CFG.tasks) == "labelstudio-min"
    res = import_files([path], CFG)
    # the sentence id is rebuilt from article_id + sentence_index: "id" is Label Studio's task number
    assert [(r["id"], r["stance"], r["frame"]) for r in res.rows] == [
        ("m-7-00", "against", "security"),
        ("m-7-02", "favor", "reconstruction"),
    ]
    assert res.rows[0]["topics"] == ["syria"] and res.rows[0]["annotator"] == "ali@example.org"
    assert "lead_time" not in res.rows[0] and "annotation_id" not in res.rows[0]
    assert [str(p) for p in res.problems] == [
        f"{path}:5: unknown frame label 'economy'; valid labels: security, sovereignty, reconstruction, other"
    ]
    assert res.counts["unlabelled tasks"] == 1


def test_import_labelstudio_csv(tmp_path):
    when = "2024-05-01T00:00:00Z"
    # Label Studio's CSV comes from pandas, which writes a list cell as its Python repr
    base = {"annotator": 2, "annotation_id": 1, "created_at": when, "updated_at": when, "lead_time": 1.0,
            "topics": "['syria', 'ports']"}  # fmt: skip
    # (text, stance, frame): a text with a comma and quotes, so CSV quotes it; an unlabelled task has ""
    labelled = [
        (S1 + "، وقال إن ذلك «مهم»", "favor", "security"), (S2, "", ""),
        (S4, "against", "reconstruction"), (S5, "neutral", "sovereign"),
    ]  # fmt: skip
    rows = [{"text": text, "article_id": "c-1", "sentence_index": i, "id": 11 + i, "stance": stance,
             "frame": frame, **base} for i, (text, stance, frame) in enumerate(labelled)]  # fmt: skip
    for name, delim in (("export.csv", ","), ("export.tsv", "\t")):
        path = _write_csv(tmp_path / name, rows, delim)
        assert detect_import_format(path, CFG.tasks) == "labelstudio-csv"
        res = import_files([path], CFG)
        assert [(r["id"], r["stance"], r["frame"]) for r in res.rows] == [
            ("c-1-00", "favor", "security"),
            ("c-1-02", "against", "reconstruction"),
        ]
        assert res.rows[0]["position"] == 0 and res.rows[0]["topics"] == ["syria", "ports"]
        assert [str(p) for p in res.problems] == [
            f"{path}:5: unknown frame label 'sovereign'; valid labels: {', '.join(TASKS['frame'])}"
        ]


def test_import_doccano_jsonl(tmp_path):
    rows = [
        {
            "id": 1,
            "text": S1,
            "label": ["favor", "security"],
            "sentence_id": "d-1-00",
            "article_id": "d-1",
            "Comments": [],
        },
        {
            "id": 2,
            "text": S2,
            "labels": ["against", "frame:security"],
            "article_id": "d-1",
            "sentence_index": 1,
        },
        {"id": 3, "text": S3, "label": []},  # not labelled yet: skipped
        {"id": 4, "text": S4, "label": ["favor", "rebuilding"]},
        {"id": 5, "text": S5, "label": [[0, 4, "favor"]]},  # a sequence-labelling export
        {"id": 6, "text": S5 + " 2", "label": ["favor", "against", "other"]},
        {"id": 7, "text": "جملة كتبها المعلق بنفسه في الأداة.", "label": ["neutral", "other"], "outlet": "x"},
    ]
    path = _write_jsonl(tmp_path / "doccano.jsonl", rows)
    assert detect_import_format(path, CFG.tasks) == "doccano-jsonl"
    res = import_files([path], CFG)
    got = [(r["id"], r["stance"], r["frame"], r["source"]) for r in res.rows]
    assert got[:2] == [
        ("d-1-00", "favor", "security", "doccano"),
        ("d-1-01", "against", "security", "doccano"),
    ]
    # no sentence id, article or index: a stable id from the text, and no article
    assert (
        got[2][0].startswith("txt-")
        and got[2][1:] == ("neutral", "other", "doccano")
        and "article_id" not in res.rows[2]
    )
    assert res.rows[2]["outlet"] == "x" and "Comments" not in res.rows[0]
    messages = [str(p) for p in res.problems]
    assert messages[0].startswith(f"{path}:4: unknown label 'rebuilding'; valid labels: stance: favor")
    assert messages[1].startswith(f"{path}:5: label [0, 4, 'favor'] is not a category name")
    assert messages[2] == f"{path}:6: 2 stance labels (favor, against); expected one"
    assert len(messages) == 3 and res.counts["unlabelled examples"] == 1


def test_import_doccano_csv(tmp_path):
    rows = [
        {
            "id": 1,
            "text": S1,
            "label": "favor#security",
            "Comments": "",
            "article_id": "e-2",
            "sentence_index": 4,
        },
        {"id": 2, "text": S2, "label": "", "Comments": "", "article_id": "e-2", "sentence_index": 5},
        {
            "id": 3,
            "text": S4,
            "label": "reconstruction#favour",
            "Comments": "",
            "article_id": "e-2",
            "sentence_index": 6,
        },
    ]
    path = _write_csv(tmp_path / "doccano.csv", rows)
    assert detect_import_format(path, CFG.tasks) == "doccano-csv"
    res = import_files([path], CFG)
    assert [(r["id"], r["stance"], r["frame"]) for r in res.rows] == [("e-2-04", "favor", "security")]
    assert len(res.problems) == 1 and str(res.problems[0]).startswith(f"{path}:4: unknown label 'favour'")


def test_doccano_labels_shared_by_two_tasks_need_the_task_name(tmp_path):
    cfg = DataConfig(tasks={"stance": ["favor", "other"], "frame": ["security", "other"]})
    assert doccano_label_names(cfg.tasks) == {
        ("stance", "favor"): "favor", ("stance", "other"): "stance:other",
        ("frame", "security"): "security", ("frame", "other"): "frame:other",
    }  # fmt: skip
    path = _write_jsonl(tmp_path / "d.jsonl", [
        {"text": S1, "label": ["favor", "frame:other"], "sentence_id": "a"},
        {"text": S2, "label": ["favor", "other"], "sentence_id": "b"},
    ])  # fmt: skip
    res = import_files([path], cfg)
    assert [(r["id"], r["stance"], r["frame"]) for r in res.rows] == [("a", "favor", "other")]
    assert [str(p) for p in res.problems] == [
        f"{path}:2: label 'other' belongs to stance and frame; write it as task:label"
    ]


def test_partial_labels_are_a_problem_unless_allowed(tmp_path):
    path = _write_json(
        tmp_path / "min.json", [{"text": S1, "article_id": "p", "sentence_index": 0, "stance": "favor"}]
    )
    res = import_files([path], CFG)
    assert not res.rows and [str(p) for p in res.problems] == [
        f"{path}:1: no frame label (label every task, or import with --allow-partial)"
    ]
    res = import_files([path], CFG, allow_partial=True)
    assert not res.problems and res.rows[0]["stance"] == "favor" and res.rows[0]["frame"] is None


def test_import_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "mystery.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    assert exchange_main(["import", str(bad), "--out", str(tmp_path / "o.jsonl")]) == 1
    assert exchange_main(["import", str(tmp_path / "missing.json"), "--out", str(tmp_path / "o.jsonl")]) == 1
    broken = tmp_path / "broken.json"
    broken.write_text('[{"data": {"text": "x"}\n', encoding="utf-8")
    assert exchange_main(["import", str(broken), "--out", str(tmp_path / "o.jsonl")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert [line.split(":")[0] for line in err] == ["error"] * 3
    assert "cannot tell the format" in err[0] and "file not found" in err[1] and "malformed JSON" in err[2]


def test_export_reports_rows_a_model_with_other_tasks_wrote(tmp_path, capsys):
    good = {"article_id": "a", "sentence_index": 0, "start": 0, "end": 5, "text": S1, "model": "m",
            "stance": "favor", "stance_probs": dict(zip(TASKS["stance"], [0.7, 0.1, 0.1, 0.1], strict=True)),
            "frame": "security", "frame_probs": dict(zip(TASKS["frame"], [0.5, 0.2, 0.2, 0.1], strict=True)),
            "meta": {"outlet": "x", "id": "clash"}}  # fmt: skip
    bad = {**good, "sentence_index": 1, "stance": "positive"}
    preds = _write_jsonl(tmp_path / "p.jsonl", [good, bad])
    out = tmp_path / "tasks.json"
    assert (
        exchange_main(["export", "--predictions", str(preds), "--to", "labelstudio", "--out", str(out)]) == 1
    )
    assert f"{preds}:2: stance label 'positive' is not one of" in capsys.readouterr().err
    (task,) = json.loads(out.read_text(encoding="utf-8"))
    assert task["data"] == {"text": S1, "article_id": "a", "sentence_index": 0, "id": "a-00", "outlet": "x"}
    (pred,) = task["predictions"]
    assert pred["score"] == pytest.approx(0.6) and pred["model_version"] == "m"
    assert [(r["from_name"], r["to_name"], r["type"], r["value"]) for r in pred["result"]] == [
        ("stance", "text", "choices", {"choices": ["favor"]}),
        ("frame", "text", "choices", {"choices": ["security"]}),
    ]
    dc = tmp_path / "d.jsonl"
    assert exchange_main(["export", "--predictions", str(preds), "--to", "doccano", "--out", str(dc)]) == 1
    (ex,) = _read_jsonl(dc)
    assert (
        ex["label"] == ["favor", "security"]
        and ex["sentence_id"] == "a-00"
        and ex["outlet"] == "x"
        and "id" not in ex
    )


# ---------------------------------------------------------------------------------------------
# selection
# ---------------------------------------------------------------------------------------------

# Three sentences, two 4-label tasks. Worked out by hand (ln 4 = 1.386294):
#   s0: stance uniform -> H = 1; frame certain -> 0.          entropy 1.0; margins 0 and 1
#   s1: stance certain -> 0; frame (.6,.3,.1,0) -> 0.897946 / ln 4 = 0.647731;  margins 1 and .3
#   s2: stance (.5,.5,0,0) -> ln 2 / ln 4 = 0.5; frame (.9,.1,0,0) -> 0.325083 / ln 4 = 0.234498;
#       margins 0 and .8
PROBS = {
    "stance": np.array([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]]),
    "frame": np.array([[1.0, 0.0, 0.0, 0.0], [0.6, 0.3, 0.1, 0.0], [0.9, 0.1, 0.0, 0.0]]),
}


def test_entropy_is_the_sum_of_normalised_task_entropies():
    scores = informativeness(PROBS, "entropy")
    assert scores == pytest.approx([1.0, 0.647731, 0.734498], abs=1e-5)
    assert list(ranking(scores, "entropy")) == [0, 2, 1]


def test_margin_and_breaking_ties_rank_alike_and_differ_from_entropy():
    margin = informativeness(PROBS, "margin")  # 1 - mean(p1 - p2)
    ties = informativeness(PROBS, "breaking-ties")  # mean(p1 - p2), smallest first
    assert margin == pytest.approx([1 - 0.5, 1 - 0.65, 1 - 0.4])
    assert ties == pytest.approx([0.5, 0.65, 0.4])
    assert list(ranking(margin, "margin")) == list(ranking(ties, "breaking-ties")) == [2, 0, 1]


def test_spread_takes_articles_round_robin_by_rank():
    ranked_articles = ["a", "a", "a", "b", "c", "a", "b"]  # article of the sentence at each rank
    assert spread(ranked_articles, 5, 2) == [0, 3, 4, 1, 6]
    assert spread(ranked_articles, 4, 2) == [0, 3, 4, 1]
    assert spread(ranked_articles, 10, 1) == [0, 3, 4]
    assert spread(ranked_articles, 10, None) == [0, 3, 4, 1, 6, 2, 5]
    assert spread([], 3, 2) == []


def test_select_skips_repeated_and_already_labelled_sentences(linear_model, tmp_path):
    from data.select import select

    wire = "وقال المتحدث باسم الكرملين إن موسكو مستعدة لدعم أي اتفاق يضمن الاستقرار."
    arts = [
        {"id": "x1", "text": f"{S1} {wire} {S3}"},
        {"id": "x2", "text": f"{wire} {S4}"},  # the same wire sentence in a second outlet
        {"id": "x3", "text": f"{S5} {S2}"},
    ]
    articles = _write_jsonl(tmp_path / "arts.jsonl", arts)
    labelled = _write_jsonl(tmp_path / "done.jsonl", [{"id": "d", "text": S2.replace("إدلب", "إدلب،")}])
    rows, errors = select([str(articles)], linear_model, n=10, strategy="entropy", exclude=[labelled])
    texts = [r["text"] for r in rows]
    assert not errors and texts.count(wire) == 1 and S2 not in texts and len(rows) == 5
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    # round-robin: each article's best sentence comes before any article's second
    firsts = {}
    for r in rows:
        firsts.setdefault(r["article_id"], r["rank"])
    assert sorted(firsts.values()) == [1, 2, 3]
    assert (
        select_main([str(articles), "--model", str(linear_model), "--n", "0", "--out", str(tmp_path / "o")])
        == 1
    )


# ---------------------------------------------------------------------------------------------
# merge
# ---------------------------------------------------------------------------------------------


def _row(rid: str, text: str, stance: str, frame: str) -> dict[str, Any]:
    art = rid.rsplit("-", 1)[0]
    return {"id": rid, "article_id": art, "position": int(rid.rsplit("-", 1)[1]), "text": text,
            "stance": stance, "frame": frame, "source": "authored", "writer": "w9"}  # fmt: skip


@pytest.fixture()
def small_corpus(tmp_path) -> dict[str, Path]:
    train = [_row("a1-00", S2, "against", "security"), _row("a1-01", S3, "unrelated", "other")]
    dev = [_row("a2-00", S4, "favor", "reconstruction")]
    test = [_row("a3-00", S1, "favor", "security"), _row("a3-01", S5, "neutral", "sovereignty")]
    root = tmp_path / "corpus"
    (root / "splits").mkdir(parents=True)
    paths = {"corpus": _write_jsonl(root / "corpus.jsonl", train + dev + test), "splits": root / "splits"}
    for name, rows in (("train", train), ("dev", dev), ("test", test)):
        _write_jsonl(
            root / "splits" / f"{name}.jsonl", [{k: v for k, v in r.items() if k != "writer"} for r in rows]
        )
    return paths


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_merge_changes_train_labels_and_never_touches_test(small_corpus, tmp_path):
    before = _snapshot(small_corpus["corpus"].parent)
    new = [
        {**_row("a1-00", S2, "neutral", "security"), "source": "labelstudio"},  # relabel a train sentence
        {**_row("a3-01", S5, "against", "other"), "source": "labelstudio"},  # a test id: refused
        # the test sentence a3-00 with diacritics and without its full stop: identical after normalising
        _row(
            "n1-00",
            "أَشاد الوزير بالدور الروسيّ في تثبيت وقف إطلاق النار في الجنوب السوري خلال الأسابيع الماضية",
            "favor",
            "security",
        ),
        # one word changed: near-identical (Jaccard of character 4-grams 0.87)
        _row("n1-01", S1.replace("الجنوب", "الشمال"), "favor", "security"),
        _row(
            "a3-05", "جملة جديدة من مقال في مجموعة الاختبار عن الموانئ.", "neutral", "other"
        ),  # article in test
        _row("n2-00", "أعلنت شركة روسية بناء صوامع جديدة للقمح في ميناء طرطوس.", "favor", "security"),
        _row(
            "n2-00", "أعلنت شركة روسية بناء صوامع جديدة للقمح في ميناء طرطوس.", "favor", "reconstruction"
        ),  # last wins
        {
            **_row("n2-01", "وقال مسؤول محلي إن المشروع سيوفر مئات الوظائف.", "neutral", "other"),
            "frame": None,
        },
        _row(
            "a2-00", "نص آخر تماما لا علاقة له بالجملة الأصلية.", "neutral", "other"
        ),  # id reused for other text
    ]
    new_file = _write_jsonl(tmp_path / "labelled.jsonl", new)
    out = tmp_path / "v2"
    report = merge(small_corpus["corpus"], small_corpus["splits"], [new_file], out, CFG)

    assert _snapshot(small_corpus["corpus"].parent) == before  # the inputs are only read
    assert (out / "splits" / "test.jsonl").read_bytes() == (
        small_corpus["splits"] / "test.jsonl"
    ).read_bytes()
    train = {r["id"]: r for r in _read_jsonl(out / "splits" / "train.jsonl")}
    assert train["a1-00"]["stance"] == "neutral" and train["n2-00"]["frame"] == "reconstruction"
    assert set(train) == {"a1-00", "a1-01", "n2-00"}
    corpus = {r["id"]: r for r in _read_jsonl(out / "corpus.jsonl")}
    assert corpus["a1-00"]["stance"] == "neutral" and corpus["a1-00"]["writer"] == "w9"  # other columns kept
    assert corpus["a3-01"]["stance"] == "neutral" and len(corpus) == 6

    assert report["changed"] == [{"id": "a1-00", "split": "train", "where": f"{new_file}:1",
                                  "changes": {"stance": {"old": "against", "new": "neutral"}}}]  # fmt: skip
    assert report["label_changes"] == {"stance": {"against -> neutral": 1}}
    reasons = {r["id"]: r["reason"] for r in report["refused"]}
    assert reasons == {
        "a3-01": "test_id", "n1-00": "near_duplicate_of_test", "n1-01": "near_duplicate_of_test",
        "a3-05": "test_article", "n2-01": "incomplete_labels", "a2-00": "id_clash",
    }  # fmt: skip
    assert report["duplicates"] == [{"id": "n2-00", "kept": f"{new_file}:7", "dropped": [f"{new_file}:6"]}]
    assert report["counts"]["added"] == {"train": 1, "dev": 0} and report["counts"]["refused"] == 6
    md = (out / "MERGE_REPORT.md").read_text(encoding="utf-8")
    assert "| a1-00 | train | stance | against | neutral |" in md and "near_duplicate_of_test" in md
    assert json.loads((out / "merge_report.json").read_text(encoding="utf-8"))["counts"] == report["counts"]


def test_merge_dev_share_moves_whole_new_articles_and_cli_guards_inputs(small_corpus, tmp_path, capsys):
    words = ["القمح", "الكهرباء", "المياه", "الموانئ", "الطرق", "المدارس", "المشافي", "الجسور"]
    text = "خبر رقم {i} عن {w} والجملة {j} فيه مختلفة تماما عن غيرها {k}."
    new = [_row(f"z{i}-{j:02d}", text.format(i=i, w=w, j=j, k=i * 7 + j), "neutral", "other")
           for i, w in enumerate(words) for j in range(2)]  # fmt: skip
    new_file = _write_jsonl(tmp_path / "new.jsonl", new)
    out = tmp_path / "v3"
    args = [
        "--corpus",
        str(small_corpus["corpus"]),
        "--splits",
        str(small_corpus["splits"]),
        "--new",
        str(new_file),
    ]
    assert merge_main([*args, "--out", str(out), "--dev-share", "0.25"]) == 0
    dev_new = [r for r in _read_jsonl(out / "splits" / "dev.jsonl") if r["id"].startswith("z")]
    train_new = [r for r in _read_jsonl(out / "splits" / "train.jsonl") if r["id"].startswith("z")]
    assert len(dev_new) == 4 and len(train_new) == 12
    assert not {r["article_id"] for r in dev_new} & {r["article_id"] for r in train_new}
    assert not [r for r in _read_jsonl(out / "splits" / "test.jsonl") if r["id"].startswith("z")]
    # refuses to write over its inputs, or over an earlier version without --force
    assert merge_main([*args, "--out", str(small_corpus["corpus"].parent)]) == 1
    assert merge_main([*args, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "would overwrite an input" in err and "pass --force" in err


# ---------------------------------------------------------------------------------------------
# the whole loop
# ---------------------------------------------------------------------------------------------

# New articles about an invented project ("ميناء الزمرد", the firm "فولغاترانس"): words the corpus
# never has, so what the retrained model learns about them can only come from the new labels.
CITIES = ["اللاذقية", "طرطوس", "بانياس", "جبلة", "حمص", "حماة", "دير الزور"]
TEMPLATES = [
    "أعلنت شركة فولغاترانس توسيع ميناء الزمرد في {c} بكلفة {n} مليون دولار.",
    "وقال مدير فولغاترانس إن أرصفة ميناء الزمرد في {c} ستستقبل {n} سفينة سنويا.",
    "ويرى خبراء أن صفقة فولغاترانس لإدارة ميناء الزمرد في {c} تمتد {n} عاما.",
    "وتنقل فولغاترانس عبر ميناء الزمرد في {c} نحو {n} ألف طن من البضائع شهريا.",
]


def _article(i: int) -> dict[str, Any]:
    text = " ".join(t.format(c=CITIES[i], n=12 + 7 * i + k) for k, t in enumerate(TEMPLATES))
    return {"id": f"zumurrud-{i}", "text": text, "outlet": "وكالة الساحل"}


def _sample_corpus_copy(corpus_sample: dict[str, Path], root: Path) -> dict[str, Path]:
    (root / "splits").mkdir(parents=True)
    rows = []
    for name in ("train", "dev", "test"):
        shutil.copyfile(corpus_sample[name], root / "splits" / f"{name}.jsonl")
        rows += _read_jsonl(corpus_sample[name])
    return {"corpus": _write_jsonl(root / "corpus.jsonl", rows), "splits": root / "splits"}


def test_retraining_loop_end_to_end(linear_model, corpus_sample, tmp_path):
    from eval.compare import compare
    from eval.evaluate import evaluate
    from model import Tagger
    from train.config import load_config
    from train.run import train

    old = Tagger.load(linear_model)
    articles = _write_jsonl(tmp_path / "articles.jsonl", [_article(i) for i in range(6)])

    # 1. select: 15 of the 24 new sentences, at most 3 per article
    selected = tmp_path / "to_label.jsonl"
    rc = select_main([str(articles), "--model", str(linear_model), "--n", "15", "--strategy", "margin",
                      "--max-per-article", "3", "--out", str(selected)])  # fmt: skip
    assert rc == 0
    rows = _read_jsonl(selected)
    assert len(rows) == 15 and [r["rank"] for r in rows] == list(range(1, 16))
    per_article = {a: sum(r["article_id"] == a for r in rows) for a in {r["article_id"] for r in rows}}
    assert len(per_article) == 6 and max(per_article.values()) == 3
    assert {"text", "stance", "stance_probs", "frame_probs", "model", "meta", "score"} <= set(rows[0])

    # 2. export to Label Studio
    tasks_file = tmp_path / "tasks.json"
    assert (
        exchange_main(
            ["export", "--predictions", str(selected), "--to", "labelstudio", "--out", str(tasks_file)]
        )
        == 0
    )
    tasks = json.loads(tasks_file.read_text(encoding="utf-8"))
    assert len(tasks) == 15

    # 3. annotators: the label the old model finds least likely for these sentences, per task
    mean_old = {
        t: np.mean([[r[f"{t}_probs"][lab] for lab in labs] for r in rows], axis=0)
        for t, labs in TASKS.items()
    }
    target = {t: TASKS[t][int(np.argmin(mean_old[t]))] for t in TASKS}
    assert all(r["stance"] != target["stance"] and r["frame"] != target["frame"] for r in rows)
    for i, task in enumerate(tasks):
        task["id"] = 1000 + i
        accepted = {
            "id": 1,
            "completed_by": 7,
            "result": task["predictions"][0]["result"],
            "was_cancelled": False,
        }
        if i == 0:
            task["annotations"] = []  # left empty
        elif i == 1:
            task["annotations"] = [{**accepted, "was_cancelled": True}]  # skipped by the annotator
        elif i in (2, 3):
            task["annotations"] = [accepted]  # the model was right
        else:
            task["annotations"] = [_ann(target["stance"], target["frame"], who=8)]  # corrected
    export = _write_json(tmp_path / "project-1-export.json", tasks)

    # 4. import
    labelled = tmp_path / "labelled.jsonl"
    assert exchange_main(["import", str(export), "--out", str(labelled)]) == 0
    imported = {r["id"]: r for r in _read_jsonl(labelled)}
    assert (
        len(imported) == 13
        and tasks[0]["data"]["id"] not in imported
        and tasks[1]["data"]["id"] not in imported
    )
    corrected = [t["data"]["id"] for t in tasks[4:]]
    assert all(
        (imported[i]["stance"], imported[i]["frame"]) == (target["stance"], target["frame"])
        for i in corrected
    )
    assert (
        imported[corrected[0]]["outlet"] == "وكالة الساحل"
        and imported[corrected[0]]["source"] == "labelstudio"
    )

    # 5. merge into a copy of the sample corpus
    corpus = _sample_corpus_copy(corpus_sample, tmp_path / "corpus")
    merged = tmp_path / "corpus-v2"
    assert merge_main(["--corpus", str(corpus["corpus"]), "--splits", str(corpus["splits"]),
                       "--new", str(labelled), "--out", str(merged)]) == 0  # fmt: skip
    report = json.loads((merged / "merge_report.json").read_text(encoding="utf-8"))
    assert report["counts"]["added"] == {"train": 13, "dev": 0} and report["counts"]["refused"] == 0
    train_rows = {r["id"]: r for r in _read_jsonl(merged / "splits" / "train.jsonl")}
    assert all(
        train_rows[i]["stance"] == target["stance"] and train_rows[i]["frame"] == target["frame"]
        for i in corrected
    )

    # 6. retrain the linear engine on the merged splits, 7. evaluate and compare on the frozen test split
    new_model = tmp_path / "model-v2"
    splits = merged / "splits"
    overrides = [f"data.train={splits / 'train.jsonl'}", f"data.dev={splits / 'dev.jsonl'}",
                 f"data.test={splits / 'test.jsonl'}", f"training.output_dir={new_model}"]  # fmt: skip
    metrics = train(load_config(REPO / "configs" / "linear.yaml", overrides))
    assert metrics["n_examples"]["train"] == len(train_rows) == len(_read_jsonl(corpus_sample["train"])) + 13
    result = evaluate(
        new_model, [merged / "splits" / "test.jsonl"], tmp_path / "eval", baselines=False, n_boot=20
    )
    assert set(TASKS) <= set(result["tasks"]) and (tmp_path / "eval" / "report.md").is_file()
    cmp = compare(linear_model, new_model, [merged / "splits" / "test.jsonl"], n_boot=50)
    assert set(cmp["tasks"]) == set(TASKS)

    # the new labels are what the new model learnt: the annotators' label gained probability on the
    # corrected sentences, and on sentences of the same kind from a port neither model has seen
    new = Tagger.load(new_model)
    unseen = [t.format(c="صور", n=99) for t in TEMPLATES]
    for texts in ([imported[i]["text"] for i in corrected], unseen):
        p_old, p_new = old.predict_proba(texts), new.predict_proba(texts)
        for task, label in target.items():
            j = TASKS[task].index(label)
            assert (p_new[task][:, j] > p_old[task][:, j]).all(), (task, p_old[task][:, j], p_new[task][:, j])
    preds = new.predict([imported[i]["text"] for i in corrected])
    assert np.mean([p.labels["stance"] == target["stance"] for p in preds]) >= 0.5
