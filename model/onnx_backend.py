"""ONNX export of the multi-task model, dynamic int8 quantisation, and an ONNX Runtime engine.

    python -m model.onnx_backend MODEL_DIR            # writes MODEL_DIR/onnx/model.onnx and model.int8.onnx
    python -m model.predict --model MODEL_DIR --backend onnx article.txt

Dynamic quantisation stores the Linear weights as int8 and quantises activations on the fly: the
matmuls that dominate BERT's cost run in int8 on CPUs with VNNI/AVX-512 or AVX2, with no calibration
set needed. The graph has one output per task, so one run serves all tasks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from model.errors import ModelLoadError

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def export(model_dir: str | Path, quantize: bool = True, opset: int = 17) -> dict[str, Path]:
    """Export ``model_dir`` to ONNX (fp32) and, if asked, a dynamically quantised int8 copy."""
    import torch

    from model.modeling import MultiTaskModel

    model_dir = Path(model_dir)
    model = MultiTaskModel.from_pretrained(model_dir).eval()
    tasks = list(model.config.task_order)

    class _Logits(torch.nn.Module):  # ONNX wants a tuple of tensors, not a ModelOutput
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    wrapper = _Logits(model).eval()  # .eval() on the wrapper: export restores the wrapper's mode afterwards
    dummy = torch.ones((2, 8), dtype=torch.long)
    out_dir = model_dir / "onnx"
    out_dir.mkdir(exist_ok=True)
    fp32 = out_dir / "model.onnx"
    axes = {k: {0: "batch", 1: "tokens"} for k in INPUTS} | {t: {0: "batch"} for t in tasks}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python booleans in HF masking code
        torch.onnx.export(
            wrapper, (dummy, dummy, torch.zeros_like(dummy)), str(fp32), input_names=list(INPUTS), output_names=tasks,
            dynamic_axes=axes, opset_version=opset, dynamo=False,
        )  # fmt: skip
    paths = {"fp32": fp32}
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        int8 = out_dir / "model.int8.onnx"
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
        paths["int8"] = int8
    return paths


class OnnxEngine:
    """Same interface as the torch engine (``.config``, ``.logits``), on ONNX Runtime."""

    def __init__(self, path: str, threads: int | None = None, batch_size: int | None = None, precision: str = "int8"):
        import onnxruntime as ort
        from transformers import AutoTokenizer

        from model.modeling import MultiTaskConfig

        onnx_dir = Path(path) / "onnx"
        file = onnx_dir / ("model.int8.onnx" if precision == "int8" else "model.onnx")
        if not file.is_file():
            raise ModelLoadError(f"{file}: no ONNX export; run `python -m model.onnx_backend {path}` first")
        self.config = MultiTaskConfig.from_pretrained(path)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(file), opts, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.runtime = f"onnxruntime {precision}"
        self.batch_size = batch_size or 16  # the CPU default of the torch engine, for the same reasons
        self.max_length = self.config.max_seq_length

    def logits(self, texts: list[str], pairs: list[str] | None = None) -> dict[str, np.ndarray]:
        from model.tagger import padded_batches

        tasks = self.config.task_order
        out = {t: np.empty((len(texts), len(self.config.tasks[t])), dtype=np.float32) for t in tasks}
        for idx, arrays in padded_batches(self.tokenizer, texts, pairs, self.max_length, self.batch_size):
            res = self.session.run(tasks, {k: v for k, v in arrays.items() if k in self.input_names})
            for t, lg in zip(tasks, res, strict=True):
                out[t][idx] = lg
        return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.onnx_backend", description="Export a model to ONNX (+ int8).")
    ap.add_argument("model_dir")
    ap.add_argument("--no-quantize", action="store_true")
    args = ap.parse_args(argv)
    try:
        paths = export(args.model_dir, quantize=not args.no_quantize)
    except (OSError, ValueError) as e:
        print(f"error: {args.model_dir}: {e}", file=sys.stderr)
        return 1
    for k, p in paths.items():
        print(f"{k}: {p} ({p.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
