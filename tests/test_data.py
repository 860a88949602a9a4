"""Data layer: readers, validation with file/line, stats, group split and leakage check, config."""

import json
from pathlib import Path

import pytest

from data.config import ConfigError, apply_overrides, build, load_data_config, read_yaml
from data.io import DataError, load_examples, read_examples
from data.schema import DataConfig, Example
from data.split import find_leaks, group_overlap, split_by_group
from data.stats import compute_stats
from data.stats import main as stats_main
from data.validate import main as validate_main

TASKS = {"stance": ["favor", "against", "neutral", "unrelated"], "frame": ["security", "sovereignty", "reconstruction", "other"]}
CFG = DataConfig(tasks=TASKS, metadata_columns=["outlet"])


def _row(i, text="وصل الوفد الروسي إلى دمشق.", stance="neutral", frame="other", **kw):
    return {"id": f"s{i}", "article_id": f"a{i // 3}", "text": text, "stance": stance, "frame": frame, **kw}


def test_every_bad_row_kind_is_reported_with_its_line(tmp_path):
    good = json.dumps(_row(1), ensure_ascii=False)
    lines = [
        good,                                                          # 1 ok
        '{"id": "s2", "text": "نص", "stance": "favor"',                # 2 malformed JSON
        json.dumps({"id": "s3", "stance": "favor", "frame": "other"}),  # 3 missing text
        json.dumps(_row(4, text="   ")),                               # 4 whitespace-only text
        json.dumps(_row(5, stance="pro")),                             # 5 unknown label
        json.dumps(_row(1)),                                           # 6 duplicate id
        json.dumps({k: v for k, v in _row(7).items() if k != "frame"}),  # 7 missing label field
    ]  # fmt: skip
    path = tmp_path / "bad.jsonl"
    data = ("\n".join(lines) + "\n").encode("utf-8") + b'{"id": "s8", "text": "\xff\xfe bad", "stance": "favor", "frame": "other"}\n'
    path.write_bytes(data)
    examples, problems = read_examples(path, CFG)
    by_line = {p.line: p.message for p in problems}
    assert len(examples) == 1
    assert "malformed JSON" in by_line[2]
    assert "missing field 'text'" in by_line[3]
    assert "empty or whitespace-only" in by_line[4]
    assert "unknown stance label 'pro'" in by_line[5] and "favor, against, neutral, unrelated" in by_line[5]
    assert "duplicate id 's1' (first on line 1)" in by_line[6]
    assert "missing label field 'frame'" in by_line[7]
    assert "not valid UTF-8" in by_line[8]
    assert all(str(p).startswith(f"{path}:{p.line}: ") for p in problems)


def test_validate_cli_exit_codes(tmp_path, capsys):
    ok = tmp_path / "ok.jsonl"
    ok.write_text(json.dumps(_row(1), ensure_ascii=False) + "\n", encoding="utf-8")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(_row(2, frame="economy")) + "\n" + json.dumps(_row(1)) + "\n", encoding="utf-8")
    assert validate_main([str(ok)]) == 0
    assert validate_main([str(ok), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:1: unknown frame label 'economy'" in out
    assert f"{bad}:2: duplicate id 's1' (also {ok}:1)" in out  # across files
    assert validate_main([str(ok), "--set", "data.tasks={}"]) == 2


def test_csv_with_other_columns_and_a_pair_column(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text(
        "uid,sentence,target,polarity\n1,الجيش يتقدم,روسيا,pos\n2,\"نص مع, فاصلة\",الصين,neg\n3,,روسيا,pos\n",
        encoding="utf-8",
    )
    cfg = DataConfig(
        tasks={"polarity": ["pos", "neg"]}, text_column="sentence", text_pair_column="target", id_column="uid", group_column=None
    )
    examples, problems = read_examples(path, cfg)
    assert [e.text for e in examples] == ["الجيش يتقدم", "نص مع, فاصلة"]
    assert examples[1].text_pair == "الصين" and examples[1].labels == {"polarity": "neg"}
    assert [(p.line, "empty" in p.message) for p in problems] == [(4, True)]


def test_parquet_through_datasets(tmp_path):
    import pandas as pd

    path = tmp_path / "d.parquet"
    pd.DataFrame([_row(1), _row(2, stance="favor")]).to_parquet(path)
    examples = load_examples(path, CFG)
    assert [e.labels["stance"] for e in examples] == ["neutral", "favor"]


def test_load_examples_raises_with_every_problem(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(_row(1, stance="x")) + "\n" + json.dumps(_row(2, frame="y")) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        load_examples(path, CFG)
    assert len(e.value.problems) == 2 and ":1:" in str(e.value) and ":2:" in str(e.value)


def _corpus(n_articles=40):
    exs = []
    labels = ["favor", "against", "neutral", "unrelated"]
    for a in range(n_articles):
        for s in range(6):
            i = a * 6 + s
            text = f"جملة رقم {i} عن موضوع مختلف {'ومفردات ' * (i % 5)} في المقال {a}"
            exs.append(Example(text=text, labels={"stance": labels[(a + s) % 4], "frame": "other"}, id=str(i), group=f"a{a}"))
    return exs


def test_split_is_group_disjoint_stratified_and_seeded():
    exs = _corpus()
    splits = split_by_group(exs, dev=0.15, test=0.2, stratify=["stance"], seed=1)
    assert sum(len(v) for v in splits.values()) == len(exs)
    assert group_overlap(splits) == {}
    assert 0.1 <= len(splits["test"]) / len(exs) <= 0.3
    for name in ("train", "test"):
        present = {e.labels["stance"] for e in splits[name]}
        assert present == {"favor", "against", "neutral", "unrelated"}
    again = split_by_group(exs, dev=0.15, test=0.2, stratify=["stance"], seed=1)
    assert [e.id for e in again["test"]] == [e.id for e in splits["test"]]


def test_leakage_check_flags_identical_and_near_identical_sentences():
    a = Example(text="أعلنت وزارة الدفاع الروسية نشر منظومة جديدة في قاعدة حميميم الجوية.", labels={}, id="1", group="g1")
    b = Example(text="أعلنت وزارة الدفاع الروسيّة نشر منظومة جديدة في قاعدة حميميم الجوية!", labels={}, id="2", group="g2")
    c = Example(text="ارتفعت أسعار القمح في الأسواق المحلية بنسبة كبيرة هذا الأسبوع.", labels={}, id="3", group="g3")
    leaks = find_leaks({"train": [a, c], "test": [b]})
    assert len(leaks) == 1 and {leaks[0]["a"]["id"], leaks[0]["b"]["id"]} == {"1", "2"}
    assert find_leaks({"train": [a], "test": [c]}) == []
    assert group_overlap({"train": [a], "test": [Example(text="x", labels={}, group="g1")]}) == {"g1": ["test", "train"]}


def test_stats_counts_and_metadata(tmp_path, capsys):
    rows = [_row(1, stance="favor", outlet="x"), _row(2, stance="against", outlet="y"), _row(3, outlet="x")]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    stats = compute_stats({"train": load_examples(path, CFG)}, CFG)
    assert stats["labels"]["stance"]["favor"] == {"n": 1, "share": round(1 / 3, 4)}
    assert stats["labels"]["stance"]["unrelated"]["n"] == 0
    assert stats["per_metadata"]["outlet"]["x"]["n"] == 2
    assert stats_main([str(path), "--set", "data.metadata_columns=[outlet]", "--where", "stance!=neutral"]) == 0
    out = capsys.readouterr().out
    assert "| train | 2 | 1 (50.0%) | 1 (50.0%) | 0 (0.0%) | 0 (0.0%) |" in out


def test_config_rejects_unknown_keys_and_bad_types(tmp_path):
    with pytest.raises(ConfigError, match="unknown key"):
        build(DataConfig, {"tasks": TASKS, "txt_column": "x"})
    from train.config import TrainingArgs

    assert build(TrainingArgs, {"learning_rate": "2e-5"}).learning_rate == 2e-5  # YAML reads 2e-5 as a string
    with pytest.raises(ConfigError, match="expected a number"):
        build(TrainingArgs, {"learning_rate": "fast"})
    with pytest.raises(ConfigError, match="expected str"):
        build(DataConfig, {"tasks": TASKS, "text_column": 3})
    with pytest.raises(ConfigError, match="duplicate labels"):
        build(DataConfig, {"tasks": {"t": ["a", "a"]}})
    base = tmp_path / "base.yaml"
    base.write_text("data:\n  tasks: {t: [a, b]}\n  text_column: s\n", encoding="utf-8")
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\ndata:\n  id_column: null\n", encoding="utf-8")
    merged = apply_overrides(read_yaml(child), ["data.group_column=doc"])
    assert merged["data"] == {"tasks": {"t": ["a", "b"]}, "text_column": "s", "id_column": None, "group_column": "doc"}
    with pytest.raises(ConfigError, match="not found"):
        read_yaml(tmp_path / "nope.yaml")
    (tmp_path / "broken.yaml").write_text("data: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="broken.yaml:"):
        read_yaml(tmp_path / "broken.yaml")


def test_default_data_config_declares_the_two_tasks():
    cfg = load_data_config()
    assert cfg.tasks["stance"] == ["favor", "against", "neutral", "unrelated"]
    assert cfg.tasks["frame"] == ["security", "sovereignty", "reconstruction", "other"]
    assert Path(cfg.train).parts[:2] == ("data", "corpus")
