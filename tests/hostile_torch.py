"""Shared pieces of the torch-bypass suites (tests/test_hostile_torch_bypass.py and its Docker twin).

"Write it without torch" used to be enforced inside the student's process: an import blocker
on sys.meta_path (backprop forbids torch) and a profile hook for `submission.refusing("torch")`
(cnn's by-hand layers). A student can undo both from inside. Each notebook here does, and uses
torch for the work the assignment wants done by hand; the judge must give it no more than
honest work earns (the same notebook whose torch calls are simply refused).
"""

from __future__ import annotations

import copy
import dataclasses

from grader.course.assignment import load_assignment
from grader.course.notebook import read_notebook

BACKPROP = load_assignment("backprop")
BACKPROP_FAST = dataclasses.replace(BACKPROP, limits=dataclasses.replace(
    BACKPROP.limits, cell_seconds=30, notebook_seconds=90, call_seconds=10))
CNN = load_assignment("cnn")

#: Undo the import blocker, then backprop's layers in torch (correct ones: they would pass).
BACKPROP_IN_TORCH = '''
import sys
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "ForbiddenImports"]
import torch

def _t(a):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)

def affine_forward(x, w, b):
    out = _t(x).reshape(x.shape[0], -1) @ _t(w) + _t(b)
    return out.detach().numpy(), (x, w, b)

def affine_backward(dout, cache):
    x, w, b = (_t(a) for a in cache)
    (x.reshape(x.shape[0], -1) @ w + b).backward(torch.tensor(dout))
    return x.grad.numpy(), w.grad.numpy(), b.grad.numpy()

def relu_forward(x):
    return torch.relu(torch.tensor(x)).numpy(), x

def relu_backward(dout, cache):
    x = _t(cache)
    torch.relu(x).backward(torch.tensor(dout, dtype=torch.float64))
    return x.grad.numpy()

def sigmoid_forward(x):
    return torch.sigmoid(torch.tensor(x, dtype=torch.float64)).numpy(), x

def sigmoid_backward(dout, cache):
    x = _t(cache)
    torch.sigmoid(x).backward(torch.tensor(dout, dtype=torch.float64))
    return x.grad.numpy()

def tanh_forward(x):
    return torch.tanh(torch.tensor(x, dtype=torch.float64)).numpy(), x

def tanh_backward(dout, cache):
    x = _t(cache)
    torch.tanh(x).backward(torch.tensor(dout, dtype=torch.float64))
    return x.grad.numpy()

def softmax_loss(scores, y):
    s = _t(scores)
    loss = torch.nn.functional.cross_entropy(s, torch.tensor(np.asarray(y), dtype=torch.long))
    loss.backward()
    return float(loss), s.grad.numpy()
'''

#: cnn's by-hand layers in torch. BYPASS is spliced in front of every torch call.
CNN_IN_TORCH = '''
import sys, threading
import torch
import torch.nn.functional as F

def _in_thread(fn):
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("v", fn()))
    t.start(); t.join()
    return box["v"]

def _run(fn):
    {BYPASS}

def _grad(f, *arrays, dout):
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    f(*ts).backward(torch.tensor(dout, dtype=torch.float64))
    return [t.grad.numpy() for t in ts]

def conv_forward_naive(x, w, b, conv_param):
    out = _run(lambda: F.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b),
                                stride=conv_param["stride"], padding=conv_param["pad"]).numpy())
    return out, (x, w, b, conv_param)

def conv_backward_naive(dout, cache):
    x, w, b, p = cache
    return tuple(_run(lambda: _grad(lambda a, c, d: F.conv2d(a, c, d, stride=p["stride"], padding=p["pad"]),
                                    x, w, b, dout=dout)))

def max_pool_forward_naive(x, pool_param):
    k, s = (pool_param["pool_height"], pool_param["pool_width"]), pool_param["stride"]
    return _run(lambda: F.max_pool2d(torch.tensor(x), k, s).numpy()), (x, pool_param)

def max_pool_backward_naive(dout, cache):
    x, p = cache
    k, s = (p["pool_height"], p["pool_width"]), p["stride"]
    return _run(lambda: _grad(lambda a: F.max_pool2d(a, k, s), x, dout=dout)[0])
'''

BYPASSES = {
    "plain": "return fn()",  # the honest baseline: torch calls the judge refuses
    "setprofile": "sys.setprofile(None)\n    return fn()",
    "thread": "return _in_thread(fn)",
    "both": "sys.setprofile(None)\n    return _in_thread(fn)",
}


def with_cell(nb: dict, source: str, after: int) -> dict:
    """A copy of `nb` with a code cell holding `source` inserted after cell index `after`."""
    nb = copy.deepcopy(nb)
    nb["cells"].insert(after + 1, {"cell_type": "code", "execution_count": None, "metadata": {},
                                   "outputs": [], "source": source})
    return nb


def backprop_attack() -> dict:
    return with_cell(read_notebook(BACKPROP.starter), BACKPROP_IN_TORCH, after=14)


def cnn_attack(bypass: str) -> dict:
    """The cnn starter with its by-hand layers replaced by torch behind `bypass`."""
    source = CNN_IN_TORCH.replace("{BYPASS}", BYPASSES[bypass])
    return with_cell(read_notebook(CNN.starter), source, after=8)


def refused_tests(result) -> list:  # noqa: ANN001
    """The tests that call the by-hand layers through `submission.refusing("torch")` (hidden suite)."""
    return [t for t in result.tests if t.suite == "hidden"
            and t.name.startswith(("test_conv_forward", "test_conv_backward", "test_max_pool"))]
