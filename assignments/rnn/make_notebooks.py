"""Write solution.ipynb and starter.ipynb for the `rnn` assignment.

    .venv/bin/python assignments/rnn/make_notebooks.py

The cells below are the source of truth for solution.ipynb; the starter is derived from it
by `grader.authoring.assign.assign`, the same code as
`grade assign assignments/rnn/solution.ipynb -o assignments/rnn/starter.ipynb`
(the marker rules are in docs/authoring.md), and both files are written in `grade assign`'s
byte-exact layout.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from grader.authoring.assign import notebook_from_cells, write_solution_and_starter

HERE = Path(__file__).resolve().parent
ASSIGNMENT = "rnn"

CELLS: list[tuple[str, str]] = []


def md(text: str) -> None:
    CELLS.append(("markdown", text.strip("\n")))


def code(text: str) -> None:
    CELLS.append(("code", text.strip("\n")))


# --------------------------------------------------------------------------- the cells

md(r"""
# Recurrent networks

A recurrent network reads a sequence one step at a time and carries a **hidden state** from
step to step: a summary of everything it has seen so far. In this assignment you write, in
NumPy:

1. a vanilla RNN step and its backward pass,
2. the RNN over a whole sequence and **backpropagation through time** (BPTT),
3. an experiment that shows why gradients **vanish** over many steps,
4. an **LSTM** cell, forward and backward, the fix for vanishing gradients,
5. **gradient clipping** by norm, the fix for exploding ones.

Then you train a recurrent classifier in PyTorch (`nn.GRU` or `nn.LSTM`) that reads each
8x8 digit row by row, as a sequence of 8 steps of 8 pixels.

**Rules.**
* Sections 1 to 5 are **NumPy only**: the grader calls those functions with PyTorch switched
  off, and a call into `torch` from inside them fails the test. (Use PyTorch elsewhere, e.g.
  to check your results, as the check cells do.) `tensorflow`, `jax` and `autograd` are not
  allowed.
* Write your code only where it says `# YOUR CODE HERE`, and delete the
  `raise NotImplementedError` line below it. Keep names and signatures: the grader calls them.
* Sections 1 to 5 work in float64.

**Grading.** `grade check rnn.ipynb` runs the public tests. The hidden tests compare your
functions with `torch.nn.RNNCell`, `torch.nn.RNN`, `torch.nn.LSTMCell` and
`torch.nn.utils.clip_grad_norm_` (with your weights mapped into them) on fresh random inputs,
check your gradients numerically, and measure your classifier on held-out digits.
""")

code(r"""
import numpy as np
import torch

np.set_printoptions(precision=4, suppress=True)
torch.set_num_threads(1)  # small models: one thread is fastest, and results do not depend on the machine
""")

md(r"""
## 1. One step of a vanilla RNN

At step $t$ the RNN combines the input $x_t$ (a batch of `N` vectors of size `D`) with the
previous hidden state $h_{t-1}$ (`N` vectors of size `H`):

$$h_t = \tanh(x_t W_x + h_{t-1} W_h + b),$$

with `Wx` of shape `(D, H)`, `Wh` of shape `(H, H)` and `b` of shape `(H,)`. The **same**
weights are used at every step, as a convolution uses the same filter at every position.

**Backward.** Write $a = x_t W_x + h_{t-1} W_h + b$, so $h_t = \tanh(a)$ and
$\tanh'(a) = 1 - \tanh^2(a) = 1 - h_t^2$ (keep $h_t$ in the cache). With the upstream
gradient `dnext_h` $= \partial L / \partial h_t$:

$$da = \text{dnext\_h} \odot (1 - h_t^2), \quad dx = da\, W_x^\top, \quad
dh_{t-1} = da\, W_h^\top, \quad dW_x = x_t^\top da, \quad dW_h = h_{t-1}^\top da, \quad
db = \textstyle\sum_n da_n.$$

(These are an affine layer's gradients, twice: once for the input and once for the state.)

PyTorch's `nn.RNNCell` computes the same thing with its weights transposed: its
`weight_ih` is `Wx.T` (shape `(H, D)`), `weight_hh` is `Wh.T`, and it has two biases whose
sum plays the role of `b`.
""")

code(r'''
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """One RNN step: next_h = tanh(x @ Wx + prev_h @ Wh + b).

    x: (N, D), prev_h: (N, H), Wx: (D, H), Wh: (H, H), b: (H,).
    Returns (next_h, cache); next_h has shape (N, H).
    """
    # BEGIN SOLUTION
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    cache = (x, prev_h, Wx, Wh, next_h)
    # END SOLUTION
    return next_h, cache


def rnn_step_backward(dnext_h, cache):
    """Backward pass of rnn_step_forward. dnext_h: (N, H), the gradient of the loss w.r.t. next_h.

    Returns (dx, dprev_h, dWx, dWh, db) with the shapes of x, prev_h, Wx, Wh and b.
    """
    # BEGIN SOLUTION
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1.0 - next_h**2)
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dWx = x.T @ da
    dWh = prev_h.T @ da
    db = da.sum(axis=0)
    # END SOLUTION
    return dx, dprev_h, dWx, dWh, db
''')

md(r"""
## 2. The whole sequence, and backpropagation through time

`rnn_forward` runs the step over a sequence `x` of shape `(N, T, D)` (batch first, as
PyTorch's `batch_first=True`), starting from `h0` `(N, H)`, and returns **every** hidden
state, `h` of shape `(N, T, H)`.

**Backpropagation through time** is the backward pass of this loop. Unrolled, the RNN is a
deep feed-forward network with one layer per step and the same weights in every layer, so:

* the loss may depend on every hidden state (a prediction at each step), so `rnn_backward`
  receives `dh` of shape `(N, T, H)`, the upstream gradient of each $h_t$ from *outside* the
  RNN. But $h_t$ also feeds step $t+1$: the total gradient flowing into step $t$ is
  `dh[:, t]` **plus** the `dprev_h` that step $t+1$'s backward pass returned. Walk the steps
  **backwards**, from $t = T-1$ to 0, carrying that `dprev_h` along (it is zero beyond the
  last step);
* the weights are shared, so `dWx`, `dWh` and `db` are the **sums** over all steps;
* what is left of `dprev_h` after step 0 is `dh0`.
""")

code(r'''
def rnn_forward(x, h0, Wx, Wh, b):
    """Run the RNN over a sequence. x: (N, T, D), h0: (N, H).

    Returns (h, cache): h (N, T, H) holds every hidden state h_1 ... h_T.
    """
    # BEGIN SOLUTION
    N, T, _ = x.shape
    h = np.zeros((N, T, h0.shape[1]))
    cache = []
    prev_h = h0
    for t in range(T):
        prev_h, step_cache = rnn_step_forward(x[:, t], prev_h, Wx, Wh, b)
        h[:, t] = prev_h
        cache.append(step_cache)
    # END SOLUTION
    return h, cache


def rnn_backward(dh, cache):
    """Backpropagation through time. dh: (N, T, H), the upstream gradient of every hidden state.

    Returns (dx, dh0, dWx, dWh, db) with the shapes of x (N, T, D), h0 (N, H), Wx, Wh and b.
    """
    # BEGIN SOLUTION
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx = np.zeros((N, T, D))
    dWx = np.zeros((D, H))
    dWh = np.zeros((H, H))
    db = np.zeros(H)
    dprev_h = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t] + dprev_h, cache[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    dh0 = dprev_h
    # END SOLUTION
    return dx, dh0, dWx, dWh, db
''')

md(r"""
### Check your RNN

The next cell compares your RNN with PyTorch's `nn.RNN` (weights mapped in, float64,
gradients from autograd) and with numeric gradients of your own `rnn_forward`. Every error
should be below about `1e-8`.
""")

code(r'''
def numeric_gradient(f, x, df, h=1e-5):
    """Central-difference gradient of sum(f(x) * df) with respect to x."""
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        pos = f(x)
        x[ix] = old - h
        neg = f(x)
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
    return grad


def rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))


check_rng = np.random.default_rng(231)
N, T, D, H = 3, 5, 4, 6
x = check_rng.standard_normal((N, T, D))
h0 = check_rng.standard_normal((N, H))
Wx, Wh, b = (0.5 * check_rng.standard_normal(s) for s in [(D, H), (H, H), (H,)])
h, cache = rnn_forward(x, h0, Wx, Wh, b)
dh = check_rng.standard_normal(h.shape)
dx, dh0, dWx, dWh, db = rnn_backward(dh, cache)

rnn = torch.nn.RNN(D, H, batch_first=True).double()
with torch.no_grad():
    rnn.weight_ih_l0.copy_(torch.from_numpy(Wx.T))
    rnn.weight_hh_l0.copy_(torch.from_numpy(Wh.T))
    rnn.bias_ih_l0.copy_(torch.from_numpy(b))
    rnn.bias_hh_l0.zero_()
tx, th0 = torch.tensor(x, requires_grad=True), torch.tensor(h0[None], requires_grad=True)
t_h, _ = rnn(tx, th0)
t_h.backward(torch.from_numpy(dh))
print("h   vs torch  ", rel_error(h, t_h.detach().numpy()))
print("dx  vs torch  ", rel_error(dx, tx.grad.numpy()))
print("dh0 vs torch  ", rel_error(dh0, th0.grad.numpy()[0]))
print("dWx vs torch  ", rel_error(dWx, rnn.weight_ih_l0.grad.numpy().T))
print("dWh vs torch  ", rel_error(dWh, rnn.weight_hh_l0.grad.numpy().T))
print("db  vs torch  ", rel_error(db, rnn.bias_ih_l0.grad.numpy()))
print("dWh vs numeric", rel_error(dWh, numeric_gradient(lambda v: rnn_forward(x, h0, Wx, v, b)[0], Wh, dh)))
print("dx  vs numeric", rel_error(dx, numeric_gradient(lambda v: rnn_forward(v, h0, Wx, Wh, b)[0], x, dh)))
''')

md(r"""
## 3. Vanishing gradients

How much does the last hidden state $h_T$ depend on an input far back, $x_t$? By the chain
rule the gradient travels back through every step in between, and each step multiplies it by
the step's Jacobian:

$$\frac{\partial h_T}{\partial h_t} = \prod_{k=t+1}^{T} \frac{\partial h_k}{\partial h_{k-1}},
\qquad \frac{\partial h_k}{\partial h_{k-1}} = \operatorname{diag}(1 - h_k^2)\, W_h^\top.$$

The factor $1 - h_k^2$ is at most 1, so each step can shrink the gradient by up to the
largest singular value $\sigma_{\max}$ of $W_h$: after $T - t$ steps it is at most
$\sigma_{\max}^{T-t}$ of its size. With $\sigma_{\max} < 1$ the gradient from the end of the
sequence **vanishes** exponentially as it goes back: the network cannot learn that an early
input matters for a late output. With $\sigma_{\max} > 1$ (and units that are not saturated)
it can **explode** instead.

Write `grad_norms_through_time(x, h0, Wx, Wh, b)`: for the loss $L = \sum h_T$ (the sum of
the **last** hidden state, nothing else), return the array of the norms
$\lVert \partial L / \partial x_t \rVert$ for $t = 0, \dots, T-1$ (each the 2-norm over the
whole batch, `np.linalg.norm(dx[:, t])`). Use your `rnn_forward` and `rnn_backward`: the
upstream gradient `dh` is zero everywhere except `dh[:, -1] = 1`.
""")

code(r'''
def grad_norms_through_time(x, h0, Wx, Wh, b):
    """Norms of dL/dx[:, t], t = 0..T-1, for L = sum(h[:, T-1]). Returns an array of shape (T,)."""
    # BEGIN SOLUTION
    h, cache = rnn_forward(x, h0, Wx, Wh, b)
    dh = np.zeros_like(h)
    dh[:, -1] = 1.0
    dx = rnn_backward(dh, cache)[0]
    norms = np.array([np.linalg.norm(dx[:, t]) for t in range(x.shape[1])])
    # END SOLUTION
    return norms
''')

md(r"""
The next cell runs it on a sequence of 30 steps, with $W_h$ a random orthogonal matrix scaled
to $\sigma_{\max} = 0.5$, then $1.0$, then $2.0$. Look at how fast the norms fall from the
last step ($t = 29$) to the first.
""")

code(r'''
vg_rng = np.random.default_rng(0)
T_long, D_v, H_v = 30, 4, 16
x_long = 0.1 * vg_rng.standard_normal((2, T_long, D_v))
Wx_v = 0.1 * vg_rng.standard_normal((D_v, H_v))
Q, _ = np.linalg.qr(vg_rng.standard_normal((H_v, H_v)))  # orthogonal: every singular value is 1
for scale in [0.5, 1.0, 2.0]:
    norms = grad_norms_through_time(x_long, np.zeros((2, H_v)), Wx_v, scale * Q, np.zeros(H_v))
    print(f"sigma_max {scale}: |dL/dx_t| at t = 29, 24, 19, 9, 0:",
          " ".join(f"{norms[t]:.2e}" for t in [29, 24, 19, 9, 0]))
''')

md(r"""
## 4. The LSTM cell

The LSTM keeps a second state, the **cell** $c_t$, and changes it only **additively**,
under the control of gates (numbers between 0 and 1 computed from $x_t$ and $h_{t-1}$). One
affine map computes all four pre-activations at once,

$$a = x_t W_x + h_{t-1} W_h + b, \qquad W_x: (D, 4H),\; W_h: (H, 4H),\; b: (4H,),$$

and `a` is cut into four blocks of `H` columns, **in PyTorch's order**: `a[:, :H]` for the
input gate, `a[:, H:2H]` for the forget gate, `a[:, 2H:3H]` for the candidate, `a[:, 3H:]`
for the output gate:

$$i = \sigma(a_i), \quad f = \sigma(a_f), \quad g = \tanh(a_g), \quad o = \sigma(a_o),$$

$$c_t = f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t).$$

The forget gate decides how much of the old cell to keep, the input gate how much of the
candidate to write, the output gate how much of the cell to show. Along the cell,
$\partial c_t / \partial c_{t-1} = f$: no weight matrix and no squashing derivative in
between. When $f \approx 1$ the gradient passes through many steps almost unchanged, which
is how the LSTM fixes vanishing gradients.

(`torch.nn.LSTMCell` uses the same order, with `weight_ih = Wx.T`, `weight_hh = Wh.T`. CS231n's
notes order the blocks i, f, o, g: not here.) $\sigma(z) = 1 / (1 + e^{-z})$ and
$\sigma' = \sigma (1 - \sigma)$; a `sigmoid` that never overflows is given.

**Backward.** The cell receives gradient from two places: `dnext_c` (from the next step's
cell) and through $h_t = o \tanh(c_t)$. So

$$do = dh_t \odot \tanh(c_t), \qquad dc = dc_t + dh_t \odot o \odot (1 - \tanh^2(c_t)),$$

$$di = dc \odot g, \quad df = dc \odot c_{t-1}, \quad dg = dc \odot i, \quad dc_{t-1} = dc \odot f,$$

then through the nonlinearities ($da_i = di \odot i(1 - i)$, ..., $da_g = dg \odot (1 - g^2)$),
stacked back into `da` of shape `(N, 4H)` in the same order, and through the affine map as
in the RNN.
""")

code(r'''
def sigmoid(x):
    """1 / (1 + exp(-x)) without overflow."""
    out = np.empty_like(x, dtype=np.float64)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """One LSTM step, gates in PyTorch's order (input, forget, candidate g, output).

    x: (N, D), prev_h and prev_c: (N, H), Wx: (D, 4H), Wh: (H, 4H), b: (4H,).
    Returns (next_h, next_c, cache), next_h and next_c of shape (N, H).
    """
    # BEGIN SOLUTION
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H:2 * H])
    g = np.tanh(a[:, 2 * H:3 * H])
    o = sigmoid(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    tanh_c = np.tanh(next_c)
    next_h = o * tanh_c
    cache = (x, prev_h, prev_c, Wx, Wh, i, f, g, o, tanh_c)
    # END SOLUTION
    return next_h, next_c, cache


def lstm_step_backward(dnext_h, dnext_c, cache):
    """Backward pass of lstm_step_forward. dnext_h, dnext_c: (N, H).

    Returns (dx, dprev_h, dprev_c, dWx, dWh, db) with the shapes of x, prev_h, prev_c, Wx, Wh, b.
    """
    # BEGIN SOLUTION
    x, prev_h, prev_c, Wx, Wh, i, f, g, o, tanh_c = cache
    do = dnext_h * tanh_c
    dc = dnext_c + dnext_h * o * (1.0 - tanh_c**2)
    di, df, dg = dc * g, dc * prev_c, dc * i
    dprev_c = dc * f
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1)
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dWx = x.T @ da
    dWh = prev_h.T @ da
    db = da.sum(axis=0)
    # END SOLUTION
    return dx, dprev_h, dprev_c, dWx, dWh, db
''')

md(r"""
### Check your LSTM cell

Against `torch.nn.LSTMCell` with your weights mapped in (float64, autograd). Errors should be
below about `1e-8`.
""")

code(r'''
N, D, H = 3, 4, 5
x1 = check_rng.standard_normal((N, D))
h_prev, c_prev = check_rng.standard_normal((N, H)), check_rng.standard_normal((N, H))
Wx_l, Wh_l, b_l = (0.5 * check_rng.standard_normal(s) for s in [(D, 4 * H), (H, 4 * H), (4 * H,)])
next_h, next_c, lcache = lstm_step_forward(x1, h_prev, c_prev, Wx_l, Wh_l, b_l)
dnh, dnc = check_rng.standard_normal((N, H)), check_rng.standard_normal((N, H))
ldx, ldh, ldc, ldWx, ldWh, ldb = lstm_step_backward(dnh, dnc, lcache)

cell = torch.nn.LSTMCell(D, H).double()
with torch.no_grad():
    cell.weight_ih.copy_(torch.from_numpy(Wx_l.T))
    cell.weight_hh.copy_(torch.from_numpy(Wh_l.T))
    cell.bias_ih.copy_(torch.from_numpy(b_l))
    cell.bias_hh.zero_()
tx, th, tc = (torch.tensor(a, requires_grad=True) for a in (x1, h_prev, c_prev))
t_h, t_c = cell(tx, (th, tc))
(t_h * torch.from_numpy(dnh) + t_c * torch.from_numpy(dnc)).sum().backward()
print("next_h vs torch", rel_error(next_h, t_h.detach().numpy()))
print("next_c vs torch", rel_error(next_c, t_c.detach().numpy()))
for name, mine, theirs in [("dx", ldx, tx.grad), ("dprev_h", ldh, th.grad), ("dprev_c", ldc, tc.grad),
                           ("dWx", ldWx, cell.weight_ih.grad.T), ("dWh", ldWh, cell.weight_hh.grad.T),
                           ("db", ldb, cell.bias_ih.grad)]:
    print(f"{name:7s} vs torch", rel_error(mine, theirs.numpy()))
''')

md(r"""
## 5. Gradient clipping

Vanishing gradients need a different architecture; **exploding** ones have a simple remedy:
when the gradient is too long, shorten it before the update. Clipping by norm treats all the
parameters' gradients as one long vector and measures its 2-norm,

$$\lVert g \rVert = \sqrt{\textstyle\sum_{\text{params } p} \sum_{\text{entries}} g_p^2},$$

and, only when that exceeds `max_norm`, multiplies **every** gradient by the same factor
$\text{max\_norm} / (\lVert g \rVert + 10^{-6})$ (the $10^{-6}$ is PyTorch's, from
`torch.nn.utils.clip_grad_norm_`). The direction of the update is kept; only its length is
capped. (Clipping each gradient on its own, or each entry, would change the direction.)

Write `clip_grad_norm(grads, max_norm)` for a dict of gradient arrays. Return a **new** dict
(leave the arrays you were given unchanged) and the total norm **before** clipping, as a
float.
""")

code(r'''
def clip_grad_norm(grads, max_norm):
    """Clip a dict of gradients by their total 2-norm, as torch.nn.utils.clip_grad_norm_.

    Returns (clipped, total_norm): clipped is a new dict with the same keys; when total_norm
    exceeds max_norm every gradient is multiplied by max_norm / (total_norm + 1e-6).
    """
    # BEGIN SOLUTION
    total_norm = float(np.sqrt(sum(np.sum(g**2) for g in grads.values())))
    scale = max_norm / (total_norm + 1e-6)
    clipped = {k: g * scale if scale < 1.0 else g.copy() for k, g in grads.items()}
    # END SOLUTION
    return clipped, total_norm
''')

code(r'''
g_demo = {"Wx": np.full((2, 2), 3.0), "b": np.array([4.0])}  # total norm sqrt(4 * 9 + 16) = sqrt(52)
clipped, total = clip_grad_norm(g_demo, 1.0)
print("total norm", total, "(expected", np.sqrt(52), ")")
print("clipped norm", np.sqrt(sum(np.sum(v**2) for v in clipped.values())), "(expected about 1)")
''')

md(r"""
## 6. A recurrent classifier in PyTorch

Each 8x8 digit becomes a sequence: **8 steps** (the rows, top to bottom), each of **8
features** (the pixels of the row). A recurrent network reads the rows one by one and
classifies the digit from its last hidden state.

Write `build_sequence_classifier(input_size=8, hidden_size=32, num_classes=10)`: an
`nn.Module` that maps a float32 tensor `(N, T, input_size)` to class scores (logits)
`(N, num_classes)`. It must contain an `nn.GRU` or an `nn.LSTM` (with `batch_first=True`
the input is `(N, T, features)`, as ours). `nn.GRU` returns `(output, h_n)`: `output` is
`(N, T, hidden_size)`, every step's hidden state, and `output[:, -1]` the last one; an
`nn.LSTM` returns `(output, (h_n, c_n))`. Put an `nn.Linear(hidden_size, num_classes)` on
the last hidden state, and no softmax (`cross_entropy` takes raw scores).

(`nn.Sequential` cannot hold a GRU directly, since the GRU returns a tuple: write a small
`nn.Module` subclass with `__init__` and `forward`.)

Then train it on `data/digits_train.npz` (the grader writes it next to your notebook; on your
machine run `grade data rnn` once) and leave the trained model in **`seq_model`**. The
judge runs it in `eval()` mode on held-out digits it keeps to itself, as `(N, 8, 8)` float32
sequences: 90% accuracy earns full marks (partial credit from 50%). A GRU of 32 units, Adam
with `lr=0.02`, minibatches of 64 and 10 epochs reach about 96% in a few seconds. Seed
everything (`torch.manual_seed`, a seeded `torch.Generator` for the shuffling), and keep the
training under about 20 seconds.
""")

code(r'''
import torch.nn as nn


def build_sequence_classifier(input_size=8, hidden_size=32, num_classes=10):
    """A GRU or LSTM classifier: (N, T, input_size) float32 -> scores (N, num_classes)."""
    # BEGIN SOLUTION
    class GRUClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(input_size, hidden_size, batch_first=True)
            self.fc = nn.Linear(hidden_size, num_classes)

        def forward(self, x):
            output, _ = self.gru(x)
            return self.fc(output[:, -1])

    model = GRUClassifier()
    # END SOLUTION
    return model
''')

code(r'''
data = np.load("data/digits_train.npz")
sequences = data["X"].reshape(-1, 8, 8).astype(np.float32)  # (N, T = 8 rows, 8 pixels per row)
labels = data["y"].astype(np.int64)
order = np.random.default_rng(0).permutation(len(sequences))
X_val, y_val = sequences[order[:200]], labels[order[:200]]
X_train, y_train = sequences[order[200:]], labels[order[200:]]
print("train", X_train.shape, "validation", X_val.shape)


def accuracy(model, X, y):
    model.eval()
    with torch.no_grad():
        return float((model(torch.from_numpy(X)).argmax(dim=1).numpy() == y).mean())
''')

code(r'''
# Train build_sequence_classifier() on (X_train, y_train) and leave it in `seq_model`.
# BEGIN SOLUTION
torch.manual_seed(0)
seq_model = build_sequence_classifier()
optimizer = torch.optim.Adam(seq_model.parameters(), lr=0.02)
shuffle = torch.Generator().manual_seed(1)
X_t, y_t = torch.from_numpy(X_train), torch.from_numpy(y_train)
for epoch in range(10):
    seq_model.train()
    for idx in torch.randperm(len(X_t), generator=shuffle).split(64):
        loss = nn.functional.cross_entropy(seq_model(X_t[idx]), y_t[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if epoch % 3 == 2:
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}, validation accuracy {accuracy(seq_model, X_val, y_val):.3f}")
# END SOLUTION
print("validation accuracy:", accuracy(seq_model, X_val, y_val))
''')

md(r"""
## 7. Short questions

Answer by assigning the globals below: numbers as plain Python numbers, multiple-choice
answers as one letter in a string, e.g. `"a"`.

1. `ANSWER_VANISHING_BOUND`: the largest singular value of $W_h$ is 0.5. At most what
   fraction of $\lVert \partial L / \partial h_T \rVert$ can reach $h_{T-10}$, ten steps back?
   (Use the bound of section 3.)
2. `ANSWER_RNN_PARAMS`: how many parameters does the vanilla RNN of section 1 have with
   `D = 8` inputs and `H = 32` hidden units (`Wx`, `Wh` and `b`)?
3. `ANSWER_LSTM_FIX`: why do gradients survive many more steps in an LSTM?
   * (a) the sigmoid gates have larger derivatives than tanh
   * (b) the cell state is updated additively, $c_t = f \odot c_{t-1} + i \odot g$, so along the cell the gradient is multiplied only by the forget gate, close to 1 when the LSTM keeps its memory
   * (c) the LSTM has four times as many weights
   * (d) the output gate clips the gradient
4. `ANSWER_CLIPPING`: what does clipping the gradient norm fix?
   * (a) vanishing gradients: it makes small gradients larger
   * (b) exploding gradients: it caps the length of the update and keeps its direction
   * (c) overfitting: it acts as weight decay
   * (d) both vanishing and exploding gradients
""")

code(r'''
ANSWER_VANISHING_BOUND = 0.5**10  # SOLUTION
ANSWER_RNN_PARAMS = 8 * 32 + 32 * 32 + 32  # SOLUTION
ANSWER_LSTM_FIX = "b"  # SOLUTION
ANSWER_CLIPPING = "b"  # SOLUTION
''')


# --------------------------------------------------------------------------- building


def build(starter: bool) -> nbformat.NotebookNode:
    return notebook_from_cells(CELLS, ASSIGNMENT, starter=starter)


def main(argv: list[str]) -> int:
    write_solution_and_starter(CELLS, ASSIGNMENT, Path(argv[1]) if len(argv) > 1 else HERE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
