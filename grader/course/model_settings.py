"""`[model]` in assignment.toml: a trained model as a submission (docs/models.md).

Owns: ModelSettings and their checks when the assignment is loaded (`parse_model`; `[model.proof]`
through grader.course.proof_settings). grader.course.assignment calls it; the judge
(grader.judge.model_scoring) and batch intake read the result.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from grader.course.proof_settings import ProofSettings, parse_proof
from grader.course.toml_checks import Bad, check_keys, positive, string, table

_MODEL_FILE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
_FUNCTION_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

MODEL_METRICS = ("accuracy", "macro_f1", "loss")


@dataclass(frozen=True)
class ModelSettings:
    """`[model]` in assignment.toml: a trained model (weights and/or predictions) scored on held-out
    data the judge keeps, with grade cutoffs (docs/models.md). Absent: the assignment takes no model."""

    #: The weights file a submission carries next to its notebook ("" = none): safetensors only.
    weights: str = ""
    #: The predictions file ("" = none): CSV `id,label` over the test inputs of `grade data`.
    predictions: str = ""
    builder: str = "build_model"  # notebook function returning the untrained torch.nn.Module for the weights
    max_parameters: int = 1_000_000  # the most values the weights file may hold (parameters and buffers)
    metric: str = "accuracy"  # accuracy | macro_f1 | loss (needs weights: it reads the logits)
    dataset: str = ""  # the held-out set: a name of [data] datasets
    input_shape: tuple[int, ...] = ()  # one input as the model takes it, e.g. [1, 8, 8]; () = as stored
    batch_size: int = 128  # held-out inputs per call into the model (each call under call_seconds)
    #: (metric value, fraction of `points`) pairs, in order of growing quality; linear between
    #: them, the first fraction below the first value and the last one above the last.
    cutoffs: tuple[tuple[float, float], ...] = ((0.0, 0.0), (1.0, 1.0))
    points: float = 10.0  # what the model part is worth
    #: The share of the held-out rows in the public part (its score is shown before the due
    #: date); the rest is private and decides the grade. Which rows: fixed by the course secret.
    public_fraction: float = 0.3
    #: Whether students may choose their leaderboard pseudonym (notebook metadata dlgrade.pseudonym).
    pseudonyms: bool = True
    #: `[model.proof]`: replay segments of the student's checkpointed training (None: no proof asked).
    proof: ProofSettings | None = None

    def file_caps(self, model_file_mb: int, predictions_kb: int) -> dict[str, int]:
        """The files the model part reads, by name, each with its size cap in bytes: the weights
        and predictions the assignment asks for (under `[limits]`), and the proof's checkpoints."""
        caps = {self.weights: model_file_mb << 20, self.predictions: predictions_kb * 1024}
        if self.proof is not None:
            caps[self.proof.checkpoints] = self.proof.max_mb << 20
        return {name: cap for name, cap in caps.items() if name}

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger metric value is a better model."""
        return self.metric != "loss"


def parse_model(values: Mapping[str, Any], datasets: tuple[str, ...]) -> ModelSettings:
    """`[model]` (a table of assignment.toml) checked: see ModelSettings and docs/models.md; Bad otherwise."""
    check_keys(values, tuple(f.name for f in fields(ModelSettings)), "model.")
    d = ModelSettings()
    weights = string(values.get("weights", d.weights), "model.weights")
    predictions = string(values.get("predictions", d.predictions), "model.predictions")
    if not weights and not predictions:
        raise Bad("[model] needs weights = \"model.safetensors\" and/or predictions = \"predictions.csv\"")
    for key, name in (("weights", weights), ("predictions", predictions)):
        if name and not _MODEL_FILE_RE.match(name):
            raise Bad(f"model.{key} must be a plain file name, not {name!r}")
    if weights and not weights.endswith(".safetensors"):
        raise Bad(f"model.weights must end in .safetensors (pickle-based formats are never loaded), not {weights!r}")
    if predictions and not predictions.endswith(".csv"):
        raise Bad(f"model.predictions must end in .csv, not {predictions!r}")
    builder = string(values.get("builder", d.builder), "model.builder")
    if not _FUNCTION_RE.match(builder):
        raise Bad(f"model.builder must be a function name, not {builder!r}")
    metric = string(values.get("metric", d.metric), "model.metric")
    if metric not in MODEL_METRICS:
        raise Bad(f"model.metric must be one of {', '.join(MODEL_METRICS)}, not {metric!r}")
    if metric == "loss" and not weights:
        raise Bad("model.metric = \"loss\" reads the model's logits: it needs model.weights")
    dataset = string(values.get("dataset", d.dataset), "model.dataset")
    if dataset not in datasets:
        raise Bad(f"model.dataset must be one of [data] datasets ({', '.join(datasets) or 'none declared'}), "
                   f"not {dataset!r}")
    shape = values.get("input_shape", [])
    if not isinstance(shape, list) or len(shape) > 8 or not all(
            type(n) is int and n > 0 for n in shape):
        raise Bad(f"model.input_shape must be a list of positive integers, not {shape!r}")
    cutoffs = _cutoffs(values.get("cutoffs", [list(c) for c in d.cutoffs]), metric != "loss")
    fraction = values.get("public_fraction", d.public_fraction)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise Bad(f"model.public_fraction must be a number between 0 and 1 (exclusive), not {fraction!r}")
    pseudonyms = values.get("pseudonyms", d.pseudonyms)
    if not isinstance(pseudonyms, bool):
        raise Bad(f"model.pseudonyms must be true or false, not {pseudonyms!r}")
    return ModelSettings(
        weights=weights, predictions=predictions, builder=builder,
        max_parameters=positive(values.get("max_parameters", d.max_parameters), "model.max_parameters"),
        metric=metric, dataset=dataset, input_shape=tuple(shape),
        batch_size=positive(values.get("batch_size", d.batch_size), "model.batch_size"),
        cutoffs=cutoffs, points=float(positive(values.get("points", d.points), "model.points", integer=False)),
        public_fraction=float(fraction), pseudonyms=pseudonyms, proof=_proof(values.get("proof"), weights))


def _proof(value: Any, weights: str) -> ProofSettings | None:
    if value is None:
        return None
    if not weights:
        raise Bad("[model.proof] replays training: it needs model.weights")
    try:
        return parse_proof(table(value, "model.proof"))
    except ValueError as e:
        raise Bad(str(e)) from None


def _cutoffs(value: Any, higher_is_better: bool) -> tuple[tuple[float, float], ...]:
    """[[metric, fraction], ...]: metric strictly better each step, fraction in [0, 1], never falling."""
    how = "a list of [metric value, fraction of the points] pairs"
    if not isinstance(value, list) or not value or len(value) > 50:
        raise Bad(f"model.cutoffs must be {how} (1 to 50 of them), not {value!r}")
    out: list[tuple[float, float]] = []
    for pair in value:
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                           for v in pair)):
            raise Bad(f"model.cutoffs must be {how}; found {pair!r}")
        metric, fraction = float(pair[0]), float(pair[1])
        if not 0 <= fraction <= 1:
            raise Bad(f"model.cutoffs: the fraction of {pair!r} must be between 0 and 1")
        if out:
            better = metric > out[-1][0] if higher_is_better else metric < out[-1][0]
            if not better or fraction < out[-1][1]:
                order = "grow" if higher_is_better else "fall (the metric is a loss)"
                raise Bad(f"model.cutoffs: the metric values must {order} and the fractions never fall; "
                           f"{pair!r} follows {list(out[-1])!r}")
        out.append((metric, fraction))
    return tuple(out)
