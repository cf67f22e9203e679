"""Write solution.ipynb and starter.ipynb for the `attention` assignment.

    .venv/bin/python assignments/attention/make_notebooks.py

The cells below are the source of truth. The starter is `grader.authoring.assign.assign` of the solution,
the same code as `grade assign solution.ipynb -o starter.ipynb`, and both files are written in
`grade assign`'s layout. The network class in the notebook must stay identical to
reference/attention.py, whose state_dict the shipped checkpoint holds (a test checks this).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from grader.authoring.assign import notebook_from_cells, write_solution_and_starter

HERE = Path(__file__).resolve().parent
ASSIGNMENT = "attention"

CELLS: list[tuple[str, str]] = []


def md(text: str) -> None:
    CELLS.append(("markdown", text.strip("\n")))


def code(text: str) -> None:
    CELLS.append(("code", text.strip("\n")))


# --------------------------------------------------------------------------- part 1: by hand

md(r"""
# Attention and Transformers

In the first part you write the pieces of a Transformer by hand, in NumPy: the softmax,
scaled dot-product attention with padding and causal masks, its backward pass, multi-head
attention, sinusoidal positional encodings and layer normalization. In the second part you
fine-tune a small pretrained Transformer encoder on a new task.

**Rules.**
* Part 1 is **NumPy only**, in float64. The grader calls your functions with PyTorch
  switched off: a call into `torch` from inside them fails the test. (You may use PyTorch
  elsewhere, e.g. in the check cell, which compares your results with PyTorch's.)
* `tensorflow`, `jax` and `autograd` are not allowed.
* Write your code only where it says `# YOUR CODE HERE`, and delete the
  `raise NotImplementedError` line below it. Keep names and signatures as given.

**Grading.** `grade check attention.ipynb` runs the public tests. The hidden tests compare
your functions with `torch.nn.functional.scaled_dot_product_attention`,
`torch.nn.MultiheadAttention` (with your weights mapped onto it) and
`torch.nn.functional.layer_norm` on fresh random inputs in float64, masks included, and check
your gradients numerically. In part 2 they fine-tune with your code and check that the frozen
encoder is bit-for-bit the checkpoint's afterwards, that the new head has the right shape and
is the one the judge's own fine-tuning gives from the same start, and measure `ft_model` on
held-out digits against a network trained from scratch with the same budget.
""")

code(r"""
import numpy as np

np.set_printoptions(precision=4, suppress=True)
""")

md(r"""
## 1. Softmax, and attention as a soft dictionary look-up

A dictionary look-up returns the value whose key equals the query. **Attention** does a soft
version of it: it compares the query with every key, turns the similarities into weights
that are positive and sum to one, and returns the weighted average of the values.

For queries `q` of shape `(Lq, d)`, keys `k` of shape `(Lk, d)` and values `v` of shape
`(Lk, dv)`, **scaled dot-product attention** is

$$\text{scores} = \frac{q k^\top}{\sqrt{d}} \in \mathbb{R}^{L_q \times L_k}, \qquad
\text{weights} = \operatorname{softmax}(\text{scores}) \text{ (along the keys, the last axis)}, \qquad
\text{out} = \text{weights}\; v \in \mathbb{R}^{L_q \times d_v}.$$

Row `i` of `weights` says how much query `i` attends to each key, and row `i` of `out` is
the corresponding average of the values.

**Why divide by $\sqrt{d}$?** If the entries of `q` and `k` are independent with mean 0 and
variance 1, the dot product of two `d`-vectors has variance `d`. Large scores push the softmax
into saturation (one weight close to 1, the rest close to 0), where its gradients vanish.
Dividing by $\sqrt{d}$ brings the scores back to variance 1.

**The softmax** of a vector `z` is $\operatorname{softmax}(z)_j = e^{z_j} / \sum_l e^{z_l}$.
Computed literally, `np.exp(1000.0)` is `inf` and the result `nan`. Since
$\operatorname{softmax}(z) = \operatorname{softmax}(z - c)$ for any constant `c`, subtract the
largest entry first: every exponent is then at most 0, and $e^{-\infty} = 0$ is fine.

**Batches.** Every function here works on any number of leading (batch) axes: `q` may be
`(..., Lq, d)`, for example `(N, Lq, d)` or `(N, heads, Lq, d)`. `A @ B` (`np.matmul`)
multiplies the last two axes and broadcasts the others; transpose the last two axes of `k`
with `np.swapaxes(k, -1, -2)` (not `k.T`, which reverses all of them).

### Masks

A **mask** says which keys each query may look at. Here a mask is a boolean array that
broadcasts against the scores `(..., Lq, Lk)`, with **True = may attend** (the convention of
PyTorch's `scaled_dot_product_attention`). Masked scores are set to $-\infty$ before the
softmax, so their weights are exactly 0 and the other weights still sum to one
(`np.where(mask, scores, -np.inf)`). Two masks are common:

* a **padding mask**: sequences of different lengths are padded to a common length `L`;
  keys at the padding positions (`j >= length`) must get no weight.
  `padding_mask(lengths, L)` returns shape `(N, 1, L)`: one row per sequence, broadcast over
  every query;
* a **causal mask**: in a language model, position `i` may only look at positions `j <= i`
  (not into the future). `causal_mask(L)` returns the `(L, L)` lower-triangular matrix
  (`np.tril`).

They combine with `&`: `padding_mask(lengths, L) & causal_mask(L)` has shape `(N, L, L)`.
Every query keeps at least one key in this assignment (otherwise its weights would be 0/0).
""")

code(r'''
def softmax(x, axis=-1):
    """Softmax of x along `axis`, numerically stable for large entries."""
    # BEGIN SOLUTION
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    out = e / np.sum(e, axis=axis, keepdims=True)
    # END SOLUTION
    return out


def causal_mask(L):
    """(L, L) boolean mask: query i may attend to keys j <= i."""
    # BEGIN SOLUTION
    mask = np.tril(np.ones((L, L), dtype=bool))
    # END SOLUTION
    return mask


def padding_mask(lengths, L):
    """(N, 1, L) boolean mask: key j of sequence n is real (j < lengths[n]), not padding."""
    lengths = np.asarray(lengths)
    # BEGIN SOLUTION
    mask = (np.arange(L)[None, :] < lengths[:, None])[:, None, :]
    # END SOLUTION
    return mask


def attention_forward(q, k, v, mask=None):
    """Scaled dot-product attention.

    q: (..., Lq, d), k: (..., Lk, d), v: (..., Lk, dv); mask: None or a boolean array that
    broadcasts to (..., Lq, Lk), True = may attend.
    Returns (out, weights): out (..., Lq, dv), weights (..., Lq, Lk), each row summing to 1.
    """
    # BEGIN SOLUTION
    d = q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    weights = softmax(scores, axis=-1)
    out = weights @ v
    # END SOLUTION
    return out, weights
''')

md(r"""
## 2. The backward pass of attention

Given the upstream gradient `dout` (the shape of `out`) and the forward's `weights` $P$, the
gradients follow the chain of the forward pass backwards, one matrix product at a time:

$$dv = P^\top\, dout, \qquad dP = dout\; v^\top.$$

The softmax's Jacobian couples the entries of a row: with $p = \operatorname{softmax}(s)$,
$\partial p_j / \partial s_l = p_j(\delta_{jl} - p_l)$, so for each row

$$ds_j = p_j \Big(dp_j - \sum_l dp_l\, p_l\Big), \qquad\text{i.e.}\qquad
dS = P \odot \big(dP - \operatorname{rowsum}(dP \odot P)\big).$$

Finally, $S = q k^\top / \sqrt d$ gives

$$dq = \frac{dS\; k}{\sqrt d}, \qquad dk = \frac{dS^\top q}{\sqrt d}.$$

Masks need no special care: a masked weight is exactly 0, so its `dS` entry is 0 too. As
before, "transpose" means the last two axes.
""")

code(r'''
def attention_backward(dout, q, k, v, weights):
    """Gradients of attention_forward.

    dout: (..., Lq, dv) upstream gradient; q, k, v: the forward's inputs; weights: the
    forward's (..., Lq, Lk) attention weights (masked entries are 0).
    Returns (dq, dk, dv) with the shapes of q, k and v.
    """
    # BEGIN SOLUTION
    d = q.shape[-1]
    dv = np.swapaxes(weights, -1, -2) @ dout
    dweights = dout @ np.swapaxes(v, -1, -2)
    dscores = weights * (dweights - np.sum(dweights * weights, axis=-1, keepdims=True))
    dq = dscores @ k / np.sqrt(d)
    dk = np.swapaxes(dscores, -1, -2) @ q / np.sqrt(d)
    # END SOLUTION
    return dq, dk, dv
''')

md(r"""
## 3. Multi-head attention

One attention computes one set of weights: each query can only average the values in one
way. **Multi-head attention** runs `H` attentions side by side on different learned
projections, so that one head can follow, say, the previous token while another looks for a
matching one. For queries from `x_q` `(N, Lq, E)` and keys and values from `x_kv`
`(N, Lk, E)` (the same array for *self*-attention):

1. project: $Q = x_q W_q^\top + b_q$, $K = x_{kv} W_k^\top + b_k$, $V = x_{kv} W_v^\top + b_v$,
   each `(N, L, E)`. Weights use PyTorch's layout, `(out_features, in_features)`, as in
   `nn.Linear`;
2. split `E` into `H` heads of `d = E / H` features: head `h` owns the features
   `h*d ... (h+1)*d - 1`. Reshape `(N, L, E)` to `(N, L, H, d)` and move the head axis
   forward to get `(N, H, L, d)`: `.reshape(N, L, H, d).transpose(0, 2, 1, 3)` (a plain
   reshape to `(N, H, L, d)` would mix positions and features);
3. attend in every head at once with your `attention_forward` (the head axis is a batch
   axis). The mask `(..., Lq, Lk)` is the same for every head: give it a head axis with
   `np.expand_dims(mask, -3)` so that it broadcasts;
4. concatenate the heads back, `(N, H, Lq, d)` to `(N, Lq, E)` (the inverse of step 2), and
   project: $\text{out} = \text{concat}\; W_o^\top + b_o$.

This is exactly `torch.nn.MultiheadAttention(E, H, batch_first=True)`: its `in_proj_weight`
is $W_q$, $W_k$ and $W_v$ stacked, `(3E, E)`, and `out_proj` is $W_o$, $b_o$. Beware of one
difference: its `key_padding_mask` and boolean `attn_mask` mean **True = masked out**, the
opposite of our masks.
""")

code(r'''
def multi_head_attention_forward(x_q, x_kv, params, num_heads, mask=None):
    """Multi-head attention of the queries x_q (N, Lq, E) over x_kv (N, Lk, E).

    params: 'W_q', 'W_k', 'W_v', 'W_o' (E, E) and 'b_q', 'b_k', 'b_v', 'b_o' (E,); y = x W^T + b.
    mask: None or boolean, broadcasting to (N, Lq, Lk), True = may attend.
    Returns (out, weights): out (N, Lq, E), weights (N, num_heads, Lq, Lk) for every head.
    """
    # BEGIN SOLUTION
    N, Lq, E = x_q.shape
    Lk = x_kv.shape[1]
    d = E // num_heads
    q = (x_q @ params["W_q"].T + params["b_q"]).reshape(N, Lq, num_heads, d).transpose(0, 2, 1, 3)
    k = (x_kv @ params["W_k"].T + params["b_k"]).reshape(N, Lk, num_heads, d).transpose(0, 2, 1, 3)
    v = (x_kv @ params["W_v"].T + params["b_v"]).reshape(N, Lk, num_heads, d).transpose(0, 2, 1, 3)
    if mask is not None:
        mask = np.expand_dims(mask, -3)
    heads, weights = attention_forward(q, k, v, mask)
    concat = heads.transpose(0, 2, 1, 3).reshape(N, Lq, E)
    out = concat @ params["W_o"].T + params["b_o"]
    # END SOLUTION
    return out, weights
''')

md(r"""
## 4. Positional encoding

Attention treats its input as a *set*: permute the keys and values together and the output
does not change. To know where a token is, the Transformer adds a **positional encoding** to
every token's embedding. The sinusoidal one of "Attention is all you need" gives position
`p` the vector

$$PE[p, 2i] = \sin\!\Big(\frac{p}{10000^{2i/d}}\Big), \qquad PE[p, 2i+1] = \cos\!\Big(\frac{p}{10000^{2i/d}}\Big),
\qquad i = 0, \dots, d/2 - 1:$$

pairs of features that rotate with the position, at frequencies from 1 (features 0 and 1)
down to about $1/10000$ (the last pair). Even and odd features share the **same** frequency:
the exponent is $2i/d$ for both `2i` and `2i + 1`. Position 0 is `[0, 1, 0, 1, ...]`.
Write `positional_encoding(L, d)` for an even `d`, returning `(L, d)` float64.
""")

code(r'''
def positional_encoding(L, d):
    """(L, d) sinusoidal positional encoding (d even): sin on even features, cos on odd ones."""
    # BEGIN SOLUTION
    positions = np.arange(L)[:, None]
    frequencies = 1.0 / 10000.0 ** (np.arange(0, d, 2) / d)
    pe = np.zeros((L, d))
    pe[:, 0::2] = np.sin(positions * frequencies)
    pe[:, 1::2] = np.cos(positions * frequencies)
    # END SOLUTION
    return pe
''')

md(r"""
## 5. Layer normalization

Batch norm normalises each feature over the batch; **layer norm** normalises each token over
its own features, so it behaves the same in training and at test time and for any batch
size, which is why Transformers use it. For `x` of shape `(..., D)`, over the last axis:

$$\mu = \frac1D\sum_j x_j, \qquad \sigma^2 = \frac1D\sum_j (x_j-\mu)^2, \qquad
\hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad y = \gamma \odot \hat x + \beta,$$

with the **biased** variance (divide by `D`) and $\epsilon$ **inside** the square root, as in
`torch.nn.LayerNorm` (`eps = 1e-5`). `gamma` and `beta` have shape `(D,)`.

The backward pass: $d\beta = \sum dy$ and $d\gamma = \sum dy \odot \hat x$, summed over every
axis but the last; with $d\hat x = dy \odot \gamma$, for each token

$$dx = \frac{1}{D\sqrt{\sigma^2+\epsilon}}\Big(D\, d\hat x - \sum_j d\hat x_j - \hat x \sum_j d\hat x_j\, \hat x_j\Big).$$
""")

code(r'''
def layer_norm_forward(x, gamma, beta, eps=1e-5):
    """Layer norm over the last axis of x (..., D). Returns (out, cache)."""
    # BEGIN SOLUTION
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    out = gamma * xhat + beta
    cache = (xhat, inv_std, gamma)
    # END SOLUTION
    return out, cache


def layer_norm_backward(dout, cache):
    """Gradients of layer_norm_forward: (dx, dgamma, dbeta) with the shapes of x, gamma, beta."""
    # BEGIN SOLUTION
    xhat, inv_std, gamma = cache
    D = xhat.shape[-1]
    axes = tuple(range(dout.ndim - 1))
    dgamma = np.sum(dout * xhat, axis=axes)
    dbeta = np.sum(dout, axis=axes)
    dxhat = dout * gamma
    dx = inv_std / D * (D * dxhat - dxhat.sum(axis=-1, keepdims=True)
                        - xhat * np.sum(dxhat * xhat, axis=-1, keepdims=True))
    # END SOLUTION
    return dx, dgamma, dbeta
''')

md(r"""
### Check your functions

The next cell compares your functions with PyTorch's (float64, masks included) and your
attention backward with numeric gradients of your own forward. Every error should be below
about `1e-8`.
""")

code(r'''
import torch
import torch.nn.functional as F


def rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))


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


check_rng = np.random.default_rng(0)
N, L, d, dv = 2, 5, 4, 3
q, k, v = (check_rng.standard_normal(s) for s in [(N, L, d), (N, L, d), (N, L, dv)])
mask = padding_mask([5, 3], L) & causal_mask(L)
out, weights = attention_forward(q, k, v, mask)
dout = check_rng.standard_normal(out.shape)
dq, dk, dv_ = attention_backward(dout, q, k, v, weights)

tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
t_out = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=torch.tensor(mask))
t_out.backward(torch.tensor(dout))
print("attention out vs torch", rel_error(out, t_out.detach().numpy()))
print("attention dq  vs torch", rel_error(dq, tq.grad.numpy()))
print("attention dk  vs torch", rel_error(dk, tk.grad.numpy()))
print("attention dv  vs torch", rel_error(dv_, tv.grad.numpy()))
print("attention dq  vs numeric", rel_error(dq, numeric_gradient(lambda x: attention_forward(x, k, v, mask)[0], q, dout)))

E, H = 8, 2
x = check_rng.standard_normal((N, L, E))
params = {f"W_{n}": check_rng.standard_normal((E, E)) / np.sqrt(E) for n in "qkvo"}
params.update({f"b_{n}": check_rng.standard_normal(E) for n in "qkvo"})
mha = torch.nn.MultiheadAttention(E, H, batch_first=True, dtype=torch.float64)
with torch.no_grad():
    mha.in_proj_weight.copy_(torch.tensor(np.concatenate([params["W_q"], params["W_k"], params["W_v"]])))
    mha.in_proj_bias.copy_(torch.tensor(np.concatenate([params["b_q"], params["b_k"], params["b_v"]])))
    mha.out_proj.weight.copy_(torch.tensor(params["W_o"]))
    mha.out_proj.bias.copy_(torch.tensor(params["b_o"]))
    t_out, t_weights = mha(*(torch.tensor(x),) * 3, key_padding_mask=torch.tensor(~padding_mask([5, 3], L)[:, 0]),
                           attn_mask=torch.tensor(~causal_mask(L)), average_attn_weights=False)
out, weights = multi_head_attention_forward(x, x, params, H, padding_mask([5, 3], L) & causal_mask(L))
print("multi-head out     vs torch", rel_error(out, t_out.numpy()))
print("multi-head weights vs torch", rel_error(weights, t_weights.numpy()))

gamma, beta = check_rng.standard_normal(E), check_rng.standard_normal(E)
tx, tg, tb = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
t_ln = F.layer_norm(tx, (E,), tg, tb, eps=1e-5)
ln, ln_cache = layer_norm_forward(x, gamma, beta)
dln = check_rng.standard_normal(ln.shape)
t_ln.backward(torch.tensor(dln))
dx, dgamma, dbeta = layer_norm_backward(dln, ln_cache)
print("layer norm out vs torch", rel_error(ln, t_ln.detach().numpy()))
print("layer norm dx, dgamma, dbeta vs torch",
      rel_error(dx, tx.grad.numpy()), rel_error(dgamma, tg.grad.numpy()), rel_error(dbeta, tb.grad.numpy()))
print("positional encoding, positions 0 and 1:\n", positional_encoding(2, 6))
''')

# --------------------------------------------------------------------------- part 2: fine-tuning

md(r"""
# Part 2: fine-tuning a pretrained Transformer encoder

Large Transformers such as BERT are **pretrained** once on a big task and then **fine-tuned**
on many small ones. Here is a tiny one: `RowTransformer` reads an 8x8 digit as a *sequence*
of its 8 rows (8 pixels each), and was pretrained on the digits **0-4**, BERT-style:

* each row is a token: `embed`, an `nn.Linear(8, 48)`, maps it to 48 features, and a learned
  **[CLS] token** is put in front of the sequence (9 tokens);
* sinusoidal positional encodings (your formula from section 4) are added, so the model knows
  which row is which;
* two `nn.TransformerEncoderLayer`s (4-head self-attention, layer norm, a feed-forward layer,
  dropout 0.1; pre-norm) mix the tokens; `norm` is a final `nn.LayerNorm`;
* the classifier `head`, an `nn.Linear(48, 5)`, reads the [CLS] token's output;
* besides classifying, the pretraining hid two random rows of every image and made the
  encoder reconstruct them, as BERT's masked-language-model task hides words. That keeps its
  features general enough to describe digits it never saw.

Your task: recognise the digits **5-9** with only **20 labelled images per class**: freeze the
encoder, put a new head on it and train only the head.

The weights are in `data/transformer_digits04.pt`, a `state_dict` (on your own machine run
`grade data attention` once to get it). Load checkpoints with `torch.load(...,
weights_only=True)`: a `.pt` file is a pickle, and unpickling an untrusted file can run
arbitrary code, while `weights_only=True` only rebuilds tensors. Do not change the next cell:
the checkpoint's names and shapes must match this class.
""")

code(r'''
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)  # small model: one thread is fastest, and results do not depend on the machine


def sinusoidal_positions(L, d):
    """positional_encoding in torch (float32), for the network."""
    position = torch.arange(L, dtype=torch.float32)[:, None]
    angle = position / 10000.0 ** (torch.arange(0, d, 2, dtype=torch.float32) / d)
    pe = torch.zeros(L, d)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe


class RowTransformer(nn.Module):
    """A Transformer encoder over the 8 rows of an 8x8 digit (N, 8, 8), with a [CLS] token."""

    def __init__(self, num_classes=5, rows=8, row_size=8, d_model=48, num_heads=4, num_layers=2,
                 dim_feedforward=96, dropout=0.1):
        super().__init__()
        self.embed = nn.Linear(row_size, d_model)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model))
        self.register_buffer("positions", sinusoidal_positions(rows + 1, d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(d_model, num_heads, dim_feedforward, dropout, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def tokens(self, x):
        """[CLS] and the embedded rows, plus positions: (N, rows + 1, d_model)."""
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        return torch.cat([cls, self.embed(x)], dim=1) + self.positions

    def features(self, x):
        """The encoder's [CLS] output, layer-normed: (N, d_model)."""
        return self.norm(self.encoder(self.tokens(x))[:, 0])

    def forward(self, x):
        return self.head(self.features(x))


def load_pretrained_transformer(path="data/transformer_digits04.pt"):
    """RowTransformer with the weights pretrained on the digits 0-4 (a fresh copy on every call)."""
    model = RowTransformer(num_classes=5)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model
''')

code(r'''
pretrained = load_pretrained_transformer()
print(pretrained.head)
print("parameters:", sum(p.numel() for p in pretrained.parameters()))
print("dropout layers:", [name for name, m in pretrained.named_modules() if isinstance(m, nn.Dropout)])
''')

md(r"""
## 6. Freeze the encoder, replace the head

With 100 labelled images, training all ~39,000 parameters would fit those images and wash
out what the encoder learned. Frozen, the encoder is a fixed feature extractor that maps each
image to 48 features, and only a linear classifier on them is learned (245 parameters).

A parameter is frozen with `p.requires_grad = False`: autograd computes no gradient for it,
so no optimizer can change it. The old `head` maps to the classes 0-4 and means nothing for
5-9: put a **new** `nn.Linear(in_features, num_classes)` in its place, reading `in_features`
from the old layer (`model.head.in_features`). A fresh layer's parameters require gradients.

Write `prepare_for_finetuning(model, num_classes)`: freeze **every** pretrained parameter,
replace `head`, return the model. Afterwards only `head.weight` and `head.bias` may require
gradients.
""")

code(r'''
def prepare_for_finetuning(model, num_classes):
    """Freeze every parameter of `model` and replace model.head with a new, trainable
    nn.Linear(model.head.in_features, num_classes). Returns the model."""
    # BEGIN SOLUTION
    for p in model.parameters():
        p.requires_grad = False
    model.head = nn.Linear(model.head.in_features, num_classes)
    # END SOLUTION
    return model
''')

md(r"""
## 7. Train the head, with the frozen encoder in eval mode

The loop is the usual one (cross-entropy, minibatches, an optimizer) with two fine-tuning rules:

**Optimise only what is trainable:** `[p for p in model.parameters() if p.requires_grad]`.

**The frozen encoder runs in `eval()` mode.** `requires_grad = False` stops the optimizer, but
not the encoder's **dropout**: in `train()` mode every `nn.Dropout` zeroes 10% of the features
at random, anew at every forward pass. A frozen encoder gains nothing from that noise (its
weights do not learn), and the head would be trained on noisy features but used on clean
ones. So keep every frozen part in `eval()` mode while training the head (here the head has no
dropout, so `model.eval()` for the whole loop is the simplest way; `model.train()` followed by
`model.encoder.eval()` is the same here and still right when the head has layers that behave
differently in training).

**Your API.** `finetune(model, X, y, epochs, lr, batch_size, seed)` takes numpy arrays: `X`
float32 sequences `(N, 8, 8)`, `y` int64 labels `(N,)`. Use
`torch.optim.SGD(params, lr=lr, momentum=0.9)` and cross-entropy; shuffle every epoch with
`torch.randperm(N, generator=torch.Generator().manual_seed(seed))` (one generator for the
whole run) and take minibatches of `batch_size` in that order. The same seed must give the same
head: the judge repeats your fine-tuning with its own code from the same starting head and
compares. Return the model in `eval()` mode.
""")

code(r'''
def finetune(model, X, y, epochs, lr, batch_size, seed):
    """Train the parameters of `model` that require gradients on numpy arrays X (N, 8, 8) float32
    and y (N,) int64, with SGD (momentum 0.9) and cross-entropy in seeded minibatches, the frozen
    encoder in eval() mode. Returns the model in eval() mode."""
    # BEGIN SOLUTION
    X = torch.as_tensor(np.asarray(X, dtype=np.float32))
    y = torch.as_tensor(np.asarray(y, dtype=np.int64))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        model.encoder.eval()
        for idx in torch.randperm(len(X), generator=generator).split(batch_size):
            loss = F.cross_entropy(model(X[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    # END SOLUTION
    return model
''')

md(r"""
## 8. Fine-tune on the digits 5-9

`data/digits59_few_train.npz` holds the labelled images: `X` is `(100, 64)` (8x8 pixels in
`[0, 1]`, flattened), `y` is `(100,)` with labels `0..4` meaning the digits `5..9`
(label = digit - 5), 20 per class. The judge keeps other images of the digits 5-9 and measures
`ft_model` on them.

The budget is fixed: `EPOCHS`, `LR`, `BATCH_SIZE` and `SEED` below. The judge trains a
`RowTransformer` **from scratch** (random weights, every layer trainable) on the same 100
images with the same budget; your fine-tuned model must beat it clearly. Seed the new head:
call `torch.manual_seed(SEED)` before `prepare_for_finetuning`. Leave the fine-tuned network
in **`ft_model`**.
""")

code(r'''
data = np.load("data/digits59_few_train.npz")
X_few = data["X"].astype(np.float32).reshape(-1, 8, 8)  # (100, 8, 8): 8 rows of 8 pixels
y_few = data["y"].astype(np.int64)                      # 0..4 = the digits 5..9
print("labelled images:", X_few.shape, "per class:", np.bincount(y_few))

EPOCHS, LR, BATCH_SIZE, SEED = 10, 0.1, 20, 0


def predict(model, X):
    """Class predictions (N,) of `model` in eval mode for a numpy batch X (N, 8, 8)."""
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(np.asarray(X, dtype=np.float32))).argmax(dim=1).numpy()
''')

code(r'''
# Fine-tune the pretrained network on (X_few, y_few) with the budget above; leave it in `ft_model`.
# BEGIN SOLUTION
torch.manual_seed(SEED)
ft_model = prepare_for_finetuning(load_pretrained_transformer(), num_classes=5)
ft_model = finetune(ft_model, X_few, y_few, epochs=EPOCHS, lr=LR, batch_size=BATCH_SIZE, seed=SEED)
# END SOLUTION
print("training accuracy:", np.mean(predict(ft_model, X_few) == y_few))
''')

md(r"""
## 9. Short questions

Answer by assigning the globals below: a number as a plain Python number, multiple-choice
answers as one letter in a string, e.g. `"a"`.

1. `ANSWER_MHA_PARAMS`: how many parameters (weights and biases) does
   `torch.nn.MultiheadAttention(embed_dim=48, num_heads=4)` have?
2. `ANSWER_WHY_SCALE`: why are the scores divided by $\sqrt d$?
   * (a) to make the weights sum to one
   * (b) dot products of `d`-dimensional vectors grow like $\sqrt d$; unscaled, the softmax saturates and its gradients vanish
   * (c) to save computation
   * (d) so that masked scores become $-\infty$
3. `ANSWER_TORCH_PADDING_MASK`: in `torch.nn.MultiheadAttention(...)(q, k, v, key_padding_mask=m)`,
   what does `m[n, j] = True` mean?
   * (a) key `j` of sequence `n` is padding and is ignored
   * (b) key `j` of sequence `n` may be attended to
   * (c) query `j` of sequence `n` is padding
   * (d) the weights of key `j` are doubled
4. `ANSWER_TRAINABLE_PARAMS`: how many trainable parameters does
   `prepare_for_finetuning(load_pretrained_transformer(), num_classes=5)` leave?
5. `ANSWER_FROZEN_DROPOUT`: every encoder parameter is frozen, but `finetune` leaves the encoder
   in `train()` mode. What happens?
   * (a) nothing: frozen layers behave the same in both modes
   * (b) the frozen weights change anyway
   * (c) dropout keeps zeroing random features at every forward pass, so the head is trained on noisy features that differ from the clean ones it sees in eval() mode
   * (d) the gradients of the head become zero
""")

code(r'''
ANSWER_MHA_PARAMS = 4 * 48 * 48 + 4 * 48  # SOLUTION
ANSWER_WHY_SCALE = "b"  # SOLUTION
ANSWER_TORCH_PADDING_MASK = "a"  # SOLUTION
ANSWER_TRAINABLE_PARAMS = 48 * 5 + 5  # SOLUTION
ANSWER_FROZEN_DROPOUT = "c"  # SOLUTION
''')


# --------------------------------------------------------------------------- building


def build(starter: bool) -> nbformat.NotebookNode:
    return notebook_from_cells(CELLS, ASSIGNMENT, starter=starter)


def main(argv: list[str]) -> int:
    write_solution_and_starter(CELLS, ASSIGNMENT, Path(argv[1]) if len(argv) > 1 else HERE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
