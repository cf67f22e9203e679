"""Write solution.ipynb and starter.ipynb for the `backprop` assignment.

    .venv/bin/python assignments/backprop/make_notebooks.py

The solution notebook is the source of truth; the starter is derived from it by
`grader.authoring.assign.assign`, the same code as `grade assign solution.ipynb -o starter.ipynb`
(the marker rules are in docs/authoring.md). Both files are written in `grade assign`'s
layout, so running this script and `grade assign` give byte-identical starters.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from grader.authoring.assign import notebook_from_cells, strip_solutions, write_solution_and_starter  # noqa: F401 (strip_solutions: tests)

HERE = Path(__file__).resolve().parent
ASSIGNMENT = "backprop"

# --------------------------------------------------------------------------- the cells

CELLS: list[tuple[str, str]] = []


def md(text: str) -> None:
    CELLS.append(("markdown", text.strip("\n")))


def code(text: str) -> None:
    CELLS.append(("code", text.strip("\n")))


md(r"""
# Backpropagation by hand

In this assignment you implement the forward and backward passes of the layers of a small
neural network in plain NumPy, check them against numeric gradients, and train a two-layer
network on the 8x8 handwritten digits.

**Rules.**
* Use NumPy only. `torch`, `tensorflow`, `jax` and `autograd` are not allowed (the grader
  refuses notebooks that import them).
* Write your code only where it says `# YOUR CODE HERE`, and delete the
  `raise NotImplementedError` line below it.
* Keep the function names and signatures as given: the grader calls them directly.
* Everything is float64.

**Grading.** `grade check backprop.ipynb` runs the public tests on your machine.
`grade submit backprop.ipynb` is what the judge runs: public tests plus hidden tests that
compare every function with a reference on fresh random inputs, check your gradients
numerically, and measure your trained network on held-out digits.
""")

code(r"""
import numpy as np

np.set_printoptions(precision=4, suppress=True)
""")

md(r"""
## 1. The chain rule, one layer at a time

A network is a composition of simple functions. For a scalar loss $L$ and a layer
$\text{out} = f(x)$, backpropagation never builds the full Jacobian of $f$. It receives the
*upstream gradient* `dout` $= \partial L / \partial\,\text{out}$ (same shape as `out`) and
returns $\partial L / \partial x$ by the chain rule:

$$\frac{\partial L}{\partial x_j} = \sum_i \frac{\partial L}{\partial\,\text{out}_i}\,
\frac{\partial\,\text{out}_i}{\partial x_j}.$$

Every layer is therefore written as a pair:

```python
out, cache = layer_forward(inputs...)    # cache: what backward will need
grads      = layer_backward(dout, cache) # one gradient per input, same shape as that input
```

A gradient always has the shape of the thing it is the gradient *of*.

### Affine (fully connected) layer

`affine_forward(x, w, b)`: `x` has shape `(N, d_1, ..., d_k)`; each example is flattened to a
row of length `D = d_1 * ... * d_k`, so the layer computes `x_flat @ w + b` with `w` of shape
`(D, M)` and `b` of shape `(M,)`. The output has shape `(N, M)`.

For `out = x_flat @ w + b` and upstream `dout` of shape `(N, M)`:

* `dx_flat = dout @ w.T`, then reshape to **x's original shape**,
* `dw = x_flat.T @ dout`,
* `db = dout.sum(axis=0)`: `b` is added to every row, so its gradient sums over the batch.

A quick way to remember these: match the shapes. `dw` must be `(D, M)`; the only product of
`x_flat` `(N, D)` and `dout` `(N, M)` with that shape is `x_flat.T @ dout`.
""")

code(r'''
def affine_forward(x, w, b):
    """Affine layer forward pass.

    x: (N, d_1, ..., d_k) array; each row is flattened to length D = d_1 * ... * d_k.
    w: (D, M) weights.  b: (M,) biases.
    Returns (out, cache): out (N, M); cache holds what affine_backward needs.
    """
    # BEGIN SOLUTION
    x_flat = x.reshape(x.shape[0], -1)
    out = x_flat @ w + b
    cache = (x, w, b)
    # END SOLUTION
    return out, cache
''')

code(r'''
def affine_backward(dout, cache):
    """Affine layer backward pass.

    dout: (N, M) upstream gradient.  cache: from affine_forward.
    Returns (dx, dw, db): dx has x's ORIGINAL shape (N, d_1, ..., d_k), dw (D, M), db (M,).
    """
    # BEGIN SOLUTION
    x, w, b = cache
    x_flat = x.reshape(x.shape[0], -1)
    dx = (dout @ w.T).reshape(x.shape)
    dw = x_flat.T @ dout
    db = dout.sum(axis=0)
    # END SOLUTION
    return dx, dw, db
''')

md(r"""
## 2. Why nonlinear activations? ReLU

Two affine layers in a row are one affine layer: `(x @ W1 + b1) @ W2 + b2 = x @ (W1 @ W2) + (b1 @ W2 + b2)`.
However deep, a stack of affine layers can only draw linear decision boundaries. An
element-wise **nonlinearity** between them is what lets depth add expressive power.

**ReLU**: $\text{relu}(x) = \max(0, x)$. Its derivative is 1 for $x > 0$ and 0 for $x < 0$,
so the backward pass lets `dout` through where the input was positive and blocks it
elsewhere. At exactly $x = 0$ the function has a kink and no derivative; any value in
$[0, 1]$ is a valid subgradient. **The convention here (and in PyTorch) is 0**: pass
gradient only where `x > 0`.

**Dead ReLUs.** If a unit's pre-activation is negative for *every* input (for example after
a too-large gradient step pushed its bias far negative), it outputs 0 everywhere and its
local gradient is 0 everywhere, so no gradient ever reaches its incoming weights and
gradient descent can never revive it. Small, sensible learning rates and initialisations
keep most units alive.
""")

code(r'''
def relu_forward(x):
    """ReLU forward pass: out = max(0, x) element-wise. Returns (out, cache)."""
    # BEGIN SOLUTION
    out = np.maximum(0.0, x)
    cache = x
    # END SOLUTION
    return out, cache
''')

code(r'''
def relu_backward(dout, cache):
    """ReLU backward pass: dout where the input was > 0, else 0 (0 at exactly x == 0)."""
    # BEGIN SOLUTION
    x = cache
    dx = dout * (x > 0)
    # END SOLUTION
    return dx
''')

md(r"""
## 3. Sigmoid and tanh: saturation and vanishing gradients

**Sigmoid**: $\sigma(x) = 1 / (1 + e^{-x})$, with derivative $\sigma'(x) = \sigma(x)\,(1 - \sigma(x))$.
That derivative is at most $1/4$ (at $x = 0$) and tends to 0 as $|x|$ grows: the unit
*saturates*. In a deep stack of sigmoid layers the chain rule multiplies one such factor per
layer, so the gradient reaching the first layers shrinks geometrically (**vanishing
gradients**). With large weights the opposite can happen: products of many factors larger
than one **explode**. This is one reason ReLU became the default hidden activation.

**Numerical stability.** The textbook formula breaks for large $|x|$: for $x = -1000$,
`np.exp(-x)` overflows to `inf` (with a warning), and `np.exp(x) / (1 + np.exp(x))` at
$x = 1000$ is `inf / inf = nan`. A stable version never exponentiates a large positive
number: use $1 / (1 + e^{-x})$ where $x \ge 0$ and $e^{x} / (1 + e^{x})$ where $x < 0$.
Your `sigmoid_forward` must be finite, correct and warning-free for inputs like $\pm 1000$.

**tanh**: $\tanh(x) = 2\sigma(2x) - 1$ is a zero-centred, rescaled sigmoid. Its derivative
is $1 - \tanh^2(x)$, at most 1 (at $x = 0$), and it saturates just like the sigmoid.

Both backward passes are cheapest if the forward pass caches its *output*.
""")

code(r'''
def sigmoid_forward(x):
    """Sigmoid forward pass, numerically stable for any x. Returns (out, cache)."""
    # BEGIN SOLUTION
    out = np.empty_like(x, dtype=np.float64)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    cache = out
    # END SOLUTION
    return out, cache
''')

code(r'''
def sigmoid_backward(dout, cache):
    """Sigmoid backward pass: dx = dout * s * (1 - s), s = sigmoid(x)."""
    # BEGIN SOLUTION
    s = cache
    dx = dout * s * (1.0 - s)
    # END SOLUTION
    return dx
''')

code(r'''
def tanh_forward(x):
    """tanh forward pass. Returns (out, cache)."""
    # BEGIN SOLUTION
    out = np.tanh(x)
    cache = out
    # END SOLUTION
    return out, cache
''')

code(r'''
def tanh_backward(dout, cache):
    """tanh backward pass: dx = dout * (1 - tanh(x)**2)."""
    # BEGIN SOLUTION
    t = cache
    dx = dout * (1.0 - t**2)
    # END SOLUTION
    return dx
''')

md(r"""
## 4. Softmax cross-entropy loss

For scores $s \in \mathbb{R}^{N \times C}$ and labels $y$, the softmax turns each row into
probabilities $p_{ic} = e^{s_{ic}} / \sum_k e^{s_{ik}}$, and the loss is the **mean**
negative log-probability of the correct class: $L = -\frac{1}{N}\sum_i \log p_{i y_i}$.
Its gradient is remarkably simple: $\partial L / \partial s = (p - \text{onehot}(y)) / N$.

**Why subtract the maximum?** Softmax does not change if you add the same constant to every
score of a row (it cancels between numerator and denominator). Subtracting the row maximum
makes the largest exponent $e^0 = 1$, so `np.exp` cannot overflow even for scores around
1000, and at least one term of the denominator is 1, so the log never sees 0. Computing
$\log p$ as `shifted - log(sum(exp(shifted)))` (log-sum-exp) rather than `log(p)` also avoids
`log(0)` for confidently wrong predictions.
""")

code(r'''
def softmax_loss(scores, y):
    """Mean softmax cross-entropy loss.

    scores: (N, C) float array.  y: (N,) integer labels in [0, C).
    Returns (loss, dscores): loss a float, dscores (N, C) = d loss / d scores.
    """
    # BEGIN SOLUTION
    n = scores.shape[0]
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(n), y].mean()
    dscores = np.exp(log_probs)
    dscores[np.arange(n), y] -= 1.0
    dscores /= n
    # END SOLUTION
    return loss, dscores
''')

md(r"""
## 5. A two-layer network

`TwoLayerNet` chains the layers: `affine -> ReLU -> affine -> softmax`. Store the parameters
in the dict `self.params`:

| key | shape | initial value |
| --- | --- | --- |
| `W1` | `(input_dim, hidden_dim)` | `weight_scale * ` standard normal |
| `b1` | `(hidden_dim,)` | zeros |
| `W2` | `(hidden_dim, num_classes)` | `weight_scale * ` standard normal |
| `b2` | `(num_classes,)` | zeros |

Draw the weights from `rng = np.random.default_rng(seed)` so a given seed always gives the
same network.

`loss(X, y=None)` returns the scores `(N, C)` when `y` is None. Otherwise it returns
`(loss, grads)`, where `grads` has the same keys and shapes as `self.params`. The loss
includes the L2 penalty `0.5 * reg * (np.sum(W1**2) + np.sum(W2**2))`, whose gradient is
`reg * W` (the 0.5 is there to cancel the 2). Biases are not regularised.

Backpropagation runs the forward pass in reverse: the `dscores` of the softmax is the `dout`
of the second affine layer, its `dx` is the `dout` of the ReLU, and so on.
""")

code(r'''
class TwoLayerNet:
    """affine - ReLU - affine - softmax, with L2 regularisation on W1 and W2."""

    def __init__(self, input_dim, hidden_dim, num_classes, weight_scale=1e-3, reg=0.0, seed=None):
        self.reg = reg
        self.params = {}
        # BEGIN SOLUTION
        rng = np.random.default_rng(seed)
        self.params["W1"] = weight_scale * rng.standard_normal((input_dim, hidden_dim))
        self.params["b1"] = np.zeros(hidden_dim)
        self.params["W2"] = weight_scale * rng.standard_normal((hidden_dim, num_classes))
        self.params["b2"] = np.zeros(num_classes)
        # END SOLUTION

    def loss(self, X, y=None):
        """Scores (N, C) if y is None; else (loss, grads) with grads keyed like self.params."""
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        # BEGIN SOLUTION
        a1, cache1 = affine_forward(X, W1, b1)
        h1, cache_relu = relu_forward(a1)
        scores, cache2 = affine_forward(h1, W2, b2)
        # END SOLUTION
        if y is None:
            return scores

        grads = {}
        # BEGIN SOLUTION
        data_loss, dscores = softmax_loss(scores, y)
        loss = data_loss + 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        dh1, grads["W2"], grads["b2"] = affine_backward(dscores, cache2)
        da1 = relu_backward(dh1, cache_relu)
        _, grads["W1"], grads["b1"] = affine_backward(da1, cache1)
        grads["W1"] += self.reg * W1
        grads["W2"] += self.reg * W2
        # END SOLUTION
        return loss, grads
''')

md(r"""
## 6. Gradient check

Never trust a backward pass you have not checked. The numeric gradient perturbs one input
entry at a time by $\pm h$ and applies the central difference
$\big(f(x + h) - f(x - h)\big) / 2h$, whose error is $O(h^2)$. With float64 and
$h = 10^{-5}$ the relative error
$\max |a - b| / \max(10^{-8}, |a| + |b|)$ should be around $10^{-8}$ or smaller. Errors near
$10^{-2}$ or larger mean a bug. (ReLU's kink can spoil an entry whose input lies within $h$
of 0; that is rare with random inputs.)

The next cell checks each of your layers. It should print small errors everywhere.
""")

code(r'''
def numeric_gradient(f, x, df=None, h=1e-5):
    """Central-difference gradient of sum(f(x) * df) (or of scalar f) with respect to x."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        pos = np.asarray(f(x))
        x[ix] = old - h
        neg = np.asarray(f(x))
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * (1.0 if df is None else df)) / (2 * h)
        it.iternext()
    return grad


def rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))


check_rng = np.random.default_rng(231)
x = check_rng.standard_normal((3, 2, 2))
w = check_rng.standard_normal((4, 5))
b = check_rng.standard_normal(5)
dout = check_rng.standard_normal((3, 5))
dx, dw, db = affine_backward(dout, affine_forward(x, w, b)[1])
print("affine  dx", rel_error(dx, numeric_gradient(lambda v: affine_forward(v, w, b)[0], x, dout)))
print("affine  dw", rel_error(dw, numeric_gradient(lambda v: affine_forward(x, v, b)[0], w, dout)))
print("affine  db", rel_error(db, numeric_gradient(lambda v: affine_forward(x, w, v)[0], b, dout)))

z = check_rng.standard_normal((4, 5))
dz = check_rng.standard_normal((4, 5))
for name, fwd, bwd in [("relu", relu_forward, relu_backward),
                       ("sigmoid", sigmoid_forward, sigmoid_backward),
                       ("tanh", tanh_forward, tanh_backward)]:
    analytic = bwd(dz, fwd(z)[1])
    print(f"{name:7s} dx", rel_error(analytic, numeric_gradient(lambda v: fwd(v)[0], z, dz)))

scores = check_rng.standard_normal((6, 4))
labels = check_rng.integers(0, 4, size=6)
loss, dscores = softmax_loss(scores, labels)
print("softmax loss", loss, "(about log(4) =", np.log(4), "for random scores)")
print("softmax ds", rel_error(dscores, numeric_gradient(lambda v: softmax_loss(v, labels)[0], scores)))

net = TwoLayerNet(5, 7, 3, weight_scale=0.5, reg=0.1, seed=0)
Xc = check_rng.standard_normal((4, 5))
yc = check_rng.integers(0, 3, size=4)
_, grads = net.loss(Xc, yc)
for k in ["W1", "b1", "W2", "b2"]:
    num = numeric_gradient(lambda v: net.loss(Xc, yc)[0], net.params[k])
    print(f"net     {k}", rel_error(grads[k], num))
''')

md(r"""
## 7. Training on the digits

The training part of scikit-learn's 8x8 digits is in `data/digits_train.npz`: `X` is
`(N, 64)` float64 with pixels in `[0, 1]`, `y` is `(N,)` int64 in `0..9`. The grader writes
this file next to your notebook; on your own machine run

```
grade data backprop
```

once to create `data/digits_train.npz`. The judge keeps a separate **held-out** set of
digits and measures your network on it.

Train a `TwoLayerNet` with minibatch stochastic gradient descent: shuffle the training rows
every epoch, and for each minibatch compute `loss, grads = net.loss(X_batch, y_batch)` and
update every parameter with `net.params[k] -= learning_rate * grads[k]`. Hold out part of
the training data for validation and pick your settings on it. Leave your final network in
the global **`best_net`**; it must reach at least 90% accuracy on the judge's held-out
digits (partial credit from 50%). Seed everything so a re-run gives the same network, and
keep training short: the whole notebook should run in a few seconds.
""")

code(r'''
data = np.load("data/digits_train.npz")
X, y = data["X"], data["y"]

split_rng = np.random.default_rng(0)
order = split_rng.permutation(len(X))
n_val = 300
X_val, y_val = X[order[:n_val]], y[order[:n_val]]
X_train, y_train = X[order[n_val:]], y[order[n_val:]]
print("train", X_train.shape, "validation", X_val.shape)


def accuracy(net, X, y):
    """Fraction of rows of X whose highest score is the true label."""
    return np.mean(np.argmax(net.loss(X), axis=1) == y)
''')

code(r'''
# Train a TwoLayerNet on (X_train, y_train) with minibatch SGD, choose the settings on
# (X_val, y_val), and leave the trained network in the global `best_net`.
# BEGIN SOLUTION
hidden_dim, weight_scale, reg = 64, 0.1, 1e-3
learning_rate, batch_size, epochs = 0.5, 50, 20

best_net = TwoLayerNet(64, hidden_dim, 10, weight_scale=weight_scale, reg=reg, seed=0)
train_rng = np.random.default_rng(1)
for epoch in range(epochs):
    perm = train_rng.permutation(len(X_train))
    for start in range(0, len(X_train), batch_size):
        idx = perm[start:start + batch_size]
        loss, grads = best_net.loss(X_train[idx], y_train[idx])
        for k in best_net.params:
            best_net.params[k] -= learning_rate * grads[k]
    if epoch % 5 == 4:
        print(f"epoch {epoch + 1:2d}  loss {loss:.3f}  train acc {accuracy(best_net, X_train, y_train):.3f}")
# END SOLUTION
print("validation accuracy:", accuracy(best_net, X_val, y_val))
''')

md(r"""
## 8. Short questions

Answer by assigning the globals below. Numbers are plain Python numbers; multiple-choice
answers are a single letter as a string, e.g. `"a"`.

1. `ANSWER_RELU_GRAD_AT_ZERO`: which value does your `relu_backward` use for the derivative
   of ReLU at exactly `x == 0`?
2. `ANSWER_SIGMOID_MAX_GRAD`: the largest value of $\sigma'(x)$ over all real $x$.
3. `ANSWER_SIGMOID_10_LAYER_BOUND`: in a chain of 10 sigmoid units (no weights), the
   largest possible factor by which the gradient can be multiplied on its way from the last
   unit's output to the first unit's input, i.e. the maximum of
   $\prod_{l=1}^{10} \sigma'(z_l)$. (This is why deep sigmoid networks suffer from vanishing
   gradients.)
4. `ANSWER_DEAD_RELU`: a hidden ReLU unit's pre-activation is negative for every training
   example. What happens to it during gradient descent?
   * (a) its gradient explodes, so its weights grow without bound
   * (b) it outputs 0 and gets zero gradient on every example, so its incoming weights are never updated and it stays dead
   * (c) it behaves like a linear unit, so the network loses its nonlinearity
   * (d) the softmax at the output pushes it back into the positive range
5. `ANSWER_SOFTMAX_SHIFT`: why does `softmax_loss` subtract each row's maximum score?
   * (a) it makes the loss smaller, so training converges faster
   * (b) without it the gradient formula `(p - onehot(y)) / N` would be wrong
   * (c) softmax is unchanged by adding a constant to a row, and after the shift `np.exp` can no longer overflow
   * (d) it acts as a regulariser on the scores
""")

code(r'''
ANSWER_RELU_GRAD_AT_ZERO = 0.0  # SOLUTION
ANSWER_SIGMOID_MAX_GRAD = 0.25  # SOLUTION
ANSWER_SIGMOID_10_LAYER_BOUND = 0.25 ** 10  # SOLUTION
ANSWER_DEAD_RELU = "b"  # SOLUTION
ANSWER_SOFTMAX_SHIFT = "c"  # SOLUTION
''')


# --------------------------------------------------------------------------- building


def build(starter: bool) -> nbformat.NotebookNode:
    return notebook_from_cells(CELLS, ASSIGNMENT, starter=starter)


def main(argv: list[str]) -> int:
    write_solution_and_starter(CELLS, ASSIGNMENT, Path(argv[1]) if len(argv) > 1 else HERE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
