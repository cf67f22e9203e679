"""Write solution.ipynb and starter.ipynb for the `cnn` assignment.

    .venv/bin/python assignments/cnn/make_notebooks.py

The cells below are the source of truth for solution.ipynb; the starter is derived from it
by `grader.authoring.assign.assign`, the same code as
`grade assign assignments/cnn/solution.ipynb -o assignments/cnn/starter.ipynb`
(the marker rules are in docs/authoring.md), and both files are written in `grade assign`'s
byte-exact layout.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from grader.authoring.assign import notebook_from_cells, write_solution_and_starter

HERE = Path(__file__).resolve().parent
ASSIGNMENT = "cnn"

CELLS: list[tuple[str, str]] = []


def md(text: str) -> None:
    CELLS.append(("markdown", text.strip("\n")))


def code(text: str) -> None:
    CELLS.append(("code", text.strip("\n")))


# --------------------------------------------------------------------------- the cells

md(r"""
# Convolutional networks

In this assignment you write the layers of a convolutional network by hand, in NumPy:
a convolution and a max-pooling layer, each with its forward and backward pass. Then you
build a small CNN in PyTorch and train it on the 8x8 handwritten digits.

**Rules.**
* Sections 1 to 3 are **NumPy only**. The grader calls `conv_forward_naive`,
  `conv_backward_naive`, `max_pool_forward_naive` and `max_pool_backward_naive` with PyTorch
  switched off: a call into `torch` from inside them fails the test. (You may use PyTorch
  elsewhere, e.g. to check your results.)
* Section 4 uses PyTorch. `tensorflow`, `jax` and `autograd` are not allowed.
* Write your code only where it says `# YOUR CODE HERE`, and delete the
  `raise NotImplementedError` line below it.
* Keep the function names and signatures as given: the grader calls them directly.
* Sections 1 to 3 work in float64; loops are fine (speed is not graded, correctness is).

**Grading.** `grade check cnn.ipynb` runs the public tests on your machine.
`grade submit cnn.ipynb` is what the judge runs: the public tests plus hidden tests that
compare your layers with PyTorch on fresh random inputs (strides 1 and 2, padding 0 to 2,
non-square kernels and images), check your gradients numerically, inspect your network and
measure it on held-out digits.
""")

code(r"""
import numpy as np

np.set_printoptions(precision=4, suppress=True)
""")

md(r"""
## 1. Convolution as sliding dot products

A convolutional layer takes a batch of images `x` of shape `(N, C, H, W)`: `N` examples,
each with `C` channels (1 for grey, 3 for RGB, or the feature maps of a previous layer) of
height `H` and width `W`. It has `F` **filters** `w` of shape `(F, C, HH, WW)`, each a small
`HH x WW` window through all `C` channels, and one bias per filter, `b` of shape `(F,)`.

Filter `f` slides over the image. At each position it covers a `C x HH x WW` block of the
input, multiplies it element-wise with `w[f]` and sums: one **dot product** between the
filter and the patch, plus `b[f]`. The numbers it produces, one per position, form the
output's feature map `f`:

$$\text{out}[n, f, i, j] = b[f] + \sum_{c=0}^{C-1}\sum_{d_i=0}^{HH-1}\sum_{d_j=0}^{WW-1}
x_{\text{pad}}[n,\, c,\, i\cdot s + d_i,\, j\cdot s + d_j]\; w[f, c, d_i, d_j].$$

A filter is a pattern detector: the dot product is large where the patch looks like the
filter. Note that the sum runs over **all input channels**: each filter sees every channel,
and the output has `F` channels, one per filter.

Strictly speaking this is a *cross-correlation*: the mathematical convolution flips the
kernel (`w[f, c, HH-1-d_i, WW-1-d_j]`). Deep-learning libraries, PyTorch included, do not
flip, and neither do we: use `w` as it is.

### Stride, padding and the output size

* The **stride** `s` is how far the window moves between positions: `s = 1` visits every
  position, `s = 2` every other one (and the output is about half as large).
* **Padding** `p` adds `p` rows or columns of zeros on **every** side of the image (top,
  bottom, left and right) before sliding. With a 3x3 kernel, `p = 1` and `s = 1` the output
  has the same height and width as the input ("same" padding). Without padding, the pixels
  at the border are covered by fewer windows than those in the middle, and every layer
  shrinks the image.

Along the height, the padded input has `H + 2p` rows and the window `HH` of them; the window
can start at rows `0, s, 2s, ...` as long as it fits, which gives

$$H' = 1 + \left\lfloor \frac{H + 2p - HH}{s} \right\rfloor, \qquad
W' = 1 + \left\lfloor \frac{W + 2p - WW}{s} \right\rfloor.$$

Round **down**, as PyTorch does: rows at the bottom (or columns at the right) that do not fill
a whole window are ignored. For example `H = 7`, `HH = 3`, `p = 0`, `s = 2` gives
`H' = 1 + 4 // 2 = 3`, and `H = 8` gives `H' = 1 + 5 // 2 = 3` too (the last row is unused).

Implement the forward pass with plain loops over `n`, `f`, `i` and `j` (or fewer, if you
like). `np.pad` pads only the axes you ask it to:
`np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))` pads height and width by `p` on both sides.
""")

code(r'''
def conv_forward_naive(x, w, b, conv_param):
    """Forward pass of a convolutional layer (cross-correlation, zero padding).

    x: (N, C, H, W) input.  w: (F, C, HH, WW) filters.  b: (F,) biases.
    conv_param: {'stride': s, 'pad': p}, p zeros added on every side of the height and width.
    Returns (out, cache): out (N, F, H', W') with H' = 1 + (H + 2p - HH) // s and
    W' = 1 + (W + 2p - WW) // s; cache holds what conv_backward_naive needs.
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    # BEGIN SOLUTION
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, H_out, W_out))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    patch = x_pad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(patch * w[f]) + b[f]
    # END SOLUTION
    cache = (x, w, b, conv_param)
    return out, cache
''')

md(r"""
## 2. The convolution's backward pass

Look at one output element: `out[n, f, i, j]` is the dot product of `w[f]` with one patch
of the padded input, plus `b[f]`. Its upstream gradient `dout[n, f, i, j]` therefore flows
to exactly three places, by the same rules as for an affine layer:

* **to the filter**: `dw[f] += dout[n, f, i, j] * patch` (the patch is the "input" of that
  dot product);
* **to the patch**: `dx_pad[n, :, window] += dout[n, f, i, j] * w[f]`;
* **to the bias**: `db[f] += dout[n, f, i, j]`.

Every `+=` matters: the same filter is used at every position and for every example, so
its gradient is the **sum** over all of them (`db` sums `dout` over `n`, `i` and `j`); and
overlapping windows share input pixels, whose gradients add up as well. Use the same
stride in the backward pass as in the forward pass: the window of output `(i, j)` starts at
row `i * s` and column `j * s` of the padded input.

Finally, the padding is not part of `x`: compute the gradient with respect to the padded
input and **crop** it, `dx = dx_pad[:, :, p:p + H, p:p + W]`, so that `dx` has `x`'s shape.
""")

code(r'''
def conv_backward_naive(dout, cache):
    """Backward pass of a convolutional layer.

    dout: (N, F, H', W') upstream gradient.  cache: from conv_forward_naive.
    Returns (dx, dw, db) with the shapes of x (N, C, H, W), w (F, C, HH, WW) and b (F,).
    """
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    # BEGIN SOLUTION
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = np.sum(dout, axis=(0, 2, 3))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    rows = slice(i * stride, i * stride + HH)
                    cols = slice(j * stride, j * stride + WW)
                    dw[f] += dout[n, f, i, j] * x_pad[n, :, rows, cols]
                    dx_pad[n, :, rows, cols] += dout[n, f, i, j] * w[f]
    dx = dx_pad[:, :, pad:pad + H, pad:pad + W]
    # END SOLUTION
    return dx, dw, db
''')

md(r"""
## 3. Max pooling

A max-pooling layer slides a `pool_height x pool_width` window over each channel separately
(no weights, no mixing of channels) and keeps the largest value of each window. It shrinks
the feature maps, so later layers see a larger part of the image for the same cost, and it
makes the output insensitive to small shifts of a feature inside a window. The output size
follows the same formula as the convolution's, without padding:
$H' = 1 + \lfloor (H - \text{pool\_height}) / s \rfloor$, rounded down. The usual choice is a
2x2 window with stride 2, but windows may also **overlap** (stride smaller than the window)
or be non-square; your code must handle any of these.

**Where does the gradient go?** The output of a window is $\max(a_1, \dots, a_k)$. Nudging
the largest element changes the output by the same amount; nudging any other element (a
little) changes nothing. So the derivative is 1 for the element that was the maximum and 0
for all the others: the backward pass routes each window's `dout` to the position of its
maximum, and nothing to the rest of the window. (On exact ties, pick one of them, e.g. the
first, as `np.argmax` and PyTorch do; the tests avoid ties.) When windows overlap, an element
can be the maximum of several windows: its gradients **add up**.

`np.argmax` returns an index into the flattened window;
`np.unravel_index(k, window.shape)` turns it into a (row, column) pair.
""")

code(r'''
def max_pool_forward_naive(x, pool_param):
    """Forward pass of a max-pooling layer.

    x: (N, C, H, W).  pool_param: {'pool_height': ph, 'pool_width': pw, 'stride': s}.
    Returns (out, cache): out (N, C, H', W') with H' = 1 + (H - ph) // s, W' = 1 + (W - pw) // s.
    """
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    # BEGIN SOLUTION
    N, C, H, W = x.shape
    H_out = 1 + (H - ph) // stride
    W_out = 1 + (W - pw) // stride
    out = np.zeros((N, C, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw]
            out[:, :, i, j] = np.max(window, axis=(2, 3))
    # END SOLUTION
    cache = (x, pool_param)
    return out, cache
''')

code(r'''
def max_pool_backward_naive(dout, cache):
    """Backward pass of a max-pooling layer.

    dout: (N, C, H', W') upstream gradient.  cache: from max_pool_forward_naive.
    Returns dx (N, C, H, W): each window's gradient goes to the position of its maximum;
    gradients of overlapping windows add up.
    """
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    # BEGIN SOLUTION
    N, C, H_out, W_out = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw]
                    di, dj = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * stride + di, j * stride + dj] += dout[n, c, i, j]
    # END SOLUTION
    return dx
''')

md(r"""
### Check your layers

The next cell checks each layer two ways: against PyTorch's own `conv2d` and `max_pool2d`
(the reference answer), and against numeric gradients of *your* forward pass (central
differences, as in the backprop assignment). All errors should be below about `1e-8`. It
uses a stride of 2, a padding of 1, a non-square kernel and overlapping pooling windows, as
the grader does; try other settings too.
""")

code(r'''
import torch
import torch.nn.functional as F


def numeric_gradient(f, x, df, h=1e-5):
    """Central-difference gradient of sum(f(x) * df) with respect to x."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        pos = f(x)
        x[ix] = old - h
        neg = f(x)
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))


check_rng = np.random.default_rng(231)
x = check_rng.standard_normal((2, 3, 7, 6))
w = check_rng.standard_normal((4, 3, 3, 2))
b = check_rng.standard_normal(4)
conv_param = {"stride": 2, "pad": 1}
out, cache = conv_forward_naive(x, w, b, conv_param)
dout = check_rng.standard_normal(out.shape)
dx, dw, db = conv_backward_naive(dout, cache)

# PyTorch's answer, in float64, gradients by autograd.
tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
t_out = F.conv2d(tx, tw, tb, stride=2, padding=1)
t_out.backward(torch.tensor(dout))
print("conv out shape", out.shape, "(PyTorch:", tuple(t_out.shape), ")")
print("conv out vs torch", rel_error(out, t_out.detach().numpy()))
print("conv dx  vs torch", rel_error(dx, tx.grad.numpy()))
print("conv dw  vs torch", rel_error(dw, tw.grad.numpy()))
print("conv db  vs torch", rel_error(db, tb.grad.numpy()))
print("conv dx  vs numeric", rel_error(dx, numeric_gradient(lambda v: conv_forward_naive(v, w, b, conv_param)[0], x, dout)))
print("conv dw  vs numeric", rel_error(dw, numeric_gradient(lambda v: conv_forward_naive(x, v, b, conv_param)[0], w, dout)))
print("conv db  vs numeric", rel_error(db, numeric_gradient(lambda v: conv_forward_naive(x, w, v, conv_param)[0], b, dout)))

pool_param = {"pool_height": 3, "pool_width": 2, "stride": 2}
xp = check_rng.standard_normal((2, 3, 7, 6))
pout, pcache = max_pool_forward_naive(xp, pool_param)
dpout = check_rng.standard_normal(pout.shape)
dxp = max_pool_backward_naive(dpout, pcache)
txp = torch.tensor(xp, requires_grad=True)
t_pout = F.max_pool2d(txp, kernel_size=(3, 2), stride=2)
t_pout.backward(torch.tensor(dpout))
print("pool out vs torch", rel_error(pout, t_pout.detach().numpy()))
print("pool dx  vs torch", rel_error(dxp, txp.grad.numpy()))
print("pool dx  vs numeric", rel_error(dxp, numeric_gradient(lambda v: max_pool_forward_naive(v, pool_param)[0], xp, dpout)))
''')

md(r"""
## Why convolutions? Weight sharing

Compare two layers that map a 3x32x32 colour image to 16 feature maps of 32x32:

* a **fully connected** layer connects every output number to every input number:
  $3 \cdot 32 \cdot 32 \times 16 \cdot 32 \cdot 32 \approx 50$ million weights;
* a **convolutional** layer with 3x3 filters and `pad = 1` has $16 \cdot 3 \cdot 3 \cdot 3 = 432$
  weights and 16 biases, whatever the size of the image.

The convolution gets away with so few because it makes two assumptions that hold for images.
*Locality*: an output position only looks at a small neighbourhood of the input (nearby
pixels matter most; a stack of layers still sees far, since each layer's window covers
several windows of the layer below). *Weight sharing*: the same filter is used at every
position, because an edge or a stroke looks the same wherever it appears. A pattern learned
at one position is therefore detected at every position (the layer is *translation
equivariant*: shift the input and the feature maps shift with it), and every position's
example is a training example for the same few weights. This is also why `dw` and `db` are
sums over all positions.

## Why activations? (and dead ReLUs)

A convolution is linear, and so is a stack of convolutions: without a nonlinearity between
them, two conv layers compute nothing a single (larger) conv layer could not. A ReLU after
each convolution, $\max(0, z)$, is the usual choice: it is cheap, and its gradient is 1
wherever the unit is active, so gradients do not shrink layer after layer as with saturating
sigmoids. Its failure mode is the **dead ReLU**: a unit whose input is negative for every
example outputs 0 everywhere and gets zero gradient, so its weights never change again (a
too-large learning rate can push a unit there). Sensible initialisations (PyTorch's default
for `nn.Conv2d`) and learning rates keep most units alive.
""")

md(r"""
## 4. A CNN in PyTorch

Now the real thing, with PyTorch's layers: `nn.Conv2d(in_channels, out_channels,
kernel_size, stride=1, padding=0)` and `nn.MaxPool2d(kernel_size, stride)` compute exactly
what you just wrote (with backward passes from autograd), plus `nn.ReLU`, `nn.Flatten` and
`nn.Linear`.

Write `build_cnn(in_channels=1, num_classes=10)`, returning an `nn.Module` that maps a float32
tensor of shape `(N, in_channels, 8, 8)` to **class scores** (logits) of shape
`(N, num_classes)`. It must contain **at least two `nn.Conv2d` layers**; the rest is up to
you. A good start: conv 3x3 (16 filters, padding 1) - ReLU - conv 3x3 (32 filters, padding 1)
- ReLU - max-pool 2x2 - flatten - linear - ReLU - linear. (With padding 1 the 8x8 maps stay
8x8; the pool halves them to 4x4, so the flattened size is 32 * 4 * 4.) Do not end with a
softmax: `nn.functional.cross_entropy` takes raw scores and applies the log-softmax itself.
A `nn.Dropout` before the first linear layer helps a little against overfitting.

Then write `predict_scores(model, X)`: the bridge between NumPy and your model, which the
grader uses to call it (the grader sends NumPy arrays and can only receive NumPy arrays back).
It takes `X`, a NumPy float32 array `(N, C, 8, 8)`, and returns the model's scores as a NumPy
array `(N, num_classes)`. It must

* put the model in evaluation mode, `model.eval()` (dropout off, so the same input always
  gives the same scores);
* run it without building a graph, under `with torch.no_grad():`;
* convert with `torch.from_numpy(X)` on the way in and `.numpy()` on the way out.
""")

code(r'''
import torch
import torch.nn as nn


def build_cnn(in_channels=1, num_classes=10):
    """A CNN with at least two nn.Conv2d layers: (N, in_channels, 8, 8) -> scores (N, num_classes)."""
    # BEGIN SOLUTION
    model = nn.Sequential(
        nn.Conv2d(in_channels, 16, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.25),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Linear(64, num_classes),
    )
    # END SOLUTION
    return model


def predict_scores(model, X):
    """The model's class scores for X, a NumPy float32 array (N, C, 8, 8), as a NumPy array (N, num_classes)."""
    # BEGIN SOLUTION
    model.eval()
    with torch.no_grad():
        scores = model(torch.from_numpy(X)).numpy()
    # END SOLUTION
    return scores
''')

md(r"""
### Training on the digits

The training part of scikit-learn's 8x8 digits is in `data/digits_train.npz`: `X` is
`(N, 64)` float64 with pixels in `[0, 1]`, `y` is `(N,)` int64 in `0..9`. The grader writes
this file next to your notebook; on your own machine run `grade data cnn` once to create it.
The next cell reshapes the images to `(N, 1, 8, 8)` float32, the layout `nn.Conv2d` expects,
and keeps 200 of them for validation.

Train a `build_cnn()` model with minibatch gradient descent: for each epoch, shuffle the
training rows; for each minibatch compute the loss with `nn.functional.cross_entropy(model(xb), yb)`,
then `optimizer.zero_grad()`, `loss.backward()`, `optimizer.step()`. Call `model.train()`
before training (dropout on) and evaluate with `predict_scores` (which switches it off).
`torch.optim.Adam(model.parameters(), lr=5e-3)` with minibatches of 64 for 10 epochs takes a
few seconds on a CPU.

Leave the trained model in the global **`cnn_model`**. The judge measures it on held-out
digits it keeps to itself: 95% accuracy earns full marks (partial credit from 70%). Seed
everything (`torch.manual_seed`, and a `torch.Generator` or `np.random.default_rng` for the
shuffling) so that a re-run trains the same model, and keep the training under about 20
seconds.
""")

code(r'''
data = np.load("data/digits_train.npz")
images = data["X"].reshape(-1, 1, 8, 8).astype(np.float32)
labels = data["y"]

split_rng = np.random.default_rng(0)
order = split_rng.permutation(len(images))
n_val = 200
X_val, y_val = images[order[:n_val]], labels[order[:n_val]]
X_train, y_train = images[order[n_val:]], labels[order[n_val:]]
print("train", X_train.shape, X_train.dtype, "validation", X_val.shape)


def accuracy(model, X, y):
    """Fraction of the rows of X whose highest score is the true label."""
    return float(np.mean(np.argmax(predict_scores(model, X), axis=1) == y))
''')

code(r'''
# Train build_cnn() on (X_train, y_train), check it on (X_val, y_val), and leave the trained
# model in the global `cnn_model`.
# BEGIN SOLUTION
torch.manual_seed(0)
cnn_model = build_cnn(1, 10)
optimizer = torch.optim.Adam(cnn_model.parameters(), lr=5e-3)
X_t, y_t = torch.from_numpy(X_train), torch.from_numpy(y_train)
shuffle = torch.Generator().manual_seed(1)
batch_size, epochs = 64, 10
for epoch in range(epochs):
    cnn_model.train()
    perm = torch.randperm(len(X_t), generator=shuffle)
    for start in range(0, len(X_t), batch_size):
        idx = perm[start:start + batch_size]
        loss = nn.functional.cross_entropy(cnn_model(X_t[idx]), y_t[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if epoch % 3 == 2 or epoch == epochs - 1:
        print(f"epoch {epoch + 1:2d}  loss {loss.item():.3f}  validation accuracy {accuracy(cnn_model, X_val, y_val):.3f}")
# END SOLUTION
print("validation accuracy:", accuracy(cnn_model, X_val, y_val))
''')

md(r"""
## 5. Short questions

Answer by assigning the globals below. Numbers are plain Python numbers; multiple-choice
answers are a single letter as a string, e.g. `"a"`.

1. `ANSWER_CONV_OUT_WIDTH`: the output width of a convolution with input width `W = 32`,
   kernel width `WW = 5`, padding 2 and stride 3.
2. `ANSWER_CONV_PARAMS`: the number of parameters (weights and biases) of
   `nn.Conv2d(3, 16, kernel_size=5)`.
3. `ANSWER_MAXPOOL_GRAD`: a 2x2 max-pooling window holds `[[1, 5], [3, 2]]` and its output
   receives the upstream gradient 4. What is the gradient with respect to the window?
   * (a) `[[1, 1], [1, 1]]`
   * (b) `[[0, 4], [0, 0]]`
   * (c) `[[4, 4], [4, 4]]`
   * (d) `[[1, 5], [3, 2]]`
4. `ANSWER_WEIGHT_SHARING`: which statement about a convolutional layer is true?
   * (a) its output is unchanged when the input image is shifted by a few pixels
   * (b) its number of parameters does not depend on the image size, and a pattern its filter learned at one position is detected at every position
   * (c) sharing weights means the filters need no gradient
   * (d) each output position has its own filter, so it can specialise to its part of the image
""")

code(r'''
ANSWER_CONV_OUT_WIDTH = 1 + (32 + 2 * 2 - 5) // 3  # SOLUTION
ANSWER_CONV_PARAMS = 16 * 3 * 5 * 5 + 16  # SOLUTION
ANSWER_MAXPOOL_GRAD = "b"  # SOLUTION
ANSWER_WEIGHT_SHARING = "b"  # SOLUTION
''')


# --------------------------------------------------------------------------- building


def build(starter: bool) -> nbformat.NotebookNode:
    return notebook_from_cells(CELLS, ASSIGNMENT, starter=starter)


def main(argv: list[str]) -> int:
    write_solution_and_starter(CELLS, ASSIGNMENT, Path(argv[1]) if len(argv) > 1 else HERE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
