"""`modelshelf new`: a card that validates and a recipe skeleton, ready to edit."""
from __future__ import annotations

import re
from pathlib import Path

from modelshelf.catalog.validate import SCAFFOLD_AUTHOR, SCAFFOLD_DESCRIPTION, SCAFFOLD_SUMMARY, task_ids


class ScaffoldError(Exception):
    """Raised by new_model when the id is malformed or the folder already exists."""


_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}/[a-z0-9][a-z0-9._-]{0,63}$")

CARD = """\
# Model card: see the card reference on the site (reference/card/) for every field.
id: {id}
name: {title}
version: "0.1.0"
summary: {summary}
description: |
  {description}
task: {task}
tags: [{tag}]
license: Apache-2.0
authors:
  - name: {author}
framework: scikit-learn
datasets:
  - id: sklearn/iris
    split: "train (70%, stratified, seed 0)"
    url: https://scikit-learn.org/stable/datasets/toy_dataset.html#iris-dataset
source:
  recipe: recipe.py
inputs:
  - name: float_input
    dtype: float32
    shape: [null, 4]
    kind: tabular
    features: [sepal length (cm), sepal width (cm), petal length (cm), petal width (cm)]
outputs:
  - name: label
    dtype: int64
    shape: [null]
    kind: label
  - name: probabilities
    dtype: float32
    shape: [null, 3]
    kind: scores
labels: [setosa, versicolor, virginica]
"""

RECIPE = '''\
"""Train the model and write OUTDIR/model.onnx. Run as: python recipe.py OUTDIR"""
import sys
from pathlib import Path

import numpy as np
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

out = Path(sys.argv[1])
X, y = load_iris(return_X_y=True)
clf = LogisticRegression(max_iter=1000).fit(X, y)
# zipmap off: onnxruntime-web cannot read ZipMap outputs. The input name must match the card.
onx = to_onnx(clf, initial_types=[("float_input", FloatTensorType([None, 4]))],
              options={type(clf): {"zipmap": False}}, target_opset=17)
(out / "model.onnx").write_bytes(onx.SerializeToString())
'''


def new_model(model_id: str, models_dir: Path, *, task: str = "tabular-classification") -> Path:
    if not _ID.match(model_id):
        raise ScaffoldError(f"{model_id!r} is not a model id: "
                            "use ORG/NAME in lower case letters, digits, '-', '_' and '.', e.g. acme/iris-tree")
    if task not in task_ids():
        raise ScaffoldError(f"{task!r} is not a known task; use one of: {', '.join(task_ids())}")
    folder = models_dir / model_id
    if folder.exists():
        raise ScaffoldError(f"{folder} already exists; pick another name or edit its card")
    org, name = model_id.split("/")
    folder.mkdir(parents=True)
    (folder / "card.yaml").write_text(CARD.format(id=model_id, title=name.replace("-", " ").capitalize(), task=task, tag=org,
                                                 summary=SCAFFOLD_SUMMARY, description=SCAFFOLD_DESCRIPTION,
                                                 author=SCAFFOLD_AUTHOR),
                                      encoding="utf-8")
    (folder / "recipe.py").write_text(RECIPE, encoding="utf-8")
    return folder
