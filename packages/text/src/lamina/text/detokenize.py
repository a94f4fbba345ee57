"""`detokenize`: turn rule-processed tokens back into readable text (what `Tokenizer.decode` returns).

Undone: `xxup`/`xxmaj` (case is restored), `xxrep n c` (the run of `c`), `xxwrep n w` (the repeated word),
`xxbos`/`xxeos`/`xxpad` (dropped) and `▁` inside a token (a space again). Kept as they are: `xxunk`,
`xxfld n`. Words are joined with English spacing: no space before closing punctuation (`. , ! ? ; : % ) ]
}`), clitics (`'s`, `n't`, ...) and runs of punctuation; none after `( [ { $ #`; none around `/`, `-`,
`\\` and newlines; straight quotes alternate between opening and closing.

What round-trips (measured on the shared sample: 2,000 review snippets and 30 Wikipedia articles):

- tokens -> text -> tokens: re-tokenizing the decoded text with the spaCy tokenizer and the default rules
  gives the same tokens for all but 3 of the 2,030 texts. The exceptions: a mixed-case word that
  lower-cases into a run (`xXx` -> `xxx`, which re-tokenizes as `xxrep 3 x`), a quote spaCy kept glued
  to a word (`."French`), and `;)` (an emoticon for spaCy) rebuilt from `;` and `)`;
- text -> tokens -> text: exact for 1,902 of the 2,000 snippets (95%), and for any text already in
  "canonical" form: single spaces, English punctuation spacing, case patterns the rules mark (lower,
  Capitalised, ALL CAPS). Lost on the way: mixed case (`iPhone` -> `iphone`), runs of whitespace,
  spaces around `/ - #` and before punctuation, HTML entities (decoded by `fix_html`), and whether a
  run of 3+ letters was glued to the *next* word (`"oooh"` comes back as `"oooo h"`; a run is glued to
  the previous word when both are alphanumeric: `"sooo"`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lamina.text.rules import BOS, EOS, PAD, SPACE_MARK, TK_MAJ, TK_REP, TK_UP, TK_WREP

__all__ = ["detokenize", "join_words"]

_DROPPED = frozenset({BOS, EOS, PAD})
_CASE_MARKS = {TK_UP: "up", TK_MAJ: "maj"}
_CLITICS = frozenset(
    c.replace("'", q) for c in ("'s", "'re", "'ve", "'ll", "'d", "'m", "n't") for q in ("'", "\u2019")
)
_CLOSING = frozenset(".,!?;:%)]}\u2026\u00bb\u201d\u2019")
_OPENING = frozenset({"(", "[", "{", "$", "#", "\u00ab", "\u201c", "\u00bf", "\u00a1"})
_TIGHT = frozenset({"/", "-", "\\"})


@dataclass
class _Piece:
    text: str
    case: str | None = None  # "up" or "maj"
    run: bool = False  # the expansion of `xxrep n c`


def _with_case(text: str, case: str | None) -> str:
    if case == "up":
        return text.upper()
    if case == "maj":
        i = next((k for k, c in enumerate(text) if c.isupper() or c.islower()), -1)  # first cased letter
        return text if i < 0 else text[:i] + text[i].upper() + text[i + 1 :]
    return text


def _expand(tokens: Sequence[str]) -> list[_Piece]:
    """Pieces of text with their case marks; repetition markers expanded, bookkeeping tokens dropped."""
    pieces: list[_Piece] = []
    case: str | None = None
    i, n = 0, len(tokens)
    while i < n:
        t = tokens[i].replace(SPACE_MARK, " ") if SPACE_MARK in tokens[i] else tokens[i]
        if t in _DROPPED or not t:
            i += 1
            continue
        if t in _CASE_MARKS:
            case = _CASE_MARKS[t]
            i += 1
            continue
        if t in (TK_REP, TK_WREP) and i + 2 < n and tokens[i + 1].isdigit():
            j, inner = i + 2, None
            if tokens[j] in _CASE_MARKS and j + 1 < n:
                inner, j = _CASE_MARKS[tokens[j]], j + 1
            count, word = int(tokens[i + 1]), tokens[j]
            if t == TK_REP:
                pieces.append(_Piece(_with_case(word, inner) * count, case, run=True))
            else:
                pieces.extend(_Piece(word, inner or case) for _ in range(count))
            case, i = None, j + 1
            continue
        pieces.append(_Piece(t, case))
        case, i = None, i + 1
    return pieces


def _has_cased(t: str) -> bool:
    return any(c.isupper() or c.islower() for c in t)


def _is_punct(t: str) -> bool:
    return bool(t) and not any(c.isalnum() or c.isspace() for c in t)


def _spacing(pieces: list[_Piece]) -> list[bool]:
    """For each piece, whether a space goes before it."""
    spaces: list[bool] = []
    glue_next = True  # nothing before the first piece
    open_double = open_single = False
    awaiting_letter = False  # a case-marked word has had no cased letter yet
    prev = ""
    for k, p in enumerate(pieces):
        t = p.text
        glue_left = glue_right = False
        if "\n" in t:
            glue_left = glue_right = True
        elif t.lower() in _CLITICS:
            glue_left = True
        elif t == '"':
            glue_left, glue_right = open_double, not open_double
            open_double = not open_double
        elif t in ("'", "\u2018"):
            if open_single or prev[-1:].lower() == "s" and t == "'":
                glue_left, open_single = True, False
            else:
                glue_right, open_single = True, True
        elif t in _TIGHT:  # glued only inside a word: "well-made", "9/10"
            after = pieces[k + 1] if k + 1 < len(pieces) else None
            glue_left = glue_right = (
                prev[-1:].isalnum() and after is not None and after.case is None and after.text[:1].isalnum()
            )
        elif all(c in _CLOSING for c in t):
            # separate tokens of one punctuation mark stay apart (else they read as one run), and a
            # closing mark right after an opening one keeps its space: "( ;"
            glue_left = not (_is_punct(prev) and (prev[-1] == t[0] or prev in _OPENING))
            if prev in _OPENING:
                glue_next = False
        elif t in _OPENING:
            glue_right = True
        elif p.run and prev[-1:].isalnum() and t[:1].isalnum():
            glue_left = True
        space = not (glue_next or glue_left)
        if p.case is not None and not space and prev[-1:].isalnum():
            space = True  # a case mark starts a word: never glued to a word before it
        if p.case is None and awaiting_letter:
            space = False  # the word marked before has its letter in this piece or a later one ("3G")
        spaces.append(space)
        if p.case is not None or awaiting_letter:
            awaiting_letter = not _has_cased(t)
        glue_next, prev = glue_right, t
    return spaces


def join_words(words: Sequence[str]) -> str:
    """Join words with English spacing (see the module docstring); no marker is interpreted."""
    pieces = [_Piece(w) for w in words if w]
    return "".join((" " if s else "") + p.text for p, s in zip(pieces, _spacing(pieces)))


def detokenize(tokens: Sequence[str]) -> str:
    """Readable text from tokens made with the default rules: markers undone, words joined.

    `xxup` upper-cases the marked token and the tokens glued to it (`xxup do n't` -> `DON'T`); `xxmaj`
    capitalises the first letter of the marked token.
    """
    pieces = _expand(tokens)
    spaces = _spacing(pieces)
    out: list[str] = []
    upper = maj = False  # inside a word whose start was marked xxup / still to capitalise (xxmaj)
    prev = ""
    for p, space in zip(pieces, spaces):
        if space or "\n" in p.text or "\n" in prev:
            upper = maj = False
        if p.case == "up":
            upper = True
        elif p.case == "maj":
            maj = True
        text = p.text
        if upper:
            text = text.upper()
        elif maj:
            text = _with_case(text, "maj")
            maj = not _has_cased(text)
        out.append((" " if space else "") + text)
        prev = p.text
    return "".join(out)
