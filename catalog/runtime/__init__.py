"""The Modelshelf runtime: what runs a model outside the build.

`dtypes` (the element types a card may declare, as numpy and ONNX name them), `processing` (the
card's declarative pre- and post-processing, numpy only), `predictor` (input files and JSON
requests, onnxruntime, JSON answers, the self-test) and `server` (the HTTP API).
It imports nothing from the rest of Modelshelf, only numpy and onnxruntime (and starlette and
uvicorn for the server), because every deploy bundle carries a byte-identical copy of this
package as `runtime/`.
"""
