"""The predictor: Python API, every input and output form, and every bad input."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model import Tagger
from model.errors import ModelLoadError
from model.predict import main as predict_main
from tests.conftest import REPO, TASKS

EXAMPLE = REPO / "data" / "examples" / "article1.txt"


@pytest.fixture(scope="module", params=["tiny", "linear"])
def model_dir(request, tiny_model, linear_model) -> Path:
    return tiny_model if request.param == "tiny" else linear_model


def _rows(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_python_api_predict_str_and_list(model_dir):
    tagger = Tagger.load(model_dir)
    one = tagger.predict("أشاد الوزير بالدور الروسي في تثبيت وقف إطلاق النار.")
    assert set(one.labels) == set(TASKS) and all(one.labels[t] in TASKS[t] for t in TASKS)
    for t in TASKS:
        assert list(one.probs[t]) == TASKS[t] and sum(one.probs[t].values()) == pytest.approx(1, abs=1e-3)
        assert one.labels[t] == max(one.probs[t], key=one.probs[t].get)
    many = tagger.predict(["جملة أولى عن موسكو.", "ارتفعت أسعار القمح."])
    assert isinstance(many, list) and len(many) == 2
    probs = tagger.predict_proba(["جملة أولى عن موسكو.", "ارتفعت أسعار القمح."] * 40)
    assert probs["stance"].shape == (80, 4) and np.allclose(probs["frame"].sum(1), 1, atol=1e-4)


def test_batching_and_length_sorting_do_not_change_results(tiny_model):
    sents = [("كلمة " * n).strip() + "." for n in (30, 2, 11, 5, 19, 1, 7)]
    a = Tagger.load(tiny_model, batch_size=3, precision="fp32").predict_proba(sents)
    one = Tagger.load(tiny_model, batch_size=1, precision="fp32")
    b = np.stack([one.predict_proba([s])["stance"][0] for s in sents])
    assert np.allclose(a["stance"], b, atol=1e-5)


def test_tag_article_offsets_and_summary(model_dir):
    text = EXAMPLE.read_text(encoding="utf-8")
    res = Tagger.load(model_dir).tag_article(text, "ex1")
    assert res.article_id == "ex1" and len(res.sentences) == 10
    for i, s in enumerate(res.sentences):
        assert s.index == i and text[s.start : s.end] == s.text
    st = res.summary["stance"]
    assert sum(st["counts"].values()) == 10
    assert st["n_related"] == 10 - st["counts"]["unrelated"]
    if st["n_related"]:
        assert st["net_score"] == pytest.approx((st["counts"]["favor"] - st["counts"]["against"]) / st["n_related"], abs=1e-4)
    for lab, top in res.summary["frame"]["most_confident"].items():
        assert all(t["prob"] >= u["prob"] for t, u in zip(top, top[1:], strict=False))
        assert all(res.sentences[t["index"]].labels["frame"] == lab for t in top)


def test_streaming_keeps_input_order_across_chunks(linear_model):
    from model.tagger import Article

    tagger = Tagger.load(linear_model)
    arts = [Article(f"a{i}", "جملة عن روسيا. " * (i % 4 + 1)) for i in range(30)]
    out = list(tagger.tag_articles(iter(arts), chunk_sentences=7))
    assert [r.article_id for r in out] == [a.id for a in arts]
    assert [len(r.sentences) for r in out] == [i % 4 + 1 for i in range(30)]


def test_cli_txt_file_jsonl_to_stdout(model_dir, capsys):
    assert predict_main([str(EXAMPLE), "--model", str(model_dir)]) == 0
    captured = capsys.readouterr()
    rows = _rows(captured.out)
    assert len(rows) == 10 and rows[0]["article_id"] == "article1" and rows[0]["model"] == str(model_dir)
    assert {"sentence_index", "start", "end", "text", "stance", "stance_probs", "frame", "frame_probs"} <= set(rows[0])
    assert f"model: {model_dir}" in captured.err


def test_cli_directory_jsonl_and_csv_inputs_with_metadata(linear_model, tmp_path, capsys):
    d = tmp_path / "articles"
    d.mkdir()
    shutil.copy(EXAMPLE, d / "one.txt")
    (d / "two.txt").write_text("وصل الوفد الروسي إلى القاهرة. وبحث الجانبان ملف القمح.", encoding="utf-8")
    (d / "notes.md").write_text("ignored", encoding="utf-8")
    jl = tmp_path / "arts.jsonl"
    jl.write_text(json.dumps({"id": "x1", "text": "أعلنت موسكو نشر قوات.", "outlet": "Test", "date": "2019-01-01"}, ensure_ascii=False) + "\n", encoding="utf-8")
    cs = tmp_path / "arts.csv"
    cs.write_text('id,text,outlet\nc1,"ارتفعت الأسعار. وتراجع الطلب.",Daily\n', encoding="utf-8")
    assert predict_main([str(d), str(jl), str(cs), "--model", str(linear_model)]) == 0
    rows = _rows(capsys.readouterr().out)
    assert [r["article_id"] for r in rows].count("one") == 10 and [r["article_id"] for r in rows].count("two") == 2
    x1 = [r for r in rows if r["article_id"] == "x1"][0]
    assert x1["meta"] == {"outlet": "Test", "date": "2019-01-01"}
    assert [r["meta"]["outlet"] for r in rows if r["article_id"] == "c1"] == ["Daily", "Daily"]


def test_cli_stdin(linear_model):
    proc = subprocess.run(
        [sys.executable, "-m", "model.predict", "--model", str(linear_model)],
        input="وصل وزير الخارجية الروسي إلى القاهرة. وارتفعت أسعار القمح.", capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert [r["article_id"] for r in _rows(proc.stdout)] == ["stdin", "stdin"]


def test_cli_out_csv_atomic_with_summary(linear_model, tmp_path):
    out = tmp_path / "res" / "tags.csv"
    assert predict_main([str(EXAMPLE), "--model", str(linear_model), "--out", str(out)]) == 0
    with out.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10 and {"stance", "stance_p_favor", "frame_p_other", "start", "end"} <= set(rows[0])
    assert sum(float(rows[0][f"stance_p_{lab}"]) for lab in TASKS["stance"]) == pytest.approx(1, abs=1e-3)
    summary = json.loads((tmp_path / "res" / "tags.csv.summary.json").read_text(encoding="utf-8"))
    assert summary[0]["article_id"] == "article1" and summary[0]["summary"]["n_sentences"] == 10
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_cli_bad_inputs_each_get_one_line_and_the_rest_is_kept(linear_model, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    nodir = tmp_path / "nodir"
    nodir.mkdir()
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x00\x01\x02PK\x03\x04" * 50)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("وصل الوفد.\n".encode() + "caf\xe9".encode("latin-1"))
    bad_jsonl = tmp_path / "arts.jsonl"
    bad_jsonl.write_text('{"id": "j1", "text": "نص سليم عن روسيا."}\n{"id": "j2", "text": \n{"id": "j3"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    rc = predict_main([str(empty), str(nodir), str(binary), str(latin1), str(bad_jsonl), str(EXAMPLE), "--model", str(linear_model), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2  # some inputs failed, the others were tagged
    assert f"error: {empty}: empty file" in err
    assert f"error: {nodir}: directory has no .txt files" in err
    assert f"error: {binary}: looks like a binary file" in err
    assert f"error: {latin1}:2: not valid UTF-8" in err
    assert f"error: {bad_jsonl}:2: malformed JSON" in err and f"error: {bad_jsonl}:3: missing or empty 'text'" in err
    assert "Traceback" not in err
    ids = {r["article_id"] for r in _rows(out.read_text(encoding="utf-8"))}
    assert ids == {"j1", "article1"}


def test_cli_nothing_to_do_exits_1(linear_model, tmp_path, capsys):
    empty = tmp_path / "e.txt"
    empty.write_text("", encoding="utf-8")
    assert predict_main([str(empty), "--model", str(linear_model), "--out", str(tmp_path / "o.jsonl")]) == 1
    assert not (tmp_path / "o.jsonl").exists()


def test_non_arabic_text_is_tagged_and_flagged(linear_model, capsys):
    tagger = Tagger.load(linear_model)
    res = tagger.tag_article("The Russian minister arrived in Cairo. Talks focused on wheat.", "en")
    assert len(res.sentences) == 2 and res.flags == ["non_arabic"]
    assert all(s.flags == ["non_arabic"] for s in res.sentences)


def test_huge_article_streams(linear_model, tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("وصل الوفد الروسي إلى دمشق. " * 100_000, encoding="utf-8")
    out = tmp_path / "big.jsonl"
    assert predict_main([str(big), "--model", str(linear_model), "--out", str(out)]) == 0
    with out.open(encoding="utf-8") as f:
        n = sum(1 for _ in f)
    assert n == 100_000


def test_missing_model_is_one_line_exit_1(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "model.predict", str(EXAMPLE), "--model", str(tmp_path / "nope")],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: {tmp_path / 'nope'}: no such model directory"


@pytest.mark.parametrize("engine", ["tiny", "linear"])
def test_label_map_mismatch_is_caught_on_load(engine, tiny_model, linear_model, tmp_path):
    src = tiny_model if engine == "tiny" else linear_model
    broken = tmp_path / "broken"
    shutil.copytree(src, broken, ignore=shutil.ignore_patterns("checkpoints"))
    cfg = json.loads((broken / "config.json").read_text(encoding="utf-8"))
    cfg["tasks"]["stance"] = ["favor", "against", "neutral"]  # a label dropped: heads have 4 outputs
    cfg.pop("task_id2label", None), cfg.pop("task_label2id", None)
    (broken / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="stance|size|labels"):
        Tagger.load(broken)
    cfg2 = json.loads((src / "config.json").read_text(encoding="utf-8"))
    if "task_id2label" in cfg2:
        cfg2["task_id2label"]["stance"]["0"] = "against"
        (broken / "config.json").write_text(json.dumps(cfg2), encoding="utf-8")
        with pytest.raises(ModelLoadError, match="task_id2label"):
            Tagger.load(broken)
    proc = subprocess.run([sys.executable, "-m", "model.predict", str(EXAMPLE), "--model", str(broken)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)  # fmt: skip
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


def test_preprocessing_mismatch_is_caught_on_load(linear_model, tmp_path):
    broken = tmp_path / "old"
    shutil.copytree(linear_model, broken)
    cfg = json.loads((broken / "config.json").read_text(encoding="utf-8"))
    cfg["preprocessing"]["version"] = 0
    (broken / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="preprocessing version 0"):
        Tagger.load(broken)


def test_terminal_table_format(linear_model):
    from model.predict import format_table

    tagger = Tagger.load(linear_model)
    res = tagger.tag_article(EXAMPLE.read_text(encoding="utf-8"), "ex")
    table = format_table(res, tagger.tasks)
    assert "== ex — 10 sentences" in table and "stance (of" in table and "net " in table
    assert io.StringIO(table).read().count("\n") >= 12
