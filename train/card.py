"""A generated model card (README.md) with the Hugging Face model-card sections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from data.config import to_dict
from train.config import Config


def _per_class_table(m: dict[str, Any], labels: list[str]) -> list[str]:
    rows = ["| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for lab in labels:
        c = m["per_class"][lab]
        rows.append(f"| {lab} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |")
    return rows


def write_model_card(out: Path, config: Config, metrics: dict[str, Any]) -> None:
    m = config.model
    base = "TF-IDF word+char n-grams, logistic regression per task" if m.engine == "linear" else (
        "random-init BERT (tiny)" if m.tiny else m.base_model
    )
    lines = [
        "---",
        "language: ar",
        "license: apache-2.0",
        "tags: [text-classification, stance-detection, framing, arabic, multi-task]",
        f"base_model: {m.base_model if m.engine == 'transformer' and not m.tiny else 'none'}",
        "---",
        "",
        f"# {Path(config.training.output_dir).name}: stance toward Russia and framing for Arabic news sentences",
        "",
        "## Model description",
        "",
        f"- engine: `{m.engine}`; base model: {base}",
        "- tasks: " + "; ".join(f"`{t}` ({', '.join(labels)})" for t, labels in config.data.tasks.items()),
        "- one shared encoder, one linear head per task, one forward pass for all tasks" if m.engine == "transformer" else
        "- one multinomial logistic regression per task over shared TF-IDF features",
        f"- max length: {m.max_length} tokens; temperatures (per task, fitted on dev): {metrics.get('temperatures')}",
        "",
        "## Training data",
        "",
        f"- train: `{config.data.train}` ({metrics['n_examples'].get('train', 0)} sentences); dev: `{config.data.dev}`; "
        f"test: `{config.data.test}`",
        "- the project's starter corpus is authored for the project (see data/DATASHEET.md), not real reporting",
        "",
        "## Preprocessing",
        "",
        f"`{m.preprocessing_spec.to_dict()}` — character fixes (Persian/Urdu letters, digits, bidi and zero-width",
        "controls) then AraBERT v0.2 preprocessing; saved in config.json and checked on load.",
        "",
        "## Evaluation",
        "",
    ]
    for split in ("dev", "test"):
        if split not in metrics:
            continue
        lines.append(f"### {split}")
        lines.append("")
        for task, labels in config.data.tasks.items():
            if task not in metrics[split]:
                continue
            tm = metrics[split][task]
            lines.append(
                f"**{task}**: macro-F1 {tm['macro_f1']:.3f}, accuracy {tm['accuracy']:.3f}, "
                f"ECE {tm['ece_uncalibrated']:.3f} → {tm['ece']:.3f} after temperature scaling (n={tm['n']})"
            )
            lines.append("")
            lines.extend(_per_class_table(tm, labels))
            lines.append("")
    lines += [
        "## Limitations",
        "",
        "- Trained on a small authored corpus: expect lower scores on real reporting than on its own test split,",
        "  especially for sarcasm, long compound sentences and outlets or topics absent from the corpus.",
        "- Stance is toward the Russian state as defined in data/CODEBOOK.md; other targets need relabelling.",
        "- Labels describe what a sentence conveys, not the truth of its claims or the outlet's intent.",
        "",
        "## How to use",
        "",
        "```bash",
        f"python -m model.predict --model {config.training.output_dir} article.txt",
        "```",
        "",
        "```python",
        "from model import Tagger",
        f"tagger = Tagger.load({config.training.output_dir!r})",
        'tagger.predict(["أشاد الوزير بالدور الروسي في تثبيت وقف إطلاق النار."])',
        "```",
        "",
        "## Training configuration",
        "",
        "```yaml",
        *__import__("yaml").safe_dump(to_dict(config), allow_unicode=True, sort_keys=False).splitlines(),
        "```",
    ]
    (out / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
