"""A random-weight BERT of any shape and a WordPiece tokenizer trained on the training text.

Used by ``configs/tiny.yaml`` (the whole pipeline offline in seconds), by the tests, and by the
benchmarks, which build AraBERT-base's exact shape: speed does not depend on weight values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import BertConfig, PreTrainedTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# AraBERT v0.2 base (aubmindlab/bert-base-arabertv02): the shape benchmarks and the slow test build.
ARABERT_BASE_SHAPE = {
    "vocab_size": 64000, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "max_position_embeddings": 512,
}  # fmt: skip


def _counted_vocab(tok: Tokenizer, texts: list[str], vocab_size: int) -> dict[str, int]:
    """Specials, every character (word-initial and ``##`` continuation), then the most frequent words,
    ties broken alphabetically: the same texts always give the same vocabulary."""
    counts: Counter[str] = Counter()
    for t in texts:
        norm = tok.normalizer.normalize_str(t)
        counts.update(w for w, _ in tok.pre_tokenizer.pre_tokenize_str(norm))
    chars = sorted({c for w in counts for c in w})
    vocab = SPECIAL_TOKENS + chars + ["##" + c for c in chars]
    room = max(vocab_size - len(vocab), 0)
    vocab += [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if len(w) > 1][:room]
    return {w: i for i, w in enumerate(vocab)}


def train_wordpiece(texts: Iterable[str], vocab_size: int = 2000, deterministic: bool = True) -> PreTrainedTokenizerFast:
    """A BERT-style (uncased, WordPiece) fast tokenizer for ``texts``.

    ``deterministic=True`` (tiny models, tests): whole frequent words plus characters, the same
    vocabulary on every run, so two runs with one seed are identical. ``False`` (benchmarks): the
    ``tokenizers`` WordPiece trainer, whose subword pieces look like a real BERT vocabulary, but whose
    tie-breaking varies between processes.
    """
    texts = list(texts)
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=False, clean_text=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    if deterministic:
        tok.model = models.WordPiece(vocab=_counted_vocab(tok, texts, vocab_size), unk_token="[UNK]")
    else:
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, min_frequency=1)
        tok.train_from_iterator(texts, trainer=trainer)
    from tokenizers.processors import TemplateProcessing

    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )  # fmt: skip


def random_bert_config(vocab_size: int, **shape: int) -> BertConfig:
    """BertConfig of the given shape; ``vocab_size`` is at least the tokenizer's."""
    return BertConfig(vocab_size=vocab_size, **shape)
