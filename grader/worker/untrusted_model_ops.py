"""The worker's trained-model actions (op "model"): untrusted side, in the sandbox beside
untrusted_worker.py, which calls `call_for`. Imports nothing of the grader.

- "load": build the model with the notebook's builder and load the tensors the judge sent
  (names in msg["names"], the arrays in order; the judge validated them);
- "predict": run a loaded model (a handle) on one batch of inputs without gradients;
- "initial": the proof of training's start, the notebook's seeded untrained model's weights;
- "replay": one segment of the proof of training, from the judge's copy of a checkpoint;
- "file": the bytes of a file the notebook wrote in its folder (at most cap + 1), or None
  (grade validate: the solution's model files).
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np


def _built(fn: Any, name: str) -> Any:  # noqa: ANN401
    """The torch.nn.Module the notebook's function `name` returns."""
    import torch

    if not callable(fn):
        raise NameError(f"the notebook defines no function {name}()")
    model = fn()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{name}() returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def _weights(model: Any) -> dict[str, np.ndarray]:  # noqa: ANN401
    return {k: v.detach().to("cpu").numpy().copy() for k, v in model.state_dict().items()}


def call_for(msg: dict, ns: dict, arrays: list, handles: dict) -> Callable[[], Any]:
    """The call that does `msg["action"]` (see the module docstring); KeyError for another action."""
    action = msg["action"]
    if action == "load":
        builder, names = ns.get(msg["builder"]), list(msg["names"])

        def call() -> Any:  # noqa: ANN401
            import torch

            model = _built(builder, msg["builder"])
            model.load_state_dict({n: torch.from_numpy(a) for n, a in zip(names, arrays)}, strict=True)
            device = "cuda" if msg.get("gpu") and torch.cuda.is_available() else "cpu"
            return model.to(device).eval()
        return call
    if action == "predict":
        model = handles[msg["handle"]]

        def call() -> Any:  # noqa: ANN401
            import torch

            with torch.no_grad():
                first = next(iter(model.parameters()), None)
                x = torch.from_numpy(arrays[0])
                out = model(x.to(first.device) if first is not None else x)
                if not isinstance(out, torch.Tensor):
                    raise TypeError(f"the model returned a {type(out).__name__}, not a tensor")
                return out.detach().to("cpu", torch.float32).numpy()
        return call
    if action == "initial":
        initial = ns.get(msg["initial"])
        return lambda: _weights(_built(initial, msg["initial"]))
    if action == "replay":
        return _replay(msg, ns, arrays)
    if action == "file":
        name, cap = str(msg["name"]), int(msg["cap"])

        def call() -> Any:  # noqa: ANN401
            if "/" in name or name.startswith("."):
                raise ValueError(f"not a plain file name: {name!r}")
            if not os.path.isfile(name):
                return None
            with open(name, "rb") as f:
                return np.frombuffer(f.read(cap + 1), dtype=np.uint8).copy()
        return call
    raise KeyError(action)


def _replay(msg: dict, ns: dict, arrays: list) -> Callable[[], dict[str, np.ndarray]]:
    """The call that replays `msg["steps"]` training steps from a checkpoint the judge sent: the
    notebook's builder, optimizer, batches and train_step; the checkpoint's weights,
    per-parameter optimizer state and torch RNG state. Returns the weights after the steps."""
    fns = {key: ns.get(msg[key]) for key in ("builder", "optimizer", "batches", "train_step")}
    n_model, n_optim = len(msg["model"]), len(msg["optim"])
    model_arrays = arrays[:n_model]
    optim_arrays = arrays[n_model:n_model + n_optim]
    rng = arrays[n_model + n_optim]

    def call() -> dict[str, np.ndarray]:
        import torch

        for key, fn in fns.items():
            if not callable(fn):
                raise NameError(f"the notebook defines no function {msg[key]}()")
        model = _built(fns["builder"], msg["builder"])
        model.load_state_dict({n: torch.from_numpy(a.copy()) for n, a in zip(msg["model"], model_arrays)},
                              strict=True)
        optimizer = fns["optimizer"](model)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        state: dict = {}
        for name, array in zip(msg["optim"], optim_arrays):
            index, key = name.split(".", 1)
            index = int(index)
            if index >= len(params):
                raise ValueError(f"optimizer state {name}: the optimizer has {len(params)} parameters")
            value = torch.from_numpy(array.copy())
            if value.numel() == 1 and params[index].numel() != 1:
                value = value.reshape(())  # a per-parameter scalar (Adam's step)
            elif tuple(value.shape) != tuple(params[index].shape):
                raise ValueError(f"optimizer state {name} has shape {tuple(value.shape)}; its parameter's "
                                 f"is {tuple(params[index].shape)}")
            state.setdefault(index, {})[key] = value
        groups = optimizer.state_dict()["param_groups"]  # the notebook's hyperparameters, not the file's
        optimizer.load_state_dict({"state": state, "param_groups": groups})
        torch.set_rng_state(torch.from_numpy(rng.copy()))
        for step in range(int(msg["start"]), int(msg["start"]) + int(msg["steps"])):
            xb, yb = fns["batches"](step)
            fns["train_step"](model, optimizer, xb, yb)
        return _weights(model)
    return call
