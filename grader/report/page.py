"""Render the class report (`grade report`) as one self-contained HTML page, or as JSON."""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path
from typing import Any

from grader.report import plots
from grader.report.classdata import ClassReport

#: The same policy as the feedback page: no script, frames, fonts or connections; images inline.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def fmt(x: Any) -> str:
    """Points for people: 12, 12.5, 12.33."""
    if x is None:
        return "-"
    return f"{float(x):.2f}".rstrip("0").rstrip(".")


def _link(target: str, out_dir: Path) -> str:
    """A relative URL from the report's folder to a feedback page ("" if there is none)."""
    if not target:
        return ""
    rel = os.path.relpath(os.path.abspath(target), os.path.abspath(out_dir))
    return urllib.parse.quote(rel.replace(os.sep, "/"))


def render_html(report: ClassReport, out_path: Path, templates: Path) -> str:
    """The report page as text; links to feedback pages are relative to `out_path`'s folder."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    figures = {
        "scores": plots.score_histogram(report.scores, report.max_score, "Autograde"),
        "final": plots.score_histogram(report.final_scores, report.max_score, "Final score", colour="final"),
        "pass_rates": plots.pass_rates([t.name for t in report.tests], [t.pass_rate for t in report.tests])
        if report.tests else "",
        "durations": plots.durations(report.durations),
        "accuracy": [plots.accuracy(a.values, a.threshold, a.test) for a in report.accuracy],
    }
    links = {s: _link(p, out_path.parent) for s, p in report.feedback.items()}
    members = {m.student for t in report.tests for c in t.clusters for m in c.members}
    members |= {s for d in report.misconceptions for s in d.students}
    members |= {e["student"] for e in (report.leaderboard or {}).get("entries", [])}
    links.update({s: "" for s in members if s not in links})
    return env.get_template("report.html.j2").render(csp=CSP, r=report, plots=figures, links=links, fmt=fmt)


def render_json(report: ClassReport) -> str:
    return json.dumps(report.to_json(), indent=2) + "\n"


#: Flagged pairs shown side by side on the similarity page (the table lists them all).
MAX_PANES = 50


def render_similarity_html(report, codes: dict[str, str], starter_code: str, templates: Path) -> str:  # noqa: ANN001
    """The similarity page: distribution, flagged pairs, side-by-side highlighted code."""
    import jinja2
    from markupsafe import Markup

    from grader.report import similarity as sim

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    flagged = [p for p in report.pairs if p.flagged]
    panes = []
    for p in flagged[:MAX_PANES]:
        left, right = sim.highlighted(codes, starter_code, p)
        panes.append((p, Markup(left), Markup(right)))  # escaped by markupsafe, <mark> ours
    total = report.students * (report.students - 1) // 2
    values = [p.similarity for p in report.pairs] + [0.0] * max(total - len(report.pairs), 0)
    histogram = plots.similarity_histogram(values, report.threshold, report.outlier_bar)
    return env.get_template("similarity.html.j2").render(
        csp=CSP, s=report, flagged=flagged, panes=panes, histogram=histogram, npairs=len(report.pairs),
        z=f"{sim.OUTLIER_Z:g}", long_run=sim.LONG_RUN)
