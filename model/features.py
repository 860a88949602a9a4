"""Hashed word and character n-gram counts, vectorised over a whole batch with numpy.

Why not scikit-learn's ``TfidfVectorizer``: its analyzers run a Python loop per n-gram, about
3,000 sentences/s for character 2-5-grams on one core, which made featurising cost more than
everything else in the shipped model. Here a batch is turned into one array of code points and
every n-gram of every sentence is hashed with a few whole-array operations (polynomial rolling
hashes with uint64 wrap-around), ~100x faster. Features are the same kind as ``char_wb``: character
n-grams inside space-padded words, plus word unigrams and bigrams.

A fitted ``HashedNgrams`` keeps only the hash buckets seen in training (``active``, sorted), with
their idf; both are plain arrays saved in safetensors.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

_BASE = np.uint64(1_000_003)  # odd multiplier for the polynomial hash
_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing constant: spreads bits before bucketing
_SEP = 0  # code point between sentences (never inside text after ``prepare``)
_SPACE = 32

# Which BMP code points are "word" characters (letters, digits, Arabic marks, underscore).
_WORD = np.array([(chr(c).isalnum() or chr(c) == "_") for c in range(0x10000)], dtype=bool)
_WORD[0x064B:0x0653] = True  # harakat count as part of the word they sit on


def prepare(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Code points of ``" " + " ".join(words) + " "`` for each text, joined by ``_SEP``; and the
    start offset of each text in that array."""
    padded = [" " + " ".join(t.lower().split()) + " " for t in texts]
    cps = np.frombuffer("\x00".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    lengths = np.fromiter((len(p) + 1 for p in padded), dtype=np.int64, count=len(padded))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return cps, starts


def _bucket(h: np.ndarray, salt: int, bits: int) -> np.ndarray:
    return ((h ^ np.uint64(salt)) * _MIX) >> np.uint64(64 - bits)


def _char_ngrams(cps: np.ndarray, n: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(positions, buckets) of character n-grams that stay inside one space-padded word."""
    m = len(cps) - n + 1
    if m <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    h = np.zeros(m, dtype=np.uint64)
    for k in range(n):
        h = h * _BASE + cps[k : k + m]
    space = (cps == _SPACE).astype(np.int32)
    sep = (cps == _SEP).astype(np.int32)
    cs_space = np.concatenate([[0], np.cumsum(space)])
    cs_sep = np.concatenate([[0], np.cumsum(sep)])
    i = np.arange(m)
    interior_spaces = cs_space[i + n - 1] - cs_space[np.minimum(i + 1, i + n - 1)] if n > 2 else np.zeros(m, np.int32)
    no_sep = (cs_sep[i + n] - cs_sep[i]) == 0
    # a window of only spaces (n=1,2 at word edges) carries nothing
    not_blank = (cs_space[i + n] - cs_space[i]) < n
    keep = (interior_spaces == 0) & no_sep & not_blank
    return i[keep], _bucket(h[keep], 1000 + n, bits)


def _word_ngrams(cps: np.ndarray, bits: int, max_n: int) -> tuple[np.ndarray, np.ndarray]:
    """(positions, buckets) of word unigrams (and bigrams when ``max_n`` >= 2)."""
    is_word = _WORD[np.minimum(cps, 0xFFFF).astype(np.int64)] & (cps < 0x10000) | (cps >= 0x10000)
    is_word &= cps != _SEP
    edges = np.diff(np.concatenate([[0], is_word.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if len(starts) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    # prefix hashes: hash(cps[s:e]) = P[e] - P[s] * B^(e-s)  (mod 2^64)
    prefix = np.zeros(len(cps) + 1, dtype=np.uint64)
    prefix[1:] = _prefix_hash(cps)
    powers = _powers(int((ends - starts).max()) + 1)
    wh = prefix[ends] - prefix[starts] * powers[ends - starts]
    pos, buckets = [starts], [_bucket(wh, 1, bits)]
    if max_n >= 2 and len(starts) > 1:
        # a bigram joins neighbours in the same sentence: no separator between them
        sep_cs = np.concatenate([[0], np.cumsum(cps == _SEP)])
        same = sep_cs[starts[1:]] == sep_cs[ends[:-1]]
        bh = wh[:-1][same] * np.uint64(0x100000001B3) + wh[1:][same]
        pos.append(starts[:-1][same])
        buckets.append(_bucket(bh, 2, bits))
    return np.concatenate(pos), np.concatenate(buckets)


def _prefix_hash(cps: np.ndarray) -> np.ndarray:
    """Polynomial prefix hashes P[i] = hash(cps[:i+1]), i.e. the recurrence P[i] = P[i-1]*B + c[i]
    (mod 2**64), vectorised: a log-step parallel scan inside blocks of 4,096, carried across blocks."""
    out = np.empty(len(cps), dtype=np.uint64)
    acc = np.uint64(0)
    block = 4096
    powers = _powers(block + 1)
    for s in range(0, len(cps), block):
        c = cps[s : s + block]
        n = len(c)
        # Within a block, v[j] = sum_{k<=j} c[k]*B^(j-k), built by doubling (Hillis–Steele scan):
        # after the step of size d, v[j] holds the hash of c[j-2d+1..j]. A plain cumsum cannot do it,
        # since dividing by powers of B has no cheap inverse mod 2**64.
        v = c.copy()
        step = 1
        while step < n:
            shifted = np.zeros(n, dtype=np.uint64)
            shifted[step:] = v[:-step]
            v = v + shifted * powers[step]
            step *= 2
        out[s : s + n] = v + acc * powers[1 : n + 1]
        acc = out[s + n - 1]
    return out


_POW_CACHE: list[np.ndarray] = [np.ones(1, dtype=np.uint64)]


def _powers(n: int) -> np.ndarray:
    cur = _POW_CACHE[0]
    if len(cur) < n:
        p = np.ones(n, dtype=np.uint64)
        with np.errstate(over="ignore"):  # wrap-around mod 2**64 is the point
            for i in range(1, n):
                p[i] = p[i - 1] * _BASE
        _POW_CACHE[0] = cur = p
    return cur[:n]


def ngram_occurrences(texts: list[str], char_ngrams: tuple[int, int], word_ngrams: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, bucket) of every n-gram occurrence in ``texts``."""
    cps, starts = prepare(texts)
    row_of = np.repeat(np.arange(len(texts)), np.diff(np.append(starts, len(cps) + 1)))[: len(cps)]
    pos_parts, bucket_parts = [], []
    for n in range(char_ngrams[0], char_ngrams[1] + 1):
        p, b = _char_ngrams(cps, n, bits)
        pos_parts.append(p)
        bucket_parts.append(b)
    if word_ngrams >= 1:
        p, b = _word_ngrams(cps, bits, word_ngrams)
        pos_parts.append(p)
        bucket_parts.append(b)
    return row_of[np.concatenate(pos_parts)], np.concatenate(bucket_parts).astype(np.int64)


def count_matrix(texts: list[str], char_ngrams: tuple[int, int], word_ngrams: int, bits: int = 22) -> sparse.csr_matrix:
    """Sparse (n_texts, 2**bits) matrix of n-gram counts (columns are hash buckets)."""
    rows, cols = ngram_occurrences(texts, char_ngrams, word_ngrams, bits)
    # COO -> CSR sums duplicate (row, bucket) entries: the counts
    return sparse.coo_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(texts), 1 << bits)).tocsr()


class HashedNgrams:
    """Fitted featuriser: hashed counts → active buckets → sublinear tf × idf → L2 rows."""

    def __init__(self, char_ngrams: tuple[int, int], word_ngrams: int, bits: int, active: np.ndarray, idf: np.ndarray):
        self.char_ngrams, self.word_ngrams, self.bits = tuple(char_ngrams), int(word_ngrams), int(bits)
        self.active = np.asarray(active, dtype=np.int64)
        self.idf = np.asarray(idf, dtype=np.float32)
        if len(self.active) != len(self.idf) or np.any(np.diff(self.active) <= 0):
            raise ValueError("active buckets must be strictly increasing and match idf in length")
        if len(self.active) and self.active[-1] >= 1 << self.bits:
            raise ValueError(f"active bucket {self.active[-1]} out of range for {self.bits} bits")
        # bucket -> column lookup table (4 bytes x 2**bits, built at load, never saved): one gather per
        # n-gram instead of a binary search
        self._column = np.full(1 << self.bits, -1, dtype=np.int32)
        self._column[self.active] = np.arange(len(self.active), dtype=np.int32)

    @property
    def n_features(self) -> int:
        return len(self.active)

    @classmethod
    def fit(cls, texts: list[str], char_ngrams=(2, 5), word_ngrams: int = 2, bits: int = 22, min_df: int = 2) -> HashedNgrams:
        counts = count_matrix(texts, char_ngrams, word_ngrams, bits)
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        active = np.flatnonzero(df >= min_df)
        idf = np.log((1 + len(texts)) / (1 + df[active])) + 1  # smooth idf, as scikit-learn's default
        return cls(char_ngrams, word_ngrams, bits, active, idf)

    def transform(self, texts: list[str]) -> sparse.csr_matrix:
        rows, buckets = ngram_occurrences(texts, self.char_ngrams, self.word_ngrams, self.bits)
        cols = self._column[buckets]
        keep = cols >= 0  # n-grams unseen in training carry no weight
        x = sparse.coo_matrix(
            (np.ones(int(keep.sum()), np.float32), (rows[keep], cols[keep])), shape=(len(texts), self.n_features)
        ).tocsr()
        x.data = (1 + np.log(x.data)) * self.idf[x.indices]  # sublinear tf x idf
        sq = np.add.reduceat(np.append(x.data**2, 0), x.indptr[:-1]) if x.nnz else np.zeros(len(texts))
        sq[np.diff(x.indptr) == 0] = 0
        norms = np.sqrt(sq)
        norms[norms == 0] = 1
        x.data /= np.repeat(norms, np.diff(x.indptr)).astype(np.float32)
        return x
