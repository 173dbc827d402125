"""The one line breaker (kiosk.text): the issue's mis-breaks never happen, at any width.

Widths are swept character by character with a monospace measure (``len``)
and with the receipt's real CJK font, so every possible line end is tried.
"""

from __future__ import annotations

import pytest

from kiosk.text import NO_LINE_END, NO_LINE_START, break_points, kinsoku_violations, segments, wrap

LOST = "マイナ免許証を紛失したときは、警察署等で再記録します。手数料は1,500円です（写真が必要です）。"
DATE = "有効期限は「2033年2月17日」です。期限の3か月前から更新できます。"
PHONE = "一時利用停止はマイナンバー総合フリーダイヤル 0120-95-0178（24時間365日）へ。https://www.kojinbango-card.go.jp/ も参照。"
ZH = "请在有效期内更新证书，手续费为1,500日元（2033年2月17日之前）。"


def _whole(lines: list[str], word: str) -> bool:
    """``word`` is not split across two consecutive lines."""
    for a, b in zip(lines, lines[1:]):
        for k in range(1, len(word)):
            if a.endswith(word[:k]) and b.startswith(word[k:]):
                return False
    return True


def sweep(text, lang="ja", widths=range(6, 60)):
    for w in widths:
        lines = wrap(text, len, w, lang)
        assert "".join(lines) == text.replace(" ", "") or "".join(lines).replace(" ", "") == text.replace(" ", "")
        yield w, lines


@pytest.mark.parametrize("word", ["紛失", "手数料", "1,500円", "免許証"])
def test_words_are_not_split(word):
    for w, lines in sweep(LOST):
        assert _whole(lines, word), (w, lines)


def test_date_is_kept_whole_when_it_fits():
    for w, lines in sweep(DATE, widths=range(12, 60)):     # 「2033年2月17日」 is 12 wide
        assert _whole(lines, "2033年2月17日"), (w, lines)
        assert not kinsoku_violations(lines), (w, lines)


def test_no_closing_bracket_or_small_kana_starts_a_line():
    for text in (LOST, DATE, PHONE):
        for w, lines in sweep(text):
            assert not kinsoku_violations(lines), (w, lines)
            for line in lines[1:]:
                assert line[:1] not in NO_LINE_START, (w, lines)
            for line in lines[:-1]:
                assert line[-1:] not in NO_LINE_END, (w, lines)


def test_phone_and_url_stay_together():
    for w, lines in sweep(PHONE, widths=range(34, 80)):    # the URL is 34 characters
        assert _whole(lines, "0120-95-0178"), (w, lines)
        assert _whole(lines, "https://www.kojinbango-card.go.jp/"), (w, lines)


def test_chinese_uses_phrases_and_keeps_numbers():
    for w, lines in sweep(ZH, "zh", widths=range(12, 40)):   # （2033年2月17日 is 11 wide
        assert _whole(lines, "1,500"), (w, lines)
        assert _whole(lines, "2033年2月17日"), (w, lines)
        assert not kinsoku_violations(lines), (w, lines)


def test_korean_and_english_break_at_spaces_only():
    ko = "카드를 분실한 경우 즉시 이용 정지를 신청하십시오"
    for w in range(8, 30):
        for line in wrap(ko, len, w, "ko"):
            assert line in ko and not line.startswith(" ")
        assert all(tok in ko.split() for line in wrap(ko, len, w, "ko") for tok in line.split())
    en = "Suspend the card first: call 0120-95-0178 (24 h)."
    assert wrap(en, len, 20, "en") == ["Suspend the card", "first: call", "0120-95-0178 (24 h)."]


def test_breaking_per_character_would_fail_these_rules():
    """The checks can fail: a naive per-character wrap splits 紛失 and starts a line with ）."""
    naive = [[text[i:i + w] for i in range(0, len(text), w)] for text in (LOST, DATE) for w in range(6, 30)]
    assert any(not _whole(lines, "紛失") for lines in naive)
    assert any(not _whole(lines, "手数料") for lines in naive)
    assert any(not _whole(lines, "2033年2月17日") for lines in naive)
    assert any(kinsoku_violations(lines) for lines in naive)
    assert kinsoku_violations(["手数料は（", "1,500円）"]) and kinsoku_violations(["あ", "）です"])


def test_segments_join_back_and_break_points_respect_kinsoku():
    for text in (LOST, DATE, PHONE, ZH):
        assert "".join(segments(text)) == text
        for i in break_points(text):
            assert text[i] not in NO_LINE_START and text[i - 1] not in NO_LINE_END


def test_newlines_are_kept_and_too_wide_pieces_are_cut():
    assert wrap("一行目\n二行目", len, 10) == ["一行目", "二行目"]
    lines = wrap("0120950178012095", len, 5)
    assert all(len(x) <= 5 for x in lines) and "".join(lines) == "0120950178012095"


def test_with_a_real_font_the_lines_fit():
    from kiosk.printer import fonts
    font = fonts.load("ja", 24)
    for width in (120, 200, 333, 500):
        lines = wrap(LOST + DATE + PHONE, font.getlength, width, "ja")
        assert all(font.getlength(x) <= width for x in lines)
        assert not kinsoku_violations(lines)
        assert _whole(lines, "紛失") and _whole(lines, "手数料")


ERA_RANGE = "更新期間は令和9年2月15日～令和9年（2027年）4月15日です。"


def test_era_dates_are_kept_whole_and_a_range_breaks_after_its_wave_dash():
    """Licence dates come in the era (issue #16): 「令和 / 9年4月15日」 must not be split, and a
    renewal window may break only between its two dates (after ～), not inside either."""
    for w, lines in sweep(ERA_RANGE, widths=range(20, 60)):
        assert _whole(lines, "令和9年2月15日"), (w, lines)
        assert _whole(lines, "令和9年（2027年）4月15日"), (w, lines)
        assert not kinsoku_violations(lines), (w, lines)
    assert "更新期間は令和9年2月15日～" in segments(ERA_RANGE, "ja")[0] + segments(ERA_RANGE, "ja")[1]
    assert any(seg.endswith("～") for seg in segments(ERA_RANGE, "ja"))
    assert segments("令和元年5月1日から", "ja")[0].startswith("令和元年5月1日")
