"""Sanitising student HTML for the feedback page: the allow-list, its cost guard, the tripwire.

Markdown cells (after rendering) and text/html or text/markdown outputs are hostile HTML.
`clean_html` keeps only the allow-list below (nh3, the binding of the Rust `ammonia`
sanitiser): disallowed tags are removed (their text stays, as text; the content of <script>
and <style> goes too), comments are dropped, attributes go through `_allow_attribute`, links
must be http(s), mailto, in-page or relative, and images only inline `data:image/...`.
`Sanitiser` puts a cost and depth guard in front of it (html5ever's tree building is
quadratic on deep or misnested markup), and `unsafe_html` checks rendered HTML once more for
anything that could run or load something.

Standard library at import; nh3 is imported on first use. Callers: grader.feedback.render.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any

#: User HTML (a markdown cell, a text/html or text/markdown output) costing more than this
#: to sanitise, or nested deeper, is shown as source text. The cost is counted as
#: tags + entities / 4 (see `html_cost`); html5ever's adoption-agency and nesting work grows
#: quadratically with depth (10,000 nested <div> take ~0.8 s), so both are capped.
MAX_HTML_COST = 4_000
MAX_HTML_DEPTH = 100
#: Sanitiser cost allowed for one page; later user HTML is shown as source text.
MAX_PAGE_HTML_COST = 12_000

#: Tags that user HTML may keep. Anything else is removed (its text is kept as text).
ALLOWED_TAGS = frozenset(
    """a abbr b blockquote br caption code col colgroup dd del details div dl dt em
    figcaption figure h1 h2 h3 h4 h5 h6 hr i img ins kbd li mark ol p pre q s samp small
    span strong sub summary sup table tbody td tfoot th thead tr u ul var""".split()
)
_COMMON_ATTRS = frozenset({"class", "id", "title"})
_TAG_ATTRS = {
    "a": frozenset({"href"}),
    "img": frozenset({"src", "alt", "width", "height"}),
    "td": frozenset({"colspan", "rowspan", "align"}),
    "th": frozenset({"colspan", "rowspan", "align", "scope"}),
    "col": frozenset({"span"}),
    "colgroup": frozenset({"span"}),
    "ol": frozenset({"start", "type"}),
    "details": frozenset({"open"}),
}
_URL_JUNK_RE = re.compile(r"[\x00-\x20\x7f-\xa0\u1680\u180e\u2000-\u200f\u2028\u2029\u202f\u205f\u3000\ufeff]+")
_DATA_IMAGE_RE = re.compile(r"data:image/(png|jpeg|jpg|gif|webp|svg\+xml)[;,]")
_SAFE_HREF_RE = re.compile(r"(https?:|mailto:|#)")
_URL_SCHEME_RE = re.compile(r"[a-z][a-z0-9+.\-]*:")


def _normalise_url(value: str) -> str:
    return _URL_JUNK_RE.sub("", html.unescape(value)).lower()


def _allow_attribute(tag: str, name: str, value: str) -> bool:
    """Whether user HTML may keep attribute `name="value"` on `tag`."""
    if name not in _COMMON_ATTRS and name not in _TAG_ATTRS.get(tag, ()):
        return False
    if name == "class":
        # our own page's classes start with "dlg": user content may not borrow them
        return not any(c.lower().startswith("dlg") for c in value.split())
    if name == "id":
        # "cell-<n>" anchors belong to the page
        v = value.strip().lower()
        return not (v.startswith("cell") or v.startswith("dlg"))
    if name == "href":
        url = _normalise_url(value)
        if _SAFE_HREF_RE.match(url):
            return True
        return not _URL_SCHEME_RE.match(url)  # relative links; no other scheme
    if name == "src":
        return bool(_DATA_IMAGE_RE.match(_normalise_url(value)))
    return True


def _attribute_filter(tag: str, name: str, value: str) -> str | None:
    return value if _allow_attribute(tag, name, value) else None


_cleaner: Any = None


def clean_html(fragment: Any) -> str:
    """Sanitise user HTML with the allow-list (see the module docstring)."""
    global _cleaner
    if _cleaner is None:
        import nh3

        attributes = {tag: set(names) for tag, names in _TAG_ATTRS.items()}
        attributes["*"] = set(_COMMON_ATTRS)
        _cleaner = nh3.Cleaner(
            tags=set(ALLOWED_TAGS),
            clean_content_tags={"script", "style"},
            attributes=attributes,
            attribute_filter=_attribute_filter,
            strip_comments=True,
            url_schemes={"http", "https", "mailto", "data"},
        )
    text = fragment.decode("utf-8", "replace") if isinstance(fragment, bytes) else str(fragment)
    return _cleaner.clean(text)


_TAG_RE = re.compile(r"<(/?)([A-Za-z][^\s/>]*)")
_VOID_TAGS = frozenset("area base br col embed hr img input link meta source track wbr".split())


def html_cost(fragment: str) -> tuple[int, int]:
    """(cost to sanitise, deepest nesting) of `fragment`, roughly, without parsing it."""
    cost = fragment.count("<") + fragment.count("&") // 4
    depth = deepest = 0
    if cost <= MAX_HTML_COST:
        for m in _TAG_RE.finditer(fragment):
            if m.group(1):
                depth = max(depth - 1, 0)
            elif m.group(2).lower() not in _VOID_TAGS:
                depth += 1
                deepest = max(deepest, depth)
    return cost, deepest


def as_source(text: str, why: str, what: str = "HTML") -> str:
    """`text` shown as escaped source under a one-line note (inert whatever `text` is)."""
    return (f'<div class="dlg-note">{html.escape(what)} shown as source: {html.escape(why)}</div>'
            f'<pre class="dlg-html-source">{html.escape(text)}</pre>')


class Sanitiser:
    """`clean_html` within one page's budget.

    User HTML that is too large or too deeply nested for the sanitiser, or that comes
    after the page's budget is spent, is shown as escaped source text instead (`as_text`
    counts those)."""

    def __init__(self, page_cost: int = MAX_PAGE_HTML_COST) -> None:
        self.cost_left = page_cost
        self.as_text = 0

    def __call__(self, fragment: Any) -> str:
        text = fragment.decode("utf-8", "replace") if isinstance(fragment, bytes) else str(fragment)
        cost, depth = html_cost(text)
        if cost > MAX_HTML_COST or depth > MAX_HTML_DEPTH or cost > self.cost_left:
            self.as_text += 1
            if cost > MAX_HTML_COST or depth > MAX_HTML_DEPTH:
                why = "too large or too deeply nested to render"
            else:
                why = "the page's budget for rendering HTML is spent"
            return as_source(text, why)
        self.cost_left -= cost
        return clean_html(text)


_DANGEROUS_TAGS = frozenset(
    """script iframe frame frameset object embed applet form input button textarea select
    option link meta base style svg template noscript portal audio video source track
    canvas dialog mglyph malignmark annotation-xml maction""".split()
)
_URL_ATTRS = frozenset(
    {"href", "src", "action", "formaction", "xlink:href", "srcset", "data", "poster", "background", "lowsrc", "dynsrc", "ping"}
)


class _Tripwire(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DANGEROUS_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            elif name in _URL_ATTRS and value is not None:
                url = _normalise_url(value)
                if name == "src" and tag == "img":
                    if not _DATA_IMAGE_RE.match(url):
                        self.problems.append(f"<img src={url[:40]!r}>")
                elif name != "href" or not (_SAFE_HREF_RE.match(url) or not _URL_SCHEME_RE.match(url)):
                    self.problems.append(f"<{tag} {name}={url[:40]!r}>")
            elif name == "style" and value and ("url(" in value.lower() or "expression" in value.lower()):
                self.problems.append(f"<{tag} style=url(...)>")

    handle_startendtag = handle_starttag


def unsafe_html(fragment: str) -> list[str]:
    """What in `fragment` could run or load something: live scripts, frames, event
    handlers, non-data images, non-http links. Empty when the fragment is inert."""
    parser = _Tripwire()
    parser.feed(fragment)
    parser.close()
    return parser.problems
