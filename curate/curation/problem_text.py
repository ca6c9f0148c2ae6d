"""Problem text normalised without losing content, and the math content of a problem.

Two questions are the *same problem* only when what they ask agrees. `canonical(text)` removes
what does not change the problem and keeps everything that does:

- not content (removed or unified): whitespace, the case of prose words, LaTeX spacing
  (`\\,` `\\;` `\\!` `\\ ` `\\quad` `~`), `\\left`/`\\right`/`\\big`..., `\\displaystyle`, the
  math delimiters (`$`, `$$`, `\\(` `\\)`, `\\[` `\\]` all become `$...$`), display-style
  aliases (`\\dfrac` = `\\frac`, `\\dbinom` = `\\binom`, `\\leq` = `\\le`, ...), one-character
  braces (`x^{2}` = `x^2`), punctuation at the end of a math segment or right after it, and
  trailing punctuation of the whole text;
- content (kept exactly): digits, operators, relations, variable names (their case too),
  exponents, fractions and every other LaTeX command, and prose words (lowercased).

`math_content(text)` is the ordered tuple of a problem's *math atoms*: each math segment of the
canonical text whole, and from the prose the numbers, number words (`three`, `twice`,
`fifth`), operator and relation symbols next to a number or a single-letter name, single-letter
names other than the articles `a`/`I`, LaTeX commands (not the answer-format `\\boxed` of an
instruction), and the words that turn one question into another (`smallest`/`largest`,
`sum`/`product`, `even`/`odd`, `not`, ...). Dedup uses it to
confirm a near-duplicate that MinHash proposes (see `curate.curation.dedup`), decontamination
to match short benchmark questions whole (see `curate.curation.decontaminate`).

`same_question(a, b)` is the second half of the near-duplicate rule: with the math content
equal, two wordings ask the same question unless a word of one was *replaced* by a different
word in the other (`in a row` / `in a circle`, `mean` / `median`, `sine` / `cosine`, `red` /
`blue`, `ordered` / `unordered`): inserted or deleted words, case, punctuation and spacing are
rewording; a substitution is rewording only between filler words, words that say how to
answer (`show your work` / `show your steps`), task verbs (`compute` / `calculate`) or a
word and its plural.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
from typing import NamedTuple

_UNICODE = {
    "\u2212": "-", "\u2013": "-", "\u2014": "-", "\u00d7": r"\times ", "\u00f7": r"\div ",
    "\u2264": r"\le ", "\u2265": r"\ge ", "\u2260": r"\ne ", "\u22c5": r"\cdot ",
    "\u00b7": r"\cdot ", "\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"',
    "\u03c0": r"\pi ", "\u221a": r"\sqrt ", "\u221e": r"\infty ", "\u00b0": r"^\circ ",
    "\u00a0": " ",
}
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))
# LaTeX that only changes spacing or sizing: never content.
_SPACING = re.compile(
    r"(\\\\)"                                          # a LaTeX line break: kept
    r"|\\[,;:!> ]"                                     # \\, \\; \\: \\! \\> and control space
    r"|\\(?:quad|qquad|thinspace|medspace|thickspace|enspace|negthinspace|"
    r"negmedspace|negthickspace|hspace\*?\{[^}]*\}|left|right|middle|bigl|bigr|Bigl|Bigr|"
    r"biggl|biggr|Biggl|Biggr|bigg|Bigg|big|Big|displaystyle|textstyle|limits|nolimits)"
    r"(?![a-zA-Z])|~")
# Commands that are another spelling of the same symbol.
_ALIASES = {"dfrac": r"\frac", "tfrac": r"\frac", "dbinom": r"\binom", "tbinom": r"\binom",
            "leq": r"\le", "geq": r"\ge", "neq": r"\ne", "leqslant": r"\le",
            "geqslant": r"\ge", "lt": "<", "gt": ">", "rightarrow": r"\to", "lbrace": r"\{",
            "rbrace": r"\}", "lvert": "|", "rvert": "|", "vert": "|", "mid": "|",
            "textrm": r"\text", "mbox": r"\text", "textnormal": r"\text"}
_ALIAS_RE = re.compile(r"\\(" + "|".join(sorted(_ALIASES, key=len, reverse=True))
                       + r")(?![a-zA-Z])")
_ONE_BRACE = re.compile(r"([\^_])\{([A-Za-z0-9])\}")
_ESCAPED_DOLLAR = re.compile(r"\\\$")
_DOLLAR_MARK = "\x01"
_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
# Three words in a row inside `$...$`: the dollars are currency (`$15 an hour ... $20`), not math.
# So is an amount followed by a word (`$5 and $6`).
_PROSE_IN_DOLLARS = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}\s+[A-Za-z]{2,}\s+[A-Za-z]{2,}"
                               r"|^\d[\d,.]*\s+[A-Za-z]{2,}")
_CMD_SPACE = re.compile(r"(\\[a-zA-Z]+)\s+(?=[a-zA-Z])")
_WS = re.compile(r"\s+")
_AROUND_SYMBOL = re.compile(r"\s*([^\w\s])\s*")
_CASED_WORD = re.compile(r"(\\?)([A-Za-z]*[A-Z][A-Za-z]*)")
_EDGE_PUNCT = ".,;:"
_SYMBOLS = re.compile(r"[^\w\s]")
_ASCII_SYMBOLS = {c: " " for c in range(128) if not (chr(c).isalnum() or chr(c) in "_ \t\n")}

NUMBER_WORDS = frozenset("""
zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety
hundred hundreds thousand thousands million millions billion half halves third thirds quarter
quarters fourth fifth sixth seventh eighth ninth tenth first second twice thrice once double
triple dozen dozens percent
""".split())
# Words that turn a question into a different one while every number stays the same.
KEY_WORDS = frozenset("""
minimum maximum min max smallest largest greatest least biggest fewest most fewer more less
lower upper highest lowest longest shortest sum product difference quotient remainder
positive negative nonnegative nonpositive even odd prime composite not no never none except
without cannot increase increased decrease decreased before after integer integers real
rational irrational complex all every some only area perimeter volume radius diameter
""".split())
_PROSE_ATOM = re.compile(
    r"\\[a-zA-Z]+"                                   # a LaTeX command in prose
    r"|\d+(?:[.,]\d+)*"                              # a number
    r"|[+\-*/^=<>%!]"                                 # an operator (kept next to an operand)
    r"|(?<![\w\\])[B-HJ-Zb-hj-z](?!\w)"               # a one-letter name (not a / I)
    r"|[a-z]{2,}")                                   # a word (kept if it is content)
# LaTeX commands that only say how to write the answer, not what is asked.
_FORMAT_COMMANDS = frozenset({"\\boxed", "\\fbox", "\\framebox"})
_OPERAND = re.compile(r"[\d()\[\]]|(?<![A-Za-z])[A-Za-z](?![A-Za-z])")


def _alias(m: re.Match) -> str:
    return _ALIASES[m.group(1)]


def latex_forms(text: str | None) -> str:
    """NFKC with math symbols spelled as LaTeX (`≤` -> `\\le`), spacing/sizing commands
    dropped, aliases unified (`\\dfrac` -> `\\frac`), one-character braces unwrapped. Case and
    everything else are left as they are (decontamination tokenises this form)."""
    t = text or ""
    if not t.isascii():
        t = unicodedata.normalize("NFKC", t)
        t = _UNICODE_RE.sub(lambda m: _UNICODE[m.group(0)], t)
    if "\\" in t or "~" in t:
        t = _SPACING.sub(_spacing, t)
        t = _ALIAS_RE.sub(_alias, t)
    if "{" in t:
        t = _ONE_BRACE.sub(r"\1\2", t)
    return t


def _spacing(m: re.Match) -> str:
    return m.group(1) or " "


def _math(seg: str) -> str:
    """A math segment: whitespace only where it ends a command name, edge punctuation off."""
    seg = _CMD_SPACE.sub("\\1\x00", seg)
    seg = _WS.sub("", seg).replace("\x00", " ")
    return seg.rstrip(_EDGE_PUNCT)


def _lower_word(m: re.Match) -> str:
    """A prose word lowercased; LaTeX commands and one-letter names (not A / I) keep case."""
    w = m.group(2)
    if m.group(1) or (len(w) == 1 and w not in "AI"):
        return m.group(0)
    return w.lower()


def _prose(seg: str) -> str:
    seg = seg.replace("$", _DOLLAR_MARK)          # an unpaired dollar is a currency sign
    seg = _CASED_WORD.sub(_lower_word, seg)
    seg = _WS.sub(" ", seg).strip()
    return _AROUND_SYMBOL.sub(r"\1", seg)


def _parts(text: str | None) -> list[tuple[bool, str]]:
    """[(is_math, normalised segment)] of a text, in order, empty segments left out."""
    t = latex_forms(text)
    t = _ESCAPED_DOLLAR.sub(_DOLLAR_MARK, t)
    out: list[tuple[bool, str]] = []
    pos = scan = 0
    after_math = False
    while (m := _MATH.search(t, scan)) is not None:
        inline = m.group(2)
        if inline is not None and _PROSE_IN_DOLLARS.search(inline):
            t = t[:m.start()] + _DOLLAR_MARK + t[m.start() + 1:]   # a currency sign
            scan = m.start() + 1
            continue
        prose = t[pos:m.start()]
        if after_math:
            prose = prose.lstrip().lstrip(_EDGE_PUNCT)
        p = _prose(prose)
        if p:
            out.append((False, p))
        seg = _math(next(g for g in m.groups() if g is not None))
        if seg:
            out.append((True, seg))
        pos = scan = m.end()
        after_math = True
    prose = t[pos:]
    if after_math:
        prose = prose.lstrip().lstrip(_EDGE_PUNCT)
    p = _prose(prose)
    if p:
        out.append((False, p))
    return out


class Forms(NamedTuple):
    """The three forms of one problem text, computed in one pass (see `forms`)."""
    canonical: str          # the exact-dedup key
    loose: str              # what MinHash shingles
    key: bytes              # digest of the math content


def canonical(text: str | None) -> str:
    """The content-preserving normal form of a problem statement (see the module docstring).

    `Compute $2+3$.` -> `compute $2+3$`; `compute \\( 2 + 3 \\)` gives the same;
    `Compute $2-3$.` does not.
    """
    return _canonical(_parts(text))


def _canonical(parts: list[tuple[bool, str]]) -> str:
    out = " ".join(f"${s}$" if is_math else s for is_math, s in parts)
    end = len(out)
    while end and (out[end - 1] in " .?,;:" or out[end - 1] == "!" and end > 1
                   and not out[end - 2].isdigit()):
        end -= 1
    return out[:end].replace(_DOLLAR_MARK, "\\$")


def _loose(canon: str) -> str:
    t = canon.lower()
    t = t.translate(_ASCII_SYMBOLS) if t.isascii() else _SYMBOLS.sub(" ", t)
    return " ".join(t.split())


def loose(text: str | None) -> str:
    """The canonical text lowercased with every symbol turned into a space: what MinHash
    shingles (it only proposes candidates; `math_content` decides)."""
    return _loose(canonical(text))


def _atoms(parts: list[tuple[bool, str]]) -> tuple[str, ...]:
    atoms: list[str] = []
    for is_math, seg in parts:
        if is_math:
            atoms.append(f"${seg}$")
            continue
        for m in _PROSE_ATOM.finditer(seg):
            a = m.group(0)
            if a[0].isalpha() and len(a) > 1 and a not in NUMBER_WORDS and a not in KEY_WORDS:
                continue
            if len(a) == 1 and a in "+-*/^=<>%!" and not _next_to_operand(seg, m.start()):
                continue
            if a in _FORMAT_COMMANDS:       # "put your final answer within \boxed{}"
                continue
            atoms.append(a)
    return tuple(atoms)


def math_content(text: str | None) -> tuple[str, ...]:
    """The ordered math atoms of a problem (see the module docstring).

    `Find the quotient when $x^9 + 1$ is divided by $x - 1.$` ->
    `("quotient", "$x^9+1$", "$x-1$")`; `Using the numbers [3, 5], make 8.` ->
    `("3,5", "8")`.
    """
    return _atoms(_parts(text))


def _digest(atoms: tuple[str, ...]) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for a in atoms:
        h.update(a.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.digest()


def content_key(text: str | None) -> bytes:
    """A 16-byte digest of `math_content(text)`: equal keys, equal math content."""
    return _digest(math_content(text))


def forms(text: str | None) -> Forms:
    """(canonical, loose, content key) of a text from one parse."""
    parts = _parts(text)
    canon = _canonical(parts)
    return Forms(canon, _loose(canon), _digest(_atoms(parts)))


def _next_to_operand(seg: str, i: int) -> bool:
    """Is the operator at `seg[i]` next to a number, a bracket or a one-letter name?"""
    return bool(i > 0 and _OPERAND.match(seg, i - 1) or _OPERAND.match(seg, i + 1))


# Words whose substitution never changes what a problem asks: articles, fillers, the verbs
# that set the task and the words of an answer-format instruction (how to answer, not what).
REWORDING_WORDS = frozenset("""
the a an this that these those it its is are be please now then so thus here just also
kindly following given let us we you your our me my
compute calculate evaluate find determine solve what which
show explain justify write give put express present state box boxed final answer answers
result results solution solutions step steps work reasoning reason working method
""".split())


def _substituted(old: list[str], new: list[str]) -> bool:
    """Does a replaced span swap a content word for a different one?"""
    a = {w for w in old if w not in REWORDING_WORDS}
    b = {w for w in new if w not in REWORDING_WORDS}
    if not a or not b:
        return False                      # an insertion or deletion around filler words
    a = {w[:-1] if w.endswith("s") and len(w) > 3 else w for w in a}
    b = {w[:-1] if w.endswith("s") and len(w) > 3 else w for w in b}
    return a != b


def same_question_loose(a: str, b: str) -> bool:
    """`same_question` on two `loose` forms."""
    if a == b:
        return True
    wa, wb = a.split(), b.split()
    ops = difflib.SequenceMatcher(None, wa, wb, autojunk=False).get_opcodes()
    return not any(tag == "replace" and _substituted(wa[i1:i2], wb[j1:j2])
                   for tag, i1, i2, j1, j2 in ops)


def same_question(a: str | None, b: str | None) -> bool:
    """Whether two problem texts with equal `math_content` ask the same question: True unless
    a word of one is replaced by a different word in the other (word-level alignment of the
    `loose` forms, Python's difflib). Inserted and deleted words are rewording (a planted
    copy); a substitution is rewording only among `REWORDING_WORDS` or between a word and its
    plural. `How many ways can 5 people sit in a row?` vs `... in a circle?` -> False;
    `... sit in a row?` vs `In how many ways can 5 people sit in a row?` -> True."""
    return same_question_loose(loose(a), loose(b))
