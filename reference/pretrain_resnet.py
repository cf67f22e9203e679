"""Pretrain the `finetune` assignment's CompactResNet on the digits 0-4 and write its checkpoint.

    .venv/bin/python reference/pretrain_resnet.py            # writes the shipped checkpoint
    .venv/bin/python reference/pretrain_resnet.py --check    # a fresh run must give the same bytes

Source task: the rows of the `digits` training split (grader/datasets.py) with labels 0-4,
shifted by up to one pixel at random. Besides classifying them, the network's pooled 128
features must reconstruct the (shifted) image through a linear decoder, which is thrown away
afterwards. Without that auxiliary loss, features trained on five classes collapse onto what
separates those five, and transfer poorly to the digits 5-9; with it they keep the strokes.

The run is deterministic: seeded, one thread, torch's deterministic algorithms, no learning-
rate schedule (so the first k epochs of a run are a run of k epochs). The checkpoint is the
model's `state_dict()` written with `torch.save` (loaded with `torch.load(weights_only=True)`,
which never unpickles code); its sha256 and the settings go to `pretrained.json`, together
with the sha256 after the first PARTIAL_EPOCHS epochs, which CI checks quickly
(tests/test_finetune_checkpoint.py). A full run takes about a minute on one core.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent
SETTINGS = {"seed": 0, "epochs": 60, "batch_size": 32, "lr": 3e-3, "weight_decay": 1e-4, "recon_weight": 10.0,
            "max_shift": 1}
PARTIAL_EPOCHS = 2


def _finetune_module():
    spec = importlib.util.spec_from_file_location("dlgrade_reference_finetune_pretrain", HERE / "finetune.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def source_data() -> tuple[torch.Tensor, torch.Tensor]:
    """The digits 0-4 of the `digits` training split, as (N, 1, 8, 8) float32 images and labels."""
    from grader import datasets

    split = datasets.load("digits")
    keep = split.y_train < 5
    X = np.asarray(split.X_train[keep], dtype=np.float32).reshape(-1, 1, 8, 8)
    return torch.from_numpy(X), torch.from_numpy(split.y_train[keep].astype(np.int64))


def random_shift(x: torch.Tensor, generator: torch.Generator, k: int) -> torch.Tensor:
    """Each image moved by (dy, dx) in [-k, k]^2, zeros shifted in."""
    n, _, h, w = x.shape
    padded = F.pad(x, (k, k, k, k))
    dy = torch.randint(0, 2 * k + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * k + 1, (n,), generator=generator)
    out = torch.empty_like(x)
    for a in range(2 * k + 1):
        for b in range(2 * k + 1):
            sel = (dy == a) & (dx == b)
            if sel.any():
                out[sel] = padded[sel, :, a:a + h, b:b + w]
    return out


def _features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    x = model.layer4(model.layer3(model.layer2(model.layer1(x))))
    return torch.flatten(model.avgpool(x), 1)


def pretrain(epochs: int | None = None, settings: dict | None = None) -> dict[str, torch.Tensor]:
    """Run the pretraining (the first `epochs` epochs of it); returns the model's state_dict."""
    s = {**SETTINGS, **(settings or {})}
    epochs = s["epochs"] if epochs is None else epochs
    ref = _finetune_module()
    X, y = source_data()
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(s["seed"])
        model = ref.CompactResNet(num_classes=5)
        decoder = nn.Linear(model.fc.in_features, 64)
        optimizer = torch.optim.Adam([*model.parameters(), *decoder.parameters()], lr=s["lr"],
                                     weight_decay=s["weight_decay"])
        generator = torch.Generator().manual_seed(s["seed"])
        model.train()
        for _ in range(epochs):
            for idx in torch.randperm(len(X), generator=generator).split(s["batch_size"]):
                xb = random_shift(X[idx], generator, s["max_shift"])
                features = _features(model, xb)
                loss = F.cross_entropy(model.fc(features), y[idx])
                loss = loss + s["recon_weight"] * F.mse_loss(decoder(features), xb.flatten(1))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        model.eval()
        return {k: v.detach().clone() for k, v in model.state_dict().items()}
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def serialize(state: dict[str, torch.Tensor]) -> bytes:
    """torch.save's bytes for a state_dict (deterministic for the same tensors)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main(argv: list[str] | None = None) -> int:
    ref = _finetune_module()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="run again and compare with the shipped checkpoint")
    parser.add_argument("--out", type=Path, default=ref.CHECKPOINT)
    args = parser.parse_args(argv)
    started = time.monotonic()
    partial = sha256(serialize(pretrain(PARTIAL_EPOCHS)))
    data = serialize(pretrain())
    seconds = time.monotonic() - started
    if args.check:
        record = ref.recorded()
        same = sha256(data) == record["sha256"] and partial == record["partial"]["sha256"]
        print(f"fresh run {'matches' if same else 'DIFFERS FROM'} {ref.RECORD.name} ({seconds:.0f} s)")
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    record = {
        "file": args.out.relative_to(ref.RECORD.parent).as_posix() if args.out.is_relative_to(ref.RECORD.parent)
        else str(args.out),
        "sha256": sha256(data),
        "bytes": len(data),
        "made_by": "reference/pretrain_resnet.py",
        "model": "CompactResNet(num_classes=5), reference/finetune.py",
        "source": "digits training split (grader/datasets.py), labels 0-4",
        "settings": SETTINGS,
        "partial": {"epochs": PARTIAL_EPOCHS, "sha256": partial},
        "torch": torch.__version__,
        "seconds": round(seconds, 1),
    }
    if args.out == ref.CHECKPOINT:
        ref.RECORD.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({len(data)} bytes, sha256 {record['sha256'][:16]}..., {seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
