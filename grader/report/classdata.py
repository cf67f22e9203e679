"""The numbers of a class report, read from the gradebook: pure data, no plotting, no HTML.

Failure clusters group the failing messages of one test by their *template*: the message with
numbers, indices, shapes and addresses replaced by placeholders, so that "dW1 relative error
0.43" and "dW1 relative error 0.51" fall together while "db2 relative error 0.5" does not.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from grader.gradebook.api import STATUSES, Gradebook
from grader.textsafe import clean_text, one_line

#: Students listed per failure cluster.
CLUSTER_EXAMPLES = 5
#: Items listed under the most regrade requests.
DISPUTED = 10
#: Slowest submissions listed.
SLOWEST = 10
#: Characters of a message kept for its template and its example.
MESSAGE_CHARS = 400

_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_SPACE = re.compile(r"\s+")


def message_template(message: str) -> str:
    """The message with its numbers and addresses normalised away (one line)."""
    text = _SPACE.sub(" ", clean_text(message, MESSAGE_CHARS)).strip()
    text = _HEX.sub("<addr>", text)
    return _NUMBER.sub("<n>", text)


@dataclass(frozen=True)
class Member:
    """A student in a failure cluster, with the page the instructor can open."""

    student: str
    name: str
    feedback: str  # path of the student's feedback page ("" if none)
    message: str  # the student's own message (one line, cleaned)


@dataclass(frozen=True)
class Cluster:
    """Failing messages of one test that share a template."""

    test: str
    template: str
    count: int
    members: tuple[Member, ...]  # up to CLUSTER_EXAMPLES


@dataclass(frozen=True)
class TestStats:
    """How the class did on one test (graded submissions only)."""

    __test__ = False
    name: str
    suite: str
    max_score: float
    graded: int  # submissions that ran this test
    passed: int  # full marks
    mean_score: float
    clusters: tuple[Cluster, ...]  # largest first

    @property
    def pass_rate(self) -> float:
        return self.passed / self.graded if self.graded else 0.0


@dataclass(frozen=True)
class GraderError:
    """A submission that broke the grader: for the instructor, with its traceback."""

    student: str
    reason: str
    traceback: str


@dataclass(frozen=True)
class Accuracy:
    """Held-out accuracies the judge measured for one accuracy test."""

    test: str
    values: tuple[float, ...]
    threshold: float | None


@dataclass(frozen=True)
class Diagnosed:
    """One misconception (assignments/<id>/misconceptions.py) and the students it was diagnosed in."""

    name: str
    title: str  # "averaged db over the batch": shown as "<count> students <title>"
    count: int
    students: tuple[str, ...]  # every one, sorted


#: Characters of a stored result.json read for its diagnoses (the judge caps result.json well below).
RESULT_CHARS = 64_000_000


def diagnoses_of(result_json: str) -> dict[str, str]:
    """name -> title of the misconceptions diagnosed in a stored result.json; {} for anything
    that is not one (bounded, then parsed, then checked)."""
    if not result_json or len(result_json) > RESULT_CHARS:
        return {}
    try:
        data = json.loads(result_json)
    except (ValueError, RecursionError):
        return {}
    found: dict[str, str] = {}
    tests = data.get("tests") if isinstance(data, dict) else None
    for t in tests if isinstance(tests, list) else ():
        diagnoses = t.get("diagnoses") if isinstance(t, dict) else None
        for d in diagnoses if isinstance(diagnoses, list) else ():
            if isinstance(d, dict) and isinstance(d.get("name"), str) and isinstance(d.get("title"), str):
                found.setdefault(one_line(d["name"], 64), one_line(d["title"], 200))
    return found


@dataclass(frozen=True)
class ManualStats:
    """How the class did on one written or figure question, and how often each rubric item was used."""

    key: str
    title: str
    kind: str  # written | figure
    points: float
    graded: int  # students with a person's grade
    waiting: int  # students with a submission and no grade yet
    mean_score: float | None  # over the graded students
    items: tuple[tuple[str, float, int], ...]  # (description, points, times applied), rubric order


@dataclass(frozen=True)
class ClassReport:
    """Everything `grade report` shows for one assignment."""

    assignment: str
    title: str
    max_score: float
    generated_at: str
    students: int
    status_counts: dict[str, int]
    late: int
    late_penalised: int
    overrides: tuple[tuple[str, str, float, str], ...]  # (student, test or "", score, comment)
    scores: tuple[float, ...]  # autograde of graded submissions
    final_scores: tuple[float, ...]  # final score of every student with a submission
    tests: tuple[TestStats, ...]  # sorted by pass rate, lowest first
    durations: tuple[float, ...]
    slowest: tuple[tuple[str, float], ...]
    errors: tuple[GraderError, ...]
    invalid: tuple[tuple[str, str], ...]  # (student, one-line reason)
    accuracy: tuple[Accuracy, ...]
    feedback: dict[str, str] = field(default_factory=dict)  # student -> feedback page path
    misconceptions: tuple[Diagnosed, ...] = ()  # most students first
    manual: tuple[ManualStats, ...] = ()  # the written and figure questions, in notebook order
    #: The items with the most regrade requests: (item, requests, of them accepted or adjusted)
    disputed: tuple[tuple[str, int, int], ...] = ()
    #: An assignment with [model]: its leaderboard (grader.report.leaderboard.to_json), else None.
    leaderboard: dict[str, Any] | None = None

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.scores) if self.scores else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.scores) if self.scores else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["mean"], data["median"] = self.mean, self.median
        for t, stats in zip(data["tests"], self.tests):
            t["pass_rate"] = round(stats.pass_rate, 6)
        return data


def _measured(result_json: str) -> list[tuple[str, float, float | None]]:
    """(test, accuracy, accuracy full marks need) for each test of a stored result.json whose
    judge measured a held-out accuracy (TestResult.accuracy). Never read from message text: a
    student's exception can say anything."""
    try:
        tests = json.loads(result_json).get("tests", []) if result_json else []
    except (ValueError, AttributeError, RecursionError):
        return []
    out = []
    for t in tests if isinstance(tests, list) else []:
        acc = t.get("accuracy") if isinstance(t, dict) else None
        if type(acc) in (int, float) and 0.0 <= acc <= 1.0 and isinstance(t.get("name"), str):
            needed = t.get("accuracy_needed")
            out.append((t["name"][:200], float(acc),
                        float(needed) if type(needed) in (int, float) and 0.0 <= needed <= 1.0 else None))
    return out


def build_report(gb: Gradebook, assignment: str, now: dt.datetime | None = None) -> ClassReport:
    """Read `assignment`'s current standing from the gradebook and summarise it."""
    info = gb.assignment(assignment)
    if info is None:
        raise LookupError(f"the gradebook has no grades for assignment '{assignment}'; run grade batch first")
    title, max_score, _policy = info
    rows = gb.students(assignment)
    feedback = {s.student: s.feedback_path for s in gb.submissions(assignment)}
    status_counts = {s: sum(r.status == s for r in rows) for s in STATUSES}

    per_test: dict[str, dict[str, Any]] = {}
    durations: list[tuple[str, float]] = []
    errors: list[GraderError] = []
    invalid: list[tuple[str, str]] = []
    accuracy: dict[str, list[float]] = {}
    thresholds: dict[str, float] = {}
    diagnosed: dict[str, tuple[str, list[str]]] = {}  # name -> (title, students)
    for row in rows:
        if row.grading_id is None:
            continue
        grading = gb.grading(row.grading_id)
        durations.append((row.student, float(grading.get("duration") or 0.0)))
        if row.status == "error":
            errors.append(GraderError(row.student, one_line(row.reason, 300),
                                      clean_text(grading.get("traceback") or "", 20_000)))
            continue
        if row.status == "invalid":
            invalid.append((row.student, one_line(row.reason, 300)))
            continue
        for name, title in diagnoses_of(grading.get("result_json") or "").items():
            diagnosed.setdefault(name, (title, []))[1].append(row.student)
        for name, acc, needed in _measured(grading.get("result_json") or ""):
            accuracy.setdefault(name, []).append(acc)
            if needed is not None:
                thresholds[name] = needed
        for t in gb.test_results(row.grading_id):
            stats = per_test.setdefault(t.name, {"suite": t.suite, "max": t.max_score, "graded": 0,
                                                 "passed": 0, "total": 0.0, "fails": {}})
            stats["graded"] += 1
            stats["total"] += t.score
            if t.max_score and t.score >= t.max_score - 1e-9:
                stats["passed"] += 1
            elif t.message:
                key = message_template(t.message)
                stats["fails"].setdefault(key, []).append(
                    Member(row.student, one_line(row.name, 80), feedback.get(row.student, ""),
                           one_line(t.message, 240)))
            elif t.status != "passed":
                stats["fails"].setdefault("(no message)", []).append(
                    Member(row.student, one_line(row.name, 80), feedback.get(row.student, ""), ""))

    tests = []
    for name, s in per_test.items():
        clusters = sorted(
            (Cluster(name, template, len(members), tuple(members[:CLUSTER_EXAMPLES]))
             for template, members in s["fails"].items()),
            key=lambda c: (-c.count, c.template))
        tests.append(TestStats(name=name, suite=s["suite"], max_score=s["max"], graded=s["graded"],
                               passed=s["passed"], mean_score=round(s["total"] / s["graded"], 6)
                               if s["graded"] else 0.0, clusters=tuple(clusters)))
    tests.sort(key=lambda t: (t.pass_rate, t.name))
    manual = _manual_stats(gb, assignment, rows)
    durations.sort(key=lambda d: (-d[1], d[0]))
    with_submission = [r for r in rows if r.status != "missing"]
    return ClassReport(
        assignment=assignment, title=title, max_score=max_score,
        generated_at=(now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds"),
        students=len(rows), status_counts=status_counts,
        late=sum(r.late for r in with_submission),
        late_penalised=sum(r.late_penalty > 0 for r in with_submission),
        overrides=tuple((o.student, o.test, o.score, one_line(o.comment, 200))
                        for r in rows for o in r.overrides),
        scores=tuple(r.score for r in rows if r.status == "graded"),
        final_scores=tuple(r.final_score for r in with_submission),
        tests=tuple(tests), durations=tuple(d for _, d in durations), slowest=tuple(durations[:SLOWEST]),
        errors=tuple(errors), invalid=tuple(invalid),
        accuracy=tuple(Accuracy(name, tuple(v), thresholds.get(name)) for name, v in sorted(accuracy.items())),
        feedback={k: v for k, v in feedback.items() if v}, manual=manual, disputed=_disputed(gb, assignment),
        misconceptions=tuple(sorted((Diagnosed(name, title, len(who), tuple(sorted(who)))
                                     for name, (title, who) in diagnosed.items()),
                                    key=lambda d: (-d.count, d.name))),
    )


def _disputed(gb: Gradebook, assignment: str) -> tuple[tuple[str, int, int], ...]:
    from grader.gradebook.regrades import Regrades

    return tuple((one_line(item, 300), n, changed) for item, n, changed in
                 Regrades(gb.sessions).most_disputed(assignment, DISPUTED))


def _manual_stats(gb: Gradebook, assignment: str, rows: list[Any]) -> tuple[ManualStats, ...]:
    from grader.gradebook.manual import Manual

    book = Manual(gb.sessions)
    questions = book.questions(assignment)
    if not questions:
        return ()
    usage = book.item_usage(assignment)
    submitted = [r for r in rows if r.submission_id is not None]
    out = []
    for q in questions:
        scores = [r.manual[q.key] for r in submitted if r.manual.get(q.key) is not None]
        out.append(ManualStats(
            key=q.key, title=one_line(q.title, 200), kind=q.kind, points=q.points, graded=len(scores),
            waiting=len(submitted) - len(scores),
            mean_score=round(statistics.fmean(scores), 6) if scores else None,
            items=tuple((one_line(i.description, 200), i.points, n) for i, n in usage.get(q.key, []))))
    return tuple(out)
