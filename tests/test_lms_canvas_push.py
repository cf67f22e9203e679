"""`grade push canvas` against a stand-in for Canvas.

Canvas cannot run here, so a local HTTP server on 127.0.0.1 stands in for it: it implements the
Submissions API call we use (PUT /api/v1/courses/:course/assignments/:id/submissions/:user with
form fields submission[posted_grade] and comment[text_comment], bearer token) and validates
every request's shape; scripted faults give a 429 with Retry-After, a 500 in the middle of a
run, and 401 for a wrong token. It also implements the bulk `update_grades` call: a job
whose Progress object is polled (`GET /api/v1/progress/:id`; queued, running, then completed,
when the grades are applied).
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import lms_gradebook as lg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from grader.cli import main
from grader.lms import LmsError, canvas

TOKEN = "7~s3cr3t-T0KEN-abcdef0123456789"
PATH = re.compile(r"^/api/v1/courses/(?P<course>[^/]+)/assignments/(?P<aid>\d+)/submissions/(?P<user>[^/]+)$")
BULK = re.compile(r"^/api/v1/courses/77/assignments/4242/submissions/update_grades$")
GRADE_DATA = re.compile(r"^grade_data\[(?P<user>\d+|sis_user_id:[^\]]+)\]\[(?P<field>posted_grade|text_comment)\]$")


class StandIn(ThreadingHTTPServer):
    """The Canvas stand-in: records accepted grades, requests and any malformed request."""

    def __init__(self, faults: dict[int, tuple[int, dict]] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.faults = dict(faults or {})  # request number (1-based) -> (status, headers)
        self.requests: list[tuple[str, int]] = []
        self.grades: dict[str, str] = {}
        self.comments: dict[str, str] = {}
        self.errors: list[str] = []
        self.jobs: dict[int, dict] = {}  # Progress id -> {"polls": n, "grades": {...}}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: StandIn

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass

    def _answer(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {TOKEN}":
            return True
        self.server.requests.append((self.path, 401))
        self._answer(401, {"errors": [{"message": "Invalid access token."}]})
        return False

    def do_POST(self) -> None:  # noqa: N802
        s = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        with s.lock:
            if not self._authorized():
                return
            n = len(s.requests) + 1
            if n in s.faults:
                status, headers = s.faults.pop(n)
                s.requests.append((self.path, status))
                return self._answer(status, {"errors": [{"message": "scripted"}]}, headers)
            form = urllib.parse.parse_qs(body, keep_blank_values=True, strict_parsing=True)
            grades, problems = {}, []
            if not BULK.match(self.path) or self.headers.get("Content-Type") != "application/x-www-form-urlencoded":
                problems.append(f"bulk path or content type {self.path}")
            for key, values in form.items():
                m = GRADE_DATA.match(key)
                if not m or len(values) != 1:
                    problems.append(f"field {key}")
                elif m["field"] == "posted_grade":
                    if not re.fullmatch(r"\d+(\.\d{1,2})?", values[0]):
                        problems.append(f"posted_grade {values}")
                    grades[m["user"]] = values[0]
            if problems or not grades:
                s.errors += problems or ["no grade_data"]
                s.requests.append((self.path, 400))
                return self._answer(400, {"errors": problems})
            pid = len(s.jobs) + 1
            s.jobs[pid] = {"polls": 0, "grades": grades}
            s.requests.append((self.path, 200))
            return self._answer(200, {"id": pid, "workflow_state": "queued", "url": f"{s.url}/api/v1/progress/{pid}"})

    def do_GET(self) -> None:  # noqa: N802
        s = self.server
        with s.lock:
            if not self._authorized():
                return
            m = re.match(r"^/api/v1/progress/(\d+)$", self.path)
            job = s.jobs.get(int(m.group(1))) if m else None
            if job is None:
                s.errors.append(f"GET {self.path}")
                s.requests.append((self.path, 404))
                return self._answer(404, {"errors": ["no such progress"]})
            job["polls"] += 1
            state = "running" if job["polls"] < 2 else "completed"
            if state == "completed":
                s.grades.update(job["grades"])
            s.requests.append((self.path, 200))
            return self._answer(200, {"id": int(m.group(1)), "workflow_state": state, "completion": 100.0})

    def do_PUT(self) -> None:  # noqa: N802
        s = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        with s.lock:
            n = len(s.requests) + 1
            m = PATH.match(self.path)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                s.requests.append((self.path, 401))
                return self._answer(401, {"errors": [{"message": "Invalid access token."}]})
            if n in s.faults:
                status, headers = s.faults.pop(n)
                s.requests.append((self.path, status))
                return self._answer(status, {"errors": [{"message": "scripted"}]}, headers)
            form = urllib.parse.parse_qs(body, keep_blank_values=True, strict_parsing=True)
            problems = []
            if not m or m["course"] != "77" or m["aid"] != "4242":
                problems.append(f"path {self.path}")
            if self.headers.get("Content-Type") != "application/x-www-form-urlencoded":
                problems.append("content type")
            if set(form) - {"submission[posted_grade]", "comment[text_comment]"}:
                problems.append(f"fields {sorted(form)}")
            grade = form.get("submission[posted_grade]", [""])
            if len(grade) != 1 or not re.fullmatch(r"\d+(\.\d{1,2})?", grade[0]):
                problems.append(f"posted_grade {grade}")
            if problems:
                s.errors += problems
                s.requests.append((self.path, 400))
                return self._answer(400, {"errors": problems})
            user = m["user"]
            s.grades[user] = grade[0]
            s.comments[user] = form.get("comment[text_comment]", [""])[0]
            s.requests.append((self.path, 200))
            return self._answer(200, {"id": n, "user_id": user, "grade": grade[0], "score": float(grade[0])})


@pytest.fixture
def stand_in():
    servers = []

    def start(faults=None):  # noqa: ANN001, ANN202
        server = StandIn(faults)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def push(db: str, url: str, *args: str, token: str = TOKEN):  # noqa: ANN201
    runner = CliRunner()
    return runner.invoke(main, ["push", "canvas", "backprop", "--url", url, "--course", "77", "--canvas-id",
                                "4242", "--db", db, *args], env={"CANVAS_TOKEN": token})


def test_push_retries_429_and_500_and_is_idempotent(tmp_path, stand_in):
    gb = lg.build_class(tmp_path / "gb.db", 10, feedback_dir=None)
    db = f"sqlite:///{tmp_path / 'gb.db'}"
    server = stand_in({2: (429, {"Retry-After": "1"}), 5: (500, {})})  # a 500 in the middle of the run
    result = push(db, server.url, "--feedback-url", "https://course.example/fb")
    assert result.exit_code == 0, result.output
    want = {r.student: canvas.score_text(r.final_score) for r in gb.students("backprop")
            if r.status in ("graded", "invalid")}
    assert server.grades == want and server.errors == []
    statuses = [status for _, status in server.requests]
    assert statuses.count(429) == 1 and statuses.count(500) == 1 and statuses.count(200) == len(want)
    assert f"sent {len(want)}, unchanged 0, failed 0" in result.output
    assert server.comments["1002"].startswith("Autograded by dlgrade: 44.5 / 45.")
    assert "https://course.example/fb/1002/feedback.html" in server.comments["1002"]
    assert TOKEN not in result.output
    with gb.sessions() as s:
        details = " ".join(s.execute(sa.text("select detail from lms_pushes")).scalars())
    assert TOKEN not in details
    # a rerun sends nothing; after an override, only that student
    n = len(server.requests)
    again = push(db, server.url)
    assert again.exit_code == 0 and f"sent 0, unchanged {len(want)}" in again.output
    assert len(server.requests) == n
    gb.set_override("1004", "backprop", 30.0, "regraded")
    dry = push(db, server.url, "--dry-run")
    assert dry.exit_code == 0 and "would send 30 to 1004" in dry.output and len(server.requests) == n
    third = push(db, server.url)
    assert third.exit_code == 0 and "sent 1," in third.output
    assert server.requests[n:] == [("/api/v1/courses/77/assignments/4242/submissions/1004", 200)]
    assert server.grades["1004"] == "30"
    gb.dispose()


def test_push_stops_at_401_with_one_line_and_never_shows_the_token(tmp_path, stand_in):
    gb = lg.build_class(tmp_path / "gb.db", 5)
    server = stand_in()
    wrong = "7~WRONG-token-0000"
    result = CliRunner().invoke(main, ["push", "canvas", "backprop", "--url", server.url, "--course", "77",
                                       "--canvas-id", "4242", "--db", f"sqlite:///{tmp_path / 'gb.db'}"],
                                env={"CANVAS_TOKEN": wrong})
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: Canvas refused the token (401)")
    assert wrong not in result.output and len(server.requests) == 1  # stopped at the first refusal
    assert [p.status for p in gb.pushes("backprop")] == ["failed"]
    gb.dispose()


def test_push_records_a_persistent_failure_and_a_rerun_sends_only_it(tmp_path, stand_in):
    gb = lg.build_class(tmp_path / "gb.db", 5)
    db = f"sqlite:///{tmp_path / 'gb.db'}"
    server = stand_in({k: (503, {}) for k in range(2, 5)})  # the second student's 3 tries all fail
    first = push(db, server.url, "--retries", "2")
    assert first.exit_code == 1 and "failed 1" in first.output and "HTTP 503" in first.output
    assert len(server.grades) == 4 and "1001" not in server.grades
    second = push(db, server.url)
    assert second.exit_code == 0 and "sent 1, unchanged 4" in second.output and len(server.grades) == 5
    gb.dispose()


def test_push_needs_a_token_and_https():
    with pytest.raises(LmsError, match="plain http"):
        canvas.CanvasClient("http://canvas.example.edu", TOKEN)
    assert TOKEN not in repr(canvas.CanvasClient("https://canvas.example.edu", TOKEN))
    result = CliRunner().invoke(main, ["push", "canvas", "backprop", "--url", "https://c.example", "--course",
                                       "1", "--canvas-id", "2"], env={"CANVAS_TOKEN": ""})
    assert result.exit_code == 2 and "set the environment variable CANVAS_TOKEN" in result.output


def test_bulk_push_polls_the_progress_and_is_idempotent(tmp_path, stand_in):
    gb = lg.build_class(tmp_path / "gb.db", 10)
    db = f"sqlite:///{tmp_path / 'gb.db'}"
    server = stand_in({1: (429, {"Retry-After": "1"})})
    result = push(db, server.url, "--bulk")
    assert result.exit_code == 0, result.output
    want = {r.student: canvas.score_text(r.final_score) for r in gb.students("backprop")
            if r.status in ("graded", "invalid")}
    assert server.grades == want and server.errors == []
    paths = [p for p, status in server.requests if status == 200]
    assert paths[0].endswith("/update_grades") and paths[1:] == ["/api/v1/progress/1"] * 2  # running, completed
    again = push(db, server.url, "--bulk")
    assert again.exit_code == 0 and f"sent 0, unchanged {len(want)}" in again.output
    assert TOKEN not in result.output + again.output
    gb.dispose()
