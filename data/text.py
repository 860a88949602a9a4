"""Arabic text handling shared by training and prediction.

Two things live here, and both are used on the same path at train and at predict time:

* ``split_sentences`` — a sentence splitter for Arabic news that returns character offsets into
  the original text (so a tag can always be pointed back at the article).
* ``Preprocessor`` — AraBERT v0.2 preprocessing (``arabert.ArabertPreprocessor``) preceded by the
  fixes it lacks (Persian/Urdu letters, Persian digits, bidi and zero-width controls). Its settings
  are a ``PreprocessingSpec`` value that is saved inside every model and compared on load.

Reading order: character fixes → preprocessing spec → preprocessor → sentence splitter.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

# ---------------------------------------------------------------------------------------------
# 1. Character fixes that AraBERT's preprocessor does not make
# ---------------------------------------------------------------------------------------------

# Letters of Persian, Urdu and Kurdish orthography that turn up in Arabic news (names, copy-paste
# from Persian keyboards). Mapped to the Arabic letter a reader sees; AraBERT's vocabulary only
# knows the Arabic forms, so without this "کرملین"-style spellings become [UNK] pieces.
_LETTER_MAP = {
    "\u06a9": "\u0643",  # ک keheh            -> ك kaf
    "\u06aa": "\u0643",  # ڪ swash kaf        -> ك
    "\u06cc": "\u064a",  # ی farsi yeh        -> ي yeh
    "\u06d0": "\u064a",  # ې yeh with dots    -> ي
    "\u06cd": "\u064a",  # ۍ yeh with tail    -> ي
    "\u06d2": "\u064a",  # ے barree yeh       -> ي
    "\u06c1": "\u0647",  # ہ heh goal         -> ه
    "\u06be": "\u0647",  # ھ heh doachashmee  -> ه
    "\u06d5": "\u0647",  # ە ae               -> ه
    "\u06c0": "\u0647",  # ۀ heh with yeh     -> ه
    "\u06c3": "\u0629",  # ۃ teh marbuta goal -> ة
    "\u0671": "\u0627",  # ٱ alef wasla       -> ا
}
# Arabic-Indic (٠-٩) and Persian (۰-۹) digits to ASCII, plus the Arabic decimal and thousands marks:
# the same number must reach the model as the same tokens whichever keyboard typed it.
_DIGIT_MAP = {chr(0x0660 + i): str(i) for i in range(10)} | {chr(0x06F0 + i): str(i) for i in range(10)}
_DIGIT_MAP |= {"\u066b": ".", "\u066c": ","}
# Bidi embedding/override/isolate controls, marks, zero-width characters, BOM and soft hyphen: they
# are invisible, split words into odd WordPiece fragments, and carry no meaning for the task.
_INVISIBLE = (
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2066\u2067\u2068\u2069\u061c\ufeff\u00ad"
)
_TRANSLATION = str.maketrans({**_LETTER_MAP, **_DIGIT_MAP, **{c: None for c in _INVISIBLE}})


def fix_characters(text: str) -> str:
    """Map Persian/Urdu letters and non-ASCII digits, drop bidi and zero-width controls (NFC first)."""
    return unicodedata.normalize("NFC", text).translate(_TRANSLATION)


# ---------------------------------------------------------------------------------------------
# 2. Preprocessing settings: a value saved with every model
# ---------------------------------------------------------------------------------------------

PREPROCESSING_VERSION = 1  # bump when fix_characters changes what it outputs
# arabert: fixes + AraBERT v0.2's own preprocessing (for AraBERT encoders);
# light: fixes + harakat and tatweel removed (fast; the linear engine's default);
# fixes-only: the character fixes alone; none: text as it comes.
PREPROCESSING_NAMES = ("arabert", "light", "fixes-only", "none")
_HARAKAT_TATWEEL = re.compile("[\u064b-\u0652\u0670\u0640]")


@dataclass(frozen=True)
class PreprocessingSpec:
    """What was done to the text before tokenisation; saved in config.json and checked on load.

    ``name`` is one of ``PREPROCESSING_NAMES``. ``arabert_model`` selects the ArabertPreprocessor
    variant when ``name == "arabert"``.
    """

    name: str = "arabert"
    arabert_model: str = "bert-base-arabertv02"
    fix_characters: bool = True
    version: int = PREPROCESSING_VERSION
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in PREPROCESSING_NAMES:
            raise ValueError(f"unknown preprocessing {self.name!r}; expected one of {', '.join(PREPROCESSING_NAMES)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> PreprocessingSpec:
        d = dict(d or {})
        unknown = set(d) - {"name", "arabert_model", "fix_characters", "version", "options"}
        if unknown:
            raise ValueError(f"unknown preprocessing keys: {sorted(unknown)}")
        return cls(**d)

    def mismatch(self, other: PreprocessingSpec) -> list[str]:
        """Human-readable differences between two specs (empty when they agree)."""
        a, b = self.to_dict(), other.to_dict()
        return [f"{k}: {a[k]!r} != {b[k]!r}" for k in a if a[k] != b[k]]


# ---------------------------------------------------------------------------------------------
# 3. The preprocessor
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _arabert(model_name: str, options: tuple[tuple[str, Any], ...]):
    # Imported lazily: arabert pulls in farasapy and emoji, which the linear engine does not need.
    try:
        from arabert.preprocess import ArabertPreprocessor
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("the 'arabert' package is required for AraBERT preprocessing: pip install arabert") from e
    return ArabertPreprocessor(model_name=model_name, **dict(options))


class Preprocessor:
    """Callable text preprocessor built from a ``PreprocessingSpec``.

    >>> Preprocessor()("قالت وزارة الخارجية (الروسية)")
    'قالت وزارة الخارجية ( الروسية )'
    """

    def __init__(self, spec: PreprocessingSpec | None = None) -> None:
        self.spec = spec or PreprocessingSpec()
        self._arabert = (
            _arabert(self.spec.arabert_model, tuple(sorted(self.spec.options.items())))
            if self.spec.name == "arabert"
            else None
        )

    def __call__(self, text: str) -> str:
        if self.spec.fix_characters and self.spec.name != "none":
            text = fix_characters(text)
        if self._arabert is not None:
            text = self._arabert.preprocess(text)
        elif self.spec.name == "light":
            text = _HARAKAT_TATWEEL.sub("", text)
        return " ".join(text.split())

    def batch(self, texts: list[str]) -> list[str]:
        return [self(t) for t in texts]


# ---------------------------------------------------------------------------------------------
# 4. Sentence splitting with offsets
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sentence:
    """A sentence and its half-open character span ``[start, end)`` in the original text."""

    text: str
    start: int
    end: int


# Tokens before a full stop that are abbreviations, not sentence ends (titles, units, eras).
ABBREVIATIONS = frozenset(
    {
        "د", "م", "ص", "ج", "ق", "ه", "هـ", "أ", "ا", "ش", "ت", "ب", "ع", "س",  # single Arabic letters
        "ق.م", "أ.د", "ش.م.م", "ص.ب",
        "Mr", "Mrs", "Dr", "Prof", "No", "St", "vs", "etc", "Inc", "Ltd", "Jr", "Sr", "e.g", "i.e",
    }
)
# Words that continue a clause after the Arabic semicolon rather than open a new sentence.
_SEMICOLON_CONTINUATIONS = (
    "مشيرا", "مشيرة", "مضيفا", "مضيفة", "موضحا", "موضحة", "مؤكدا", "مؤكدة", "لافتا", "لافتة",
    "معتبرا", "معتبرة", "منوها", "داعيا", "حيث", "إذ", "بينما", "فيما", "وهو", "وهي", "لأن", "بل",
    "ما", "الأمر", "أي",
)
_LINE_BREAK = re.compile(r"\r\n|[\n\r\u2028\u2029\u0085]")
# One or more terminal marks, then any closing quotes/brackets, then whitespace or the end of the line.
_TERMINAL = re.compile(r"[.!?؟]+[»\"”’')\]]*(?=\s|$)")
# A full stop glued to the next word ("انتهى.وقال"): split only after a word of 3+ Arabic letters,
# so "د.محمد" (Dr. Muhammad) stays whole.
_GLUED = re.compile(r"(?<=[\u0621-\u064a]{3})[.؟!](?=[\u0621-\u064a])")
_SEMICOLON = re.compile(r"؛(?=\s)")
_OPEN_CLOSE = {"«": "»", "“": "”", "(": ")"}


def _quote_spans(line: str) -> list[tuple[int, int]]:
    """Spans of matched quotations/parentheses inside one line; their inner punctuation never splits."""
    spans: list[tuple[int, int]] = []
    stack: list[tuple[str, int]] = []
    ascii_open: int | None = None
    for i, ch in enumerate(line):
        if ch in _OPEN_CLOSE:
            stack.append((_OPEN_CLOSE[ch], i))
        elif stack and ch == stack[-1][0]:
            spans.append((stack.pop()[1], i + 1))
        elif ch == '"':
            if ascii_open is None:
                ascii_open = i
            else:
                spans.append((ascii_open, i + 1))
                ascii_open = None
    return spans


def _inside(pos: int, spans: list[tuple[int, int]]) -> bool:
    return any(s < pos < e for s, e in spans)


def _is_abbreviation(line: str, dot: int) -> bool:
    """Is the full stop at ``dot`` part of an abbreviation ("د." "U.S." "ق.م.")?"""
    j = dot
    # walk back over letters, diacritics (shadda, harakat: category M*), tatweel and inner dots
    while j > 0 and (line[j - 1].isalpha() or line[j - 1] in ".ـ" or unicodedata.category(line[j - 1])[0] == "M"):
        j -= 1
    token = "".join(c for c in line[j:dot] if unicodedata.category(c)[0] != "M").strip(".")
    # "U.S." and "أ.د." end in a one-letter segment: initials, not the end of a sentence.
    return len(token.split(".")[-1]) == 1 or token in ABBREVIATIONS


def _line_boundaries(line: str, semicolon: bool) -> list[int]:
    spans = _quote_spans(line)
    cuts: list[int] = []
    for m in _TERMINAL.finditer(line):
        marks = m.group().rstrip("»\"”’')]")
        if marks.startswith("..") and set(marks) == {"."}:
            continue  # an ellipsis inside a line trails off; it rarely ends a news sentence
        if marks == "." and _is_abbreviation(line, m.start()):
            continue
        if not _inside(m.end(), spans):
            cuts.append(m.end())
    for m in _GLUED.finditer(line):
        if not _inside(m.end(), spans):
            cuts.append(m.end())
    if semicolon:
        for m in _SEMICOLON.finditer(line):
            rest = line[m.end():].split()
            if len(rest) >= 4 and rest[0] not in _SEMICOLON_CONTINUATIONS and not _inside(m.end(), spans):
                cuts.append(m.end())
    return sorted(set(cuts))


def split_sentences(text: str, semicolon: bool = True) -> list[Sentence]:
    """Split Arabic news text into sentences with offsets into ``text``.

    Splits on line breaks and on ``. ! ? ؟`` followed by space (and ``؛`` where a new clause of
    four or more words starts that is not a continuation such as «مشيرا»). Decimals, dates,
    abbreviations, ellipses and quoted or bracketed speech stay whole. Whitespace-only pieces are
    dropped; every returned ``Sentence`` satisfies ``text[s.start:s.end] == s.text``.
    """
    sentences: list[Sentence] = []
    line_start = 0
    for piece in [*_LINE_BREAK.finditer(text), None]:
        line_end = piece.start() if piece else len(text)
        line = text[line_start:line_end]
        prev = 0
        for cut in [*_line_boundaries(line, semicolon), len(line)]:
            chunk = line[prev:cut]
            stripped = chunk.strip()
            if stripped:
                start = line_start + prev + (len(chunk) - len(chunk.lstrip()))
                sentences.append(Sentence(stripped, start, start + len(stripped)))
            prev = cut
        if piece:
            line_start = piece.end()
    return sentences


def arabic_ratio(text: str) -> float:
    """Share of letters that are Arabic-script; used to flag non-Arabic input instead of failing on it."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum("\u0600" <= c <= "\u06ff" or "\u0750" <= c <= "\u077f" or "\ufb50" <= c <= "\ufefc" for c in letters) / len(
        letters
    )
