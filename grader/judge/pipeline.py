"""The judge: grade one notebook end to end, in the trusted process.

Pipeline: read the notebook -> find its assignment -> start the sandboxed worker -> run the
notebook's cells -> run the tests (pytest, in this process) against the worker -> result.
Whatever the submission does, a `GradingResult` comes back; only bad input raises `BadInput`.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Mapping

from grader.course import datasets
from grader.course.assignment import Assignment, AssignmentError, assignment_id_of, load_assignment
from grader.course.notebook import BadNotebook, code_cells, defining_cells, read_notebook
from grader.judge.budgets import fit_result
from grader.judge.results import CellRun, GradingResult, TestResult, total
from grader.judge.session import WorkerSession
from grader.judge.workers_without import WORKER_NEEDS, WorkersWithout
from grader.sandbox import PACKAGE_DIR, SandboxError, WorkerSpec, get_backend
from grader.sandbox.gpu import (
    GpuError,
    GpuRequest,
    cuda_visible_devices,
    gpu_for_slot,
    host_gpu_count,
    parse_gpus,
)

MODES = ("submit", "check")


class BadInput(Exception):
    """The command cannot grade this input at all (exit code 2)."""


#: What picks the CPU kernels, and so the rounding, of trained floats: torch's ATen and oneDNN
#: (read when torch is imported), MKL (torch's BLAS) and OpenBLAS (numpy's). The worker's
#: environment is built from scratch, so these reach it only from the judge (`cpu_isa_env`); a
#: submission cannot set them for the judge, and what it sets in its own process changes only
#: its own arithmetic.
CPU_ISA_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR",
                     "OPENBLAS_CORETYPE")
_ISA_VALUE = re.compile(r"[A-Za-z0-9_]{1,32}(,[A-Za-z0-9_]{1,32})?")  # MKL_CBWR=AVX2,STRICT


def cpu_isa_env(settings: Mapping[str, str] | None = None) -> tuple[tuple[str, str], ...]:
    """The instruction-set settings the worker gets: `settings`, else the judge's own values of
    CPU_ISA_VARIABLES (so `ONEDNN_MAX_CPU_ISA=AVX2 grade submit ...` runs both sides under AVX2).
    Raises BadInput for an unknown variable or a value that is not a plain name."""
    chosen = {k: os.environ[k] for k in CPU_ISA_VARIABLES if os.environ.get(k)} if settings is None else settings
    for key, value in chosen.items():
        if key not in CPU_ISA_VARIABLES:
            raise BadInput(f"{key} is not an instruction-set setting (known: {', '.join(CPU_ISA_VARIABLES)})")
        if not _ISA_VALUE.fullmatch(value):
            raise BadInput(f"{key}={value!r} is not a valid setting (letters, digits and _, as in AVX2)")
    return tuple(sorted(chosen.items()))


def course_secret() -> str:
    """The course secret that varies test inputs per course; judge-side only."""
    path = os.environ.get("GRADER_SECRET_FILE")
    if path:
        return Path(path).read_text(encoding="utf-8").strip()
    return os.environ.get("GRADER_SECRET", "")


def prepare(path: Path, assignment_id: str | None = None, course: Path | None = None
            ) -> tuple[dict[str, Any], Assignment]:
    """Read the notebook and find its assignment, or raise BadInput with one clear line."""
    try:
        nb = read_notebook(path)
    except BadNotebook as e:
        raise BadInput(str(e)) from None
    own = assignment_id_of(nb)
    if assignment_id and own and own != assignment_id:
        raise BadInput(f"{path}: this notebook is for assignment '{own}', not '{assignment_id}'")
    chosen = assignment_id or own
    if not chosen:
        raise BadInput(f"{path}: the notebook names no assignment in its metadata; pass --assignment ID")
    try:
        return nb, load_assignment(chosen, course)
    except AssignmentError as e:
        raise BadInput(str(e)) from None


def worker_spec(assignment: Assignment, data_dir: Path | None, slot: int = 0, gpu: bool = False,
                env: tuple[tuple[str, str], ...] = ()) -> WorkerSpec:
    """The sandbox settings for one of `assignment`'s workers.

    The masks hide everything judge-only that could sit inside a path the sandbox must expose
    (the Python environment): the installed grader package, which holds the packaged course,
    the course folder, cached held-out splits and scikit-learn's bundled datasets.
    """
    secret_file = os.environ.get("GRADER_SECRET_FILE")
    masks = (PACKAGE_DIR, assignment.course, assignment.root, datasets.cache_dir(),
             *datasets.sensitive_paths(), *([Path(secret_file)] if secret_file else []))
    # A forbidden package is not in the sandbox at all; the import blocker is only a friendly message.
    hide = tuple(m for m in assignment.forbidden_imports if "." not in m and m not in WORKER_NEEDS)
    return WorkerSpec(limits=assignment.limits, data_dir=data_dir, masks=masks, slot=slot, gpu=gpu, env=env,
                      hide_modules=hide)


def gpu_plan(assignment: Assignment, gpus: str | GpuRequest | None, sandbox: str, slot: int = 0,
             jobs: int = 1) -> tuple[GpuRequest | None, list[str]]:
    """The GPUs this job's worker gets under the assignment's `gpu` setting, and notes for the result.

    "none": never a GPU. "required": a GPU or BadInput. "optional": the GPUs given, else the CPU,
    with a note. In a batch (`jobs` > 1) each concurrent job gets one device of those given.
    """
    try:
        request = parse_gpus(gpus) if gpus is None or isinstance(gpus, str) else gpus
    except GpuError as e:
        raise BadInput(str(e)) from None
    if assignment.gpu == "none" or (request is None and assignment.gpu == "optional"):
        notes = [] if assignment.gpu == "none" else [
            f"assignment '{assignment.id}' can use a GPU (gpu = \"optional\") but none was given "
            "(--gpus): the notebook ran on the CPU"]
        return None, notes
    if request is None:
        raise BadInput(f"assignment '{assignment.id}' needs a GPU (gpu = \"required\"): grade it with "
                       "--gpus all (or a count, --gpus 2, or device ids, --gpus 0,1)")
    available = host_gpu_count() if request.all and jobs > 1 else None
    job = gpu_for_slot(request, slot, jobs, available)
    if sandbox != "docker" and not host_gpu_count():  # docker checks inside its container
        raise BadInput(f"--gpus {request}: nvidia-smi on this host lists no GPU")
    return job, []


def grade(nb: dict[str, Any], assignment: Assignment, *, notebook_name: str = "notebook.ipynb",
          mode: str = "submit", sandbox: str = "process", slot: int = 0,
          gpus: str | GpuRequest | None = None, jobs: int = 1,
          cpu_isa: Mapping[str, str] | None = None,
          on_cell: Callable[[CellRun], None] | None = None,
          on_test: Callable[[TestResult], None] | None = None,
          backend: Any = None, data_dir: Path | None = None,
          files: Mapping[str, Path] | None = None, files_from_notebook: bool = False,
          student: str = "",
          after_tests: Callable[[Callable[..., Any]], None] | None = None) -> GradingResult:
    """Grade a read notebook against its assignment. Never raises for anything the notebook does.

    Hooks for a warm batch judge (grader.batch.job), which pays these once per process:
    `backend`, an already checked sandbox backend; `data_dir`, the public data already written.

    BadInput (the grading cannot start: options, GPUs, sandbox) is the only exception, raised
    before the notebook runs. Anything unexpected after that is a bug on the judge's side; it still yields a result, scored 0,
    whose errors say grading failed, so that one submission never stops a batch.

    `cpu_isa`: instruction-set settings for the worker (`cpu_isa_env`); None passes the judge's own.
    `files`: the files handed in with the notebook, by their name (the assignment's `[model]`
    weights and predictions; grader.judge.model_scoring reads them, the worker never does).
    `files_from_notebook`: take the `[model]` files the notebook saved in its own folder instead
    (authors' checks: `grade validate` and the variant suites grade a solution so).
    `student`: whose submission (batch intake's id); `[model.proof]` draws its segments from it.
    `after_tests`: called once the assignment's tests have their verdicts, while the worker is
    still up, with `plugin_for(assignment, suites)`: a JudgePlugin for other test folders against
    this same worker (grader.kit.verify runs a kit's public tests on this execution). What it
    runs changes nothing in this result.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    started = time.monotonic()
    job_gpus, errors = gpu_plan(assignment, gpus, sandbox, slot, jobs)
    try:
        backend = backend or get_backend(sandbox, gpus=job_gpus)
    except SandboxError as e:
        raise BadInput(str(e)) from None
    isa_env = cpu_isa_env(cpu_isa)
    try:
        return _grade(nb, assignment, backend, job_gpus, isa_env, errors, started, notebook_name=notebook_name,
                      mode=mode, sandbox=sandbox, slot=slot, on_cell=on_cell, on_test=on_test,
                      data_dir=data_dir, files=files or {}, files_from_notebook=files_from_notebook,
                      student=student, after_tests=after_tests)
    except Exception as e:  # last resort: see the docstring
        # The whole traceback, for a batch's gradebook (DEBUG: silent unless someone listens).
        logging.getLogger(__name__).debug("grading failed on the judge's side", exc_info=e)
        return failed_result(assignment, notebook_name, mode, sandbox, e, time.monotonic() - started)


def failed_result(assignment: Assignment, notebook_name: str, mode: str, sandbox: str,
                  exc: BaseException, duration: float = 0.0) -> GradingResult:
    """The result of a grading that broke down on the judge's side: score 0, the reason in errors."""
    from grader.textsafe import one_line

    try:
        what = one_line(f"{type(exc).__name__}: {exc}", 300)
    except Exception:  # str() of the exception may itself fail
        what = type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:  # where, for whoever fixes the judge; the judge's own code, never the student's
        what += f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}"
    return GradingResult(
        assignment=assignment.id, notebook=notebook_name, mode=mode, score=0.0, max_score=0.0,
        tests=(), errors=(f"grading failed on the judge's side ({what}); no score was computed: "
                          "grade this notebook again or report it",),
        sandbox=sandbox, duration=round(duration, 3),
        extra={"due": assignment.due, "title": assignment.title, "grading_failed": True})


def _grade(nb: dict[str, Any], assignment: Assignment, backend: Any, job_gpus: GpuRequest | None,
           isa_env: tuple[tuple[str, str], ...], errors: list[str], started: float, *, notebook_name: str,
           mode: str, sandbox: str,
           slot: int, on_cell: Callable[[CellRun], None] | None,
           on_test: Callable[[TestResult], None] | None, data_dir: Path | None = None,
           files: Mapping[str, Path] | None = None, files_from_notebook: bool = False,
           student: str = "",
           after_tests: Callable[[Callable[..., Any]], None] | None = None) -> GradingResult:
    visible = cuda_visible_devices(job_gpus) if job_gpus is not None and sandbox != "docker" else None
    env = isa_env + ((("CUDA_VISIBLE_DEVICES", visible),) if visible is not None else ())
    work = Path(tempfile.mkdtemp(prefix="dlgrade-data-"))
    os.chmod(work, 0o755)  # public data only; a worker under another uid must reach it
    try:
        if data_dir is None:
            data_dir = work / "data"
            datasets.write_public(assignment.datasets, data_dir, assignment.public_files)
        spec = worker_spec(assignment, data_dir, slot, gpu=job_gpus is not None, env=env)
        session = WorkerSession(backend, spec, code_cells(nb), forbidden=assignment.forbidden_imports,
                                seed=0, on_cell=on_cell)
        model_extra: dict[str, Any] = {}
        without = WorkersWithout(backend, spec, code_cells(nb), forbidden=assignment.forbidden_imports, seed=0,
                                 parent=session)
        try:
            _preload("grader.judge.pytest_plugin")  # pytest's import overlaps the worker's start
            cells = session.run_notebook()
            from grader.judge.pytest_plugin import (  # pytest only once there is a notebook
                JudgePlugin,
                run_tests,
            )
            from grader.judge.remote import Submission

            suites = {assignment.public_tests.resolve(): "public"}
            if mode == "submit":
                suites[assignment.hidden_tests.resolve()] = "hidden"
            submission = Submission(session, defining_cells(nb), without=without,
                                    by_hand=assignment.by_hand_forbids)
            def plugin_for(other: Assignment, other_suites: dict[Path, str], secret: str = "") -> JudgePlugin:
                return JudgePlugin(other, submission, other_suites, secret=secret, stop=session.stop_reason,
                                   installed=lambda m: backend.environment().has(m, spec.hide_modules))

            plugin = plugin_for(assignment, suites, course_secret())
            plugin.on_test = on_test
            session.start_tests()
            tests = run_tests(plugin, list(suites))
            if assignment.model is not None:
                from grader.judge.model_scoring import chosen_pseudonym, score_model

                if files_from_notebook:
                    files = _saved_files(submission, assignment, work / "files")
                model_tests, model_extra = score_model(assignment, submission, files or {}, course_secret(),
                                                       mode, gpu=job_gpus is not None, student=student)
                model_extra["pseudonym"] = chosen_pseudonym(nb)
                for t in model_tests:
                    if on_test is not None:
                        on_test(t)
                tests = [*tests, *model_tests]
            cells = [session.runs[c.index] for c in session.cells]  # replays may have amended them
            events = [*session.events, *without.events]
            if after_tests is not None:  # last: nothing it runs can reach this result
                after_tests(plugin_for)
        finally:
            without.close()
            session.close()
        if not session.isolated:
            why = getattr(backend, "fallback_reason", "") or "bubblewrap (bwrap) is not installed"
            errors.append(f"the notebook ran WITHOUT isolation: {why}")
        errors += events
        if not tests:
            errors.append("no tests ran: the assignment has no tests for this mode")
        score, max_score = total(tests)
        return fit_result(GradingResult(
            assignment=assignment.id, notebook=notebook_name, mode=mode, score=score,
            max_score=max_score, tests=tuple(tests), cells=tuple(cells), errors=tuple(errors),
            sandbox=f"{sandbox}: {session.description}", duration=round(time.monotonic() - started, 3),
            extra={"due": assignment.due, "title": assignment.title,
                   **({"model": model_extra} if assignment.model is not None else {})},
        ), assignment.limits.result_kb * 1024)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _preload(module: str) -> None:
    """Import `module` in a background thread while this one waits on the worker (its start
    and the notebook take ~0.1 s of which the judge uses almost no CPU). Nothing depends on
    it: the later import in this thread waits for it or does the work itself."""
    import importlib
    import threading

    def run() -> None:
        try:
            importlib.import_module(module)
        except BaseException:  # noqa: BLE001 - the import in the main thread reports it
            pass

    threading.Thread(target=run, name=f"preload {module}", daemon=True).start()


def grade_notebook(path: Path, *, mode: str = "submit", assignment: str | None = None,
                   course: Path | None = None, sandbox: str = "process", **kwargs: Any) -> GradingResult:
    """Read, then grade, the notebook at `path`. Raises BadInput for input it cannot grade."""
    nb, spec = prepare(Path(path), assignment, course)
    return grade(nb, spec, notebook_name=Path(path).name, mode=mode, sandbox=sandbox, **kwargs)


def _saved_files(submission: Any, assignment: Assignment, folder: Path) -> dict[str, Path | str]:
    """The `[model]` files the notebook saved in its own folder, copied to `folder` (each read
    under its cap; one over it is kept as the reason, as the intake does)."""
    from grader.judge.remote import SubmissionError, written_file

    limits = assignment.limits
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path | str] = {}
    for name, cap in assignment.model.file_caps(limits.model_file_mb, limits.predictions_kb).items():
        try:
            data = written_file(submission, name, cap)
        except SubmissionError:
            continue
        if data is None:
            continue
        if len(data) > cap:
            out[name] = f"{name} is larger than the cap ({cap:,} bytes)"
            continue
        (folder / name).write_bytes(data)
        out[name] = folder / name
    return out
