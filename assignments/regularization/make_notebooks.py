"""Write solution.ipynb and starter.ipynb for the `regularization` assignment.

    .venv/bin/python assignments/regularization/make_notebooks.py

The cells below are the source of truth. The starter is `grader.authoring.assign.assign` of the solution,
the same code as `grade assign solution.ipynb -o starter.ipynb`, and both files are written in
`grade assign`'s layout (byte-identical to what `grade assign` writes).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from grader.authoring.assign import notebook_from_cells, write_solution_and_starter

HERE = Path(__file__).resolve().parent
ASSIGNMENT = "regularization"

CELLS: list[tuple[str, str]] = []


def md(text: str) -> None:
    CELLS.append(("markdown", text.strip("\n")))


def code(text: str) -> None:
    CELLS.append(("code", text.strip("\n")))


md(r"""
# Regularization: dropout and batch normalization

Two layers that every modern network uses, and that behave **differently during training and
at test time**:

1. **Dropout** (NumPy, by hand): randomly silence units while training.
2. **Batch normalization** (NumPy, by hand): normalise each feature with the statistics of the
   batch, and keep running averages of them for test time.
3. **A small CNN** (PyTorch) with `nn.BatchNorm2d` and `nn.Dropout`, trained on the 8x8
   handwritten digits; here you will see what `model.train()` and `model.eval()` switch.

**Rules.**
* Parts 1 and 2 are NumPy only: the grader runs `dropout_*` and `batchnorm_*` in a mode where
  any call into `torch` fails. PyTorch is for part 3 (and for checking your work in part 2).
* Write your code only where it says `# YOUR CODE HERE`, and delete the
  `raise NotImplementedError` line below it. Keep names and signatures: the grader calls them.
* Everything in parts 1 and 2 is float64.

**Conventions are PyTorch's.** `p` is the probability of *dropping* a unit, and batch norm
updates its running statistics exactly like `torch.nn.BatchNorm1d`. The hidden tests compare
your batch norm with `torch.nn.functional.batch_norm`, check dropout's statistics, and measure
your trained CNN on held-out digits.

`grade check regularization.ipynb` runs the public tests; `grade submit` adds the hidden ones.
""")

code(r"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

np.set_printoptions(precision=4, suppress=True)
torch.set_num_threads(1)  # small models: one thread is fastest, and results do not depend on the machine
""")

md(r"""
## 1. Dropout

During training, dropout sets each unit to zero independently with probability `p`
(`p = 0.5` silences about half of them), a fresh random pattern for every forward pass. A
unit can then never rely on one particular partner being present, which discourages
co-adapted features and acts like training a large ensemble of thinned networks that share
their weights.

**Inverted scaling.** Let a unit have input $x$. During training its output is $m x$ with a
random mask $m \in \{0, 1\}$ that is 1 with probability $1 - p$, so its *expected* output is
$(1 - p)\,x$. At test time we want the whole network, without noise, and the next layer
should see activations of the same size as during training. There are two ways:

* multiply every unit by $(1 - p)$ at test time (the original paper's "weight scaling"), or
* **inverted dropout**: scale the kept units by $1 / (1 - p)$ *during training*, so that
  $E[\text{out}] = (1 - p) \cdot x / (1 - p) = x$, and make test time the **identity**.

Everyone uses the second (so does `torch.nn.Dropout`): the test-time network is just the
network, and changing `p` never touches inference code.

**Backward.** In training, `out = x * mask` with the scaled mask, so
`dx = dout * mask`: the *same* mask as the forward pass, which is why it goes into the cache.
In test mode `dx = dout`.

**Your API.** `dropout_param = {'p': ..., 'mode': 'train' or 'test', 'seed': ...}`. Draw the
mask from `rng = np.random.default_rng(dropout_param.get('seed'))`: a given seed must always
give the same mask, and different seeds different masks (the seed may be `None`: then every
call differs). Keep a unit where a uniform draw is at least `p` (or, equivalently, below
`1 - p`). `0 <= p < 1`. Do not change `x` in place.
""")

code(r'''
def dropout_forward(x, dropout_param):
    """Inverted dropout.

    x: array of any shape.
    dropout_param: dict with 'p' (probability of DROPPING a unit), 'mode' ('train' or 'test')
      and 'seed' (for np.random.default_rng; may be None).
    Returns (out, cache): train mode zeroes each unit with probability p and scales the kept
    ones by 1 / (1 - p); test mode returns x unchanged.
    """
    p, mode = dropout_param["p"], dropout_param["mode"]
    # BEGIN SOLUTION
    if mode == "train":
        rng = np.random.default_rng(dropout_param.get("seed"))
        mask = (rng.random(x.shape) >= p) / (1.0 - p)
        out = x * mask
    else:
        mask = None
        out = x.copy()
    cache = (mode, mask)
    # END SOLUTION
    return out, cache
''')

code(r'''
def dropout_backward(dout, cache):
    """Gradient of dropout_forward: dout through the forward pass's (scaled) mask in train
    mode, dout unchanged in test mode."""
    # BEGIN SOLUTION
    mode, mask = cache
    dx = dout * mask if mode == "train" else dout.copy()
    # END SOLUTION
    return dx
''')

md(r"""
Check your dropout. With a million units the fraction kept is within a few $10^{-3}$ of
$1 - p$, the mean is preserved, and test mode changes nothing.
""")

code(r'''
def rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))


check_rng = np.random.default_rng(231)
x = check_rng.random((1000, 1000)) + 1.0  # never 0, so out == 0 means "dropped"
for p in [0.25, 0.6]:
    out, _ = dropout_forward(x, {"p": p, "mode": "train", "seed": 0})
    test_out, _ = dropout_forward(x, {"p": p, "mode": "test", "seed": 0})
    print(f"p = {p}: kept {np.mean(out != 0):.4f} (expected {1 - p}), "
          f"mean {out.mean():.4f} vs input {x.mean():.4f}, test mode identity: {np.array_equal(test_out, x)}")

xs = check_rng.standard_normal((4, 5))
dout = check_rng.standard_normal((4, 5))
param = {"p": 0.3, "mode": "train", "seed": 7}
dx = dropout_backward(dout, dropout_forward(xs, param)[1])
num = np.zeros_like(xs)
for i in np.ndindex(xs.shape):  # the mask is fixed by the seed, so this is a deterministic function
    old = xs[i]
    xs[i] = old + 1e-5
    pos = np.sum(dropout_forward(xs, param)[0] * dout)
    xs[i] = old - 1e-5
    neg = np.sum(dropout_forward(xs, param)[0] * dout)
    xs[i] = old
    num[i] = (pos - neg) / 2e-5
print("dropout dx relative error:", rel_error(dx, num))
''')

md(r"""
## 2. Batch normalization

For a minibatch `x` of shape `(N, D)`, batch norm normalises each of the `D` features with
the mean and variance *of this batch*, then lets the network rescale and shift it with
learnable `gamma` and `beta` (both `(D,)`):

$$\mu = \frac1N\sum_i x_i, \qquad \sigma^2 = \frac1N \sum_i (x_i - \mu)^2, \qquad
\hat x_i = \frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad
\text{out}_i = \gamma\,\hat x_i + \beta.$$

Every layer after it sees inputs of a stable scale, whatever the earlier layers do, which
makes training faster and less sensitive to the learning rate and initialisation.

**Running statistics: what they are for.** At test time there may be a single example, and a
prediction must not depend on which other examples happen to share its batch. So during
training batch norm keeps exponential moving averages of the batch statistics, and **test
mode normalises with these running estimates** instead of the batch's. PyTorch's update,
with `momentum = 0.1`:

```
running_mean = (1 - momentum) * running_mean + momentum * batch_mean
running_var  = (1 - momentum) * running_var  + momentum * batch_var_unbiased
```

(PyTorch's `momentum` is the weight of the *new* value. CS231n's notes use the opposite
convention, `momentum * running + (1 - momentum) * batch` with momentum 0.9; here it is
PyTorch's.) The running statistics start at `running_mean = 0` and `running_var = 1`.

**Biased vs unbiased variance.** Dividing by `N` gives the variance *of the batch*, which is
what normalising the batch needs, and what the forward pass uses. As an estimate of the
variance of the whole population, though, it is too small on average by a factor
$(N - 1) / N$ (the batch mean is fitted to the same points). The running variance is meant
to estimate the population, so PyTorch feeds it the **unbiased** variance
`batch_var * N / (N - 1)`. With `N = 4` the difference is 33%.

**Your API.** `bn_param` is a dict with `'mode'` (`'train'` or `'test'`) and optionally
`'eps'` (default `1e-5`), `'momentum'` (default `0.1`), `'running_mean'` and `'running_var'`
(`(D,)` arrays; when missing, start from zeros and ones). Train mode normalises with the
batch statistics and stores the updated running statistics back into `bn_param`; test mode
normalises with the running statistics and leaves them unchanged.
""")

code(r'''
def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization of x (N, D), PyTorch semantics.

    gamma, beta: (D,). bn_param: dict with 'mode' ('train' or 'test'), optional 'eps'
    (1e-5), 'momentum' (0.1), 'running_mean' (zeros), 'running_var' (ones).
    Train mode: normalise with the batch mean and BIASED batch variance; update
    bn_param['running_mean'] and bn_param['running_var'] (with the UNBIASED batch variance).
    Test mode: normalise with the running statistics.
    Returns (out, cache); out has x's shape.
    """
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.1)
    n, d = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(d))
    running_var = bn_param.get("running_var", np.ones(d))
    cache = None
    # BEGIN SOLUTION
    if mode == "train":
        mean = x.mean(axis=0)
        var = x.var(axis=0)
        std = np.sqrt(var + eps)
        xhat = (x - mean) / std
        out = gamma * xhat + beta
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)
        cache = (xhat, gamma, std)
    else:
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
    # END SOLUTION
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache
''')

md(r"""
### Batch norm backward

Every output of a feature depends on every input of that feature, through $\mu$ and
$\sigma^2$, so the gradient is not element-wise. The parameters are easy:
`dbeta = dout.sum(axis=0)` and `dgamma = (dout * xhat).sum(axis=0)`. For `dx`, write
$\hat{g} = \text{dout} \cdot \gamma$ (the gradient with respect to $\hat x$) and work backwards
through $\hat x$, $\sigma^2$ and $\mu$ (draw the computational graph, or simplify on paper):

$$dx = \frac{1}{N\sqrt{\sigma^2+\epsilon}}\Big(N\hat g - \sum_i \hat g_i
- \hat x \sum_i \hat g_i \hat x_i\Big).$$

Either way is fine. `batchnorm_backward` only needs to handle a train-mode forward pass.
""")

code(r'''
def batchnorm_backward(dout, cache):
    """Backward pass of a train-mode batchnorm_forward.

    dout: (N, D). Returns (dx, dgamma, dbeta) with shapes (N, D), (D,), (D,).
    """
    # BEGIN SOLUTION
    xhat, gamma, std = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    g = dout * gamma
    dx = (n * g - g.sum(axis=0) - xhat * (g * xhat).sum(axis=0)) / (n * std)
    # END SOLUTION
    return dx, dgamma, dbeta
''')

md(r"""
Check your batch norm against PyTorch (`F.batch_norm` updates `running_mean` and
`running_var` in place, like your `bn_param`) and against numeric gradients.
""")

code(r'''
x = 3.0 * check_rng.standard_normal((6, 4)) + 2.0
gamma, beta = check_rng.standard_normal(4), check_rng.standard_normal(4)
bn_param = {"mode": "train"}
rm, rv = torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
for step in range(3):
    out, cache = batchnorm_forward(x + step, gamma, beta, bn_param)
    ref = F.batch_norm(torch.from_numpy(x + step), rm, rv, torch.from_numpy(gamma),
                       torch.from_numpy(beta), training=True, momentum=0.1, eps=1e-5)
print("train out vs PyTorch:   ", rel_error(out, ref.numpy()))
print("running_mean vs PyTorch:", rel_error(bn_param["running_mean"], rm.numpy()))
print("running_var vs PyTorch: ", rel_error(bn_param["running_var"], rv.numpy()))
test_out, _ = batchnorm_forward(x, gamma, beta, {**bn_param, "mode": "test"})
ref = F.batch_norm(torch.from_numpy(x), rm, rv, torch.from_numpy(gamma), torch.from_numpy(beta),
                   training=False, eps=1e-5)
print("test out vs PyTorch:    ", rel_error(test_out, ref.numpy()))

dout = check_rng.standard_normal((6, 4))
dx, dgamma, dbeta = batchnorm_backward(dout, batchnorm_forward(x, gamma, beta, {"mode": "train"})[1])


def numeric(f, v):
    grad = np.zeros_like(v)
    for i in np.ndindex(v.shape):
        old = v[i]
        v[i] = old + 1e-5
        pos = np.sum(f() * dout)
        v[i] = old - 1e-5
        neg = np.sum(f() * dout)
        v[i] = old
        grad[i] = (pos - neg) / 2e-5
    return grad


def fwd():
    return batchnorm_forward(x, gamma, beta, {"mode": "train"})[0]


print("dx relative error:    ", rel_error(dx, numeric(fwd, x)))
print("dgamma relative error:", rel_error(dgamma, numeric(fwd, gamma)))
print("dbeta relative error: ", rel_error(dbeta, numeric(fwd, beta)))
''')

md(r"""
## 3. A regularized CNN in PyTorch

Now the same two ideas as PyTorch layers. `nn.BatchNorm2d(C)` normalises each of the `C`
channels over the batch *and* the spatial positions (`N * H * W` values per channel), with
the running statistics you implemented. `nn.Dropout(p)` is your inverted dropout.

Both look at the module's **mode**:

| | `model.train()` | `model.eval()` |
| --- | --- | --- |
| `nn.Dropout` | drops units, scales by 1/(1-p) | identity |
| `nn.BatchNorm2d` | batch statistics; updates running stats | running statistics; no update |

`model.eval()` does **not** turn off gradients (that is `torch.no_grad()`), and it does not
freeze anything: it only switches these layers. Forgetting it at test time makes predictions
random (dropout) and dependent on the batch (batch norm). Forgetting `model.train()` before
training silently trains without dropout and with frozen running statistics.

Write `build_regularized_cnn(in_channels=1, num_classes=10, p_drop=0.5)`: a network for
`(N, in_channels, 8, 8)` images returning `(N, num_classes)` scores, with at least one
`nn.BatchNorm2d` and at least one `nn.Dropout(p_drop)`. A good shape: two 3x3 convolutions
(padding 1) each followed by `BatchNorm2d` and ReLU, a 2x2 max-pool, then dropout and a
linear layer. (A convolution followed by batch norm needs no bias: `beta` plays its role.)
""")

code(r'''
def build_regularized_cnn(in_channels=1, num_classes=10, p_drop=0.5):
    """A small CNN for (N, in_channels, 8, 8) inputs with nn.BatchNorm2d and nn.Dropout(p_drop)."""
    # BEGIN SOLUTION
    model = nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(p_drop),
        nn.Linear(32 * 4 * 4, num_classes),
    )
    # END SOLUTION
    return model
''')

md(r"""
### Training on the digits

The training part of scikit-learn's 8x8 digits is in `data/digits_train.npz` (`X`: `(N, 64)`
pixels in `[0, 1]`, `y`: `(N,)` labels `0..9`). The grader writes it next to your notebook;
on your own machine run `grade data regularization` once. The judge keeps separate held-out
digits and measures your model on them, in `eval()` mode.

Train with minibatches in `model.train()` mode, evaluate in `model.eval()` mode, seed
everything (`torch.manual_seed`, a seeded `torch.Generator` for shuffling), and keep it
short: a few seconds. Leave the trained model in **`reg_model`**; it should reach 95% on the
held-out digits (partial credit from 50%). `predict` below is how the notebook measures
accuracy; keep it as it is.
""")

code(r'''
data = np.load("data/digits_train.npz")
X_all = data["X"].astype(np.float32).reshape(-1, 1, 8, 8)  # (N, 1, 8, 8) images for the CNN
y_all = data["y"].astype(np.int64)

order = np.random.default_rng(0).permutation(len(X_all))
X_val, y_val = X_all[order[:300]], y_all[order[:300]]
X_train, y_train = X_all[order[300:]], y_all[order[300:]]
print("train", X_train.shape, "validation", X_val.shape)


def predict(model, X):
    """Class predictions (N,) of `model` in eval mode for a numpy batch X (N, C, 8, 8)."""
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(np.asarray(X, dtype=np.float32))).argmax(dim=1).numpy()
''')

code(r'''
# Train build_regularized_cnn() on (X_train, y_train) and leave it in `reg_model`.
# BEGIN SOLUTION
torch.manual_seed(0)
reg_model = build_regularized_cnn(p_drop=0.3)
optimizer = torch.optim.Adam(reg_model.parameters(), lr=3e-3)
shuffle = torch.Generator().manual_seed(1)
X_t, y_t = torch.from_numpy(X_train), torch.from_numpy(y_train)
for epoch in range(5):
    reg_model.train()
    for idx in torch.randperm(len(X_t), generator=shuffle).split(64):
        loss = F.cross_entropy(reg_model(X_t[idx]), y_t[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch + 1}: loss {loss.item():.3f}, validation accuracy "
          f"{np.mean(predict(reg_model, X_val) == y_val):.3f}")
# END SOLUTION
print("validation accuracy:", np.mean(predict(reg_model, X_val) == y_val))
''')

md(r"""
## 4. Short questions

Answer by assigning the globals below: numbers as plain Python numbers, multiple-choice
answers as one letter in a string, e.g. `"a"`.

1. `ANSWER_DROPOUT_SCALE`: with `p = 0.25`, by which factor does inverted dropout multiply
   the units it keeps during training?
2. `ANSWER_WHY_INVERTED`: why scale during training rather than at test time?
   * (a) scaling at training time makes the gradients larger, so training converges faster
   * (b) each unit's expected training output then equals its input, so the test-time network is the plain network (the identity), with no change to inference code
   * (c) it removes the randomness of dropout from the gradient
   * (d) without it, the dropped units would never be updated again
3. `ANSWER_EVAL_MODE`: what does `model.eval()` change for your CNN?
   * (a) it turns off gradient computation, like `torch.no_grad()`
   * (b) it freezes the parameters, so `optimizer.step()` leaves them unchanged
   * (c) dropout becomes the identity, and batch norm normalises with its running statistics instead of the batch's and stops updating them
   * (d) nothing, unless the model is also moved to another device
4. `ANSWER_RUNNING_STATS`: what are batch norm's running statistics for?
   * (a) they are the learnable scale and shift of the layer
   * (b) at test time they replace the batch statistics, so a prediction does not depend on the other examples of its batch, and works for a batch of one
   * (c) they are used instead of the batch statistics during training, to reduce noise
   * (d) they speed up the backward pass
5. One feature of a training batch has the values `[1, 2, 3, 4]`.
   `ANSWER_BN_NORM_VAR`: the variance batch norm uses to normalise this batch.
   `ANSWER_BN_RUNNING_VAR`: the variance that enters PyTorch's `running_var` update.
""")

code(r'''
ANSWER_DROPOUT_SCALE = 1 / (1 - 0.25)  # SOLUTION
ANSWER_WHY_INVERTED = "b"  # SOLUTION
ANSWER_EVAL_MODE = "c"  # SOLUTION
ANSWER_RUNNING_STATS = "b"  # SOLUTION
ANSWER_BN_NORM_VAR = 1.25  # SOLUTION
ANSWER_BN_RUNNING_VAR = 5 / 3  # SOLUTION
''')


# --------------------------------------------------------------------------- building


def build(starter: bool) -> nbformat.NotebookNode:
    return notebook_from_cells(CELLS, ASSIGNMENT, starter=starter)


def main(argv: list[str]) -> int:
    write_solution_and_starter(CELLS, ASSIGNMENT, Path(argv[1]) if len(argv) > 1 else HERE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
