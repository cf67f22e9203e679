"""Code similarity between the students of one assignment (`grade similarity`).

Each student's code cells are extracted from the stored notebook, IPython magics dropped, and
fingerprinted once with copydetect (pygments tokens, names and strings normalised, k-grams of
`NOISE` tokens); the starter notebook's own fingerprints are boilerplate and never count. Then
every pair is compared. A pair's similarity is the larger of the two directions (the share of
one student's fingerprinted code found in the other's), in [0, 1].

Short canonical assignments make independent solutions look alike, so a pair is flagged when
it is above an absolute bar, *or* when it stands out against this class's own distribution
(a robust z-score over all pairs: median and MAD), *or* when one stretch of copied code is
far longer than what independent solutions share (a copied function).
"""

from __future__ import annotations

import io
import json
import logging
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from grader.course.notebook import strip_ipython
from grader.textsafe import clean_text

#: k-gram length in normalised characters (copydetect's noise threshold).
NOISE = 25
#: Absolute bar: a pair at or above this similarity is flagged whatever the class looks like.
DEFAULT_THRESHOLD = 0.75
#: A pair whose similarity is this many robust standard deviations above the class median is flagged.
OUTLIER_Z = 4.0
#: ... provided it is at least this similar (a class of wholly different notebooks has tiny spreads).
OUTLIER_FLOOR = 0.35
#: A single copied stretch of at least this many normalised characters flags the pair (a copied function).
LONG_RUN = 130
#: Students whose code is shorter than this (normalised characters) are compared but never flagged.
MIN_CODE = 2 * NOISE
#: Characters of code kept per student (a hostile notebook can be huge).
MAX_CODE_CHARS = 400_000


@dataclass(frozen=True)
class Pair:
    """Two students' similarity (a < b in the class order)."""

    a: str
    b: str
    similarity: float  # max(sim_a, sim_b)
    sim_a: float  # share of a's fingerprinted code found in b
    sim_b: float
    longest: int  # longest copied stretch, normalised characters
    flagged: bool
    why: str  # "" or which rule flagged it


@dataclass(frozen=True)
class SimilarityReport:
    """All pairs with a similarity above 0, most similar first, and the class statistics."""

    assignment: str
    students: int
    threshold: float
    median: float
    mad: float
    outlier_bar: float
    pairs: tuple[Pair, ...]
    skipped: tuple[tuple[str, str], ...]  # (student, why no code was compared)

    def to_json(self) -> dict[str, Any]:
        return {"assignment": self.assignment, "students": self.students, "threshold": self.threshold,
                "median": self.median, "mad": self.mad, "outlier_bar": self.outlier_bar,
                "pairs": [{"a": p.a, "b": p.b, "similarity": round(p.similarity, 6),
                           "similarities": [round(p.sim_a, 6), round(p.sim_b, 6)], "longest": p.longest,
                           "flagged": p.flagged, "why": p.why} for p in self.pairs],
                "skipped": [{"student": s, "reason": r} for s, r in self.skipped]}


def notebook_code(data: bytes | str | dict[str, Any]) -> str:
    """The code cells of a notebook (bytes, text or parsed) as one Python text; "" if unreadable."""
    try:
        nb = data if isinstance(data, dict) else json.loads(data)
        cells = nb.get("cells", []) if isinstance(nb, dict) else []
    except (ValueError, TypeError, RecursionError):
        return ""
    parts: list[str] = []
    size = 0
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(s for s in source if isinstance(s, str)) if isinstance(source, list) else source
        if not isinstance(source, str):
            continue
        # control characters and bidi overrides (Trojan Source) never reach the instructor's page
        text = "\n".join(_python_lines(clean_text(source))).strip()
        if text:
            parts.append(text)
            size += len(text)
            if size > MAX_CODE_CHARS:
                break
    return "\n\n".join(parts)[:MAX_CODE_CHARS]


def _python_lines(source: str) -> list[str]:
    """The cell's lines that the notebook runs as Python, trailing whitespace cut, blank runs
    collapsed to one blank line.

    Shell (`!`) and magic (`%`) lines are dropped only where the notebook really treats them as
    such (grader.course.notebook.strip_ipython: a cell that parses as Python has none, so a `!`
    line inside a string stays). Whitespace-only lines cost pygments' Python lexer time quadratic
    in their run's length (60 kB of them took minutes); they carry no token copydetect keeps.
    """
    lines = source.splitlines()
    converted = strip_ipython(source)
    if converted != source:
        after = converted.split("\n")
        lines = [ln for ln, new in zip(lines, after) if ln == new]
    out: list[str] = []
    for line in lines:
        line = line.rstrip()
        if line or (out and out[-1]):
            out.append(line)
    return out


def _fingerprint(code: str, boilerplate: Sequence[int] = ()):  # noqa: ANN202
    from copydetect import CodeFingerprint

    root = logging.getLogger()  # copydetect warns through the root logger for every odd file
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        return CodeFingerprint("code.py", NOISE, 1, boilerplate=list(boilerplate), language="python",
                               fp=io.StringIO(code))
    finally:
        root.setLevel(level)


@dataclass(frozen=True)
class _Prints:
    """One student's copydetect fingerprints as arrays: for each fingerprinted position, its hash."""

    positions: Any  # sorted int64 positions in the normalised code
    hashes: Any  # the hash at each position
    unique: Any  # sorted unique hashes
    coverage: float  # copydetect's token_coverage (positions covered by fingerprints)
    k: int


def _arrays(fp) -> _Prints:  # noqa: ANN001
    import numpy as np

    pos = [(i, h) for h, idx in fp.hash_idx.items() for i in idx]
    pos.sort()
    positions = np.array([p for p, _ in pos], dtype=np.int64)
    hashes = np.array([h for _, h in pos], dtype=np.int64)
    return _Prints(positions, hashes, np.unique(hashes), float(fp.token_coverage), fp.k)


def _overlap(a: _Prints, b: _Prints) -> tuple[float, int]:
    """(copydetect's similarity of a in b, longest copied stretch of a), in normalised characters.

    The same numbers as copydetect.compare_files (the union of the k-grams of a found in b,
    over a's token coverage), computed with array operations instead of a Python loop per hash.
    """
    import numpy as np

    where = np.minimum(np.searchsorted(b.unique, a.hashes), len(b.unique) - 1)
    hit = a.positions[b.unique[where] == a.hashes]
    if not len(hit):
        return 0.0, 0
    gaps = np.diff(hit)
    covered = int(np.minimum(gaps, a.k).sum()) + a.k
    # stretches break where the next k-gram starts beyond the end of this one
    breaks = np.flatnonzero(gaps > a.k - 1)
    starts = np.concatenate([[hit[0]], hit[breaks + 1]])
    ends = np.concatenate([hit[breaks] + a.k, [hit[-1] + a.k]])
    return (covered / a.coverage if a.coverage else 0.0), int((ends - starts).max())


def compare_class(assignment: str, codes: dict[str, str], starter_code: str, *,
                  threshold: float = DEFAULT_THRESHOLD,
                  progress: Callable[[int, int], None] | None = None) -> SimilarityReport:
    """Compare every pair of students' `codes` (student -> code), the starter's code as boilerplate."""
    boiler = sorted(_fingerprint(starter_code).hashes) if starter_code.strip() else []
    prints: dict[str, Any] = {}
    arrays: dict[str, _Prints] = {}
    skipped = []
    for student, code in codes.items():
        if not code.strip():
            skipped.append((student, "no code cells could be read"))
            continue
        prints[student] = _fingerprint(code, boiler)
        arrays[student] = _arrays(prints[student])
    names = list(prints)
    raw: list[tuple[str, str, float, float, int, bool]] = []
    total = len(names) * (len(names) - 1) // 2
    done = 0
    for i, a in enumerate(names):
        fa = prints[a]
        for b in names[i + 1:]:
            fb = prints[b]
            done += 1
            if progress is not None and done % 2000 == 0:
                progress(done, total)
            if not fa.hashes or not fb.hashes or fa.hashes.isdisjoint(fb.hashes):
                continue
            sa, run_a = _overlap(arrays[a], arrays[b])
            sb, run_b = _overlap(arrays[b], arrays[a])
            short = min(fa.token_coverage, fb.token_coverage) < MIN_CODE
            raw.append((a, b, sa, sb, max(run_a, run_b), short))
    if progress is not None:
        progress(total, total)
    sims = [max(sa, sb) for _, _, sa, sb, _, _ in raw]
    # All pairs count for the distribution, those with nothing in common as 0.
    everything = sims + [0.0] * (total - len(sims))
    median = statistics.median(everything) if everything else 0.0
    mad = 1.4826 * statistics.median([abs(s - median) for s in everything]) if everything else 0.0
    bar = min(max(median + OUTLIER_Z * max(mad, 0.02), OUTLIER_FLOOR), 1.0)
    pairs = []
    for (a, b, sa, sb, longest, short), s in zip(raw, sims):
        why = ""
        if not short:
            if s >= threshold:
                why = f"similarity {s:.2f} >= the absolute bar {threshold:.2f}"
            elif s >= bar:
                why = f"similarity {s:.2f} stands out: class median {median:.2f}, bar {bar:.2f}"
            elif longest >= LONG_RUN:
                why = f"one copied stretch of {longest} normalised characters (>= {LONG_RUN})"
        if s > 0:
            pairs.append(Pair(a, b, s, sa, sb, longest, bool(why), why))
    pairs.sort(key=lambda p: (-p.similarity, p.a, p.b))
    return SimilarityReport(assignment=assignment, students=len(codes), threshold=threshold,
                            median=round(median, 6), mad=round(mad, 6), outlier_bar=round(bar, 6),
                            pairs=tuple(pairs), skipped=tuple(skipped))


def highlighted(codes: dict[str, str], starter_code: str, pair: Pair) -> tuple[str, str]:
    """Both students' code as HTML-escaped text with the shared stretches in <mark>."""
    from copydetect import compare_files
    from copydetect.utils import highlight_overlap
    from markupsafe import escape

    boiler = sorted(_fingerprint(starter_code).hashes) if starter_code.strip() else []
    fa, fb = _fingerprint(codes[pair.a], boiler), _fingerprint(codes[pair.b], boiler)
    _, _, (slices_a, slices_b) = compare_files(fa, fb)
    out = []
    for code, slices in ((codes[pair.a], slices_a), (codes[pair.b], slices_b)):
        if len(slices) and len(slices[0]):
            text, _ = highlight_overlap(code, slices, "\x00mark\x01", "\x00/mark\x01", escape_html=True)
            text = text.replace("\x00mark\x01", "<mark>").replace("\x00/mark\x01", "</mark>")
        else:
            text = str(escape(code))
        out.append(text)
    return out[0], out[1]


def class_codes(submissions: Iterable[Any]) -> dict[str, str]:
    """student -> extracted code, from the gradebook's SubmissionInfo list."""
    codes = {}
    for sub in submissions:
        try:
            data = sub.notebook()
        except Exception:  # a blob missing from the gradebook: nothing to compare
            data = b""
        codes[sub.student] = notebook_code(data)
    return codes
