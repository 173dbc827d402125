"""Where a line may break: BudouX phrases, 禁則 rules, and tokens kept whole.

Japanese and Chinese have no spaces between words, so breaking "anywhere"
splits words (紛/失, 手数/料).  BudouX (a small maintained model from Google,
with ja, zh-hans and zh-hant models) gives phrase boundaries; on top of them:

* 禁則 (JIS X 4051, simplified): no closing bracket, 。、, small kana or
  prolonged-sound mark at the start of a line, no opening bracket at its end;
* dates (2033年2月17日), numbers (1,500円), phone numbers (0120-95-0178),
  times (8:30〜17:15 is two tokens), Latin words and URLs are never split;
* Korean and Latin text break at spaces only.

Only when one unbreakable piece is wider than the whole line is it cut by
characters, and even then not against the 禁則 rules where avoidable.
"""

from __future__ import annotations

import functools
import re
from typing import Callable

NO_LINE_START = frozenset(
    "、。，．,.:;：；!?！？)）]］}｝」』】〕〉》〗〙〛’”»›%％‰℃°′″"
    "ーゝゞヽヾ々〻〜～・…‥゠"
    "ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ")
NO_LINE_END = frozenset("(（[［{｛「『【〔〈《〖〘〚‘“«‹")

NO_BREAK = frozenset("\u00a0\u202f\u2007\u2060")   # no-break, narrow no-break, figure space, word joiner
_NUM = r"[0-9０-９]+(?:[,.:/\-－‐][0-9０-９]+)*"
_KEEP = re.compile(
    r"(?:https?://|www\.)[^\s　、。，）」』】]+"               # URLs
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"                             # mail addresses
    rf"|(?:令和|平成|昭和|大正|明治)(?:{_NUM}|元)年(?:（{_NUM}年）)?\s?{_NUM}\s?月(?:\s?{_NUM}\s?日)?"
    #                                                            令和9年3月15日, 令和9年（2027年）3月15日
    rf"|{_NUM}\s?年\s?{_NUM}\s?月(?:\s?{_NUM}\s?日)?"           # 2033年2月17日, 2033年2月
    rf"|{_NUM}\s?月\s?{_NUM}\s?日"                               # 2月17日
    rf"|{_NUM}[円回日年月時分秒歳件枚桁個%％号条]?"              # 1,500円, 0120-95-0178, 10回
    r"|[A-Za-z][A-Za-z0-9'’.\-]*"                                # Latin words, PIN, JPKI
    r"|[（(][^（()）\n]{1,9}[）)]"                                # short asides: （全 10 回）
    r"|[●○*＊]+[0-9]*"                                             # a masked number: ●●●●, ****8901
)
_SPACE_LANGS = ("en", "ko", "vi", "ne", "pt_BR", "fil")   # words are separated by spaces
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def _number_spacing(text: str, i: int) -> bool:
    """The spaces before ``text[i]`` separate a number from a CJK word (either side)."""
    j = i - 1
    while j > 0 and text[j].isspace():
        j -= 1
    a, b = text[j], text[i]
    return (a.isdigit() and bool(_CJK.match(b))) or (bool(_CJK.match(a)) and b.isdigit())


def detect_lang(text: str) -> str:
    """A best guess when the caller does not say: kana → ja, hangul → ko, Han → zh, else en."""
    if re.search(r"[\u3040-\u30ff]", text):
        return "ja"
    if re.search(r"[\uac00-\ud7af\u1100-\u11ff]", text):
        return "ko"
    if re.search(r"[\u3400-\u9fff]", text):
        return "zh"
    return "en"


@functools.lru_cache(maxsize=4)
def _parser(lang: str):
    """The BudouX model for ``lang`` (loaded once; the models are data, not personal data)."""
    import budoux
    if lang == "zh":
        return budoux.load_default_simplified_chinese_parser()
    if lang == "zh-hant":
        return budoux.load_default_traditional_chinese_parser()
    return budoux.load_default_japanese_parser()


def _phrase_bounds(text: str, lang: str) -> set[int]:
    out: set[int] = set()
    pos = 0
    for phrase in _parser(lang).parse(text):
        pos += len(phrase)
        out.add(pos)
    return out


def break_points(text: str, lang: str | None = None) -> list[int]:
    """Indices i (0 < i < len) where a line may end before ``text[i]`` (one paragraph)."""
    lang = lang or detect_lang(text)
    n = len(text)
    allowed = {i for i in range(1, n)
               if text[i - 1].isspace() and text[i - 1] not in NO_BREAK and not text[i].isspace()}
    if lang not in _SPACE_LANGS and _CJK.search(text):
        for i in _phrase_bounds(text, lang):
            while i < n and text[i].isspace():      # a break at spaces comes after them
                i += 1
            allowed.add(i)
        # Between two CJK characters BudouX may miss a boundary after 。、: allow it.
        allowed |= {i for i in range(1, n) if text[i - 1] in "。、，．！？"}
        # A range "令和9年2月15日～令和9年4月15日" may break after its wave dash (JIS X 4051).
        allowed |= {i for i in range(1, n) if text[i - 1] in "～〜"}
        # "あと 10 回": in Japanese/Chinese a space beside a number is spacing, not a word gap.
        allowed = {i for i in allowed if not (i < n and text[i - 1].isspace() and _number_spacing(text, i))}
    inside = _keep_inside(text)
    ok = []
    for i in sorted(allowed):
        if i <= 0 or i >= n or i in inside:
            continue
        if text[i] in NO_LINE_START or text[i - 1] in NO_LINE_END:
            continue
        ok.append(i)
    return ok


def segments(text: str, lang: str | None = None) -> list[str]:
    """``text`` (one paragraph) cut at its break points; ``"".join`` gives it back."""
    out, prev = [], 0
    for i in break_points(text, lang):
        out.append(text[prev:i])
        prev = i
    if prev < len(text) or not out:
        out.append(text[prev:])
    return out


def _keep_inside(text: str) -> set[int]:
    inside: set[int] = set()
    for m in _KEEP.finditer(text):
        inside.update(range(m.start() + 1, m.end()))
    return inside


def _hard_cut(piece: str, measure: Callable[[str], float], width: float) -> int:
    """How many characters of an over-wide ``piece`` go on this line (at least one).

    Prefers a cut that keeps dates and numbers whole and obeys 禁則, then one
    that obeys 禁則, then any.
    """
    k = len(piece)
    while k > 1 and measure(piece[:k]) > width:
        k -= 1
    inside = _keep_inside(piece)

    def kinsoku_ok(j: int) -> bool:
        return piece[j] not in NO_LINE_START and piece[j - 1] not in NO_LINE_END

    for good in (lambda j: kinsoku_ok(j) and j not in inside, kinsoku_ok):
        for j in range(k, 0, -1):
            if j < len(piece) and good(j):
                return j
    return k


def wrap(text: str, measure: Callable[[str], float], width: float, lang: str | None = None) -> list[str]:
    """Lines of ``text`` each at most ``width`` wide (by ``measure``); newlines kept.

    A line never ends in the spaces it was broken at.  A character wider than
    ``width`` on its own still gets a line of its own (the caller sees it is
    too wide by measuring).
    """
    lines: list[str] = []
    for para in text.split("\n"):
        cur = ""
        for seg in segments(para, lang):
            if measure((cur + seg).rstrip()) <= width:
                cur += seg
                continue
            if cur.strip():
                lines.append(cur.rstrip())
                cur = seg.lstrip()
            else:
                cur = (cur + seg).lstrip()
            while len(cur) > 1 and measure(cur.rstrip()) > width:   # one piece wider than a line
                k = _hard_cut(cur, measure, width)
                lines.append(cur[:k].rstrip())
                cur = cur[k:].lstrip()
        lines.append(cur.rstrip())
    return lines


def kinsoku_violations(lines: list[str]) -> list[str]:
    """Lines that break a 禁則 rule at a soft break (for tests over recorded layouts)."""
    bad = []
    for n, line in enumerate(lines):
        s = line.strip()
        if not s:
            continue
        if n > 0 and s[0] in NO_LINE_START and lines[n - 1].strip():
            bad.append(f"line {n} starts with {s[0]!r}: {line!r}")
        if n + 1 < len(lines) and s[-1] in NO_LINE_END and lines[n + 1].strip():
            bad.append(f"line {n} ends with {s[-1]!r}: {line!r}")
    return bad
