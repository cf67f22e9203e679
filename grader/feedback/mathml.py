"""TeX formulas of notebook markdown as MathML, which the browser renders itself: no script,
the page's CSP unchanged.

The markdown renderer (grader.feedback.render) turns `$...$` and `$$...$$` into a `token`:
the TeX, base64-encoded between private-use delimiters, which the user-HTML sanitiser keeps
as plain text. After that sanitiser has run, `Formulas.substitute` replaces each token by
latex2mathml's MathML of its TeX, cleaned again by an allow-list of presentation-MathML
elements and attributes of its own (no mglyph, malignmark, annotation-xml, maction, no
links, nothing of HTML), so user HTML can never bring MathML in. A formula that is too long,
that latex2mathml cannot convert, or that comes after the page's budget, is shown as its TeX
source, escaped. Callers: grader.feedback.render. Calls latex2mathml and nh3 only.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from typing import Any

#: Characters of TeX in one formula converted; a longer one is shown as source.
MAX_TEX_CHARS = 2_000
#: Formulas converted on one page; later ones are shown as source.
MAX_FORMULAS = 1_000

_OPEN, _CLOSE = "\ue000", "\ue001"
_TOKEN_RE = re.compile(_OPEN + r"([ib])([A-Za-z0-9+/=]{0,%d})" % (4 * MAX_TEX_CHARS + 8) + _CLOSE)

MATH_TAGS = frozenset(
    """math mrow mi mn mo ms mtext mspace msup msub msubsup mfrac msqrt mroot mover munder
    munderover mtable mtr mtd mstyle mpadded mphantom menclose merror semantics""".split()
)
_MATH_ATTRS = {
    "math": {"display"},
    "mo": {"stretchy", "fence", "separator", "lspace", "rspace", "largeop", "movablelimits", "form", "minsize",
           "maxsize", "symmetric", "accent"},
    "mfrac": {"linethickness"},
    "mstyle": {"displaystyle", "scriptlevel"},
    "mspace": {"width", "height", "depth"},
    "mover": {"accent"},
    "munder": {"accentunder"},
    "munderover": {"accent", "accentunder"},
    "mtable": {"columnalign", "rowspacing", "columnspacing"},
    "mtd": {"columnalign"},
    "menclose": {"notation"},
    "mpadded": {"width", "height", "depth", "lspace", "voffset"},
}


def token(tex: str, display: bool) -> str:
    """What the markdown renderer writes for one formula (inert text to the sanitiser)."""
    return _OPEN + ("b" if display else "i") + base64.b64encode(tex.encode("utf-8", "replace")).decode() + _CLOSE


_cleaner: Any = None


def _clean(mathml: str) -> str:
    global _cleaner
    if _cleaner is None:
        import nh3

        _cleaner = nh3.Cleaner(tags=set(MATH_TAGS), clean_content_tags={"script", "style"},
                               attributes={k: set(v) for k, v in _MATH_ATTRS.items()}, strip_comments=True,
                               url_schemes=set(), link_rel=None)
    return _cleaner.clean(mathml)


def _source(tex: str, display: bool) -> str:
    delimiter = "$$" if display else "$"
    return f'<code class="dlg-tex">{html.escape(delimiter + tex + delimiter)}</code>'


class Formulas:
    """Converts the formulas of one page within its budget."""

    def __init__(self, budget: int = MAX_FORMULAS) -> None:
        self.left = budget
        self.as_source = 0

    def mathml(self, tex: str, display: bool) -> str:
        """Cleaned MathML of `tex`, or its escaped source."""
        if len(tex) > MAX_TEX_CHARS or self.left <= 0:
            self.as_source += 1
            return _source(tex, display)
        self.left -= 1
        try:
            from latex2mathml.converter import convert

            out = _clean(convert(tex, display="block" if display else "inline"))
        except Exception:  # TeX it cannot read (or nests too deeply): the source is still shown
            out = ""
        if not out.startswith("<math"):
            self.as_source += 1
            return _source(tex, display)
        return out

    def substitute(self, sanitised: str, as_tex: bool = False) -> str:
        """`sanitised` HTML with every formula token replaced (see the module docstring); with
        `as_tex`, by its escaped TeX (for HTML shown as source text)."""
        def one(m: re.Match) -> str:
            try:
                tex = base64.b64decode(m.group(2), validate=True).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                return ""
            display = m.group(1) == "b"
            if as_tex:
                delimiter = "$$" if display else "$"
                return html.escape(delimiter + tex + delimiter)
            return self.mathml(tex, display)

        return _TOKEN_RE.sub(one, sanitised)
