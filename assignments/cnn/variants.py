"""The cnn assignment's variant catalogue (judge-side; never shipped to students).

BUGS: the solution with one typical mistake each, the tests each must fail (with the text
their messages must hold) and the misconceptions each must be diagnosed with; ALTERNATIVES:
correct variants that must keep full marks and get no diagnosis. Read by
grader.authoring.variants (`grade validate --variants`, tests/test_cnn_variants.py).
"""

from __future__ import annotations

from grader.authoring.variants import Case

#: code cells holding this are left out of every graded variant (a slow self-check)
DROP_MARKER = "def numeric_gradient("


ACCURACY = "test_cnn_model_accuracy"
TRAIN_DIGITS = "test_cnn_model_reads_training_digits"
FORWARD_TESTS = ("test_conv_forward_basic", "test_conv_forward_stride", "test_conv_forward_padding",
                 "test_conv_forward_non_square")
BACKWARD_TESTS = ("test_conv_backward_dx", "test_conv_backward_dw", "test_conv_backward_db",
                  "test_conv_backward_numeric")


PAD_SOLUTION = "    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))\n"

BUGS = [
    Case(
        # Padding 2 * pad at the bottom and right instead of pad on every side, in both passes
        # (consistently, so the numeric gradient check still agrees with the student's forward).
        "conv_pad_on_one_side",
        (
            (PAD_SOLUTION + "    out = np.zeros",
             "    x_pad = np.pad(x, ((0, 0), (0, 0), (0, 2 * pad), (0, 2 * pad)))\n    out = np.zeros"),
            (PAD_SOLUTION + "    dx_pad = np.zeros_like(x_pad)",
             "    x_pad = np.pad(x, ((0, 0), (0, 0), (0, 2 * pad), (0, 2 * pad)))\n"
             "    dx_pad = np.zeros_like(x_pad)"),
            ("    dx = dx_pad[:, :, pad:pad + H, pad:pad + W]\n", "    dx = dx_pad[:, :, :H, :W]\n"),
        ),
        {
            "test_conv_forward_basic": "out (x (2, 3, 5, 5), w (4, 3, 3, 3), stride 1, pad 1): max relative error",
            "test_conv_forward_padding": "out (x (1, 2, 5, 6), w (2, 2, 3, 3), stride 1, pad 1)",
            "test_conv_forward_non_square": "stride 2, pad 1",
            "test_conv_backward_dx": "dx (x (2, 3, 5, 5), w (4, 3, 3, 3), stride 1, pad 1)",
            "test_conv_backward_dw": "dw (x (2, 3, 5, 5), w (4, 3, 3, 3), stride 1, pad 1)",
            "test_conv_forward_small": "out (stride 2, pad 1)",
            "test_conv_backward_small": "dx",
        },
        diagnoses=frozenset({"conv_pad_one_side"}),
    ),
    Case(
        "conv_backward_ignores_stride",
        (
            ("                    rows = slice(i * stride, i * stride + HH)\n"
             "                    cols = slice(j * stride, j * stride + WW)\n",
             "                    rows = slice(i, i + HH)\n"
             "                    cols = slice(j, j + WW)\n"),
        ),
        {
            "test_conv_backward_dx": "dx (x (2, 2, 7, 8), w (3, 2, 3, 2), stride 2, pad 2)",
            "test_conv_backward_dw": "dw (x (2, 2, 7, 8), w (3, 2, 3, 2), stride 2, pad 2)",
            "test_conv_backward_numeric": "dx (x (2, 2, 5, 6), w (3, 2, 3, 2), stride 2, pad 1, vs numeric gradient)",
        },
        diagnoses=frozenset({"conv_backward_ignores_stride"}),
    ),
    Case(
        "conv_backward_dw_overwritten",
        (("                    dw[f] += dout[n, f, i, j]", "                    dw[f] = dout[n, f, i, j]"),),
        {
            "test_conv_backward_dw": "dw (x (2, 3, 5, 5)",
            "test_conv_backward_numeric": "dw (x (2, 2, 5, 6), w (3, 2, 3, 2), stride 2, pad 1, vs numeric gradient)",
            "test_conv_backward_small": "dw",
        },
        diagnoses=frozenset({"conv_dw_overwritten"}),
    ),
    Case(
        "conv_backward_db_not_summed",
        (("    db = np.sum(dout, axis=(0, 2, 3))\n", "    db = np.sum(dout, axis=0)\n"),),
        {
            "test_conv_backward_db": "db (x (2, 3, 5, 5), w (4, 3, 3, 3), stride 1, pad 1): shape (4, 5, 5), expected (4,)",
            "test_conv_backward_numeric": "db (x (2, 2, 5, 6), w (3, 2, 3, 2), stride 2, pad 1, vs numeric gradient): shape",
            "test_conv_backward_small": "db: shape",
        },
        diagnoses=frozenset({"conv_db_not_summed"}),
    ),
    Case(
        # A true convolution flips the kernel; deep learning's (and PyTorch's) does not. The
        # backward pass is the unflipped one, so it matches PyTorch but not the student's forward.
        "conv_forward_flips_kernel",
        (("np.sum(patch * w[f]) + b[f]", "np.sum(patch * w[f, :, ::-1, ::-1]) + b[f]"),),
        {
            **{t: "out (x (" for t in FORWARD_TESTS},
            "test_conv_backward_numeric": "dx (x (2, 2, 5, 6), w (3, 2, 3, 2), stride 2, pad 1, vs numeric gradient)",
            "test_conv_forward_small": "out (stride 1, pad 0): max relative error",
        },
        diagnoses=frozenset({"conv_flips_kernel"}),
    ),
    Case(
        "conv_output_height_off_by_one",
        (("    H_out = 1 + (H + 2 * pad - HH) // stride\n    W_out", "    H_out = (H + 2 * pad - HH) // stride\n    W_out"),),
        {
            "test_conv_forward_basic": "out (x (2, 3, 5, 5), w (4, 3, 3, 3), stride 1, pad 1): shape (2, 4, 4, 5), "
                                       "expected (2, 4, 5, 5)",
            "test_conv_forward_stride": "out (x (2, 2, 7, 7), w (3, 2, 3, 3), stride 2, pad 0): shape",
            "test_conv_forward_padding": "out (x (1, 2, 5, 6), w (2, 2, 3, 3), stride 1, pad 0): shape",
            "test_conv_forward_non_square": ": shape",
            "test_conv_forward_small": "out (stride 1, pad 0): shape (1, 1, 2, 3), expected (1, 1, 3, 3)",
        },
        diagnoses=frozenset({"conv_size_off_by_one"}),
    ),
    Case(
        "conv_backward_dx_not_cropped",
        (("    dx = dx_pad[:, :, pad:pad + H, pad:pad + W]\n", "    dx = dx_pad\n"),),
        {
            "test_conv_backward_dx": "dx (x (2, 3, 5, 5), w (4, 3, 3, 3), stride 1, pad 1): shape (2, 3, 7, 7), "
                                     "expected (2, 3, 5, 5)",
            "test_conv_backward_numeric": "dx (x (2, 2, 5, 6), w (3, 2, 3, 2), stride 2, pad 1, vs numeric gradient): shape",
            "test_conv_backward_small": "dx: shape",
        },
        diagnoses=frozenset({"conv_dx_not_cropped"}),
    ),
    Case(
        # By hand means every value comes from the worker without torch: the backward tests
        # build their caches there too, so a forward leaning on torch costs them as well.
        "conv_forward_calls_torch",
        (
            (
                "BLOCK:conv_forward_naive",
                """
                import torch
                import torch.nn.functional as F
                out = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                               stride=stride, padding=pad).numpy()
                """,
            ),
        ),
        {t: "must be written without torch" for t in (*FORWARD_TESTS, *BACKWARD_TESTS)},
    ),
    Case(
        # Issue 18, finding 7: scipy.signal.correlate is a convolution, so cnn's by_hand_forbids
        # refuses scipy in every by-hand call (this forward is otherwise correct).
        "conv_forward_calls_scipy",
        (
            (
                "BLOCK:conv_forward_naive",
                """
                from scipy.signal import correlate
                x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
                full = np.stack([correlate(x_pad, w[f][None], mode="valid", method="direct")[:, 0]
                                 for f in range(w.shape[0])], axis=1)
                out = full[:, :, ::stride, ::stride] + b[None, :, None, None]
                """,
            ),
        ),
        {t: "must be written without scipy" for t in (*FORWARD_TESTS, *BACKWARD_TESTS)},
    ),
    Case(
        "pool_forward_ignores_stride",
        (
            ("            window = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw]\n",
             "            window = x[:, :, i * ph:i * ph + ph, j * pw:j * pw + pw]\n"),
        ),
        {
            "test_max_pool_forward_general": "pool out (x (2, 2, 7, 6), pool 3x2, stride 2): max relative error",
            "test_max_pool_backward_numeric": "pool dx (x (1, 2, 6, 7), pool 3x2, stride 2, vs numeric gradient)",
        },
        # The backward tests get their caches from this forward pass, which runs out of the
        # image with stride 1 and 3x3 windows (np.max of an empty window raises).
        frozenset({"test_max_pool_backward_overlapping"}),
        diagnoses=frozenset({"pool_forward_ignores_stride"}),
    ),
    Case(
        "pool_backward_to_every_element",
        (
            ("                    di, dj = np.unravel_index(np.argmax(window), window.shape)\n"
             "                    dx[n, c, i * stride + di, j * stride + dj] += dout[n, c, i, j]\n",
             "                    dx[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw] += dout[n, c, i, j]\n"),
        ),
        {
            "test_max_pool_backward": "pool dx (x (2, 3, 6, 6), pool 2x2, stride 2): max relative error",
            "test_max_pool_backward_overlapping": "pool dx (x (2, 2, 6, 6), pool 3x3, stride 1)",
            "test_max_pool_backward_numeric": "pool dx (x (1, 2, 6, 7), pool 3x2, stride 2, vs numeric gradient)",
            "test_max_pool_small": "pool dx",
        },
        diagnoses=frozenset({"pool_backward_spread"}),
    ),
    Case(
        "pool_backward_overwrites_overlaps",
        (
            ("                    dx[n, c, i * stride + di, j * stride + dj] += dout[n, c, i, j]\n",
             "                    dx[n, c, i * stride + di, j * stride + dj] = dout[n, c, i, j]\n"),
        ),
        {"test_max_pool_backward_overlapping": "pool dx (x (2, 2, 6, 6), pool 3x3, stride 1)"},
        # Whether an element is the maximum of two windows in the numeric test's one input
        # depends on the draw; with windows side by side this mistake is harmless.
        frozenset({"test_max_pool_backward_numeric"}),
        diagnoses=frozenset({"pool_backward_overwrites"}),
    ),
    Case(
        "build_cnn_one_conv_layer",
        (
            (
                "BLOCK:build_cnn",
                """
                model = nn.Sequential(
                    nn.Conv2d(in_channels, 16, kernel_size=3, padding=1),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                    nn.Flatten(),
                    nn.Linear(16 * 4 * 4, 64),
                    nn.ReLU(),
                    nn.Linear(64, num_classes),
                )
                """,
            ),
        ),
        {
            "test_build_cnn_has_two_conv_layers": "build_cnn(1, 10) has 1 Conv2d layer, at least 2 are required "
                                                  "(its modules: Sequential, Conv2d, ReLU, MaxPool2d, Flatten, Linear",
            "test_build_cnn_channels_and_classes": "build_cnn(1, 10) has 1 Conv2d layer",
            "test_cnn_model_has_two_conv_layers": "cnn_model has 1 Conv2d layer",
        },
        frozenset({ACCURACY}),
    ),
    Case(
        "predict_scores_without_eval",
        (("    model.eval()\n", ""),),
        {"test_predict_scores_in_eval_mode": "gave different scores twice on the same 64 digits"},
        frozenset({ACCURACY, TRAIN_DIGITS}),  # dropout stays on: a little noise in the scores
    ),
    Case(
        "predict_scores_returns_a_tensor",
        (("        scores = model(torch.from_numpy(X)).numpy()\n", "        scores = model(torch.from_numpy(X))\n"),),
        {
            "test_build_cnn_channels_and_classes": "must return a NumPy array, got Tensor (convert with .numpy())",
            "test_predict_scores_in_eval_mode": "must return a NumPy array, got Tensor",
            ACCURACY: "must return a NumPy array, got Tensor",
            "test_build_cnn_and_predict_scores": "must return a NumPy array (use .numpy()), got Tensor",
            TRAIN_DIGITS: "got Tensor",
        },
    ),
    Case(
        "training_one_epoch",
        (("batch_size, epochs = 64, 10\n", "batch_size, epochs = 64, 1\n"),),
        {ACCURACY: "cnn_model accuracy on held-out digits: 0."},
        frozenset({TRAIN_DIGITS, "model_private_score"}),  # the saved weights are as undertrained
    ),
]

ALTERNATIVES = [
    Case(
        "vectorised_layers",  # im2col convolution, sliding-window pooling: no loops over positions
        (
            (
                "BLOCK:conv_forward_naive",
                """
                N, C, H, W = x.shape
                F, _, HH, WW = w.shape
                H_out = 1 + (H + 2 * pad - HH) // stride
                W_out = 1 + (W + 2 * pad - WW) // stride
                x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
                cols = np.empty((N, C, HH, WW, H_out, W_out))
                for di in range(HH):
                    for dj in range(WW):
                        cols[:, :, di, dj] = x_pad[:, :, di:di + stride * H_out:stride, dj:dj + stride * W_out:stride]
                cols = cols.reshape(N, C * HH * WW, H_out * W_out)
                out = (w.reshape(F, -1) @ cols).reshape(N, F, H_out, W_out) + b[None, :, None, None]
                """,
            ),
            (
                "BLOCK:conv_backward_naive",
                """
                N, C, H, W = x.shape
                F, _, HH, WW = w.shape
                _, _, H_out, W_out = dout.shape
                x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
                cols = np.empty((N, C, HH, WW, H_out, W_out))
                for di in range(HH):
                    for dj in range(WW):
                        cols[:, :, di, dj] = x_pad[:, :, di:di + stride * H_out:stride, dj:dj + stride * W_out:stride]
                cols = cols.reshape(N, C * HH * WW, H_out * W_out)
                d = dout.reshape(N, F, H_out * W_out)
                db = d.sum(axis=(0, 2))
                dw = np.einsum("nfp,nkp->fk", d, cols).reshape(w.shape)
                dcols = (w.reshape(F, -1).T @ d).reshape(N, C, HH, WW, H_out, W_out)
                dx_pad = np.zeros_like(x_pad)
                for di in range(HH):
                    for dj in range(WW):
                        dx_pad[:, :, di:di + stride * H_out:stride, dj:dj + stride * W_out:stride] += dcols[:, :, di, dj]
                dx = dx_pad[:, :, pad:pad + H, pad:pad + W]
                """,
            ),
            (
                "BLOCK:max_pool_forward_naive",
                """
                windows = np.lib.stride_tricks.sliding_window_view(x, (ph, pw), axis=(2, 3))
                out = windows[:, :, ::stride, ::stride].max(axis=(4, 5))
                """,
            ),
            (
                "BLOCK:max_pool_backward_naive",
                """
                N, C, H_out, W_out = dout.shape
                windows = np.lib.stride_tricks.sliding_window_view(x, (ph, pw), axis=(2, 3))
                windows = windows[:, :, ::stride, ::stride][:, :, :H_out, :W_out]
                di, dj = np.unravel_index(windows.reshape(N, C, H_out, W_out, ph * pw).argmax(axis=-1), (ph, pw))
                n, c, i, j = np.indices((N, C, H_out, W_out))
                dx = np.zeros_like(x)
                np.add.at(dx, (n, c, i * stride + di, j * stride + dj), dout)
                """,
            ),
        ),
    ),
    Case(
        "module_subclass_with_batchnorm",  # an nn.Module class, BatchNorm, softmax scores
        (
            (
                "BLOCK:build_cnn",
                """
                class DigitNet(nn.Module):
                    def __init__(self, in_channels, num_classes):
                        super().__init__()
                        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1)
                        self.bn1 = nn.BatchNorm2d(16)
                        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
                        self.bn2 = nn.BatchNorm2d(32)
                        self.fc = nn.Linear(32 * 4 * 4, num_classes)

                    def forward(self, x):
                        x = torch.relu(self.bn1(self.conv1(x)))
                        x = nn.functional.max_pool2d(torch.relu(self.bn2(self.conv2(x))), 2)
                        return self.fc(x.flatten(1))

                model = DigitNet(in_channels, num_classes)
                """,
            ),
            (
                "BLOCK:predict_scores",
                """
                model.train(False)
                with torch.inference_mode():
                    scores = torch.softmax(model(torch.as_tensor(X)), dim=1).detach().cpu().numpy()
                """,
            ),
        ),
    ),
]
