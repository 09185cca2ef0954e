"""Train a ridge regressor on scikit-learn's bundled diabetes data and export it to ONNX.

Usage: python recipe.py OUTDIR    (writes OUTDIR/model.onnx and OUTDIR/parity.json)

The model takes the ten baseline variables in their original units (load_diabetes(scaled=False):
age in years, sex coded 1/2, BMI, blood pressure and six blood serum measurements) and
standardises them itself, so users type real values rather than pre-scaled ones.

Deterministic: a fixed split (test_size=0.3, random_state=0), a closed-form solver and a
pinned opset, so every run writes the same bytes. Before it succeeds, the script checks the
ONNX model against scikit-learn on the test split and exits with status 1 if they differ by
more than 1e-3 (the target is around 25-350, so this is a relative error below 1e-5).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SEED = 0
TEST_SIZE = 0.3
OPSET = 17
TOLERANCE = 1e-3


def main(outdir: Path) -> int:
    outdir.mkdir(parents=True, exist_ok=True)
    data = load_diabetes(scaled=False)
    X = data.data.astype(np.float32)
    y = data.target
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=TEST_SIZE, random_state=SEED)

    model = make_pipeline(StandardScaler(), Ridge(alpha=1.0, solver="cholesky")).fit(X_train, y_train)

    onx = convert_sklearn(model, name="diabetes_ridge",
                          initial_types=[("float_input", FloatTensorType([None, X.shape[1]]))],
                          target_opset=OPSET)
    _dedupe_opsets(onx)
    onnx.checker.check_model(onx, full_check=True)
    path = outdir / "model.onnx"
    path.write_bytes(onx.SerializeToString())

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (pred,) = sess.run(["variable"], {"float_input": X_test})
    pred = pred[:, 0]
    diff = float(np.max(np.abs(pred - model.predict(X_test))))
    parity = {"max_abs_diff": diff, "top1_agreement": None, "n": len(X_test)}  # a regressor: no classes
    (outdir / "parity.json").write_text(json.dumps(parity) + "\n", encoding="utf-8")
    r2 = r2_score(y_test, pred)
    mae = mean_absolute_error(y_test, pred)
    print(f"diabetes-ridge: {len(X_test)} test rows, r2 {r2:.4f}, mae {mae:.4f}; "
          f"onnx vs sklearn: max abs diff={diff:.2e}; {path.stat().st_size} bytes")
    if diff >= TOLERANCE:
        print("error: the ONNX model does not match scikit-learn", file=sys.stderr)
        return 1
    return 0


def _dedupe_opsets(onx: onnx.ModelProto) -> None:
    """skl2onnx 1.20 lists the default domain twice for pipelines; keep one entry per domain."""
    versions: dict[str, int] = {}
    for op in onx.opset_import:
        versions[op.domain] = max(versions.get(op.domain, 0), op.version)
    del onx.opset_import[:]
    for domain, version in sorted(versions.items()):
        onx.opset_import.add(domain=domain, version=version)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python recipe.py OUTDIR")
    sys.exit(main(Path(sys.argv[1])))
