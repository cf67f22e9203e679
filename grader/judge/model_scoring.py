"""The model part of a grading (`[model]` in assignment.toml; docs/models.md).

Owns: scoring the files a submission carries next to its notebook — safetensors weights or a
predictions CSV — on the held-out set the judge keeps, split into a public and a private part,
and mapping the private score to points through the assignment's cutoffs. It turns this into
TestResults (suite "model") and the `model` entry of the result's `extra`.

Calls: grader.judge.untrusted_safetensors and untrusted_predictions (the only readers of the
student's files), grader.judge.remote (`load_model`, `predict`: the worker builds the model
with the notebook's builder and loads the judge's validated arrays; only inputs are sent, the
labels stay here), grader.course.datasets. Called by grader.judge.pipeline after the tests.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from grader.course import datasets
from grader.course.assignment import Assignment, ModelSettings
from grader.judge.remote import SubmissionError, WorkerLost, load_model, predict
from grader.judge.results import TestResult
from grader.judge.untrusted_predictions import BadPredictions, read_predictions
from grader.judge.untrusted_safetensors import HOW_TO_SAVE, PICKLE_SUFFIXES, BadModelFile, read_safetensors

SUITE = "model"
PUBLIC_TEST = "model_public_score"
PRIVATE_TEST = "model_private_score"


@dataclass(frozen=True)
class HeldOut:
    """The model part's held-out set as the judge holds it: inputs as handed out, its labels,
    and which rows are public."""

    X: np.ndarray
    y: np.ndarray
    public: np.ndarray  # row indices
    private: np.ndarray


def split_rows(n: int, fraction: float, name: str, secret: str) -> tuple[np.ndarray, np.ndarray]:
    """(public, private) row indices: a share `fraction` public, drawn per (dataset, course secret)."""
    seed = int.from_bytes(hashlib.sha256(f"model-split\0{name}\0{secret}".encode()).digest()[:8], "big")
    order = np.random.default_rng(seed).permutation(n)
    cut = int(round(n * fraction))
    return np.sort(order[:cut]), np.sort(order[cut:])


def test_inputs(settings: ModelSettings, secret: str) -> np.ndarray:
    """The unlabeled test inputs of predictions mode (what `grade data` puts in the kit):
    the held-out inputs varied with a salt of their own, so they are not the inputs the hidden
    tests hand to the notebook. Row i is test id i."""
    split = datasets.load(settings.dataset)
    return datasets.perturb_heldout(f"{settings.dataset}/test", split.X_heldout, secret)


def heldout(settings: ModelSettings, secret: str, for_predictions: bool) -> HeldOut:
    split = datasets.load(settings.dataset)
    X = (test_inputs(settings, secret) if for_predictions
         else datasets.perturb_heldout(settings.dataset, split.X_heldout, secret))
    public, private = split_rows(len(X), settings.public_fraction, settings.dataset, secret)
    return HeldOut(X, split.y_heldout.copy(), public, private)


# --------------------------------------------------------------------------- metrics


def metric(name: str, y: np.ndarray, labels: np.ndarray | None, logits: np.ndarray | None = None) -> float:
    """accuracy, macro_f1 (over the classes in y) or loss (mean cross-entropy of `logits`)."""
    if name == "loss":
        z = np.asarray(logits, dtype=np.float64)
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-log_p[np.arange(len(y)), y].mean())
    if name == "accuracy":
        return float(np.mean(labels == y))
    f1 = []
    for k in np.unique(y):
        tp = np.sum((labels == k) & (y == k))
        predicted, actual = np.sum(labels == k), np.sum(y == k)
        f1.append(0.0 if tp == 0 else 2 * tp / (predicted + actual))
    return float(np.mean(f1))


def cutoff_fraction(value: float, cutoffs: tuple[tuple[float, float], ...], higher_is_better: bool = True) -> float:
    """The fraction of the points for metric `value`: linear between the cutoffs, flat outside."""
    sign = 1.0 if higher_is_better else -1.0
    v = sign * value
    xs = [sign * c[0] for c in cutoffs]
    if not np.isfinite(v) or v <= xs[0]:
        return cutoffs[0][1]
    for (x0, (_, f0)), (x1, (_, f1)) in zip(zip(xs, cutoffs), zip(xs[1:], cutoffs[1:])):
        if v <= x1:
            return f0 + (f1 - f0) * (v - x0) / (x1 - x0)
    return cutoffs[-1][1]


# --------------------------------------------------------------------------- scoring


def score_model(assignment: Assignment, submission: Any, files: Mapping[str, Path | str], secret: str,
                mode: str = "submit", gpu: bool = False, student: str = "") -> tuple[list[TestResult], dict[str, Any]]:
    """The model part's TestResults and the result's `extra["model"]` ([] and {} without [model]).

    `files`: the files handed in with the notebook, name -> path, or -> a str that says why the
    intake could not keep it. "check" validates the files and loads the weights, scoring nothing
    on held-out data. With `[model.proof]`, the checkpoints must pass the proof of training
    (grader.judge.model_proof; `student` picks the replayed segments, the weights' digest when
    empty), or the private part scores 0.
    """
    settings = assignment.model
    if settings is None:
        return [], {}
    limits = assignment.limits
    weights = files.get(settings.weights) if settings.weights else None
    predictions = files.get(settings.predictions) if settings.predictions else None
    wanted = " and/or ".join(n for n in (settings.weights, settings.predictions) if n)
    if isinstance(weights, str):  # the intake could not keep it (too large, unreadable)
        return _failed(settings, weights, "error")
    if isinstance(predictions, str):
        if weights is None:
            return _failed(settings, predictions, "error")
        predictions = None
    if weights is None and predictions is None:
        pickles = [n for n in files if n.lower().endswith(PICKLE_SUFFIXES)]
        if pickles and settings.weights:
            return _failed(settings, f"{pickles[0]} is pickle-based and is never loaded; {HOW_TO_SAVE}", "error")
        return _failed(settings, f"no model files: hand in {wanted} next to the notebook "
                                 "(grade submit FOLDER with the notebook and the files)", "missing")
    extra: dict[str, Any] = {"metric": settings.metric, "higher_is_better": settings.higher_is_better}
    try:
        if weights is not None:
            extra["source"] = settings.weights
            tensors = read_safetensors(weights, limits.model_file_mb << 20, settings.max_parameters,
                                       name=settings.weights)
            extra["parameters"] = tensors.elements
            try:
                model = load_model(submission, settings.builder, tensors.tensors, gpu=gpu)
            except SubmissionError as e:
                raise _Refused(f"{settings.weights} could not be loaded into {settings.builder}(): {e}") from None
            if settings.proof is not None:
                _prove(assignment, submission, files, tensors.tensors, secret, mode, student or _digest(weights),
                       extra)
            if mode == "check":
                return [_result(PUBLIC_TEST, 0, 0, "passed", f"{settings.weights} loads into "
                                f"{settings.builder}(): {tensors.elements:,} values; the held-out score "
                                "comes with grade submit")], extra
            data = heldout(settings, secret, for_predictions=False)
            logits = _forward(model, data.X, settings)
            n_classes = int(data.y.max()) + 1
            if logits.ndim != 2 or logits.shape[1] < n_classes:
                raise _Refused(f"the model's output has shape {logits.shape}; expected (batch, {n_classes}) scores")
            labels = logits.argmax(axis=1)
        else:
            extra["source"] = settings.predictions
            data = heldout(settings, secret, for_predictions=True)
            labels = read_predictions(predictions, len(data.X), int(data.y.max()) + 1,
                                      limits.predictions_kb * 1024, name=settings.predictions)
            logits = None
            if mode == "check":
                return [_result(PUBLIC_TEST, 0, 0, "passed", f"{settings.predictions}: one label for each of "
                                f"the {len(labels):,} test ids; scored with grade submit")], extra
    except (BadModelFile, BadPredictions, _Refused) as e:
        return _failed(settings, str(e), "error", extra)
    except _Unproven as e:
        return _failed(settings, f"proof of training failed: {e}", "failed", extra)
    scores = {}
    for part, rows in (("public", data.public), ("private", data.private)):
        scores[part] = metric(settings.metric, data.y[rows], labels[rows],
                              None if logits is None else logits[rows])
    fraction = cutoff_fraction(scores["private"], settings.cutoffs, settings.higher_is_better)
    points = round(settings.points * fraction, 6)
    extra.update(public=round(scores["public"], 6), private=round(scores["private"], 6),
                 points=points, max_points=settings.points,
                 rows={"public": int(len(data.public)), "private": int(len(data.private))})
    name = settings.metric.replace("_", "-")
    return [
        _result(PUBLIC_TEST, 0, 0, "passed", f"public part ({len(data.public)} held-out rows): "
                f"{name} {scores['public']:.4f}"),
        _result(PRIVATE_TEST, points, settings.points, _status(points, settings.points),
                f"private part ({len(data.private)} held-out rows): {name} {scores['private']:.4f}, "
                f"{fraction:.0%} of the points ({_cutoffs_text(settings)})"
                + (f"; {extra['proof']['message']}" if "proof" in extra else ""), visibility="after_due_date"),
    ], extra


def chosen_pseudonym(nb: Mapping[str, Any]) -> str:
    """The leaderboard name the student chose (`metadata.dlgrade.pseudonym`), if it is 3-24
    letters, digits, spaces, _ . or - ; "" otherwise (a generated one is used then)."""
    try:
        value = nb.get("metadata", {}).get("dlgrade", {}).get("pseudonym")
    except AttributeError:
        return ""
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.-]{2,23}", value.strip()):
        return value.strip()
    return ""


class _Refused(Exception):
    pass


class _Unproven(Exception):
    pass


def _digest(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _prove(assignment: Assignment, submission: Any, files: Mapping[str, Path | str], weights: dict[str, np.ndarray],
           secret: str, mode: str, student: str, extra: dict[str, Any]) -> None:
    """The proof of training; raises _Refused (the file is unusable) or _Unproven (it failed)."""
    from grader.judge.model_proof import check_trajectory
    from grader.judge.untrusted_checkpoints import BadCheckpoints, read_checkpoints

    proof = assignment.model.proof
    path = files.get(proof.checkpoints)
    if isinstance(path, str):
        raise _Refused(path)
    if path is None:
        raise _Unproven(f"no {proof.checkpoints}: hand in the checkpoints of your training run next to the "
                        "notebook (dlgrade_training.Checkpoints; docs/models.md)")
    if mode == "check":  # the file is read, nothing is replayed
        try:
            run = read_checkpoints(path, proof.max_mb << 20, proof.keep + 1, weights, proof.checkpoints)
        except BadCheckpoints as e:
            raise _Refused(str(e)) from None
        extra["proof"] = {"checkpoints": len(run.checkpoints), "steps": list(run.steps)}
        return
    outcome = check_trajectory(submission, proof, path, weights, secret, assignment.id, student,
                               assignment.model.builder, assignment.limits.call_seconds)
    extra["proof"] = {"ok": outcome.ok, "segments": list(outcome.segments), "message": outcome.message[:300]}
    if not outcome.ok:
        raise _Unproven(outcome.message)


def _forward(model: Any, X: np.ndarray, settings: ModelSettings) -> np.ndarray:
    shape = settings.input_shape or X.shape[1:]
    inputs = X.reshape((len(X), *shape)).astype(np.float32)
    out = []
    for start in range(0, len(inputs), settings.batch_size):
        batch = inputs[start:start + settings.batch_size]
        try:
            value = predict(model, batch)
        except WorkerLost as e:
            raise _Refused(f"the model's forward pass did not finish: {_why(e)}") from None
        except SubmissionError as e:  # its text may echo held-out inputs: only the kind is shown
            raise _Refused(f"the model's forward pass raised {getattr(e, 'kind', '') or 'an error'}") from None
        if value.ndim != 2 or len(value) != len(batch):
            raise _Refused(f"the model's output has shape {value.shape} for a batch of {len(batch)}; "
                           "expected (batch, classes)")
        if not np.isfinite(value).all():
            raise _Refused("the model's output holds NaN or infinite values")
        out.append(value)
    return np.concatenate(out)


def _why(e: Exception) -> str:
    text = str(e)
    if "time limit" in text:
        return "it ran past its time limit ([limits] call_seconds)"
    if "budget" in text or "tests_seconds" in text or "total_seconds" in text:
        return "the grading's time budget was used up"
    return "the notebook's process ended (out of memory or crashed)"


def _status(points: float, max_points: float) -> str:
    return "passed" if points >= max_points else ("partial" if points > 0 else "failed")


def _cutoffs_text(settings: ModelSettings) -> str:
    return "cutoffs " + ", ".join(f"{v:g} -> {f:.0%}" for v, f in settings.cutoffs)


def _result(name: str, score: float, max_score: float, status: str, message: str,
            visibility: str = "visible") -> TestResult:
    return TestResult(name=name, suite=SUITE, score=score, max_score=max_score, status=status,
                      message=message, visibility=visibility)


def _failed(settings: ModelSettings, message: str, status: str, extra: dict[str, Any] | None = None
            ) -> tuple[list[TestResult], dict[str, Any]]:
    status = "error" if status == "missing" else status
    return [_result(PRIVATE_TEST, 0, settings.points, status, message)], {**(extra or {}), "error": message[:300]}
