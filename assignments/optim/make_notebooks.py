"""Write solution.ipynb and starter.ipynb for the `optim` assignment.

    .venv/bin/python assignments/optim/make_notebooks.py

The cells below are the source of truth for solution.ipynb; the starter is derived from it
by `grader.authoring.assign.assign`, the same code as
`grade assign assignments/optim/solution.ipynb -o assignments/optim/starter.ipynb`
(the marker rules are in docs/authoring.md), and both files are written in `grade assign`'s
byte-exact layout.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from grader.authoring.assign import notebook_from_cells, write_solution_and_starter

HERE = Path(__file__).resolve().parent
ASSIGNMENT = "optim"

CELLS: list[tuple[str, str]] = []


def md(text: str) -> None:
    CELLS.append(("markdown", text.strip("\n")))


def code(text: str) -> None:
    CELLS.append(("code", text.strip("\n")))


# --------------------------------------------------------------------------- the cells

md(r"""
# Gradient descent and optimizers

Backpropagation gives you the gradient of the loss; an **optimizer** decides what to do with
it. In this assignment you write the four update rules that train almost every network
today, in NumPy, exactly as `torch.optim` computes them:

1. **SGD** (with weight decay),
2. **SGD with momentum** (PyTorch's convention, and Nesterov's variant),
3. **RMSProp**,
4. **Adam**, with its bias correction.

Then you write the loop around them: **mini-batches** (batch, stochastic and mini-batch
gradient descent are the same loop with different batch sizes) and a training function, and
you run a **learning-rate experiment** on the two-layer network of the backprop assignment.

**Rules.**
* NumPy only: `torch`, `tensorflow`, `jax` and `autograd` cannot be imported.
* Write your code only where it says `# YOUR CODE HERE`, and delete the
  `raise NotImplementedError` line below it. Keep names and signatures: the grader calls them.
* Everything is float64.

**Grading.** `grade check optim.ipynb` runs the public tests. The hidden tests feed your
update rules and `torch.optim` the same parameters and gradients for many steps (changing
the learning rate on the way, with and without weight decay) and compare the parameters and
the optimizer state after every step. They re-run your learning-rate experiment with **your**
`sgd_momentum` and check the conclusions you state at the end against that run.
""")

code(r"""
import numpy as np

np.set_printoptions(precision=4, suppress=True)
""")

md(r"""
## The API of an update rule

Every rule updates one parameter array at a time:

```python
next_w, config = rule(w, dw, config)
```

* `w`: the parameter (any shape), `dw`: the gradient of the loss with respect to it;
* `config`: a dict with the **hyperparameters** (`learning_rate`, ...) and the rule's
  **state** (momentum's velocity, Adam's moving averages, ...). On the first call it may be
  `None` or miss keys: fill in the defaults given in each docstring with
  `config.setdefault(key, value)`, and create the state when it is missing. Return the
  updated state in `config`; the caller passes it back on the next step, so state carries
  from one step to the next. Each parameter of a network has its own `config`.
* The hyperparameters can change between calls (a learning-rate schedule sets
  `config["learning_rate"]` before a step): read them on every call.

**Weight decay.** Every rule takes `config["weight_decay"]` (default 0), the L2 penalty
$\frac{\lambda}{2}\lVert w\rVert^2$ folded into the gradient, as `torch.optim` does: the
rule first replaces the gradient by

$$g = dw + \lambda\, w,$$

and then works with `g` wherever the formulas below say `g`.
""")

md(r"""
## 1. SGD

The simplest rule steps against the gradient, scaled by the learning rate $\eta$:

$$w \leftarrow w - \eta\, g.$$

Defaults (those of `torch.optim.SGD`): `learning_rate = 1e-3`, `weight_decay = 0`.
""")

code(r'''
def sgd(w, dw, config=None):
    """Plain stochastic gradient descent: w - learning_rate * (dw + weight_decay * w).

    config: learning_rate (default 1e-3), weight_decay (default 0.0).
    Returns (next_w, config).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("weight_decay", 0.0)
    # BEGIN SOLUTION
    g = dw + config["weight_decay"] * w
    next_w = w - config["learning_rate"] * g
    # END SOLUTION
    return next_w, config
''')

md(r"""
## 2. SGD with momentum

Plain SGD zig-zags across narrow valleys and crawls along flat ones. **Momentum** keeps a
running sum of past gradients, a *velocity* $v$, and steps along it: directions where the
gradients agree build up speed, directions where they alternate cancel out.

**PyTorch's convention** (the one to implement; `momentum_buffer` in `torch.optim.SGD`):

$$v \leftarrow \mu\, v + g, \qquad w \leftarrow w - \eta\, v,$$

with $v = g$ on the very first step (there is no velocity yet). The velocity accumulates raw
gradients and the learning rate scales the whole step.

CS231n's notes write it differently, $v \leftarrow \mu v - \eta\, dw$, $w \leftarrow w + v$:
there the learning rate goes *into* the velocity. With a constant learning rate both give the
same parameters, but not when the learning rate changes during training (a schedule): then an
old velocity carries the old rate in CS231n's form and the new one in PyTorch's. The tests
change the learning rate, and compare your `config["velocity"]` with PyTorch's buffer.

With a constant gradient the velocity grows to $g / (1 - \mu)$: momentum 0.9 makes the steps
up to ten times longer than plain SGD's.

**Nesterov momentum** (`config["nesterov"] = True`) looks ahead: after updating $v$ as above,
it steps along $g + \mu\, v$ instead of $v$.

Defaults: `learning_rate = 1e-3`, `momentum = 0.9`, `weight_decay = 0`, `nesterov = False`;
`config["velocity"]` is missing before the first step.
""")

code(r'''
def sgd_momentum(w, dw, config=None):
    """SGD with momentum, PyTorch's convention.

    config: learning_rate (1e-3), momentum (0.9), weight_decay (0.0), nesterov (False), and the
    state 'velocity' (missing before the first step; then v = g).
    g = dw + weight_decay * w; v = momentum * v + g; next_w = w - learning_rate * v
    (Nesterov: next_w = w - learning_rate * (g + momentum * v)).
    Returns (next_w, config) with config['velocity'] updated.
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("momentum", 0.9)
    config.setdefault("weight_decay", 0.0)
    config.setdefault("nesterov", False)
    # BEGIN SOLUTION
    g = dw + config["weight_decay"] * w
    v = config.get("velocity")
    v = g.copy() if v is None else config["momentum"] * v + g
    config["velocity"] = v
    step = g + config["momentum"] * v if config["nesterov"] else v
    next_w = w - config["learning_rate"] * step
    # END SOLUTION
    return next_w, config
''')

md(r"""
## 3. RMSProp

One learning rate for all weights is a poor fit when some gradients are much larger than
others. RMSProp divides each weight's step by a running average of its own squared gradient,
so every weight moves at a similar pace:

$$s \leftarrow \alpha\, s + (1 - \alpha)\, g^2, \qquad
w \leftarrow w - \eta\, \frac{g}{\sqrt{s} + \epsilon}.$$

Everything is element-wise, and $s$ starts at zeros. Note where $\epsilon$ goes: **outside**
the square root, as in PyTorch. It only keeps the division finite; inside the root
($\sqrt{s + \epsilon}$) it would change the steps of weights with small gradients a lot.

Defaults (those of `torch.optim.RMSprop`): `learning_rate = 1e-2`, `alpha = 0.99`,
`eps = 1e-8`, `weight_decay = 0`.
""")

code(r'''
def rmsprop(w, dw, config=None):
    """RMSProp, PyTorch's convention.

    config: learning_rate (1e-2), alpha (0.99), eps (1e-8), weight_decay (0.0), and the state
    'square_avg' (zeros before the first step).
    g = dw + weight_decay * w; s = alpha * s + (1 - alpha) * g**2;
    next_w = w - learning_rate * g / (sqrt(s) + eps).
    Returns (next_w, config) with config['square_avg'] updated.
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("alpha", 0.99)
    config.setdefault("eps", 1e-8)
    config.setdefault("weight_decay", 0.0)
    # BEGIN SOLUTION
    g = dw + config["weight_decay"] * w
    s = config.get("square_avg")
    s = np.zeros_like(w) if s is None else s
    s = config["alpha"] * s + (1 - config["alpha"]) * g * g
    config["square_avg"] = s
    next_w = w - config["learning_rate"] * g / (np.sqrt(s) + config["eps"])
    # END SOLUTION
    return next_w, config
''')

md(r"""
## 4. Adam

Adam combines both ideas: a moving average of the gradients $m$ (momentum) and of their
squares $v$ (RMSProp), both starting at zero, and a step counter $t$ starting at 0:

$$t \leftarrow t + 1, \qquad m \leftarrow \beta_1 m + (1 - \beta_1)\, g, \qquad
v \leftarrow \beta_2 v + (1 - \beta_2)\, g^2,$$

$$\hat m = \frac{m}{1 - \beta_1^t}, \qquad \hat v = \frac{v}{1 - \beta_2^t}, \qquad
w \leftarrow w - \eta\, \frac{\hat m}{\sqrt{\hat v} + \epsilon}.$$

**Why the bias correction?** Because $m$ and $v$ start at zero, their first values are far
too small: after one step $m = (1 - \beta_1) g = 0.1\, g$ and $v = 0.001\, g^2$. Dividing by
$1 - \beta^t$ undoes exactly this shrinkage (after one step $\hat m = g$, $\hat v = g^2$), and
its effect fades as $\beta^t \to 0$. Without it, $v$ is so small at the start that the first
steps come out about three times too long ($0.1 / \sqrt{0.001} \approx 3.2$), and later
$m$ lags behind. With it, the first step moves every weight by about $\eta$ in the direction
of $-\operatorname{sign}(g)$, whatever the scale of the gradient.

Use $t$ **after** incrementing it (the first step has $t = 1$), keep $\epsilon$ outside the
square root as in RMSProp, and keep weight decay as part of $g$ (that is `torch.optim.Adam`;
`AdamW` decays the weights separately).

Defaults (those of `torch.optim.Adam`): `learning_rate = 1e-3`, `beta1 = 0.9`,
`beta2 = 0.999`, `eps = 1e-8`, `weight_decay = 0`; the state is `m`, `v` (zeros) and `t` (0).
""")

code(r'''
def adam(w, dw, config=None):
    """Adam with bias correction, PyTorch's convention.

    config: learning_rate (1e-3), beta1 (0.9), beta2 (0.999), eps (1e-8), weight_decay (0.0),
    and the state 'm', 'v' (zeros before the first step) and 't' (0 before the first step).
    g = dw + weight_decay * w; t += 1; m = beta1 * m + (1 - beta1) * g;
    v = beta2 * v + (1 - beta2) * g**2; m_hat = m / (1 - beta1**t); v_hat = v / (1 - beta2**t);
    next_w = w - learning_rate * m_hat / (sqrt(v_hat) + eps).
    Returns (next_w, config) with config['m'], config['v'] and config['t'] updated.
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("eps", 1e-8)
    config.setdefault("weight_decay", 0.0)
    # BEGIN SOLUTION
    g = dw + config["weight_decay"] * w
    m = config.get("m", np.zeros_like(w))
    v = config.get("v", np.zeros_like(w))
    t = config.get("t", 0) + 1
    beta1, beta2 = config["beta1"], config["beta2"]
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    config["m"], config["v"], config["t"] = m, v, t
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["eps"])
    # END SOLUTION
    return next_w, config
''')

md(r"""
### Check your rules

The next cell runs each rule for 200 steps on an ill-conditioned quadratic bowl,
$f(w) = \frac12 (w_0^2 + 50\, w_1^2)$, whose gradient is $(w_0, 50\, w_1)$, from
$w = (5, 1)$, and checks a few facts you can work out by hand: the first SGD step, the
velocity after two momentum steps, Adam's first step (about $\eta\,\operatorname{sign}(g)$).
Every rule should end closer to the minimum at $(0, 0)$ than it started. The grader checks
far more: every step against `torch.optim`.
""")

code(r'''
def bowl_grad(w):
    return np.array([1.0, 50.0]) * w


w0 = np.array([5.0, 1.0])
g0 = bowl_grad(w0)
w1, _ = sgd(w0.copy(), g0, {"learning_rate": 0.01})
print("first SGD step:", w1, "expected", w0 - 0.01 * g0)
_, cfg = sgd_momentum(w0.copy(), g0, {"learning_rate": 0.01, "momentum": 0.9})
_, cfg = sgd_momentum(w0.copy(), g0, cfg)
print("velocity after two momentum steps on the same gradient:", cfg["velocity"], "expected", 1.9 * g0)
w1, _ = adam(w0.copy(), g0, {"learning_rate": 0.1})
print("first Adam step:", w1 - w0, "expected about", -0.1 * np.sign(g0))

for name, rule, config in [("sgd", sgd, {"learning_rate": 0.03}),
                           ("sgd_momentum", sgd_momentum, {"learning_rate": 0.01}),
                           ("rmsprop", rmsprop, {"learning_rate": 0.05}),
                           ("adam", adam, {"learning_rate": 0.1})]:
    w = w0.copy()
    for _ in range(200):
        w, config = rule(w, bowl_grad(w), config)
    print(f"{name:13s} after 200 steps: w = {w}, f(w) = {0.5 * (w[0]**2 + 50 * w[1]**2):.2e}")
''')

md(r"""
## 5. Mini-batches

Gradient descent on the whole training set (**batch** gradient descent) computes the exact
gradient of the training loss, but one step costs a pass over all the data. **Stochastic**
gradient descent uses one example per step: cheap and noisy. **Mini-batch** gradient
descent sits in between, with batches of, say, 32 to 256 examples: the gradient is an
average over the batch (its noise shrinks like $1/\sqrt{B}$), and a batch is a good size for
vectorised code. The three are the same loop with `batch_size = N`, `1`, or something in
between.

One **epoch** is one pass over the training set. Before each epoch the rows are put in a
fresh random order, so that the batches differ from epoch to epoch and no batch is made of,
say, only one class. Then the data is cut into consecutive batches of `batch_size` rows; the
**last batch** holds what is left, `N % batch_size` rows, when `N` is not a multiple of the
batch size (don't drop it, or some rows would never be seen when the order is fixed). An
epoch with `N = 1000` and `batch_size = 64` has $\lceil 1000 / 64 \rceil = 16$ batches, the
last of 40 rows.

Write `minibatches(X, y, batch_size, rng=None)`, a *generator* (a function that `yield`s)
giving `(X_batch, y_batch)` pairs:

* with `rng` (a `np.random.Generator`), the rows in the order `order = rng.permutation(N)`:
  the first batch is `X[order[:batch_size]], y[order[:batch_size]]`, and so on. Use the
  generator you are given (don't make a new one): the caller passes the same generator for
  every epoch, so each epoch gets a new order, and a seeded generator makes the whole
  training reproducible. Shuffle `X` and `y` with the **same** order, or the labels no
  longer belong to their rows;
* without `rng` (`None`), the rows in their order.
""")

code(r'''
def minibatches(X, y, batch_size, rng=None):
    """Yield (X_batch, y_batch) for one epoch: every row exactly once, batch_size rows per batch,
    the last batch holding the N % batch_size rows left over (if any).

    rng: a np.random.Generator; the rows come in the order rng.permutation(N). None: in order.
    """
    # BEGIN SOLUTION
    n = len(X)
    order = np.arange(n) if rng is None else rng.permutation(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        yield X[idx], y[idx]
    # END SOLUTION
''')

code(r'''
X_small = np.arange(20.0).reshape(10, 2)
y_small = np.arange(10)
for xb, yb in minibatches(X_small, y_small, 4):
    print("in order:", yb)
gen = np.random.default_rng(0)
for epoch in range(2):
    print(f"epoch {epoch}:", [yb.tolist() for _, yb in minibatches(X_small, y_small, 4, gen)])
''')

md(r"""
## 6. Training the two-layer net

Below is the two-layer network of the backprop assignment (affine - ReLU - affine - softmax,
without regularisation), given. `net.loss(X, y)` returns the mean cross-entropy and a dict
of gradients keyed like `net.params`.

Write `train(net, X, y, update_rule, config, epochs, batch_size, seed)`:

* make the shuffling generator once, `rng = np.random.default_rng(seed)`, and pass it to
  `minibatches` for every epoch;
* give every parameter its **own** copy of `config` (`{k: dict(config) for k in net.params}`):
  the velocity of `W1` is not the velocity of `b2`;
* for each batch: `loss, grads = net.loss(X_batch, y_batch)`, then for each parameter
  `net.params[k], configs[k] = update_rule(net.params[k], grads[k], configs[k])`;
* return the list of the **mean batch loss of each epoch** (`epochs` numbers), and stop
  early, returning what you have, once an epoch's mean loss is not finite (`np.isfinite`):
  the run has diverged, and everything after would be NaN.
""")

code(r'''
class TwoLayerNet:
    """affine - ReLU - affine - softmax with mean cross-entropy (the backprop assignment's, no reg)."""

    def __init__(self, input_dim, hidden_dim, num_classes, weight_scale=1e-2, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {
            "W1": weight_scale * rng.standard_normal((input_dim, hidden_dim)),
            "b1": np.zeros(hidden_dim),
            "W2": weight_scale * rng.standard_normal((hidden_dim, num_classes)),
            "b2": np.zeros(num_classes),
        }

    def loss(self, X, y=None):
        """Scores (N, C) if y is None, else (loss, grads) with grads keyed like params."""
        p = self.params
        a1 = X @ p["W1"] + p["b1"]
        h1 = np.maximum(0.0, a1)
        scores = h1 @ p["W2"] + p["b2"]
        if y is None:
            return scores
        n = len(X)
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_probs[np.arange(n), y].mean()
        dscores = np.exp(log_probs)
        dscores[np.arange(n), y] -= 1.0
        dscores /= n
        da1 = (dscores @ p["W2"].T) * (a1 > 0)
        grads = {"W1": X.T @ da1, "b1": da1.sum(axis=0), "W2": h1.T @ dscores, "b2": dscores.sum(axis=0)}
        return float(loss), grads
''')

code(r'''
def train(net, X, y, update_rule, config, epochs, batch_size, seed):
    """Mini-batch training of `net` with `update_rule`; returns the mean batch loss of each epoch.

    Shuffles with rng = np.random.default_rng(seed), made once. Each parameter gets its own
    copy of config. Stops after the first epoch whose mean loss is not finite.
    """
    # BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    configs = {k: dict(config) for k in net.params}
    history = []
    for _ in range(epochs):
        losses = []
        for X_batch, y_batch in minibatches(X, y, batch_size, rng):
            loss, grads = net.loss(X_batch, y_batch)
            losses.append(loss)
            for k in net.params:
                net.params[k], configs[k] = update_rule(net.params[k], grads[k], configs[k])
        history.append(float(np.mean(losses)))
        if not np.isfinite(history[-1]):
            break
    # END SOLUTION
    return history
''')

md(r"""
## 7. The learning-rate experiment

The learning rate is the hyperparameter that matters most. Too small, and the loss barely
moves in the time you have; too large, and each step **overshoots**: on a quadratic bowl
with curvature $\lambda$, gradient descent multiplies the distance to the minimum by
$(1 - \eta\lambda)$ per step, which grows without bound once $\eta > 2/\lambda$. In a network
the loss then jumps up, often to `inf` or `NaN` (overflowing scores), or the ReLUs die and the
net gets stuck at a bad loss. The best rate is usually a little below the one that diverges,
so one sweeps rates spaced by factors of 10 first.

The training data is in `data/digits_train.npz` (`X`: `(N, 64)` pixels in `[0, 1]`, `y`:
`(N,)` labels `0..9`); the grader writes it next to your notebook, and on your own machine
`grade data optim` writes it. The protocol of the sweep (keep it as it is: the judge re-runs
exactly this, with your `sgd_momentum`):

* `sgd_momentum` with momentum 0.9, at each rate of `LEARNING_RATES`;
* for each rate a fresh `TwoLayerNet(64, 50, 10, seed=0)` (the same initial weights), trained
  with `train(net, X, y, sgd_momentum, {"learning_rate": lr, "momentum": 0.9}, epochs=3,
  batch_size=64, seed=1)`;
* the result of a rate is its **last epoch's mean training loss**, the last number `train`
  returns (`nan` if it is not finite);
* a rate **diverged** when its result is not finite or is larger than the loss of the
  untrained net (`initial_loss`, about $\ln 10 \approx 2.30$).

Fill `sweep_results` with `{lr: result}` for every rate. (`np.errstate` silences the
overflow warnings of the diverging runs.)
""")

code(r'''
data = np.load("data/digits_train.npz")
X_digits, y_digits = data["X"], data["y"]
LEARNING_RATES = [1e-3, 1e-2, 1e-1, 1.0, 10.0]
initial_loss = TwoLayerNet(64, 50, 10, seed=0).loss(X_digits, y_digits)[0]
print("training set", X_digits.shape, "initial loss", initial_loss)
''')

code(r'''
sweep_results = {}
with np.errstate(all="ignore"):
    # BEGIN SOLUTION
    for lr in LEARNING_RATES:
        net = TwoLayerNet(64, 50, 10, seed=0)
        history = train(net, X_digits, y_digits, sgd_momentum, {"learning_rate": lr, "momentum": 0.9},
                        epochs=3, batch_size=64, seed=1)
        sweep_results[lr] = history[-1] if np.isfinite(history[-1]) else float("nan")
    # END SOLUTION
for lr, final in sweep_results.items():
    verdict = "diverged" if not np.isfinite(final) or final > initial_loss else ""
    print(f"learning rate {lr:g}: last epoch's training loss {final:.4f} {verdict}")
''')

md(r"""
## 8. Short questions

Answer by assigning the globals below: numbers as plain Python numbers, multiple-choice
answers as one letter in a string, e.g. `"a"`.

1. `ANSWER_FIRST_DIVERGING_LR`: in your sweep, the **smallest** rate of `LEARNING_RATES`
   that diverged (0 if none did).
2. `ANSWER_BEST_LR`: the rate with the lowest result among those that did not diverge.

   (The judge re-runs the sweep with your `sgd_momentum` and checks both against its run.)
3. `ANSWER_BATCHES_PER_EPOCH`: how many updates does one epoch make with `N = 1000`
   training rows and `batch_size = 64`?
4. `ANSWER_MOMENTUM_FACTOR`: with momentum $\mu = 0.9$ and the same gradient $g$ at every
   step, the velocity approaches $c \cdot g$. What is $c$?
5. `ANSWER_BIAS_CORRECTION`: why does Adam divide $m$ and $v$ by $1 - \beta^t$?
   * (a) to keep the learning rate decaying over time
   * (b) $m$ and $v$ start at zero, so their early values are biased towards zero; the division undoes that, most strongly in the first steps
   * (c) to make the update invariant to the batch size
   * (d) it replaces the $\epsilon$ term, which would otherwise divide by zero
6. `ANSWER_TOO_LARGE_LR`: what goes wrong when the learning rate is too large?
   * (a) the steps overshoot the minimum, so the loss grows from step to step (often to `inf` or `NaN`)
   * (b) the gradients vanish, so training stops at the initial loss
   * (c) the network overfits the training set
   * (d) nothing: with enough epochs every learning rate reaches the same loss
""")

code(r'''
ANSWER_FIRST_DIVERGING_LR = 10.0  # SOLUTION
ANSWER_BEST_LR = 0.1  # SOLUTION
ANSWER_BATCHES_PER_EPOCH = 16  # SOLUTION
ANSWER_MOMENTUM_FACTOR = 10.0  # SOLUTION
ANSWER_BIAS_CORRECTION = "b"  # SOLUTION
ANSWER_TOO_LARGE_LR = "a"  # SOLUTION
''')


# --------------------------------------------------------------------------- building


def build(starter: bool) -> nbformat.NotebookNode:
    return notebook_from_cells(CELLS, ASSIGNMENT, starter=starter)


def main(argv: list[str]) -> int:
    write_solution_and_starter(CELLS, ASSIGNMENT, Path(argv[1]) if len(argv) > 1 else HERE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
