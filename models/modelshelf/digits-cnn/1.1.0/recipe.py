"""Train a small convolutional network on scikit-learn's bundled 8x8 digits and export it to ONNX.

Usage: python recipe.py OUTDIR    (writes OUTDIR/model.onnx and OUTDIR/parity.json)

Input `image`: float32 [batch, 1, 8, 8], the digits' pixel values (0..16) divided by 16.
Output `logits`: float32 [batch, 10], unnormalised scores for the digits 0-9.

Repeatable on one machine: a fixed split (test_size=0.3, stratified, random_state=0),
torch.manual_seed(0), one CPU thread, deterministic algorithms and a seeded shuffle. Not
repeatable across CPUs (other SIMD kernels round differently and training amplifies it), so the
card publishes the committed model.onnx this script made once, not a fresh run. Exported with the legacy TorchScript exporter
(dynamo=False), opset 17, with a dynamic batch axis. Before it succeeds, the script checks the
ONNX model against PyTorch on the test split (identical predicted classes, logits within 1e-4)
and exits with status 1 if they differ.
"""
from __future__ import annotations

import io
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from torch import nn

SEED = 0
TEST_SIZE = 0.3
EPOCHS = 30
BATCH = 64
LR = 1e-3
OPSET = 17
TOLERANCE = 1e-4


class DigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),  # 32 x 4 x 4
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(image))


def main(outdir: Path) -> int:
    outdir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    data = load_digits()
    X = (data.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = data.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_SIZE, stratify=y, random_state=SEED)

    model = DigitsCNN()
    optimiser = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(X_train), torch.from_numpy(y_train)
    shuffle = torch.Generator().manual_seed(SEED)
    model.train()
    for _ in range(EPOCHS):
        order = torch.randperm(len(xt), generator=shuffle)
        for start in range(0, len(xt), BATCH):
            idx = order[start:start + BATCH]
            optimiser.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            optimiser.step()
    model.eval()

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The legacy exporter is chosen on purpose (it needs only onnx, no onnxscript).
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model, (torch.zeros(1, 1, 8, 8),), buffer, dynamo=False, opset_version=OPSET,
            input_names=["image"], output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            do_constant_folding=True,
        )
    onx = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(onx, full_check=True)
    path = outdir / "model.onnx"
    path.write_bytes(onx.SerializeToString())

    with torch.no_grad():
        ref = model(torch.from_numpy(X_test)).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = sess.run(["logits"], {"image": X_test})
    pred = logits.argmax(axis=1)
    diff = float(np.max(np.abs(logits - ref)))
    same = bool(np.array_equal(pred, ref.argmax(axis=1)))
    parity = {"max_abs_diff": diff, "top1_agreement": float(np.mean(pred == ref.argmax(axis=1))), "n": len(X_test)}
    (outdir / "parity.json").write_text(json.dumps(parity) + "\n", encoding="utf-8")
    acc = accuracy_score(y_test, pred)
    f1 = f1_score(y_test, pred, average="macro")
    print(f"digits-cnn: {len(X_test)} test images, accuracy {acc:.4f}, f1_macro {f1:.4f}; "
          f"onnx vs torch: classes identical={same}, max abs diff logits={diff:.2e}; "
          f"{path.stat().st_size} bytes")
    if not same or diff >= TOLERANCE:
        print("error: the ONNX model does not match PyTorch", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python recipe.py OUTDIR")
    sys.exit(main(Path(sys.argv[1])))
