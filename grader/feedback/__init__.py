"""The HTML feedback page for one graded notebook.

`render_feedback` (or `build_feedback`, which returns the page without writing it) turns a
`GradingResult` and the submitted notebook into one standalone HTML file: the score, a table
of tests, the cells that did not run cleanly, the grading errors and the executed notebook
(code, markdown and the outputs the worker produced).

Everything that comes from the notebook or from the worker is hostile: markdown may carry
`<script>`, outputs may carry any HTML, any size and any shape, and any of it may be built to
make a renderer slow. The page is built so that none of it can run or load anything, and so
that its cost is bounded whatever the notebook:

* `cells`: the notebook is rebuilt from scratch (cell type, source, the worker's outputs, a few
  attachments), reduced to a short list of mimetypes, every string truncated, one size budget;
* `render`: each cell becomes HTML on its own: code highlighted within budgets, markdown
  rendered by mistune with a per-cell fallback to escaped source, ANSI colours as classes;
* `sanitise`: user HTML goes through an nh3 allow-list behind a cost guard, and every cell's
  HTML through a tripwire (`unsafe_html`) that leaves out anything executable;
* `page`: our own page, jinja2 with autoescape on, a Content-Security-Policy that forbids
  scripts, frames, fonts and any network access.

Importing this package is cheap (standard library); jinja2, mistune, pygments and nh3 are
imported when a page is rendered. It may call grader.judge.results, grader.textsafe and
grader.outputs; callers: grader.cli and batch grading.
"""

from grader.feedback.cells import (
    MAX_CELLS,
    MAX_IMAGE_CHARS,
    MAX_NOTEBOOK_CHARS,
    MAX_OUTPUT_CHARS,
    MAX_OUTPUTS_PER_CELL,
    MAX_SOURCE_CHARS,
    strip_style_blocks,
    truncate,
)
from grader.feedback.page import (
    CSP,
    MAX_ERRORS,
    MAX_FRAGMENT_CHARS,
    FeedbackPage,
    build_feedback,
    due_passed,
    fmt_points,
    parse_due,
    render_feedback,
)
from grader.feedback.sanitise import (
    ALLOWED_TAGS,
    MAX_HTML_COST,
    MAX_HTML_DEPTH,
    MAX_PAGE_HTML_COST,
    Sanitiser,
    clean_html,
    html_cost,
    unsafe_html,
)

__all__ = [
    "ALLOWED_TAGS", "CSP", "MAX_CELLS", "MAX_ERRORS", "MAX_FRAGMENT_CHARS", "MAX_HTML_COST", "MAX_HTML_DEPTH",
    "MAX_IMAGE_CHARS", "MAX_NOTEBOOK_CHARS", "MAX_OUTPUTS_PER_CELL", "MAX_OUTPUT_CHARS", "MAX_PAGE_HTML_COST",
    "MAX_SOURCE_CHARS", "FeedbackPage", "Sanitiser", "build_feedback", "clean_html", "due_passed", "fmt_points",
    "html_cost", "parse_due", "render_feedback", "strip_style_blocks", "truncate", "unsafe_html",
]
