"""Text rules (special tokens, pre/post-rules) and `detokenize`, which undoes them."""

import pytest

from lamina.text.defaults import defaults
from lamina.text.detokenize import detokenize, join_words
from lamina.text.rules import (
    BOS,
    EOS,
    FLD,
    PAD,
    TEXT_PRE_RULES,
    TEXT_SPEC_TOK,
    TK_MAJ,
    TK_REP,
    TK_UP,
    TK_WREP,
    UNK,
    apply_rules,
    fix_html,
    lowercase,
    replace_all_caps,
    replace_maj,
    replace_rep,
    replace_space,
    replace_wrep,
    rm_useless_spaces,
    spec_add_spaces,
)
from lamina.text.tokenizers import SpacyTokenizer


def test_special_tokens_and_their_order():
    assert (UNK, PAD, BOS, EOS, FLD) == ("xxunk", "xxpad", "xxbos", "xxeos", "xxfld")
    assert (TK_REP, TK_WREP, TK_UP, TK_MAJ) == ("xxrep", "xxwrep", "xxup", "xxmaj")
    assert TEXT_SPEC_TOK[:2] == ("xxunk", "xxpad")  # ids 0 and 1 in every vocabulary
    assert list(defaults.text_spec_tok) == list(TEXT_SPEC_TOK)
    assert [f.__name__ for f in defaults.text_pre_rules] == [
        "fix_html", "replace_rep", "replace_wrep", "spec_add_spaces", "rm_useless_spaces",
        "replace_all_caps", "replace_maj", "lowercase",
    ]  # fmt: skip


def test_default_pre_rules_on_a_shouted_review():
    assert apply_rules("THIS is Great!!!!", TEXT_PRE_RULES) == "xxbos xxup this is xxmaj great xxrep 4 !"
    assert apply_rules("I'M SHOUTING", TEXT_PRE_RULES) == "xxbos xxup i'm xxup shouting"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("cooool", "c xxrep 4 o l"),
        ("!!!!", "xxrep 4 !"),
        ("wait...", "wait xxrep 3 ."),
        ("aa bb", "aa bb"),  # two in a row is not a repetition
    ],
)
def test_replace_rep(text, expected):
    assert rm_useless_spaces(replace_rep(text)).strip() == expected


def test_replace_rep_on_tokens():
    assert replace_rep(["so", "!!!!", "\n"]) == ["so", "xxrep", "4", "!", "\n"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ha ha ha!", "xxwrep 3 ha !"),
        ("no no no no", "xxwrep 4 no"),
        ("ha ha", "ha ha"),  # two is not enough
        ("bathe the the the end", "bathe xxwrep 3 the end"),  # only whole words repeat
        ("ha\nha\nha", "ha\nha\nha"),  # not across lines
    ],
)
def test_replace_wrep(text, expected):
    assert rm_useless_spaces(replace_wrep(text)).strip() == expected


def test_replace_wrep_on_tokens():
    assert replace_wrep(["a", "a", "a", "b", "b"]) == ["xxwrep", "3", "a", "b", "b"]


def test_spaces_rules():
    assert spec_add_spaces("and/or #1 a\\b") == "and / or  # 1 a \\ b"
    assert rm_useless_spaces("a   b  c") == "a b c"
    assert rm_useless_spaces("a\n\nb") == "a\n\nb"  # only spaces collapse


@pytest.mark.parametrize(
    "text, expected",
    [
        ("I'M SHOUTING", "xxup i'm xxup shouting"),
        ("(HELLO), you", "(xxup hello), you"),  # the mark goes after leading punctuation
        ("U.S. R2D2", "xxup u.s. xxup r2d2"),
        ("A test", "A test"),  # a single capital is not ALL CAPS
        ("NaSa", "NaSa"),
    ],
)
def test_replace_all_caps(text, expected):
    assert replace_all_caps(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Great movie", "xxmaj great movie"),
        ("I think", "xxmaj i think"),  # single capitals are marked (fastai leaves them unmarked)
        ("3D glasses", "xxmaj 3d glasses"),
        ('"Wow," he said', '"xxmaj wow," he said'),
        ("iPhone McDonald", "iPhone McDonald"),  # mixed case is left to `lowercase`
    ],
)
def test_replace_maj(text, expected):
    assert replace_maj(text) == expected


def test_case_rules_on_tokens():
    assert replace_all_caps(["THIS", "is", "\n"]) == ["xxup", "this", "is", "\n"]
    assert replace_maj(["Great", "I", "ok"]) == ["xxmaj", "great", "xxmaj", "i", "ok"]


def test_lowercase_adds_bos_and_eos():
    assert lowercase("  Hello World ") == "xxbos hello world"
    assert lowercase("Hi", add_bos=False, add_eos=True) == "hi xxeos"


def test_fix_html():
    assert fix_html("a<br />b<BR>c") == "a\nb\nc"
    assert fix_html("Tom &amp; Jerry, it&#39;s") == "Tom & Jerry, it's"
    assert fix_html("it#39;s quot;fine quot;") == 'it\'s "fine "'  # entities that lost their '&'
    assert fix_html("1 @,@ 000 km and well @-@ known") == "1,000 km and well-known"
    assert fix_html("an <unk> word\xa0here") == "an xxunk word here"


def test_replace_space_makes_tokens_joinable():
    assert replace_space(["a b", "", "\n ", "c"]) == ["a\u2581b", "\n\u2581", "c"]


@pytest.mark.parametrize(
    "text",
    [
        "THIS is Great!!!!",
        "I'M SHOUTING, don't you see?",
        'She said "no" (twice) and left... Then 3D glasses, U.S. politics.',
        "It's 9/10, a well-made film about the 1990s.",
        "Sooo good. Ha ha ha!",
        "DON'T stop.\nNew line here.",
    ],
)
def test_detokenize_restores_canonical_text_exactly(text):
    tokens = next(SpacyTokenizer()([apply_rules(text, TEXT_PRE_RULES)]))
    assert detokenize(tokens) == text


def test_detokenize_marker_details():
    assert detokenize(["xxbos", "xxup", "do", "n't", "stop", "xxeos"]) == "DON'T stop"
    assert detokenize(["xxwrep", "3", "xxup", "no"]) == "NO NO NO"
    assert detokenize(["xxmaj", "s", "xxrep", "3", "xxmaj", "o"]) == "SOOO"
    assert detokenize(["1", "xxrep", "3", "0", "people"]) == "1000 people"
    assert detokenize(["a\u2581b", "xxunk", "xxfld", "2", "x"]) == "a b xxunk xxfld 2 x"
    assert detokenize(["xxpad", "xxpad", "ok"]) == "ok"


def test_join_words_spacing():
    assert (
        join_words(["(", "see", "above", ")", ".", "$", "5", "and", "50", "%"]) == "(see above). $5 and 50%"
    )
    assert join_words(["a", ".", ".", "."]) == "a. . ."  # separate dots stay apart (they are not a run)
    assert join_words(["well", "-", "made", ",", "a", "--", "b", "/", "c"]) == "well-made, a -- b/c"
