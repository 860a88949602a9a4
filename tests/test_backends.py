"""ONNX export and int8 backend, and distributed tagging with two CPU processes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from model import Tagger
from model.errors import ModelLoadError
from model.onnx_backend import export
from model.predict import main as predict_main
from tests.conftest import REPO

EXAMPLE = REPO / "data" / "examples" / "article1.txt"


@pytest.fixture(scope="module")
def onnx_model(tiny_model, tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx") / "m"
    shutil.copytree(tiny_model, d, ignore=shutil.ignore_patterns("checkpoints"))
    paths = export(d)
    assert paths["fp32"].is_file() and paths["int8"].is_file()
    assert paths["int8"].stat().st_size < paths["fp32"].stat().st_size
    return d


def test_onnx_fp32_matches_torch_and_int8_agrees(onnx_model):
    from model.onnx_backend import OnnxEngine

    sents = [line for line in EXAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()] * 3
    torch_tagger = Tagger.load(onnx_model, precision="fp32")
    ref = torch_tagger.predict_proba(sents)
    fp32 = Tagger.load(onnx_model, backend="onnx")
    fp32.engine = OnnxEngine(str(onnx_model), precision="fp32")
    got = fp32.predict_proba(sents)
    for t in ref:
        assert np.abs(ref[t] - got[t]).max() < 1e-4  # same graph, different runtime
    int8 = Tagger.load(onnx_model, backend="onnx").predict_proba(sents)
    assert Tagger.load(onnx_model, backend="onnx").runtime == "onnxruntime int8"
    for t in ref:
        assert (ref[t].argmax(1) == int8[t].argmax(1)).mean() >= 0.9
        assert np.abs(ref[t] - int8[t]).max() < 0.1


def test_predict_cli_onnx_backend(onnx_model, capsys):
    assert predict_main([str(EXAMPLE), "--model", str(onnx_model), "--backend", "onnx"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 10 and all(r["stance"] in ("favor", "against", "neutral", "unrelated") for r in rows)


def test_onnx_backend_without_export_is_a_clear_error(tiny_model):
    with pytest.raises(ModelLoadError, match="no ONNX export; run `python -m model.onnx_backend"):
        Tagger.load(tiny_model, backend="onnx")


def test_two_process_tagging_merges_in_input_order(linear_model, tmp_path):
    arts = [json.loads(line) for line in (REPO / "data/corpus/articles.jsonl").read_text(encoding="utf-8").splitlines()[:7]]
    src = tmp_path / "arts.jsonl"
    src.write_text("".join(json.dumps({"id": a["article_id"], "text": a["text"]}, ensure_ascii=False) + "\n" for a in arts), encoding="utf-8")
    single = tmp_path / "single.jsonl"
    assert predict_main([str(src), "--model", str(linear_model), "--out", str(single)]) == 0
    dist = tmp_path / "dist.jsonl"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "-m", "model.distributed", str(src), "--model", str(linear_model), "--out", str(dist)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert "with 2 process(es)" in proc.stderr
    assert dist.read_text(encoding="utf-8") == single.read_text(encoding="utf-8")
    summ = json.loads((tmp_path / "dist.jsonl.summary.json").read_text(encoding="utf-8"))
    assert [s["article_id"] for s in summ] == [a["article_id"] for a in arts]
    assert not list(tmp_path.glob(".dist.jsonl.shard*"))


def test_bf16_inference_agrees_with_fp32(tiny_model):
    sents = [line for line in EXAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()] * 4
    fp32 = Tagger.load(tiny_model, precision="fp32")
    bf16 = Tagger.load(tiny_model, precision="bf16")
    assert fp32.runtime == "torch fp32 on cpu" and bf16.runtime == "torch bf16 on cpu"
    a, b = fp32.predict_proba(sents), bf16.predict_proba(sents)
    for t in a:
        assert b[t].dtype == np.float32 and np.allclose(b[t].sum(1), 1, atol=1e-3)
        assert (a[t].argmax(1) == b[t].argmax(1)).mean() >= 0.9
        assert np.abs(a[t] - b[t]).max() < 0.1


def test_precision_resolution(monkeypatch):
    from model import tagger as tagger_module

    monkeypatch.setattr(tagger_module, "native_bf16", lambda device: False)
    assert tagger_module.resolve_precision("auto", "cpu") == "fp32"
    assert tagger_module.resolve_precision("auto", "cuda:0") == "fp16"
    monkeypatch.setattr(tagger_module, "native_bf16", lambda device: True)
    assert tagger_module.resolve_precision("auto", "cpu") == "bf16"
    assert tagger_module.resolve_precision("fp32", "cpu") == "fp32"
    with pytest.raises(ValueError, match="needs a GPU"):
        tagger_module.resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="precision must be"):
        tagger_module.resolve_precision("int4", "cpu")
