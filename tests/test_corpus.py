"""The committed starter corpus: valid, balanced, leak-free, double-annotated, and consistent with the
project's own sentence splitter (every authored article splits back into exactly its sentences)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from data.config import load_data_config
from data.corpus import CORPUS, article_text, read_raw
from data.io import load_examples
from data.split import find_leaks, group_overlap
from data.text import split_sentences
from data.validate import validate_files
from eval.metrics import cohen_kappa
from tests.conftest import REPO, TASKS

C = REPO / CORPUS


def _rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def corpus():
    return _rows(C / "corpus.jsonl")


def test_corpus_and_splits_validate():
    cfg = load_data_config(REPO / "configs/data/corpus.yaml")
    assert validate_files([C / "corpus.jsonl"], cfg) == []
    assert validate_files([C / "splits" / f"{n}.jsonl" for n in ("train", "dev", "test")], cfg) == []


def test_size_and_label_balance(corpus):
    assert len(corpus) >= 3000 and len({r["article_id"] for r in corpus}) >= 300
    n = len(corpus)
    for task, labels in TASKS.items():
        counts = Counter(r[task] for r in corpus)
        for lab in labels:
            assert counts[lab] / n >= 0.10, (task, lab, counts[lab] / n)
    related = [r for r in corpus if r["stance"] != "unrelated"]
    for lab in ("favor", "against"):
        assert sum(r["stance"] == lab for r in related) / len(related) >= 0.15
    assert {r["source"] for r in corpus} == {"authored"}


def test_splits_are_by_article_leak_free_and_test_is_big_enough():
    cfg = load_data_config(REPO / "configs/data/corpus.yaml")
    splits = {n: load_examples(C / "splits" / f"{n}.jsonl", cfg) for n in ("train", "dev", "test")}
    total = sum(len(v) for v in splits.values())
    assert total == len(_rows(C / "corpus.jsonl"))
    assert len(splits["test"]) / total >= 0.15
    assert group_overlap(splits) == {}
    assert find_leaks(splits) == []


def test_every_authored_article_splits_back_into_its_sentences():
    articles, problems = read_raw(C / "raw")
    assert problems == []
    for a in articles:
        assert [s.text for s in split_sentences(article_text(a))] == [s["text"].strip() for s in a["sentences"]], a["article_id"]


def test_double_annotation_agreement_and_adjudication(corpus):
    p1 = {r["id"]: r for r in _rows(C / "pass1.jsonl")}
    p2 = {r["id"]: r for r in _rows(C / "pass2.jsonl")}
    assert set(p1) == set(p2) == {r["id"] for r in corpus}
    adjudicated = {(r["id"], r["task"]): r for r in _rows(C / "adjudication.jsonl")}
    for task, labels in TASKS.items():
        ids = sorted(p1)
        assert cohen_kappa([p1[i][task] for i in ids], [p2[i][task] for i in ids], labels) >= 0.70
    for r in corpus:
        for task in TASKS:
            a, b = p1[r["id"]][task], p2[r["id"]][task]
            if a == b:
                assert r[task] == a
            else:
                adj = adjudicated[(r["id"], task)]
                assert (adj["pass1"], adj["pass2"]) == (a, b) and r[task] == adj["final"]
