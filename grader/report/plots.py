"""The report's plots: matplotlib on the Agg backend, returned as SVG data URIs for <img> tags.

An <img> cannot run script, so the page keeps its strict CSP (img-src data:) whatever the
SVG holds. The SVG hash salt is fixed, so the same numbers give the same bytes.
"""

from __future__ import annotations

import base64
import io
import statistics
from typing import Sequence

_COLOURS = {"bar": "#4a78b5", "final": "#7a9a3a", "mean": "#c0392b", "median": "#8e44ad",
            "threshold": "#c0392b", "grid": "#dddddd"}


def _pyplot():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg", force=True)
    matplotlib.rcParams.update({"svg.hashsalt": "dlgrade", "font.size": 9, "axes.spines.top": False,
                                "axes.spines.right": False, "svg.fonttype": "path"})
    import matplotlib.pyplot as plt

    return plt


def _to_uri(fig) -> str:  # noqa: ANN001
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _bins(max_score: float, n: int = 20) -> list[float]:
    top = max(max_score, 1e-9)
    return [top * i / n for i in range(n + 1)]


def score_histogram(scores: Sequence[float], max_score: float, title: str, colour: str = "bar") -> str:
    """A histogram of `scores` on [0, max_score] with the mean and median marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 2.8))
    ax.hist(list(scores), bins=_bins(max_score), color=_COLOURS[colour], edgecolor="white")
    if scores:
        mean, median = statistics.fmean(scores), statistics.median(scores)
        ax.axvline(mean, color=_COLOURS["mean"], linestyle="--", label=f"mean {mean:.1f}")
        ax.axvline(median, color=_COLOURS["median"], linestyle=":", label=f"median {median:.1f}")
        ax.legend(frameon=False, loc="upper left")
    ax.set_xlim(0, max(max_score, 1e-9))
    ax.set_xlabel(f"score (of {max_score:g})")
    ax.set_ylabel("students")
    ax.set_title(title)
    return _to_uri(fig)


def pass_rates(names: Sequence[str], rates: Sequence[float]) -> str:
    """Horizontal bars: the share of graded submissions with full marks on each test."""
    plt = _pyplot()
    height = max(1.6, 0.22 * len(names) + 0.8)
    fig, ax = plt.subplots(figsize=(6.4, height))
    ys = list(range(len(names)))
    ax.barh(ys, [100 * r for r in rates], color=_COLOURS["bar"])
    ax.set_yticks(ys, [n if len(n) <= 48 else n[:47] + "\u2026" for n in names])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("full marks (% of graded submissions)")
    ax.grid(axis="x", color=_COLOURS["grid"])
    return _to_uri(fig)


def durations(values: Sequence[float]) -> str:
    """A histogram of grading wall times in seconds."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 2.6))
    ax.hist(list(values), bins=20, color=_COLOURS["bar"], edgecolor="white")
    ax.set_xlabel("grading time per submission (s)")
    ax.set_ylabel("submissions")
    return _to_uri(fig)


def accuracy(values: Sequence[float], threshold: float | None, test: str) -> str:
    """A histogram of held-out accuracies with the full-marks threshold marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 2.6))
    ax.hist(list(values), bins=[i / 40 for i in range(41)], color=_COLOURS["final"], edgecolor="white")
    if threshold is not None:
        ax.axvline(threshold, color=_COLOURS["threshold"], linestyle="--", label=f"full marks {threshold:g}")
        ax.legend(frameon=False, loc="upper left")
    ax.set_xlim(0, 1)
    ax.set_xlabel("held-out accuracy")
    ax.set_ylabel("students")
    ax.set_title(test if len(test) <= 60 else test[:59] + "\u2026")
    return _to_uri(fig)


def similarity_histogram(values: Sequence[float], threshold: float, outlier_bar: float) -> str:
    """All pairs' similarities (log-scaled counts) with the absolute and the class bar."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    ax.hist(list(values), bins=[i / 50 for i in range(51)], color=_COLOURS["bar"], edgecolor="white")
    ax.set_yscale("log")
    ax.axvline(threshold, color=_COLOURS["threshold"], linestyle="--", label=f"absolute bar {threshold:.2f}")
    ax.axvline(outlier_bar, color=_COLOURS["median"], linestyle=":", label=f"class bar {outlier_bar:.2f}")
    ax.legend(frameon=False, loc="upper right")
    ax.set_xlim(0, 1)
    ax.set_xlabel("pair similarity")
    ax.set_ylabel("pairs")
    return _to_uri(fig)
