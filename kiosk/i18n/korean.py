"""Korean particles that depend on the noun before them (이/가, 을/를, 은/는, 과/와, 으로/로).

A catalogue writes ``{pin_name:이/가}``; the particle is chosen from the last
sound of the value, so a PIN name ending in a vowel gets 가 and one ending in
a final consonant (받침) gets 이.  A trailing parenthetical (``비밀번호(숫자
4자리)``) is skipped: the particle follows the noun, as in Korean writing.
Digits are read as Sino-Korean numbers (1 일, 2 이, ...).
"""

from __future__ import annotations

import re

# spec -> (after a final consonant, after a vowel)
PARTICLES = {"이/가": ("이", "가"), "을/를": ("을", "를"), "은/는": ("은", "는"),
             "과/와": ("과", "와"), "으로/로": ("으로", "로"), "이에요/예요": ("이에요", "예요")}
# Final consonant of each digit's Sino-Korean reading: 영 일 이 삼 사 오 육 칠 팔 구.
_DIGIT_FINAL = {"0": 21, "1": 8, "2": 0, "3": 16, "4": 0, "5": 0, "6": 21, "7": 8, "8": 8, "9": 0}
_RIEUL = 8                      # ㄹ: takes 로, not 으로
_TRAILING = re.compile(r"(\s*[(（][^()（）]*[)）]\s*)+$")


def final_consonant(word: str) -> int | None:
    """The index of the last syllable's final consonant (0 = none), or None if not Korean/digit."""
    word = _TRAILING.sub("", word).rstrip(" .,!?'\"」』")
    if not word:
        return None
    last = word[-1]
    if "가" <= last <= "힣":
        return (ord(last) - 0xAC00) % 28
    if last in _DIGIT_FINAL:
        return _DIGIT_FINAL[last]
    return None


def particle(word: str, spec: str) -> str:
    """The form of the particle ``spec`` (e.g. ``"이/가"``) that follows ``word``."""
    with_final, without = PARTICLES[spec]
    final = final_consonant(word)
    if final is None:
        return spec.replace("/", "(") + ")" if spec != "으로/로" else "(으)로"
    if spec == "으로/로" and final == _RIEUL:
        return without
    return with_final if final else without
