"""grader.textsafe: terminal escapes, bidi overrides and spreadsheet formulas are neutralised."""

import pytest

from grader.textsafe import clean_text, csv_cell, one_line

HOSTILE = [
    "\x1b[2J\x1b[H",                    # clear screen, cursor home
    "\x1b]0;owned\x07",                 # set the terminal title
    "\x1b]52;c;ZWNobyBoaQ==\x07",       # OSC 52 clipboard write
    "\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\",  # OSC 8 hidden link
    "\x9b31m",                          # 8-bit CSI
    "abc\u202edcba",                    # right-to-left override
    "\u2066x\u2069",                    # isolates
]


@pytest.mark.parametrize("text", HOSTILE)
def test_no_control_or_bidi_survives(text):
    for out in (clean_text(text), one_line(text), csv_cell(text)):
        assert not any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f for c in out), repr(out)
        assert not any(c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069" for c in out)


def test_clean_text_keeps_newlines_and_plain_text():
    assert clean_text("a\nb\tc é 数") == "a\nb\tc é 数"
    assert one_line("a\n\nb\tc") == "a b c"


def test_limits_mark_the_cut():
    assert clean_text("x" * 50, limit=10) == "x" * 9 + "\u2026"
    assert len(one_line("y" * 10_000, limit=200)) == 200


@pytest.mark.parametrize("text", ["=1+1", "+cmd", "-2+3", "@SUM(A1)", " =HYPERLINK()", "\t=x"])
def test_csv_formula_prefixes_are_defused(text):
    out = csv_cell(text)
    assert out.startswith("'"), out


def test_csv_numbers_pass_unchanged():
    assert csv_cell(-3.5) == -3.5 and csv_cell(0) == 0 and csv_cell(None) is None
    assert csv_cell("alice") == "alice"


@pytest.mark.parametrize("text, clean", [
    ("\x1b[2J\x1b[1;1Hok", "ok"),                               # CSI with parameters: nothing left over
    ("a\x1b]0;owned\x07b", "ab"),                               # OSC to BEL
    ("\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\", "link"),   # OSC to ST: the link text stays
    ("\x9b31mred", "red"),                                      # 8-bit CSI
    ("a\x1b(Bb", "ab"),                                         # charset switch
    ("\x1bPq#0;2;0;0;0\x1b\\x", "x"),                           # DCS (sixel) string
    ("plain [1;2] ]0; text", "plain [1;2] ]0; text"),           # look-alikes without ESC are text
])
def test_whole_escape_sequences_are_removed(text, clean):
    assert clean_text(text) == clean and one_line(text) == clean


def test_cleaning_is_linear_on_hostile_input():
    import time

    start = time.perf_counter()
    for text in ("\x1b]" * 100_000, "\x1b[" + "1;" * 100_000, "\x9b" * 200_000 + "x", "\x1b]8;;" * 50_000):
        assert "\x1b" not in clean_text(text) and "\x9b" not in one_line(text)
    assert time.perf_counter() - start < 5  # bound for 200 kB inputs (linear: ~0.2 s; quadratic: hours)
