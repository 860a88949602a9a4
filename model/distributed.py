"""Tag a large collection with several processes (CPU cores or GPUs), one merged output in input order.

    accelerate launch --multi_gpu --num_processes 4 -m model.distributed ARCHIVE.jsonl --out tags.jsonl [--model PATH]
    torchrun --nproc_per_node 2 -m model.distributed articles/ --out tags.jsonl      # 2 CPU processes

(``accelerate launch --cpu --num_processes N`` starts a single process in current accelerate; use
``--multi_gpu`` — which also works on a machine without GPUs — or ``torchrun`` for N CPU processes.)

Each process takes a contiguous block of the articles (``PartialState.split_between_processes`` over
article positions, so only indices are split, never texts), streams its block through the same
``Tagger`` as ``model.predict``, and writes a shard; the main process concatenates the shards in rank
order — which is input order — into ``--out`` atomically, with the per-article summaries beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from data.io import AtomicFile
from model.errors import ModelLoadError
from model.inputs import InputError, iter_inputs
from model.predict import RowWriter, sentence_rows
from model.tagger import Tagger


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.distributed", description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default=None)
    ap.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    ap.add_argument("--batch-size", type=int, default=None, help="sentences per forward pass (default: 16 on CPU, 256 on GPU)")
    ap.add_argument("--id-column", default="id")
    ap.add_argument("--text-column", default="text")
    args = ap.parse_args(argv)

    import torch
    from accelerate import PartialState

    # cpu=True without GPUs: several CPU processes then form a gloo group (MULTI_CPU) instead of
    # each believing it is alone
    state = PartialState(cpu=not torch.cuda.is_available())
    try:
        # every process needs a device of its own: GPU i for rank i when there are GPUs, else the CPU
        device = str(state.device) if state.device.type != "mps" else None
        tagger = Tagger.load(args.model, backend=args.backend, batch_size=args.batch_size, device=device)
    except ModelLoadError as e:
        if state.is_main_process:
            print(f"error: {e}", file=sys.stderr)
        return 1

    def items():
        return iter_inputs(args.inputs, id_column=args.id_column, text_column=args.text_column)

    n_items = sum(1 for _ in items())
    out = Path(args.out)
    shard = out.with_name(f".{out.name}.shard{state.process_index}")
    summaries, n_errors = [], 0
    with state.split_between_processes(list(range(n_items))) as mine:
        lo, hi = (mine[0], mine[-1] + 1) if mine else (0, 0)

        def my_articles():
            nonlocal n_errors
            for i, item in enumerate(items()):
                if lo <= i < hi:
                    if isinstance(item, InputError):
                        n_errors += 1
                        print(f"error: {item}", file=sys.stderr)
                    else:
                        yield item

        with shard.open("w", encoding="utf-8") as f:
            writer = RowWriter(f, "jsonl")
            for result in tagger.tag_articles(my_articles()):
                for row in sentence_rows(result, tagger.model_id):
                    writer.write(row)
                summaries.append(result.summary_record())
    shard.with_suffix(shard.suffix + ".summary").write_text(json.dumps(summaries, ensure_ascii=False), encoding="utf-8")
    state.wait_for_everyone()
    if state.is_main_process:
        sink = AtomicFile(out)
        all_summaries = []
        for rank in range(state.num_processes):
            part = out.with_name(f".{out.name}.shard{rank}")
            with part.open(encoding="utf-8") as f:
                for line in f:
                    sink.stream.write(line)
            summ = part.with_suffix(part.suffix + ".summary")
            all_summaries.extend(json.loads(summ.read_text(encoding="utf-8")))
            part.unlink()
            summ.unlink()
        sink.commit()
        s = AtomicFile(f"{out}.summary.json")
        json.dump(all_summaries, s.stream, ensure_ascii=False, indent=1)
        s.commit()
        print(f"tagged {len(all_summaries)} article(s) with {state.num_processes} process(es) into {out}", file=sys.stderr)
    state.wait_for_everyone()
    return 0 if not n_errors else 2


if __name__ == "__main__":
    raise SystemExit(main())
