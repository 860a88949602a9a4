"""``python -m eval.bench --articles FILE``: inference speed and memory, side by side, in one run.

What is compared, on the same real sentences (split from the articles file; the project corpus when
no file is given), each in its own subprocess so peak memory is that runtime's own:

- HF ``pipeline("text-classification")`` called once per sentence, and with its own batching;
- the project's predictor (one forward pass for both tasks), torch fp32;
- the same model through ONNX Runtime, fp32 and dynamic int8;
- optionally ``torch.compile`` of the encoder (``--compile``);

all on a random-init model of AraBERT-base's exact shape (speed does not depend on weight values),
with sentences/s, tokens/s, achieved GFLOP/s against a matmul peak measured here, padding overhead
and peak RSS. Then the shipped default model end to end (splitting, preprocessing, tagging) at 1x
and 4x input, to show memory stays flat, and the int8-vs-fp32 agreement on a trained model.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from train.tiny import ARABERT_BASE_SHAPE

HERE = Path(__file__).resolve().parents[1]
PIPELINE_SINGLE_MAX = 128  # one call per sentence is slow; its rate is per sentence, so a subset suffices


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------


def load_articles(path: str | None) -> list[dict[str, str]]:
    """Articles as {id, text}: a JSONL with a ``text`` field (title prepended when present), or the
    project corpus's articles.jsonl when no path is given."""
    p = Path(path) if path else HERE / "data" / "corpus" / "articles.jsonl"
    arts = []
    with p.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if line.strip():
                r = json.loads(line)
                text = r["text"] if not r.get("title") else r["title"] + "\n" + r["text"]
                arts.append({"id": str(r.get("id", r.get("article_id", i))), "text": text})
    return arts


def matmul_peak_gflops(repeats: int = 3) -> float:
    """Best fp32 GEMM throughput torch reaches here, over square GEMMs and the encoder's own shapes
    (token rows x 768 x 3072 and back, 768 x 768): the ceiling for dense encoder inference, which is
    almost all GEMMs. Taking the best of both keeps "% of peak" from exceeding 100% on shapes the
    library happens to run faster than square ones."""
    import torch

    shapes = [(2048, 2048, 2048), (4096, 4096, 4096), (4096, 768, 3072), (4096, 3072, 768), (4096, 768, 768)]
    best = 0.0
    for m, k, n in shapes:
        a, b = torch.randn(m, k), torch.randn(k, n)
        torch.mm(a, b)
        for _ in range(repeats):
            t = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2 * m * k * n / (time.perf_counter() - t) / 1e9)
    return best


def encoder_flops(lengths: list[int], h: int = 768, layers: int = 12, ffn: int = 3072) -> float:
    """Forward FLOPs of a BERT encoder for sequences of these lengths (2 FLOPs per multiply-add):
    per layer 4 projections (8·L·h²), attention scores and mix (4·L²·h), FFN (4·L·h·ffn)."""
    L = np.asarray(lengths, dtype=np.float64)
    return float(layers * (8 * L * h * h + 4 * L * L * h + 4 * L * h * ffn).sum())


def padded_shapes(lengths: list[int], batch_size: int, sort: bool) -> list[tuple[int, int]]:
    order = np.argsort(lengths, kind="stable") if sort else np.arange(len(lengths))
    return [(len(order[b : b + batch_size]), max(lengths[i] for i in order[b : b + batch_size])) for b in range(0, len(order), batch_size)]


# ---------------------------------------------------------------------------------------------
# workers (run in a subprocess each)
# ---------------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux carries that across exec from
    the parent, so every child would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # non-Linux fallback


REPEATS = 3  # best of 3: the minimum is the least disturbed by whatever else the machine is doing


def best_of(fn, repeats: int = REPEATS) -> float:
    """Fastest wall time of ``repeats`` calls (as timeit does)."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _worker(kind: str, model_dir: str, sentences: list[str], batch_size: int, threads: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    if kind.startswith("pipeline"):
        from transformers import pipeline

        pipe = pipeline("text-classification", model=str(Path(model_dir) / "hf_single"), device="cpu")
        pipe(sentences[:2])  # warm-up
        if kind == "pipeline_single":
            sentences = sentences[:PIPELINE_SINGLE_MAX]
        if kind == "pipeline_single":
            elapsed = best_of(lambda: [pipe(s, truncation=True) for s in sentences])
        else:
            elapsed = best_of(lambda: list(pipe(sentences, batch_size=batch_size, truncation=True)))
        return {"seconds": elapsed, "n": len(sentences), "peak_rss_mb": peak_rss_mb()}
    elif kind == "shipped_e2e":
        from model import Tagger
        from model.tagger import Article

        arts = json.loads(Path(model_dir).read_text(encoding="utf-8"))  # model_dir carries the articles file here
        tagger = Tagger.load()
        list(tagger.tag_articles(Article(a["id"], a["text"]) for a in arts[:5]))
        n = sum(len(r.sentences) for r in tagger.tag_articles(Article(a["id"], a["text"]) for a in arts))
        elapsed = best_of(lambda: sum(1 for _ in tagger.tag_articles(Article(a["id"], a["text"]) for a in arts)))
        return {"seconds": elapsed, "sentences": n, "peak_rss_mb": peak_rss_mb()}
    else:
        from model import Tagger

        backend = "onnx" if kind.startswith("onnx") else "torch"
        precision = "bf16" if kind == "predictor_bf16" else "fp32"
        tagger = Tagger.load(model_dir, backend=backend, batch_size=batch_size, threads=threads, precision=precision)
        if kind == "onnx_fp32":
            from model.onnx_backend import OnnxEngine

            tagger.engine = OnnxEngine(model_dir, threads=threads, batch_size=batch_size, precision="fp32")
        if kind == "torch_compile":
            tagger.engine.model.encoder = torch.compile(tagger.engine.model.encoder, dynamic=True)
            tagger.engine.logits(sentences[:batch_size])  # compile outside the timed region
        tagger.engine.logits(sentences[:batch_size])  # warm-up
        elapsed = best_of(lambda: tagger.engine.logits(sentences))  # the model part, on preprocessed text
    return {"seconds": elapsed, "peak_rss_mb": peak_rss_mb()}


def _run_worker(kind: str, model_dir: str, sentences_file: str, batch_size: int, threads: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "eval.bench", "--worker", kind, "--model-dir", model_dir, "--sentences", sentences_file,
           "--batch-size", str(batch_size), "--threads", str(threads)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# setup: the AraBERT-shaped models
# ---------------------------------------------------------------------------------------------


def build_models(work: Path, train_texts: list[str]) -> Path:
    """A multi-task model of AraBERT-base's shape (random weights), its ONNX exports, and a single-task
    BertForSequenceClassification of the same shape for the pipeline, sharing one tokenizer."""
    import torch
    from transformers import BertForSequenceClassification

    from model.modeling import MultiTaskConfig, MultiTaskModel
    from model.onnx_backend import export
    from train.tiny import random_bert_config, train_wordpiece

    torch.manual_seed(0)
    tokenizer = train_wordpiece(train_texts, vocab_size=ARABERT_BASE_SHAPE["vocab_size"], deterministic=False)
    shape = dict(ARABERT_BASE_SHAPE)
    enc = random_bert_config(shape.pop("vocab_size"), **shape)
    tasks = {"stance": ["favor", "against", "neutral", "unrelated"], "frame": ["security", "sovereignty", "reconstruction", "other"]}
    mt = MultiTaskModel(MultiTaskConfig(encoder=enc.to_dict(), tasks=tasks, base_model="random-arabert-base-shape",
                                        preprocessing={"name": "arabert"}, max_seq_length=128))  # fmt: skip
    mt.save_pretrained(work)
    tokenizer.save_pretrained(work)
    export(work, quantize=True)
    single = BertForSequenceClassification(random_bert_config(enc.vocab_size, **shape, num_labels=4))
    single.save_pretrained(work / "hf_single")
    tokenizer.save_pretrained(work / "hf_single")
    return work


# ---------------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------------


def int8_agreement(model_dir: str, data_file: str) -> dict[str, Any] | None:
    """On a trained multi-task model: share of labels identical to fp32 for ONNX int8 and torch bf16,
    and the macro-F1 of each."""
    from data.config import load_data_config
    from data.io import load_examples
    from eval.metrics import macro_f1
    from model import Tagger
    from model.onnx_backend import export

    if not (Path(model_dir) / "onnx" / "model.int8.onnx").exists():
        export(model_dir)
    exs = load_examples(data_file, load_data_config())
    texts = [e.text for e in exs]
    tagger = Tagger.load(model_dir, precision="fp32")
    fp32 = tagger.predict_proba(texts)
    others = {"int8": Tagger.load(model_dir, backend="onnx").predict_proba(texts),
              "bf16": Tagger.load(model_dir, precision="bf16").predict_proba(texts)}  # fmt: skip
    out = {}
    for t, labels in tagger.tasks.items():
        a = fp32[t].argmax(1)
        gold = [e.labels[t] for e in exs]
        out[t] = {"macro_f1_fp32": macro_f1(gold, [labels[i] for i in a], labels)}
        for name, probs in others.items():
            b = probs[t].argmax(1)
            out[t][f"agreement_{name}"] = float((a == b).mean())
            out[t][f"macro_f1_{name}"] = macro_f1(gold, [labels[i] for i in b], labels)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--articles", help="JSONL of articles with a text field (e.g. ../shared/real-news/...jsonl)")
    ap.add_argument("--n-sentences", type=int, default=512, help="sentences for the AraBERT-shape comparison")
    ap.add_argument("--batch-size", type=int, default=16, help="16: little padding after length sorting, GEMMs still large")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile of the encoder")
    ap.add_argument("--skip-pipeline-single", action="store_true", help="skip the slow per-sentence pipeline")
    ap.add_argument("--trained-model", help="a trained transformer model dir for int8-vs-fp32 agreement")
    ap.add_argument("--eval-data", default="data/corpus/splits/test.jsonl", help="labelled data for that agreement")
    ap.add_argument("--out", help="write the results as JSON here too")
    # internal: one measurement in a subprocess
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    ap.add_argument("--sentences", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        sents = json.loads(Path(args.sentences).read_text(encoding="utf-8"))
        print(json.dumps(_worker(args.worker, args.model_dir, sents, args.batch_size, args.threads)))
        return 0

    import torch

    from data.text import Preprocessor, split_sentences

    articles = load_articles(args.articles)
    raw = [s.text for a in articles for s in split_sentences(a["text"])]
    pre = Preprocessor()
    rng = np.random.default_rng(0)
    sample = [pre(raw[i]) for i in rng.choice(len(raw), size=min(args.n_sentences, len(raw)), replace=False)]
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "threads": args.threads, "torch": torch.__version__, "platform": sys.platform},
        "input": {"articles": args.articles or "project corpus", "sentences_available": len(raw), "sentences_timed": len(sample)},
    }
    torch.set_num_threads(args.threads)
    peak = matmul_peak_gflops()
    results["matmul_peak_gflops"] = round(peak, 1)
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, fp32 matmul peak {peak:.1f} GFLOP/s", file=sys.stderr)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("building a random-init AraBERT-base-shape model and its ONNX exports …", file=sys.stderr)
        build_models(work / "m", [pre(s) for s in raw])
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(work / "m")
        lengths = [len(x) for x in tok(sample, truncation=True, max_length=128)["input_ids"]]
        sent_file = work / "sentences.json"
        sent_file.write_text(json.dumps(sample, ensure_ascii=False), encoding="utf-8")
        from model.tagger import native_bf16

        kinds = ["pipeline_single", "pipeline_batched", "predictor_fp32", "onnx_fp32", "onnx_int8"]
        if native_bf16("cpu"):
            kinds.insert(3, "predictor_bf16")  # what `model.predict` uses by default on such a CPU
        if args.skip_pipeline_single:
            kinds.remove("pipeline_single")
        if args.compile:
            kinds.insert(3, "torch_compile")
        rows = []
        for kind in kinds:
            print(f"  timing {kind} …", file=sys.stderr)
            r = _run_worker(kind, str(work / "m"), str(sent_file), args.batch_size, args.threads)
            if "error" in r:
                rows.append({"runtime": kind, "error": r["error"]})
                continue
            lens = lengths[: r.get("n", len(lengths))]
            if kind == "pipeline_single":
                shapes = [(1, L) for L in lens]
            else:
                shapes = padded_shapes(lens, args.batch_size, sort=not kind.startswith("pipeline"))
            executed = sum(b * w for b, w in shapes)
            flops = sum(encoder_flops([w] * b) for b, w in shapes)
            useful = encoder_flops(lens)
            rows.append({
                "runtime": kind, "sentences_per_s": len(lens) / r["seconds"], "tokens_per_s": sum(lens) / r["seconds"],
                "gflops_achieved": flops / r["seconds"] / 1e9, "useful_gflops": useful / r["seconds"] / 1e9,
                "padding_overhead": executed / sum(lens) - 1, "peak_rss_mb": r["peak_rss_mb"],
            })  # fmt: skip
        results["arabert_shape"] = rows

        # the shipped model end to end, at 1x and 4x input: memory should not grow with input
        e2e = []
        for mult in (1, 4):
            f = work / f"arts{mult}.json"
            f.write_text(json.dumps(articles * mult, ensure_ascii=False), encoding="utf-8")
            r = _run_worker("shipped_e2e", str(f), str(sent_file), args.batch_size, args.threads)
            if "error" not in r:
                r["sentences_per_s"] = r["sentences"] / r["seconds"]
            e2e.append({"input": f"{mult}x", **r})
        results["shipped_e2e"] = e2e
    if args.trained_model:
        results["int8_vs_fp32"] = int8_agreement(args.trained_model, args.eval_data)

    print(format_report(results))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


def format_report(results: dict[str, Any]) -> str:
    peak = results["matmul_peak_gflops"]
    lines = [
        f"AraBERT-base shape (random init), {results['input']['sentences_timed']} real sentences from "
        f"{results['input']['articles']}; fp32 matmul peak {peak:.1f} GFLOP/s; {results['machine']['threads']} threads",
        "",
        "| runtime | sentences/s | tokens/s | GFLOP/s executed | % of peak | padding overhead | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["arabert_shape"]:
        if "error" in r:
            lines.append(f"| {r['runtime']} | error: {r['error'][:60]} | | | | | |")
            continue
        lines.append(
            f"| {r['runtime']} | {r['sentences_per_s']:.1f} | {r['tokens_per_s']:.0f} | {r['gflops_achieved']:.1f} | "
            f"{r['gflops_achieved'] / peak:.0%} | {r['padding_overhead']:.0%} | {r['peak_rss_mb']:.0f} |"
        )
    speeds = {r["runtime"]: r.get("sentences_per_s") for r in results["arabert_shape"]}
    if speeds.get("pipeline_single"):
        for k in ("predictor_fp32", "predictor_bf16"):
            if speeds.get(k):
                lines.append(f"{k} vs per-sentence pipeline: {speeds[k] / speeds['pipeline_single']:.1f}x "
                             "(and the predictor serves both tasks in that one pass)")  # fmt: skip
    if speeds.get("onnx_int8") and speeds.get("onnx_fp32"):
        lines.append(f"int8 ONNX vs ONNX fp32: {speeds['onnx_int8'] / speeds['onnx_fp32']:.2f}x; "
                     f"vs torch fp32: {speeds['onnx_int8'] / speeds['predictor_fp32']:.2f}x")  # fmt: skip
    lines.append("\nshipped default model, end to end (split + preprocess + tag):")
    for r in results["shipped_e2e"]:
        if "error" in r:
            lines.append(f"  {r['input']}: error: {r['error']}")
        else:
            lines.append(f"  {r['input']} input: {r['sentences']} sentences, {r['sentences_per_s']:.0f} sentences/s, peak RSS {r['peak_rss_mb']:.0f} MB")
    if "int8_vs_fp32" in results:
        for t, r in results["int8_vs_fp32"].items():
            for name in ("int8", "bf16"):
                lines.append(f"{name} vs fp32 on the trained model, {t}: agreement {r[f'agreement_{name}']:.1%}, "
                             f"macro-F1 {r['macro_f1_fp32']:.3f} → {r[f'macro_f1_{name}']:.3f}")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
