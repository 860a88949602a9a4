"""Arabic text handling: the splitter's offsets and rules, and the preprocessor against AraBERT's."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data.text import PreprocessingSpec, Preprocessor, arabic_ratio, fix_characters, split_sentences

NEWS = (
    "موسكو تعزز وجودها البحري في طرطوس\n"
    "دمشق - أعلنت وزارة الدفاع الروسية، يوم 12.3.2019، أن نسبة الإنجاز في الرصيف الجديد بلغت 3.5 في المئة. "
    "وقال د. سامر الحلبي، الباحث في مركز الدراسات: «لن نتراجع. هذا قرار سيادي.» "
    "هل يعني ذلك نهاية الأزمة؟ ربما... لا أحد يملك الجواب!\n\n"
    "وارتفع سعر طن القمح إلى 350 دولارا؛ وفي سياق آخر أكدت الحكومة أن الإمدادات مستمرة حتى نهاية العام."
)


def test_news_paragraph_splits_where_a_reader_would():
    got = [s.text for s in split_sentences(NEWS)]
    assert got == [
        "موسكو تعزز وجودها البحري في طرطوس",
        "دمشق - أعلنت وزارة الدفاع الروسية، يوم 12.3.2019، أن نسبة الإنجاز في الرصيف الجديد بلغت 3.5 في المئة.",
        "وقال د. سامر الحلبي، الباحث في مركز الدراسات: «لن نتراجع. هذا قرار سيادي.»",
        "هل يعني ذلك نهاية الأزمة؟",
        "ربما... لا أحد يملك الجواب!",
        "وارتفع سعر طن القمح إلى 350 دولارا؛",
        "وفي سياق آخر أكدت الحكومة أن الإمدادات مستمرة حتى نهاية العام.",
    ]


@pytest.mark.parametrize(
    "text, n",
    [
        ("بلغ النمو 2.7 في المئة خلال 2023. وتوقع البنك تحسنا.", 2),  # decimal kept
        ('قال المتحدث: "الاتفاق صامد. لا خروقات." ثم غادر القاعة.', 2),  # quoted speech kept whole
        ("التقى أ.د. خالد ممثل U.S. Army في عمّان.", 1),  # initials and abbreviations
        ("وأضاف مشيرا إلى الاتفاق؛ مؤكدا أنه صامد حتى الآن.", 1),  # continuation after ؛
        ("انتهى الاجتماع.وقال مصدر إن الجولة المقبلة في أستانا.", 2),  # missing space after the stop
        ("   \n\n  ", 0),  # whitespace-only pieces dropped
        ("عاجل!!! انفجار في الميناء؟! التفاصيل لاحقا", 3),
        ("(وقال المصدر. ثم صمت.) وانتهى الأمر.", 2),  # brackets protect like quotes
        ("عقاب سياسي مقنّع. ويقول الخبير إن الأمر انتهى.", 2),  # a diacritic before the stop is no abbreviation
        ("وصلت الشحنة صباحاً. ثم غادرت.", 2),
    ],
)
def test_rules(text, n):
    assert len(split_sentences(text)) == n


def test_offsets_point_into_original_text():
    for s in split_sentences(NEWS):
        assert NEWS[s.start : s.end] == s.text


_alphabet = st.sampled_from(list("موسكو الرئيس قال في 0123456789.!?؟؛«»\"()\n\r \t،-") + ["\u200f", "ک", "..."])


@settings(max_examples=300, deadline=None)
@given(st.lists(_alphabet, max_size=200).map("".join))
def test_property_offsets_slice_exactly_and_nothing_is_lost(text):
    sents = split_sentences(text)
    for s in sents:
        assert text[s.start : s.end] == s.text
        assert s.text == s.text.strip() and s.text
    starts = [s.start for s in sents]
    assert starts == sorted(starts)
    assert all(a.end <= b.start for a, b in zip(sents, sents[1:], strict=False))
    kept = "".join(s.text for s in sents)
    assert [c for c in kept if not c.isspace()] == [c for c in text if not c.isspace()]


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_property_on_any_unicode(text):
    sents = split_sentences(text)
    assert "".join(c for s in sents for c in s.text if not c.isspace()) == "".join(c for c in text if not c.isspace())


def test_fix_characters_maps_persian_letters_digits_and_drops_controls():
    assert fix_characters("کرملین") == "كرملين"
    assert fix_characters("۱۲۳ و ٤٥٦") == "123 و 456"
    assert fix_characters("٣٫٥") == "3.5"
    assert fix_characters("مو\u200bسكو\u200f \u202bنص\u202c") == "موسكو نص"


# Reference outputs of arabert.preprocess.ArabertPreprocessor("bert-base-arabertv02") (arabert 1.0.1).
REFERENCE = [
    (
        "أعلنت وزارة الدفاع الروسية، الثلاثاء، نشر منظومة «إس-400» في قاعدة حميميم.",
        "أعلنت وزارة الدفاع الروسية ، الثلاثاء ، نشر منظومة « إس - 400 » في قاعدة حميميم .",
    ),
    (
        'قال المحلل: "موسكو لن تتخلى عن طرطوس"... وأضاف (في تصريح خاص) إن الاتفاق يمتد 49 عاما!',
        'قال المحلل : " موسكو لن تتخلى عن طرطوس " . . وأضاف ( في تصريح خاص ) إن الاتفاق يمتد 49 عاما !',
    ),
    (
        "ارتفع سعر طن القمح إلى 350 دولارا/طن، بزيادة ١٢٪ عن العام الماضي.",
        "ارتفع سعر طن القمح إلى 350 دولارا - طن ، بزيادة 12 ٪ عن العام الماضي .",
    ),
    ("تابعونا على https://example.com/news أو راسلونا news@example.com", "تابعونا على [رابط] أو راسلونا [رابط]"),
    ("وَصَلَ الوَفْدُ الرُّوسِيُّ إلى دمشـــــق صباحاً", "وصل الوفد الروسي إلى دمشق صباحا"),
]


@pytest.mark.parametrize("raw, expected", REFERENCE)
def test_preprocessor_matches_arabert_reference(raw, expected):
    assert Preprocessor()(raw) == expected


def test_preprocessor_equals_arabert_on_clean_text():
    from arabert.preprocess import ArabertPreprocessor

    ref = ArabertPreprocessor("bert-base-arabertv02")
    for raw, _ in REFERENCE:
        assert Preprocessor()(raw) == ref.preprocess(raw)


def test_preprocessor_fixes_what_arabert_misses():
    from arabert.preprocess import ArabertPreprocessor

    raw = "زار وزیر خارجه روسیه تهران در ۱۴۰۲\u200c"
    ours = Preprocessor()(raw)
    assert "ی" not in ours and "۱" not in ours and "\u200c" not in ours
    assert "وزير" in ours and "1402" in ours
    assert ArabertPreprocessor("bert-base-arabertv02").preprocess(raw) != ours


def test_spec_round_trip_and_mismatch():
    spec = PreprocessingSpec()
    assert PreprocessingSpec.from_dict(spec.to_dict()) == spec
    other = PreprocessingSpec(name="fixes-only")
    assert spec.mismatch(other) == ["name: 'arabert' != 'fixes-only'"]
    with pytest.raises(ValueError, match="unknown preprocessing keys"):
        PreprocessingSpec.from_dict({"nme": "arabert"})
    with pytest.raises(ValueError, match="unknown preprocessing"):
        PreprocessingSpec(name="farasa")


def test_arabic_ratio_flags_non_arabic():
    assert arabic_ratio("وصل الوزير إلى القاهرة") == 1.0
    assert arabic_ratio("The minister arrived in Cairo") == 0.0
    assert arabic_ratio("12345 !!") == 0.0
