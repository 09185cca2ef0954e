"""ONNX_HUB_MANIFEST.json: the catalog in the shape of the ONNX Model Hub manifest (onnx/models).

Each published ONNX file becomes one record with the fields the hub's readers use: `model`,
`model_path` (relative to the site root, as the hub's are relative to its repository root),
`onnx_version`, `opset_version`, and `metadata` with `model_sha`, `model_bytes`, `tags` and
`io_ports`. Modelshelf's own additions (`version`, `license`, `page`, `task`) sit in
`metadata` beside them, where readers of the hub format ignore unknown keys.
"""
from __future__ import annotations

from typing import Any

from onnx.helper import VERSION_TABLE

from modelshelf.catalog.runtime.dtypes import DTYPES
from modelshelf.generator.enrich.stage import ModelEntry


def onnx_release(ir_version: int, opset: int) -> str:
    """The first ONNX release that supports this IR version and default-domain opset ('' if unknown)."""
    for row in VERSION_TABLE:
        if row[1] >= ir_version and row[2] >= opset:
            return row[0]
    return ""


def _ports(tensors: Any) -> list[dict[str, Any]]:
    return [{"name": t.name, "shape": ["?" if d is None else d for d in t.shape],
             "type": f"tensor({DTYPES[t.dtype].onnx_name if t.dtype in DTYPES else t.dtype})"}
            for t in tensors]


def hub_manifest(entries: list[ModelEntry]) -> list[dict[str, Any]]:
    """One record per model version, in catalog order."""
    records = []
    for e in entries:
        card = e.card
        records.append({
            "model": card.id,
            "model_path": e.onnx.url,
            "onnx_version": onnx_release(e.signature.ir_version, e.signature.opset) if e.signature.ir_version else "",
            "opset_version": e.signature.opset,
            "metadata": {
                "model_sha": e.onnx.sha256,
                "model_bytes": e.onnx.size,
                "tags": sorted({card.task, *card.tags}),
                "io_ports": {"inputs": _ports(e.signature.inputs), "outputs": _ports(e.signature.outputs)},
                "version": card.version,
                "license": card.license,
                "task": card.task,
                "page": e.url,
            },
        })
    return records


__all__ = ["hub_manifest", "onnx_release"]
