"""Heuristic quality filters (Gopher quality/repetition, C4, FineWeb): each rule on hand-written documents."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from filters.base import Step, apply_steps, decide_steps
from filters.c4 import C4Config, C4QualityFilter, count_sentences
from filters.chain import HeuristicsConfig, build_heuristic_steps
from filters.fineweb import FineWebConfig, FineWebQualityFilter
from filters.gopher import (
    GopherQualityConfig,
    GopherQualityFilter,
    GopherRepetitionConfig,
    GopherRepetitionFilter,
    all_dup_ngram_chars,
    ngram_char_lengths,
    ngram_keys,
)
from filters.text import word_tokenize

CLEAN = "\n".join(
    [
        "The history of the river valley is closely tied to the farmers who settled there long ago.",
        "They built small wooden houses with stone chimneys and planted wheat along the northern bank.",
        "Every spring the water rose and covered the lower fields, leaving behind a layer of rich soil.",
        "Over time the villages grew into market towns that traded grain, wool and timber with the coast.",
        "Historians still argue about when the first bridge was raised and who paid for its construction.",
        "Records from the old abbey suggest that the monks organised the work and kept careful accounts.",
        "Today the valley is known for its orchards, and visitors come to walk the paths between the farms.",
        "A small museum near the station explains how the landscape changed during the last three centuries.",
    ]
)


def one(step, text: str):
    """The reason the step gives to a single document."""
    cols = step.annotate([text])
    cols.pop("text", None)
    return step.decide(cols)[0]


def test_clean_prose_passes_every_step():
    cols, reasons, texts = apply_steps([CLEAN], build_heuristic_steps())
    assert reasons.tolist() == [None]
    assert texts[0] == CLEAN
    assert cols["gopher_word_count"][0] > 100
    assert cols["fineweb_line_punct_ratio"][0] == 1.0


def test_steps_satisfy_protocol():
    for step in build_heuristic_steps():
        assert isinstance(step, Step)


# ---------------------------------------------------------------- word tokenizer
@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hello, world.", ["Hello", ",", "world", "."]),
        ("I don't know.", ["I", "do", "n't", "know", "."]),
        ("It's 3.5 km... wow!", ["It", "'s", "3.5", "km", "...", "wow", "!"]),
        ("The U.S. army (1,000 men)", ["The", "U.S.", "army", "(", "1,000", "men", ")"]),
        ("see https://example.com/a?b=1 now", ["see", "https://example.com/a?b=1", "now"]),
    ],
)
def test_word_tokenize(text, expected):
    assert word_tokenize(text) == expected


# ---------------------------------------------------------------- Gopher quality
@pytest.mark.parametrize(
    "text, reason",
    [
        ("Too short to be a document, with the few words it has.", "gopher_short_doc"),
        (" ".join(["a b c d of to"] * 20), "gopher_below_avg_threshold"),
        (" ".join(["extraordinarily incomprehensibility internationalization the and"] * 20), "gopher_above_avg_threshold"),
        (CLEAN + "\n" + "#tag " * 40, "gopher_too_many_hashes"),
        (CLEAN.replace(".", "...") + " more... " * 30, "gopher_too_many_ellipsis"),
        ("\n".join("- item number %d of the list to buy" % i for i in range(20)), "gopher_too_many_bullets"),
        (
            "\n".join("and then the story goes on and on through the long night with all %d..." % i for i in range(20)),
            "gopher_too_many_end_ellipsis",
        ),
        (" ".join(["12345 67890 11111 22222 the of and walk"] * 10), "gopher_below_alpha_threshold"),
        (" ".join(["cats dogs birds fish walk run jump swim"] * 10), "gopher_enough_stop_words"),
    ],
)
def test_gopher_quality_rules(text, reason):
    assert one(GopherQualityFilter(), text) == reason


def test_gopher_quality_clean_and_disabled_threshold():
    assert one(GopherQualityFilter(), CLEAN) is None
    short = "Too short to be a document, with the few words it has."
    lax = GopherQualityFilter(GopherQualityConfig(min_doc_words=None, min_stop_words=1))
    assert one(lax, short) is None


def test_gopher_quality_signals_count_words_like_datatrove():
    cols = GopherQualityFilter().annotate(["The cat, the dog and the bird."])
    # 9 tokens, 7 of them words (punctuation excluded), 7 with a letter.
    assert cols["gopher_word_count"][0] == 7
    assert cols["gopher_distinct_stop_words"][0] == 2  # "the" and "and" (case-sensitive, distinct)
    assert cols["gopher_alpha_words_ratio"][0] == pytest.approx(7 / 9)


# ---------------------------------------------------------------- Gopher repetition
def test_gopher_repetition_rules():
    f = GopherRepetitionFilter()
    assert one(f, CLEAN) is None
    lines = CLEAN.split("\n")
    repeated_lines = "\n".join(lines[:4] + [lines[0]] * 4)
    assert one(f, repeated_lines) == "gopher_rep_dup_line_frac"
    repeated_paras = "\n\n".join(lines[:3] + [lines[0]] * 2)
    assert one(f, repeated_paras) == "gopher_rep_dup_para_frac"
    long_dup = "\n".join([CLEAN * 1, "x " + CLEAN.replace("\n", " ")])
    assert one(f, long_dup).startswith("gopher_rep_")
    spam = CLEAN + "\n" + " ".join(["buy now"] * 60)
    assert one(f, spam) == "gopher_rep_top_2_gram"


def test_all_dup_ngram_chars_matches_reference_scan():
    def reference(words, n):  # datatrove's find_all_duplicate, verbatim semantics
        unique, total, idx = set(), 0, 0
        while idx < len(words) - n + 1:
            g = "".join(words[idx : idx + n])
            if g in unique:
                total += len(g)
                idx += n
            else:
                unique.add(g)
                idx += 1
        return total

    rng = np.random.default_rng(0)
    vocab = ["a", "bb", "ccc", "dddd", "e", "ff"]
    for trial in range(50):
        words = [vocab[i] for i in rng.integers(0, len(vocab) - trial % 5, size=int(rng.integers(0, 60)))]
        ids = np.array([vocab.index(w) for w in words], dtype=np.int64)
        lens = np.array([len(w) for w in words], dtype=np.int64)
        for n in (2, 3, 5):
            got = all_dup_ngram_chars(ngram_keys(ids, n), ngram_char_lengths(lens, n, 0), n)
            assert got == reference(words, n), (words, n)


def test_gopher_repetition_config_is_strict():
    with pytest.raises(ValidationError):
        GopherRepetitionConfig(dup_line_fraction=0.1)


# ---------------------------------------------------------------- C4
def test_c4_document_rules():
    f = C4QualityFilter()
    assert one(f, CLEAN) is None
    assert one(f, CLEAN + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.") == "c4_lorem_ipsum"
    assert one(f, CLEAN + "\nThe function body is { return the value; }.") == "c4_curly_bracket"
    assert one(f, "\n".join(CLEAN.split("\n")[:3])) == "c4_too_few_sentences"


def test_c4_first_offending_line_wins():
    f = C4QualityFilter()
    curly_first = "Set x = { a: 1 } in the code.\nLorem ipsum dolor sit amet, consectetur.\n" + CLEAN
    assert one(f, curly_first) == "c4_curly_bracket"
    lorem_first = "Lorem ipsum dolor sit amet, consectetur.\nSet x = { a: 1 } in the code.\n" + CLEAN
    assert one(f, lorem_first) == "c4_lorem_ipsum"
    # a "{" on a javascript line is dropped with the line before the bracket rule sees it
    js = "Enable JavaScript to use { this } page now.\n" + CLEAN
    assert one(f, js) is None


def test_c4_rewrites_lines():
    text = "\n".join(
        [
            "Short line",
            "This sentence cites a source [12] and ends well.",
            "Please enable javascript in your browser to continue.",
            "Read our privacy policy before you continue here.",
            "A line without terminal punctuation but enough words",
            CLEAN,
        ]
    )
    out = C4QualityFilter().annotate([text])
    new = out["text"][0].split("\n")
    assert new[0] == "This sentence cites a source  and ends well."
    assert "Short line" not in new
    assert not any("javascript" in s or "privacy policy" in s for s in new)
    assert "A line without terminal punctuation but enough words" not in new
    assert out["c4_lines"][0] == 5 + 8
    # FineWeb's setting keeps lines without terminal punctuation
    off = C4QualityFilter(C4Config(filter_no_terminal_punct=False)).annotate([text])["text"][0]
    assert "A line without terminal punctuation but enough words" in off.split("\n")


def test_count_sentences():
    assert count_sentences("One. Two! Three? Four.") == 4
    assert count_sentences('He said "hi." Then he left.') == 2
    assert count_sentences("The U.S. army is large.") == 1
    assert count_sentences("Version 3.5 is out") == 1
    assert count_sentences("Wait... what") == 1


# ---------------------------------------------------------------- FineWeb
def test_fineweb_rules():
    f = FineWebQualityFilter()
    assert one(f, CLEAN) is None
    no_punct = "\n".join(s.rstrip(".") for s in CLEAN.split("\n"))
    assert one(f, no_punct) == "fineweb_line_punct_ratio"
    short = CLEAN + "\n" + "\n".join(f"Item {i}." for i in range(20))
    assert one(f, short) == "fineweb_short_line_ratio"
    dup = CLEAN + "\n" + CLEAN.split("\n")[0]
    assert one(f, dup) == "fineweb_char_dup_ratio"
    lst = "\n".join(f"Number {i} is here." for i in range(12)) + "\n" + CLEAN.replace("\n", " ")
    lst_cfg = FineWebQualityFilter(FineWebConfig(short_line_thr=1.01))
    assert one(lst_cfg, lst) is None or one(lst_cfg, lst) == "fineweb_list_ratio"
    many_newlines = "\n".join(["A small line of words here."] + [f"R{i}." for i in range(40)])
    assert one(FineWebQualityFilter(FineWebConfig(short_line_thr=1.01, char_duplicates_ratio=1.0)), many_newlines) == (
        "fineweb_list_ratio"
    )


def test_fineweb_exclude_zero():
    no_punct = "\n".join(s.rstrip(".") for s in CLEAN.split("\n"))
    f = FineWebQualityFilter(FineWebConfig(line_punct_exclude_zero=True))
    assert one(f, no_punct) is None


# ---------------------------------------------------------------- chain semantics
def _corpus() -> list[str]:
    lines = CLEAN.split("\n")
    return [
        CLEAN,
        "Too short.",
        "\n".join(lines[:4] + [lines[0]] * 4),
        CLEAN + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.",
        CLEAN + "\nThe function body is { return the value; }.",
        "\n".join(s.rstrip(".") for s in lines),
        "Please enable javascript to see this.\n" + CLEAN,
        "\n".join("d41d8cd98f00b204e9800998ecf8427e" for _ in range(40)),
        "",
    ]


def test_apply_equals_decide_and_first_reason_wins():
    steps = build_heuristic_steps()
    docs = _corpus()
    cols, reasons, texts = apply_steps(docs, steps)
    assert all(len(c) == len(docs) for c in cols.values())
    assert decide_steps(cols, steps).tolist() == reasons.tolist()
    _, fast_reasons, _ = apply_steps(docs, steps, annotate_all=False)
    assert fast_reasons.tolist() == reasons.tolist()
    assert reasons[0] is None
    assert reasons[1] == "gopher_rep_top_2_gram"  # datatrove: repetition runs first, "Too short" is 90% of it
    assert reasons[2] == "gopher_rep_dup_line_frac"
    assert reasons[3] == "c4_lorem_ipsum"
    assert reasons[4] == "c4_curly_bracket"
    assert reasons[5] == "fineweb_line_punct_ratio"  # C4 runs without its terminal-punctuation rule
    assert reasons[6] is None and texts[6] == CLEAN  # C4 dropped the javascript line
    assert reasons[7] == "gopher_rep_dup_para_frac" or reasons[7].startswith("gopher")


def test_later_steps_see_modified_text():
    # Only the javascript line lacks punctuation; after C4 drops it, FineWeb's duplicated-line check sees no repeat.
    doc = CLEAN + "\nThis page needs javascript enabled to work properly\n" + "This page needs javascript enabled"
    steps = [C4QualityFilter(C4Config(filter_no_terminal_punct=False)), FineWebQualityFilter()]
    cols, reasons, texts = apply_steps([doc], steps)
    assert texts[0] == CLEAN
    assert reasons[0] is None
    assert cols["fineweb_line_punct_ratio"][0] == 1.0


def test_thresholds_change_without_recompute():
    steps = build_heuristic_steps()
    docs = _corpus()
    cols, reasons, _ = apply_steps(docs, steps)
    strict = build_heuristic_steps(HeuristicsConfig(gopher_quality=GopherQualityConfig(min_doc_words=1000)))
    assert decide_steps(cols, strict)[0] == "gopher_short_doc"


def test_chain_order_and_disable():
    names = [s.name for s in build_heuristic_steps()]
    assert names == ["gopher_rep", "gopher", "c4", "fineweb", "hash_dump"]
    cfg = HeuristicsConfig.model_validate({"c4": {"enabled": False}, "hash_dump": {"enabled": False}})
    assert [s.name for s in build_heuristic_steps(cfg)] == ["gopher_rep", "gopher", "fineweb"]
    assert HeuristicsConfig().c4.filter_no_terminal_punct is False
    with pytest.raises(ValidationError):
        HeuristicsConfig.model_validate({"gopher": {}})


def test_non_string_text_is_a_clear_error():
    with pytest.raises(TypeError, match="text #1"):
        apply_steps(["fine", None], build_heuristic_steps())
