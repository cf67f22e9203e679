"""Judge-side helpers for tests of PyTorch notebooks: look at a model that lives in the worker.

Tensors and modules never cross the wire: they come back as handles. `RemoteTorch` reaches
the notebook's own `torch` module (`import torch` in the notebook) through a handle and uses
it to move numpy arrays in and out:

    rt = RemoteTorch(submission)
    logits = rt.forward(submission.reg_model, X)          # numpy in, numpy out
    params = rt.parameters(submission.ft_model)           # name -> Param(value, requires_grad)
    bns = rt.modules_of(submission.ft_model, "BatchNorm2d")  # [(name, handle), ...]

Every call runs student-controlled code in the worker (the notebook could replace `torch`),
so treat what comes back like any other value from the submission: check its type and shape
before trusting it. Errors from the worker surface as `grader.judge.remote.SubmissionError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.judge.remote import Handle, MissingName


@dataclass(frozen=True)
class Param:
    """One parameter of a worker-side model, copied to the judge."""

    value: np.ndarray
    requires_grad: bool


class RemoteTorch:
    """The notebook's `torch`, seen from the judge (see the module docstring)."""

    def __init__(self, submission: Any) -> None:
        try:
            self.torch = submission.torch
        except MissingName:
            raise AssertionError("the notebook has no `torch`: keep the `import torch` line of the "
                                 "first code cell") from None
        if not isinstance(self.torch, Handle):
            raise AssertionError(f"`torch` in the notebook is a {type(self.torch).__name__}, not the module")
        self._builtins = self.torch.builtins

    # -- values in and out -------------------------------------------------------------
    def tensor(self, array: np.ndarray) -> Handle:
        """A worker-side tensor holding a copy of `array` (dtype kept)."""
        array = np.asarray(array)
        return self.torch.from_numpy(np.ascontiguousarray(array).reshape(array.shape))

    def numpy(self, tensor: Any, what: str = "the output") -> np.ndarray:
        """`tensor.detach().cpu().numpy()` in the worker, as a judge-side array."""
        if isinstance(tensor, np.ndarray):
            return tensor
        if not isinstance(tensor, Handle):
            raise AssertionError(f"{what}: expected a tensor, got {type(tensor).__name__}")
        value = tensor.detach().cpu().numpy()
        if not isinstance(value, np.ndarray):
            raise AssertionError(f"{what}: expected a tensor, got {type(value).__name__}")
        return value

    def forward(self, model: Handle, X: np.ndarray, what: str = "the model's output",
                dtype: Any = np.float32) -> np.ndarray:
        """model(X) in the worker, X sent as a numpy array of `dtype` (float32: PyTorch's default)."""
        return self.numpy(model(self.tensor(np.asarray(X, dtype=dtype))), what)

    # -- structure -----------------------------------------------------------------------
    def list(self, iterable: Any) -> list:
        """`list(iterable)` evaluated in the worker (generators, odict views, ...)."""
        return self._builtins.list(iterable)

    def isinstance(self, obj: Any, cls: Any) -> bool:
        return self._builtins.isinstance(obj, cls) is True

    def type_name(self, obj: Any) -> str:
        """The class name of a worker-side object, e.g. "BatchNorm2d"."""
        name = self.torch.typename(self._builtins.type(obj))
        return str(name).rsplit(".", 1)[-1]

    def named_modules(self, model: Handle) -> list[tuple[str, Handle]]:
        """`list(model.named_modules())`: ("", model) first, then every submodule."""
        pairs = self.list(model.named_modules())
        return [(str(name), mod) for name, mod in pairs]

    def modules_of(self, model: Handle, *class_names: str) -> list[tuple[str, Handle]]:
        """The submodules that are instances of torch.nn.<class_name> (subclasses included)."""
        classes = [getattr(self.torch.nn, c) for c in class_names]
        return [(n, m) for n, m in self.named_modules(model)
                if any(self.isinstance(m, c) for c in classes)]

    def parameters(self, model: Handle) -> dict[str, Param]:
        """Every named parameter: its value (a copy) and its requires_grad flag."""
        out = {}
        for name, p in self.list(model.named_parameters()):
            out[str(name)] = Param(self.numpy(p, f"parameter {name}"), p.requires_grad is True)
        return out

    def state(self, model: Handle) -> dict[str, np.ndarray]:
        """`model.state_dict()` as judge-side arrays (parameters and buffers)."""
        items = self.list(model.state_dict().items())
        return {str(k): self.numpy(v, f"state_dict()['{k}']") for k, v in items}

    # -- the worker's modules ------------------------------------------------------------
    def import_module(self, name: str) -> Handle:
        """`importlib.import_module(name)` in the worker (raises StudentError if it is missing)."""
        return self.torch.importlib.import_module(name)

    def deepcopy(self, obj: Handle) -> Handle:
        """A worker-side deep copy, for tests that must not change the student's object."""
        return self.import_module("copy").deepcopy(obj)
