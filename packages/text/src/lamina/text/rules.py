"""Special tokens and the text rules applied around tokenization (ULMFiT's preprocessing).

Pre-rules take and return a string and run before the tokenizer, in this order by default
(`TEXT_PRE_RULES`): `fix_html`, `replace_rep`, `replace_wrep`, `spec_add_spaces`, `rm_useless_spaces`,
`replace_all_caps`, `replace_maj`, `lowercase`. Post-rules take and return a list of tokens and run after
it (`TEXT_POST_RULES`: `replace_space`). Example:

    >>> apply_rules("THIS is Great!!!!", TEXT_PRE_RULES)
    'xxbos xxup this is xxmaj great xxrep 4 !'

Case rules work on whitespace-separated words. A word's *core* is the word without its leading and
trailing punctuation (`"(HELLO),"` -> `HELLO`); the marker goes in front of the core (`"(xxup hello),"`).

- `replace_all_caps`: a core whose cased letters are all upper case, with at least two of them (`THIS`,
  `U.S.`, `I'M`, `R2D2`), becomes `xxup` + the lower-cased core.
- `replace_maj`: a core whose first cased letter is upper case and whose other letters are lower case
  (`Great`, `I`, `A`, `3D`) becomes `xxmaj` + the lower-cased core. Unlike fastai, single capitals such as
  `I` and `A` are marked too, so decoding restores them.
- `lowercase` lower-cases what is left (mixed-case words such as `iPhone` or `McDonald` lose their case)
  and puts `xxbos` (and, with `add_eos=True`, `xxeos`) around the text.

`replace_rep` turns a character repeated 3 times or more into `xxrep n c` (`"!!!!"` -> `xxrep 4 !`,
`"sooo"` -> `s xxrep 3 o`); `replace_wrep` turns a word repeated 3 times or more (separated by spaces or
tabs) into `xxwrep n word`. Both functions also accept a list of tokens (then they work token by token),
so they can be used as post-rules with a word tokenizer.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "UNK",
    "PAD",
    "BOS",
    "EOS",
    "FLD",
    "TK_REP",
    "TK_WREP",
    "TK_UP",
    "TK_MAJ",
    "TEXT_SPEC_TOK",
    "fix_html",
    "replace_rep",
    "replace_wrep",
    "spec_add_spaces",
    "rm_useless_spaces",
    "replace_all_caps",
    "replace_maj",
    "lowercase",
    "replace_space",
    "TEXT_PRE_RULES",
    "TEXT_POST_RULES",
    "apply_rules",
]

UNK, PAD, BOS, EOS, FLD = "xxunk", "xxpad", "xxbos", "xxeos", "xxfld"
TK_REP, TK_WREP, TK_UP, TK_MAJ = "xxrep", "xxwrep", "xxup", "xxmaj"
TEXT_SPEC_TOK: tuple[str, ...] = (UNK, PAD, BOS, EOS, FLD, TK_REP, TK_WREP, TK_UP, TK_MAJ)
"""The special tokens, in the order a vocabulary starts with (so `xxunk` is 0 and `xxpad` is 1)."""

SPACE_MARK = "\u2581"  # '▁', also SentencePiece's word-start mark

_BR = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
_WIKITEXT_JOINERS = ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."))
# entities that lost their '&' (common in scraped reviews, e.g. IMDB): "it#39;s", "quot;"
_BARE_ENTITY = re.compile(r"(?<!&)(#\d{2,4};|\bquot;|\bamp;|\bnbsp;)")
_REP = re.compile(r"(\S)\1{2,}")
_WREP = re.compile(r"(?<!\w)(\w+)(?:[^\S\n]+\1(?!\w)){2,}")
_SPEC = re.compile(r"([/#\\])")
_SPACES = re.compile(" {2,}")
_CASED_WORD = re.compile(
    r"(?<!\S)\S*?[^\W\d_a-z]\S*"
)  # words with a letter other than a-z (upper case, accents)
_EDGE = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)


def _per_word(text: str, case: Callable[[str], str | None]) -> str:
    """Apply `case(core)` (a replacement for the core, or None to keep the word) to each word of `text`."""

    def one(m: re.Match) -> str:
        word = m.group(0)
        if word.lower() == word:
            return word
        prefix, core, suffix = _EDGE.match(word).groups()
        new = case(core) if core else None
        return word if new is None else f"{prefix}{new}{suffix}"

    return _CASED_WORD.sub(one, text)


def _tokenwise(f: Callable[[str], str | None], tokens: list[str]) -> list[str]:
    """Replace each token `t` by the words of `f(t)` (`None` or `t` itself: keep the token)."""
    out: list[str] = []
    for t in tokens:
        new = f(t)
        if new is None or new == t:
            out.append(t)
        else:
            out.extend(new.split())
    return out


def fix_html(t: str) -> str:
    """Undo HTML and wikitext artefacts: `<br />` -> newline, entities (even without their `&`), `@-@`
    joiners, literal `\\n`, `<unk>` -> `xxunk`, non-breaking spaces."""
    t = _BR.sub("\n", t)
    t = t.replace("\\n", "\n").replace('\\"', '"').replace("<unk>", UNK)
    for joined, char in _WIKITEXT_JOINERS:
        t = t.replace(joined, char)
    if "&" in t:
        t = html.unescape(html.unescape(t))  # twice: scraped text is often escaped twice
    if ";" in t:
        t = _BARE_ENTITY.sub(lambda m: html.unescape("&" + m.group(1)), t)
    return t.replace("\xa0", " ")


def replace_rep(t: str | list[str]) -> str | list[str]:
    """Replace a character repeated 3+ times by ` xxrep n c ` (`"cooool"` -> `"c xxrep 4 o l"`)."""
    if isinstance(t, list):
        return _tokenwise(replace_rep, t)
    return _REP.sub(lambda m: f" {TK_REP} {len(m.group(0))} {m.group(1)} ", t)


def replace_wrep(t: str | list[str]) -> str | list[str]:
    """Replace a word repeated 3+ times in a row by ` xxwrep n word ` (`"ha ha ha"` -> `"xxwrep 3 ha"`)."""
    if isinstance(t, list):
        return _replace_wrep_tokens(t)
    return _WREP.sub(lambda m: f" {TK_WREP} {len(m.group(0).split())} {m.group(1)} ", t)


def _replace_wrep_tokens(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        j = i
        while j + 1 < len(tokens) and tokens[j + 1] == tokens[i]:
            j += 1
        n = j - i + 1
        out.extend([TK_WREP, str(n), tokens[i]] if n >= 3 else tokens[i : j + 1])
        i = j + 1
    return out


def spec_add_spaces(t: str) -> str:
    """Put spaces around `/`, `#` and `\\` (`"and/or"` -> `"and / or"`)."""
    return _SPEC.sub(r" \1 ", t)


def rm_useless_spaces(t: str) -> str:
    """Collapse runs of spaces into one space."""
    return _SPACES.sub(" ", t)


def _all_caps(core: str) -> str | None:
    if core.isupper() and sum(c.isupper() for c in core) >= 2:
        return f"{TK_UP} {core.lower()}"
    return None


def _first_cased(core: str) -> int:
    return next((i for i, c in enumerate(core) if c.isupper() or c.islower()), -1)


def _maj(core: str) -> str | None:
    i = _first_cased(core)
    if i < 0 or not core[i].isupper():
        return None
    rest = core[i + 1 :]
    if rest != rest.lower():
        return None
    return f"{TK_MAJ} {core.lower()}"


def replace_all_caps(t: str | list[str]) -> str | list[str]:
    """Put `xxup` before each word in ALL CAPS (2+ cased letters) and lower-case it."""
    if isinstance(t, list):
        return _tokenwise(_all_caps, t)
    return _per_word(t, _all_caps)


def replace_maj(t: str | list[str]) -> str | list[str]:
    """Put `xxmaj` before each Capitalised word (single capitals included) and lower-case it."""
    if isinstance(t, list):
        return _tokenwise(_maj, t)
    return _per_word(t, _maj)


def lowercase(t: str, add_bos: bool = True, add_eos: bool = False) -> str:
    """Lower-case `t` and strip it; start it with `xxbos` (and end it with `xxeos` when `add_eos`)."""
    return (f"{BOS} " if add_bos else "") + t.lower().strip() + (f" {EOS}" if add_eos else "")


def replace_space(tokens: list[str]) -> list[str]:
    """Post-rule: write the spaces inside tokens as `▁`, so tokens survive `' '.join`/`split(' ')`;
    drop empty tokens."""
    return [t.replace(" ", SPACE_MARK) if " " in t else t for t in tokens if t]


TEXT_PRE_RULES: tuple[Callable[[str], str], ...] = (
    fix_html,
    replace_rep,
    replace_wrep,
    spec_add_spaces,
    rm_useless_spaces,
    replace_all_caps,
    replace_maj,
    lowercase,
)
"""The default pre-rules (fastai's `defaults.text_proc_rules`)."""

TEXT_POST_RULES: tuple[Callable[[list[str]], list[str]], ...] = (replace_space,)
"""The default post-rules (fastai's `defaults.text_postproc_rules`)."""


def apply_rules(x: str | Sequence[str], rules: Iterable[Callable] | None) -> str | list[str]:
    """Apply each rule of `rules` to `x` in turn (a string for pre-rules, a token list for post-rules)."""
    for rule in rules or ():
        x = rule(x)
    return x
