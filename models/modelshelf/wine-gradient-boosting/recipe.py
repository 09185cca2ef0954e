"""Train a gradient-boosted tree ensemble on scikit-learn's bundled wine data and export it to ONNX.

Usage: python recipe.py OUTDIR    (writes OUTDIR/model.onnx and OUTDIR/parity.json)

Deterministic: a fixed split (test_size=0.3, stratified, random_state=0), a seeded booster
(random_state=0, no subsampling) and a pinned opset, so every run writes the same bytes.
Before it succeeds, the script checks the ONNX model against scikit-learn on the test split
(identical labels, probabilities within 1e-4), records the measured difference in
OUTDIR/parity.json and exits with status 1 if they differ.
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
from sklearn.datasets import load_wine
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

SEED = 0
TEST_SIZE = 0.3
OPSET = 17
PROB_TOLERANCE = 1e-4


def main(outdir: Path) -> int:
    outdir.mkdir(parents=True, exist_ok=True)
    data = load_wine()
    # Trees compare float32 thresholds in ONNX; train on the same float32 values.
    X = data.data.astype(np.float32)
    y = data.target
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_SIZE, stratify=y, random_state=SEED)

    clf = GradientBoostingClassifier(n_estimators=100, max_depth=2, learning_rate=0.1, random_state=SEED)
    clf.fit(X_train, y_train)

    onx = convert_sklearn(clf, name="wine_gradient_boosting",
                          initial_types=[("float_input", FloatTensorType([None, X.shape[1]]))],
                          target_opset=OPSET, options={id(clf): {"zipmap": False}})
    _dedupe_opsets(onx)
    onnx.checker.check_model(onx, full_check=True)
    path = outdir / "model.onnx"
    path.write_bytes(onx.SerializeToString())

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    label, proba = sess.run(["label", "probabilities"], {"float_input": X_test})
    ref_label = clf.predict(X_test)
    diff = float(np.max(np.abs(proba - clf.predict_proba(X_test))))
    agreement = float(np.mean(label == ref_label))
    parity = {"max_abs_diff": diff, "top1_agreement": agreement, "n": len(X_test)}
    (outdir / "parity.json").write_text(json.dumps(parity) + "\n", encoding="utf-8")
    acc = accuracy_score(y_test, label)
    f1 = f1_score(y_test, label, average="macro")
    print(f"wine-gradient-boosting: {len(X_test)} test rows, accuracy {acc:.4f}, f1_macro {f1:.4f}; "
          f"onnx vs sklearn: top-1 agreement {agreement:.4f}, max abs diff probabilities={diff:.2e}; "
          f"{path.stat().st_size} bytes")
    if agreement < 1.0 or diff >= PROB_TOLERANCE:
        print("error: the ONNX model does not match scikit-learn", file=sys.stderr)
        return 1
    return 0


def _dedupe_opsets(onx: onnx.ModelProto) -> None:
    """Keep one opset entry per domain (skl2onnx 1.20 may list the default domain twice)."""
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
