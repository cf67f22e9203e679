"""Reference implementation of the `regularization` assignment: dropout and batch normalization.

The layer functions are plain NumPy in float64, with PyTorch's conventions (the hidden tests
compare them with `torch.nn.functional.batch_norm` judge-side):

* Dropout: `p` is the probability of DROPPING a unit (as in `torch.nn.Dropout`). Inverted
  dropout: kept units are scaled by 1 / (1 - p) in training, so the expected output equals
  the input and test mode is the identity. The mask comes from
  `np.random.default_rng(seed)`; the hidden tests never compare masks, only their statistics,
  because `rng.random(shape) >= p` and `rng.random(shape) < 1 - p` are equally correct.
* Batch normalization over the batch axis of an (N, D) input: normalise with the BIASED batch
  variance (divide by N); update the running statistics with
  `running = (1 - momentum) * running + momentum * batch`, where the batch variance is the
  UNBIASED one (divide by N - 1). Defaults eps = 1e-5, momentum = 0.1; running_mean starts at
  zeros and running_var at ones when bn_param does not hold them yet. `bn_param` is updated
  in place. Test mode normalises with the running statistics and leaves them unchanged.

`build_regularized_cnn` is the model the notebook trains on the 8x8 digits.

The judge's own copy of what assignments/regularization/solution.ipynb holds; tests never read the notebook's.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dropout_forward", "dropout_backward", "batchnorm_forward", "batchnorm_backward",
           "build_regularized_cnn", "images"]


# ----------------------------------------------------------------------------- dropout


def dropout_forward(x, dropout_param):
    """Inverted dropout. dropout_param: {'p': drop probability, 'mode': 'train'|'test', 'seed'}."""
    p = dropout_param["p"]
    mode = dropout_param.get("mode", "train")
    if mode == "train":
        rng = np.random.default_rng(dropout_param.get("seed"))
        mask = (rng.random(x.shape) >= p) / (1.0 - p)  # kept with probability 1 - p, scaled
        out = x * mask
    elif mode == "test":
        mask = None
        out = x.copy()
    else:
        raise ValueError(f"dropout mode must be 'train' or 'test', not {mode!r}")
    return out, (mode, mask)


def dropout_backward(dout, cache):
    """Gradient of dropout: the same (scaled) mask as the forward pass; identity in test mode."""
    mode, mask = cache
    return dout * mask if mode == "train" else dout.copy()


# ----------------------------------------------------------------------------- batch norm


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization of x (N, D) with PyTorch's semantics; updates bn_param in place."""
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.1)
    n, d = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(d, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.ones(d, dtype=x.dtype))
    if mode == "train":
        mean = x.mean(axis=0)
        var = x.var(axis=0)  # biased: normalisation uses the batch's own spread
        std = np.sqrt(var + eps)
        xhat = (x - mean) / std
        out = gamma * xhat + beta
        unbiased = var * n / (n - 1)  # the running estimate of the population variance
        running_mean = (1.0 - momentum) * running_mean + momentum * mean
        running_var = (1.0 - momentum) * running_var + momentum * unbiased
        cache = (xhat, gamma, std)
    elif mode == "test":
        xhat = (x - running_mean) / np.sqrt(running_var + eps)
        out = gamma * xhat + beta
        cache = None
    else:
        raise ValueError(f"batchnorm mode must be 'train' or 'test', not {mode!r}")
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    """Gradients of a train-mode batchnorm_forward: (dx, dgamma, dbeta), in one simplified pass."""
    xhat, gamma, std = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dx = (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (n * std)
    return dx, dgamma, dbeta


# ----------------------------------------------------------------------------- the CNN


def images(X):
    """Flat 8x8 digits (N, 64) float64 -> (N, 1, 8, 8) float32, as the CNN takes them."""
    return np.asarray(X, dtype=np.float32).reshape(-1, 1, 8, 8)


def build_regularized_cnn(in_channels=1, num_classes=10, p_drop=0.5):
    """conv-BN-ReLU, conv-BN-ReLU-maxpool, dropout, linear; for (N, in_channels, 8, 8) inputs."""
    from torch import nn

    return nn.Sequential(
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
