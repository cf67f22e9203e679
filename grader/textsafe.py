"""Neutralise student-derived text before a person sees it (terminal, logs, CSV).

Everything that started in a submission (exception text, a notebook's file name, a student
id taken from an archive entry, a test message that quotes student values) can carry terminal
escape sequences (cursor moves, title sets, OSC 52 clipboard writes, OSC 8 hidden links),
bidi overrides that reorder what a reader sees, or a spreadsheet formula. These helpers are
the one place that strips them; callers: the CLI's progress and summaries, batch summaries,
CSV and LMS exports. HTML pages escape on their own (jinja2 autoescape) and also use
`clean_text` for the visible characters.

Pure functions, standard library only.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls except tab and newline, DEL, C1 controls (0x80-0x9f, which include the 8-bit
# CSI and OSC introducers), bidi embeddings/overrides/isolates and marks, and the
# line/paragraph separators that some terminals and viewers treat as newlines. Lone surrogates
# are replaced (see _SURROGATES).
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]"
)
#: Lone surrogates (a JSON "\\ud800" escape, an undecodable file name read with
#: surrogateescape): no UTF-8 encoder accepts them, so a page or file holding one cannot be
#: written. They become U+FFFD, the replacement character, wherever student text is shown.
_SURROGATES = re.compile("[\ud800-\udfff]")
#: Whole escape sequences, removed before the characters above so that no parameters are left
#: as litter: CSI (7- and 8-bit) up to its final byte; OSC, DCS, SOS, PM and APC strings up to
#: BEL or ST; other two-byte escapes. Linear: each match starts at an ESC or C1 introducer.
_SEQUENCES = re.compile(
    "(?:\x1b\\[|\x9b)[0-?]*[ -/]*[@-~]"
    "|(?:\x1b[\\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\\\|\x9c)"
    "|\x1b[ -/]*[0-~]"
)
_NEWLINES = re.compile(r"[\r\n\t]+")
#: What a spreadsheet may read as the start of a formula (OWASP's list).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def no_surrogates(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD: encodable as UTF-8, all else kept."""
    return _SURROGATES.sub("\ufffd", text)


def clean_text(value: Any, limit: int | None = None) -> str:
    """`value` as text with control characters and bidi overrides removed; newlines and tabs kept.

    With `limit`, at most that many characters are kept and a cut is marked with an ellipsis.
    """
    text = _UNSAFE.sub("", _SEQUENCES.sub("", no_surrogates(value if isinstance(value, str) else str(value))))
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "\u2026"
    return text


def one_line(value: Any, limit: int = 200) -> str:
    """`clean_text` on one line: runs of newlines and tabs become one space; at most `limit` chars."""
    text = _NEWLINES.sub(" ", _UNSAFE.sub("", _SEQUENCES.sub("", no_surrogates(value if isinstance(value, str) else str(value)))))
    text = text.strip()
    return clean_text(text, limit)


def csv_cell(value: Any, limit: int | None = 32_000) -> Any:
    """A value safe to write as one CSV cell: numbers pass as they are; text is cleaned and
    a leading formula character is defused with a quote, as spreadsheets expect."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = _NEWLINES.sub(" ", clean_text(value, limit))
    if text.startswith(_FORMULA_START) or text.lstrip().startswith(_FORMULA_START[:4]):
        text = "'" + text
    return text


#: Code points a UTF-8 encoder (a database driver, a file write) refuses: lone surrogates, as
#: os.listdir gives for file names that are not UTF-8 (surrogateescape) or "\ud800" in an
#: exception message.
_SURROGATES = re.compile("[\ud800-\udfff]")


def storable(value: Any, limit: int | None = None) -> str:
    """`value` as text any database and UTF-8 file accepts: each lone surrogate becomes U+FFFD,
    NUL bytes (refused by PostgreSQL) are dropped; with `limit`, at most that many characters,
    a cut marked with an ellipsis. Everything else is kept as it is (this is not `clean_text`)."""
    text = value if isinstance(value, str) else str(value)
    text = _SURROGATES.sub("\ufffd", text).replace("\x00", "")
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "\u2026"
    return text
