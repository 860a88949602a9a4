"""Training harness: outputs, learning, resume, configs, other datasets, calibration, hub errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from transformers import TrainerCallback

from data.config import ConfigError
from model.calibration import fit_temperature, softmax
from tests.conftest import REPO, TASKS, data_overrides
from train.config import load_config
from train.run import train


def test_every_config_file_loads():
    files = sorted((REPO / "configs").rglob("*.yaml"))
    assert len(files) >= 4
    for f in files:
        if f.parent.name == "data":
            from data.config import load_data_config

            assert load_data_config(f).tasks
        else:
            cfg = load_config(f)
            assert cfg.data.tasks == TASKS


@pytest.mark.parametrize(
    "override, message",
    [
        ("training.epochz=3", "unknown key"),
        ("model.engine=svm", "model.engine"),
        ("training.learning_rate=-1", "learning_rate"),
        ("training.batch_size=abc", "expected int"),
        ("model.preprocessing={name: farasa}", "unknown preprocessing"),
        ("training.task_weights={sentiment: 2}", "unknown task"),
    ],
)
def test_bad_config_fails_before_training(override, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        load_config(REPO / "configs/tiny.yaml", [override, f"training.output_dir={tmp_path / 'never'}"])
    assert not (tmp_path / "never").exists()


def test_tiny_training_writes_a_complete_model_directory(tiny_model):
    names = {p.name for p in tiny_model.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "training_config.yaml", "metrics.json", "README.md"} <= names
    assert not [n for n in names if n.endswith((".bin", ".pkl", ".pt", ".joblib"))]  # nothing pickled at the top
    cfg = json.loads((tiny_model / "config.json").read_text(encoding="utf-8"))
    assert cfg["model_type"] == "multitask-encoder"
    assert cfg["tasks"] == TASKS and cfg["task_order"] == ["stance", "frame"]
    assert cfg["task_id2label"]["stance"] == {"0": "favor", "1": "against", "2": "neutral", "3": "unrelated"}
    assert cfg["preprocessing"]["name"] == "arabert" and cfg["base_model"].startswith("random-bert")
    assert set(cfg["temperatures"]) == {"stance", "frame"} and cfg["training_config"]["model"]["tiny"]["hidden_size"] == 32
    metrics = json.loads((tiny_model / "metrics.json").read_text(encoding="utf-8"))
    for split in ("dev", "test"):
        for task, labels in TASKS.items():
            m = metrics[split][task]
            assert 0 <= m["macro_f1"] <= 1 and 0 <= m["accuracy"] <= 1
            assert set(m["per_class"]) == set(labels)
            assert m["ece"] >= 0 and m["ece_uncalibrated"] >= 0
    card = (tiny_model / "README.md").read_text(encoding="utf-8")
    for section in ("## Model description", "## Training data", "## Preprocessing", "## Evaluation", "## Limitations", "## How to use"):
        assert section in card
    assert "| favor |" in card


@pytest.mark.parametrize("which", ["tiny", "linear"])
def test_saved_metrics_match_the_saved_model_on_the_same_file(which, tiny_model, linear_model, corpus_sample):
    """metrics.json must describe the saved model: re-scoring the test file through the Tagger gives the
    same macro-F1 (this catches predictions paired with labels in a different row order)."""
    from data.config import load_data_config
    from data.io import load_examples
    from eval.metrics import macro_f1
    from model import Tagger

    model_dir = tiny_model if which == "tiny" else linear_model
    saved = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))["test"]
    exs = load_examples(corpus_sample["test"], load_data_config(REPO / "configs/data/corpus.yaml"))
    tagger = Tagger.load(model_dir, precision="fp32")  # training scored in fp32
    probs = tagger.predict_proba([e.text for e in exs])
    for task, labels in tagger.tasks.items():
        pred = [labels[i] for i in probs[task].argmax(1)]
        assert macro_f1([e.labels[task] for e in exs], pred, labels) == pytest.approx(saved[task]["macro_f1"], abs=1e-6)


def test_tiny_training_actually_learns(tiny_model):
    logs = [json.loads(line) for line in (tiny_model / "train.log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in logs if "loss" in r]
    assert len(losses) >= 3
    assert np.mean(losses[-2:]) < losses[0] - 0.1  # the summed loss of two tasks starts near ln4+ln4


def test_linear_engine_beats_the_majority_baseline(linear_model):
    metrics = json.loads((linear_model / "metrics.json").read_text(encoding="utf-8"))
    names = {p.name for p in linear_model.iterdir()}
    assert {"config.json", "model.safetensors"} <= names
    for task in TASKS:
        # a majority-class predictor has macro-F1 <= 1/k * (2p/(1+p)) < 0.2 here
        assert metrics["test"][task]["macro_f1"] > 0.3, task


class _Interrupt(TrainerCallback):
    """Simulates a crash right after the first checkpoint is on disk."""

    def on_save(self, args, state, control, **kwargs):
        raise KeyboardInterrupt("simulated interruption")


def test_resume_from_checkpoint_matches_an_uninterrupted_run(corpus_sample, tmp_path):
    common = data_overrides(corpus_sample) + [
        "training.max_steps=12", "training.eval_strategy=steps", "training.eval_steps=4",
        "training.early_stopping_patience=0", "training.save_total_limit=5",
    ]  # fmt: skip
    full = train(load_config(REPO / "configs/tiny.yaml", common + [f"training.output_dir={tmp_path / 'full'}"]))
    cfg = load_config(REPO / "configs/tiny.yaml", common + [f"training.output_dir={tmp_path / 'cut'}"])
    with pytest.raises(KeyboardInterrupt):
        train(cfg, callbacks=[_Interrupt()])
    assert (tmp_path / "cut" / "checkpoints" / "checkpoint-4").is_dir()
    assert not (tmp_path / "cut" / "model.safetensors").exists()
    resumed = train(cfg, resume=True)
    for split in ("dev", "test"):
        for task in TASKS:
            assert resumed[split][task]["macro_f1"] == pytest.approx(full[split][task]["macro_f1"], abs=1e-9)
            assert resumed[split][task]["confusion_matrix"] == full[split][task]["confusion_matrix"]


def test_resume_without_checkpoint_is_a_clear_error(corpus_sample, tmp_path):
    cfg = load_config(REPO / "configs/tiny.yaml", data_overrides(corpus_sample) + [f"training.output_dir={tmp_path}"])
    with pytest.raises(ValueError, match="no complete checkpoint"):
        train(cfg, resume=True)


def test_other_dataset_by_config_csv_pair_column_and_other_labels(tmp_path):
    rows = {
        "train": [("الجيش الروسي يقصف الأحياء السكنية", "روسيا", "neg"), ("روسيا شريك موثوق في الطاقة", "روسيا", "pos"),
                  ("الصين تستثمر في الموانئ", "الصين", "pos"), ("الصين تتجاهل حقوق العمال", "الصين", "neg")] * 8,
        "dev": [("موسكو تساعد في إعادة الإعمار", "روسيا", "pos"), ("بكين تفرض شروطا قاسية", "الصين", "neg")] * 3,
    }  # fmt: skip
    for split, items in rows.items():
        lines = ["uid,sentence,target,polarity,doc"] + [f"{i},{t},{g},{p},d{i // 2}" for i, (t, g, p) in enumerate(items)]
        (tmp_path / f"{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = {
        "data": {
            "tasks": {"polarity": ["pos", "neg"]}, "train": str(tmp_path / "train.csv"), "dev": str(tmp_path / "dev.csv"),
            "text_column": "sentence", "text_pair_column": "target", "id_column": "uid", "group_column": "doc",
        },
        "training": {"output_dir": str(tmp_path / "out"), "progress_bar": False},
    }  # fmt: skip
    for engine in ("linear", "transformer"):
        cfg_dict = json.loads(json.dumps(config))
        cfg_dict["model"] = {"engine": engine, "tiny": {"vocab_size": 300}} if engine == "transformer" else {"engine": engine, "linear": {"min_df": 1}, "preprocessing": {"name": "light"}}
        cfg_dict["training"]["output_dir"] += engine
        if engine == "transformer":
            cfg_dict["training"] |= {"epochs": 3, "learning_rate": 1e-3}
        metrics = train(load_config(cfg_dict))
        assert set(metrics["dev"]) == {"polarity", "mean_macro_f1"}
        saved = json.loads(Path(cfg_dict["training"]["output_dir"], "config.json").read_text(encoding="utf-8"))
        assert saved["tasks"] == {"polarity": ["pos", "neg"]}
    assert json.loads((tmp_path / "outtransformer" / "config.json").read_text())["text_pair"] is True


def test_bad_training_data_lists_every_problem(tmp_path, corpus_sample):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "text": "نص", "stance": "pro", "frame": "other"}\n{"id": "2"\n', encoding="utf-8")
    cfg = load_config(REPO / "configs/linear.yaml", [f"data.train={bad}", f"data.dev={corpus_sample['dev']}", f"training.output_dir={tmp_path / 'o'}"])
    from data.io import DataError

    with pytest.raises(DataError) as e:
        train(cfg)
    assert f"{bad}:1: unknown stance label 'pro'" in str(e.value) and f"{bad}:2: malformed JSON" in str(e.value)


def test_temperature_scaling_recovers_overconfidence():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 4)) * 1.5
    y = np.array([rng.choice(4, p=p) for p in softmax(true_logits)])
    t = fit_temperature(true_logits * 3.0, y)  # a model 3x overconfident
    assert t == pytest.approx(3.0, rel=0.15)
    assert fit_temperature(true_logits, y) == pytest.approx(1.0, rel=0.15)


def test_unreachable_hub_gives_a_clear_error_with_the_way_out(corpus_sample, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}  # what a machine without the hub sees, without retry waits
    sets = [x for o in data_overrides(corpus_sample) + [f"training.output_dir={tmp_path}"] for x in ("--set", o)]
    proc = subprocess.run(
        [sys.executable, "-m", "train", "--config", "configs/arabert-v02.yaml", *sets],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: could not load 'aubmindlab/bert-base-arabertv02'")
    assert "--set model.base_model=" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_arabert_base_shape_trains_a_few_steps(corpus_sample, tmp_path):
    shape = "{vocab_size: 64000, hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072, max_position_embeddings: 512}"
    cfg = load_config(
        REPO / "configs/tiny.yaml",
        data_overrides(corpus_sample) + [f"model.tiny={shape}", "training.max_steps=3", "training.batch_size=8",
                                         "training.learning_rate=2e-5", "model.max_length=128", f"training.output_dir={tmp_path}"],
    )  # fmt: skip
    train(cfg)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["encoder"]["hidden_size"] == 768 and saved["encoder"]["vocab_size"] == 64000
    assert saved["encoder"]["num_hidden_layers"] == 12 and saved["encoder"]["intermediate_size"] == 3072


@pytest.mark.slow
def test_two_process_data_parallel_training_saves_one_model(corpus_sample, tmp_path):
    # --multi_gpu also runs on a machine without GPUs (gloo); `--cpu --num_processes 2` starts one process
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "-m", "train",
           "--config", "configs/tiny.yaml", "--set", f"training.output_dir={tmp_path}", "--set", "training.epochs=2",
           *[x for o in data_overrides(corpus_sample) for x in ("--set", o)]]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "metrics.json").is_file()
    assert json.loads((tmp_path / "config.json").read_text())["tasks"] == TASKS
    assert json.loads((tmp_path / "metrics.json").read_text())["n_processes"] == 2
    assert not list(tmp_path.glob("model-0000*"))  # one model, not one per process
