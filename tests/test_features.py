"""The vectorised hashed n-gram featuriser of the linear engine."""

import numpy as np

from model.features import HashedNgrams, _prefix_hash, count_matrix


def test_prefix_hash_matches_the_recurrence_across_blocks():
    cps = np.arange(1, 10_001, dtype=np.uint64) * np.uint64(7)  # > 2 blocks of 4,096
    acc, naive = np.uint64(0), []
    with np.errstate(over="ignore"):
        for c in cps:
            acc = acc * np.uint64(1_000_003) + c
            naive.append(acc)
    assert np.array_equal(_prefix_hash(cps), np.array(naive, dtype=np.uint64))


def test_counts_worked_out_by_hand():
    # "ab cd" is read as " ab cd ": char 2-grams inside words " a","ab","b "," c","cd","d " (6),
    # char 3-grams " ab","ab "," cd","cd " (4), words ab, cd and the bigram "ab cd" (3) -> 13.
    # "ab": " a","ab","b " + " ab","ab " + word ab -> 6. An empty text has none.
    m = count_matrix(["ab cd", "ab", ""], (2, 3), 2, bits=20)
    assert np.asarray(m.sum(axis=1)).ravel().tolist() == [13.0, 6.0, 0.0]
    # the same n-gram in two texts lands in the same bucket
    a, b = count_matrix(["ab"], (2, 3), 2, bits=20), count_matrix(["ab cd"], (2, 3), 2, bits=20)
    assert set(a.indices) <= set(b.indices)


def test_word_bigrams_do_not_cross_texts():
    one = count_matrix(["ab cd"], (9, 9), 2, bits=20)  # no char n-grams of length 9 here
    two = count_matrix(["ab", "cd"], (9, 9), 2, bits=20)
    assert one.sum() == 3 and two.sum() == 2  # ab, cd, "ab cd" vs ab | cd


def test_tfidf_rows_are_unit_length_and_unseen_ngrams_are_dropped():
    texts = ["قصف الطيران الروسي مواقع في إدلب", "ارتفعت أسعار القمح في الأسواق", "قصف مدفعي على مواقع في إدلب"]
    feat = HashedNgrams.fit(texts, (2, 4), 2, bits=20, min_df=1)
    x = feat.transform(texts + ["zzzz"])
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    assert np.allclose(norms[:3], 1) and norms[3] == 0
    assert x.shape == (4, feat.n_features)
    again = HashedNgrams(feat.char_ngrams, feat.word_ngrams, feat.bits, feat.active, feat.idf)
    assert abs(again.transform(texts) - x[:3]).max() == 0
