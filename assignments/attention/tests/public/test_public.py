"""Public tests for `attention`: small fixed inputs, so you can see exactly what is expected.

The hidden tests check the same functions on fresh random inputs against PyTorch in float64
(scaled_dot_product_attention, nn.MultiheadAttention with your weights, F.layer_norm), with
padding and causal masks, check your gradients numerically and call the by-hand functions
with torch refused.
"""

import numpy as np
import pytest

from grader.course.testing import assert_close


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_softmax_small(submission):
    """softmax([0, log 3]) = [0.25, 0.75], and rows of a (2, 3) input each sum to 1."""
    out = submission.softmax(np.array([[0.0, np.log(3.0)]]), -1)
    assert_close(out, np.array([[0.25, 0.75]]), rtol=1e-12, atol=1e-12, name="softmax([0, log 3])")
    rows = submission.softmax(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]), -1)
    assert_close(np.sum(rows, axis=-1), np.ones(2), rtol=1e-12, atol=1e-12, name="row sums of softmax")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_attention_small(submission):
    """One query with equal scores averages the values; a padding mask removes the last key."""
    q = np.zeros((1, 1, 2))
    k = np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    v = np.array([[[3.0], [6.0], [30.0]]])
    out, weights = submission.attention_forward(q, k, v, None)
    assert_close(weights, np.full((1, 1, 3), 1 / 3), rtol=1e-12, atol=1e-12, name="weights (equal scores)")
    assert_close(out, np.array([[[13.0]]]), rtol=1e-12, atol=1e-12, name="out (equal scores)")
    mask = np.array([[[True, True, False]]])
    out, weights = submission.attention_forward(q, k, v, mask)
    assert_close(weights, np.array([[[0.5, 0.5, 0.0]]]), rtol=1e-12, atol=1e-12, name="weights (last key masked)")
    assert_close(out, np.array([[[4.5]]]), rtol=1e-12, atol=1e-12, name="out (last key masked)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_attention_backward_shapes(submission):
    """attention_backward returns dq, dk, dv with the shapes of q (2, 3, 4), k (2, 5, 4) and v (2, 5, 6)."""
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 6))
    _, weights = submission.attention_forward(q, k, v, None)
    dq, dk, dv = submission.attention_backward(rng.standard_normal((2, 3, 6)), q, k, v, weights)
    for name, got, want in [("dq", dq, q.shape), ("dk", dk, k.shape), ("dv", dv, v.shape)]:
        assert np.shape(got) == want, f"{name}: shape {np.shape(got)}, expected {want}"


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_multi_head_shapes(submission):
    """multi_head_attention_forward returns out (2, 3, 8) and weights (2, 4, 3, 5) for 4 heads, E = 8."""
    rng = np.random.default_rng(1)
    params = {f"W_{n}": rng.standard_normal((8, 8)) for n in "qkvo"}
    params.update({f"b_{n}": np.zeros(8) for n in "qkvo"})
    out, weights = submission.multi_head_attention_forward(rng.standard_normal((2, 3, 8)),
                                                           rng.standard_normal((2, 5, 8)), params, 4, None)
    assert np.shape(out) == (2, 3, 8), f"out: shape {np.shape(out)}, expected (2, 3, 8)"
    assert np.shape(weights) == (2, 4, 3, 5), f"weights: shape {np.shape(weights)}, expected (2, 4, 3, 5)"


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_positional_encoding_small(submission):
    """positional_encoding(2, 4): position 0 is [0, 1, 0, 1], position 1 is [sin 1, cos 1, sin 0.01, cos 0.01]."""
    expected = np.array([[0.0, 1.0, 0.0, 1.0], [np.sin(1.0), np.cos(1.0), np.sin(0.01), np.cos(0.01)]])
    assert_close(submission.positional_encoding(2, 4), expected, rtol=1e-12, atol=1e-12, name="positional_encoding(2, 4)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_layer_norm_small(submission):
    """layer_norm_forward of [1, 2, 3, 4] with gamma 1, beta 0 has mean 0 and variance 1 (up to eps)."""
    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    out, _ = submission.layer_norm_forward(x, np.ones(4), np.zeros(4), 1e-5)
    expected = (x - 2.5) / np.sqrt(1.25 + 1e-5)
    assert_close(out, expected, rtol=1e-12, atol=1e-12, name="layer norm of [1, 2, 3, 4]")


def _trainable(submission, model):
    torch = submission.torch
    return sorted(name for name, p in torch.builtins.list(model.named_parameters()) if p.requires_grad)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_pretrained_transformer_loads(submission):
    """load_pretrained_transformer() gives the RowTransformer with the checkpoint's 5-class head."""
    model = submission.load_pretrained_transformer()
    assert (model.head.in_features, model.head.out_features) == (48, 5), (
        f"pretrained head: {model.head.in_features} -> {model.head.out_features}, expected 48 -> 5; "
        "is data/transformer_digits04.pt there? (grade data attention)"
    )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_prepare_small(submission):
    """After prepare_for_finetuning(model, 3) only head.weight (3, 48) and head.bias (3,) require gradients."""
    model = submission.prepare_for_finetuning(submission.load_pretrained_transformer(), 3)
    assert model is not None, "prepare_for_finetuning must return the model"
    trainable = _trainable(submission, model)
    assert trainable == ["head.bias", "head.weight"], (
        f"trainable parameters after prepare_for_finetuning: {trainable[:5]}, expected ['head.bias', 'head.weight']"
    )
    assert (model.head.in_features, model.head.out_features) == (48, 3), (
        f"new head: {model.head.in_features} -> {model.head.out_features}, expected 48 -> 3"
    )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_finetune_small(submission):
    """finetune takes numpy arrays and returns the model, whose scores for 4 sequences have shape (4, 2)."""
    model = submission.prepare_for_finetuning(submission.load_pretrained_transformer(), 2)
    X = np.linspace(0.0, 1.0, 8 * 64, dtype=np.float32).reshape(8, 8, 8)
    y = np.array([0, 1] * 4, dtype=np.int64)
    model = submission.finetune(model, X, y, 1, 0.01, 4, 0)
    assert model is not None, "finetune must return the model"
    model.eval()
    out = model(submission.torch.from_numpy(X[:4])).detach().numpy()
    assert isinstance(out, np.ndarray) and out.shape == (4, 2), (
        "scores of the fine-tuned model for 4 sequences: expected shape (4, 2), got "
        + (f"shape {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__)
    )
