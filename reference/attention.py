"""Reference implementation of the `attention` assignment: attention by hand, then a pretrained Transformer.

Part 1 is plain NumPy in float64 (the hidden tests compare it with
`torch.nn.functional.scaled_dot_product_attention`, `torch.nn.MultiheadAttention` and
`torch.nn.functional.layer_norm` judge-side). Conventions the tests rely on:

* masks are boolean and mean "may attend" (True = this query may look at this key), as in
  `scaled_dot_product_attention`'s boolean `attn_mask`; they broadcast against the scores
  (..., Lq, Lk). `nn.MultiheadAttention` uses the opposite sense (True = masked out) for
  both `key_padding_mask` and a boolean `attn_mask`; the tests map ours onto it with `~`.
  Every query keeps at least one key.
* `attention_forward(q, k, v, mask)` returns (out, weights), weights = softmax(q k^T / sqrt(d))
  with masked scores set to -inf before the softmax; `attention_backward(dout, q, k, v,
  weights)` needs no mask (masked weights are exactly 0, and so are their gradients).
* Linear maps use PyTorch's layout: W is (out_features, in_features) and y = x W^T + b.
  `multi_head_attention_forward` splits E into num_heads heads of E / num_heads features
  (head h owns features h*d ... (h+1)*d - 1, as `nn.MultiheadAttention` does), and returns
  (out, weights) with weights (N, H, Lq, Lk) per head.
* Sinusoidal positional encoding: PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(same).
* Layer norm over the last axis with the biased variance and eps inside the square root.

Part 2 is `RowTransformer`, a small Transformer encoder that reads an 8x8 digit as a sequence
of its 8 rows, with a learned [CLS] token and sinusoidal positions, and a linear `head` on the
[CLS] features. The shipped checkpoint `assignments/attention/data/transformer_digits04.pt` is
its state_dict pretrained on the digits 0-4 by `reference/pretrain_transformer.py`.
Fine-tuning conventions: `prepare_for_finetuning` freezes every pretrained parameter and puts a
new `head`; `finetune` trains the head with SGD (momentum 0.9) in batches from
`torch.randperm(n, generator=torch.Generator().manual_seed(seed))`, with the frozen encoder in
eval() mode (its dropout off), so the same seed and start give the same head.

The judge's own copy of what assignments/attention/solution.ipynb holds; tests never read the notebook's.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "assignments" / "attention" / "data" / "transformer_digits04.pt"
RECORD = ROOT / "assignments" / "attention" / "pretrained.json"

#: The fine-tuning budget of the notebook; the judge's from-scratch baseline gets the same.
BUDGET = {"epochs": 10, "lr": 0.1, "batch_size": 20, "seed": 0}

# ----------------------------------------------------------------------------- part 1: NumPy


def softmax(x, axis=-1):
    """Softmax along `axis`, shifted by the maximum so that large scores do not overflow."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def causal_mask(L):
    """(L, L) boolean: query i may attend to keys j <= i."""
    return np.tril(np.ones((L, L), dtype=bool))


def padding_mask(lengths, L):
    """(N, 1, L) boolean: key j of sequence n is real (j < lengths[n]), not padding."""
    lengths = np.asarray(lengths)
    return (np.arange(L)[None, :] < lengths[:, None])[:, None, :]


def attention_forward(q, k, v, mask=None):
    """Scaled dot-product attention. q (..., Lq, d), k (..., Lk, d), v (..., Lk, dv);
    mask broadcastable to (..., Lq, Lk), True = may attend. Returns (out, weights)."""
    d = q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    weights = softmax(scores, axis=-1)
    return weights @ v, weights


def attention_backward(dout, q, k, v, weights):
    """Gradients (dq, dk, dv) of attention_forward, given the forward's weights."""
    d = q.shape[-1]
    dv = np.swapaxes(weights, -1, -2) @ dout
    dweights = dout @ np.swapaxes(v, -1, -2)
    dscores = weights * (dweights - np.sum(dweights * weights, axis=-1, keepdims=True))
    dq = dscores @ k / np.sqrt(d)
    dk = np.swapaxes(dscores, -1, -2) @ q / np.sqrt(d)
    return dq, dk, dv


def _split_heads(x, num_heads):
    N, L, E = x.shape
    return x.reshape(N, L, num_heads, E // num_heads).transpose(0, 2, 1, 3)


def multi_head_attention_forward(x_q, x_kv, params, num_heads, mask=None):
    """Multi-head attention of queries x_q (N, Lq, E) over x_kv (N, Lk, E).

    params: W_q, W_k, W_v, W_o (E, E) and b_q, b_k, b_v, b_o (E,), PyTorch's layout.
    mask broadcastable to (N, Lq, Lk), True = may attend. Returns (out (N, Lq, E),
    weights (N, num_heads, Lq, Lk))."""
    q = _split_heads(x_q @ params["W_q"].T + params["b_q"], num_heads)
    k = _split_heads(x_kv @ params["W_k"].T + params["b_k"], num_heads)
    v = _split_heads(x_kv @ params["W_v"].T + params["b_v"], num_heads)
    if mask is not None:
        mask = np.expand_dims(mask, -3)  # one mask for every head
    heads, weights = attention_forward(q, k, v, mask)
    N, H, Lq, d = heads.shape
    concat = heads.transpose(0, 2, 1, 3).reshape(N, Lq, H * d)
    return concat @ params["W_o"].T + params["b_o"], weights


def positional_encoding(L, d):
    """(L, d) sinusoidal positional encoding, d even."""
    pe = np.zeros((L, d))
    for p in range(L):
        for i in range(d // 2):
            angle = p / 10000.0 ** (2 * i / d)
            pe[p, 2 * i] = math.sin(angle)
            pe[p, 2 * i + 1] = math.cos(angle)
    return pe


def layer_norm_forward(x, gamma, beta, eps=1e-5):
    """Layer norm over the last axis of x (..., D): biased variance, eps inside the root."""
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    return gamma * xhat + beta, (xhat, inv_std, gamma)


def layer_norm_backward(dout, cache):
    """(dx, dgamma, dbeta) of layer_norm_forward; dgamma and dbeta sum over every leading axis."""
    xhat, inv_std, gamma = cache
    D = xhat.shape[-1]
    axes = tuple(range(dout.ndim - 1))
    dgamma = np.sum(dout * xhat, axis=axes)
    dbeta = np.sum(dout, axis=axes)
    dxhat = dout * gamma
    dx = inv_std / D * (D * dxhat - dxhat.sum(axis=-1, keepdims=True)
                        - xhat * np.sum(dxhat * xhat, axis=-1, keepdims=True))
    return dx, dgamma, dbeta


# ----------------------------------------------------------------------------- part 2: the network


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


def sequences(X):
    """Flat 8x8 digits (N, 64) -> (N, 8, 8) float32: 8 rows of 8 pixels."""
    return np.asarray(X, dtype=np.float32).reshape(-1, 8, 8)


def load_checkpoint(path=CHECKPOINT):
    """The shipped state_dict (tensors only: weights_only=True never unpickles code)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def load_pretrained_transformer(path=CHECKPOINT):
    model = RowTransformer(num_classes=5)
    model.load_state_dict(load_checkpoint(path))
    return model


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def recorded() -> dict:
    """pretrained.json: the checkpoint's sha256 and how it was made."""
    return json.loads(RECORD.read_text(encoding="utf-8"))


def prepare_for_finetuning(model, num_classes):
    """Freeze every pretrained parameter and put a new, trainable head of num_classes outputs."""
    for p in model.parameters():
        p.requires_grad = False
    model.head = nn.Linear(model.head.in_features, num_classes)
    return model


def train_head(model, X, y, epochs, lr, batch_size, seed, frozen_in_eval=True):
    """SGD with momentum 0.9 on the parameters that require gradients, seeded batches.

    frozen_in_eval: the frozen encoder runs in eval() mode (dropout off); False trains the
    whole model in train() mode (the from-scratch baseline)."""
    X = torch.as_tensor(sequences(X))
    y = torch.as_tensor(np.asarray(y, dtype=np.int64))
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr, momentum=0.9)
    for _ in range(epochs):
        if frozen_in_eval:
            model.eval()
        else:
            model.train()
        for idx in torch.randperm(len(X), generator=generator).split(batch_size):
            loss = F.cross_entropy(model(X[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    return model


def finetune(model, X, y, epochs, lr, batch_size, seed):
    """The notebook's finetune: train the head, the frozen encoder in eval() mode."""
    return train_head(model, X, y, epochs, lr, batch_size, seed, frozen_in_eval=True)


def accuracy(model, X, y):
    model.eval()
    with torch.no_grad():
        return float((model(torch.as_tensor(sequences(X))).argmax(1).numpy() == y).mean())


def _process_cache() -> dict:
    """A dict that lives as long as the judge process (this module is re-executed per grading)."""
    name = "_dlgrade_attention_cache"
    module = sys.modules.get(name)
    if module is None:
        module = sys.modules[name] = types.ModuleType(name)
        module.values = {}
    return module.values


def _with_one_thread(fn):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn()
    finally:
        torch.set_num_threads(threads)


def expected_head(head_weight, head_bias, X, y, epochs, lr, batch_size, seed):
    """The head the judge's own finetune gives from the checkpoint and this starting head."""
    def run():
        model = prepare_for_finetuning(load_pretrained_transformer(), head_weight.shape[0])
        with torch.no_grad():
            model.head.weight.copy_(torch.as_tensor(np.asarray(head_weight, dtype=np.float32)))
            model.head.bias.copy_(torch.as_tensor(np.asarray(head_bias, dtype=np.float32)))
        finetune(model, X, y, epochs, lr, batch_size, seed)
        return model.head.weight.detach().numpy().copy(), model.head.bias.detach().numpy().copy()
    return _with_one_thread(run)


def scratch_baseline_accuracy(X_train, y_train, X_test, y_test, budget=None, seeds=(0, 1, 2)) -> float:
    """Mean held-out accuracy of RowTransformers trained from random initialisation (every
    parameter trainable, dropout on) with the notebook's budget, one run per seed. Seeded;
    cached per judge process."""
    budget = dict(BUDGET if budget is None else budget)
    key = hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in (X_train, y_train, X_test, y_test))
                         + json.dumps([budget, list(seeds)], sort_keys=True).encode()).hexdigest()
    cache = _process_cache()
    if key not in cache:
        def run():
            accuracies = []
            for seed in seeds:
                torch.manual_seed(seed)
                model = RowTransformer(num_classes=int(np.max(y_train)) + 1)
                train_head(model, X_train, y_train, budget["epochs"], budget["lr"], budget["batch_size"], seed,
                           frozen_in_eval=False)
                accuracies.append(accuracy(model, X_test, y_test))
            return float(np.mean(accuracies))
        cache[key] = _with_one_thread(run)
    return cache[key]
