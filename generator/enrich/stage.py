"""Enrichment: every derived value a page, the search index or catalog.json shows, computed once.

For each card: produce its ONNX file (committed, or by its recipe), check it, read its signature,
compare it with the card, hash it, and prepare the sanitised description and usage snippets.
Templates only print what this module computes.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelshelf.catalog.client.cache import sha256_of as sha256_file
from modelshelf.catalog.loader import Document
from modelshelf.catalog.model import Card
from modelshelf.catalog.problems import CardReporter
from modelshelf.catalog.validate import tasks

from modelshelf.generator.errors import BuildError, CatalogInvalid
from modelshelf.generator.enrich.onnx_info import (INVALID_MODEL_HINT, Signature, TensorInfo, checked_signature,
                                                   signature_mismatches)
from modelshelf.generator.enrich.recipes import run_recipe, tool_versions
from modelshelf.generator.enrich.remote import SourceDownloadFailed, fetch_source
from modelshelf.generator.enrich.versions import VersionLink, assign_versions
from modelshelf.generator.lock.lockfile import Lock, LockedVersion
from modelshelf.generator.lock.stage import LockedBytesMissing, check_locked, locked_outputs, pin_published
from modelshelf.generator.lock.store import Store
from modelshelf.generator.export.safety import Limits, check_file
from modelshelf.generator.enrich.sanitize import render_markdown
from modelshelf.generator.render.escape import shell_word, url_for_shell

if TYPE_CHECKING:  # the later stages import this module
    from modelshelf.generator.bundle.stage import Deploy
    from modelshelf.generator.evaluate.insight import InsightView
    from modelshelf.generator.evaluate.latency import Latency
    from modelshelf.generator.evaluate.stage import EvaluationResult
    from modelshelf.generator.export.stage import ExportReport
    from modelshelf.generator.tryit.stage import TryIt

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Artifact:
    """A published file: where its bytes are on disk (None for url sources), where the site serves it."""

    filename: str
    size: int
    sha256: str
    url: str  # relative to the site root, or absolute for url sources
    local: Path | None
    verified: bool  # True when this build hashed the bytes itself
    kind: str  # "onnx" or "card"

    @property
    def size_text(self) -> str:
        return human_size(self.size)

    @property
    def hosted(self) -> bool:
        """Hosted elsewhere (a card's source.url, always https): linked by its absolute URL, never copied into the site."""
        return self.url.startswith("https://")


@dataclass(frozen=True)
class ModelEntry:
    card: Card
    url: str  # page url relative to the site root, e.g. models/acme/iris/
    src_uri: str  # virtual Markdown file, e.g. models/acme/iris.md
    task_title: str
    onnx: Artifact
    files: tuple[Artifact, ...]
    signature: Signature
    signature_from_card: bool  # True when the ONNX bytes were not available to read
    description_html: str
    python_snippet: str
    shell_snippet: str
    cli_snippet: str = ""  # `modelshelf run` on a raw file
    js_snippet: str = ""  # Node: onnxruntime-web and the site's processing.js
    recipe_cached: bool | None = None
    recipe_dir: Path | None = None  # the cached recipe output folder (model.onnx, parity.json, variants)
    recipe_given: tuple[str, ...] = ()  # files the build put beside the recipe when it ran (evaluation_split.json)
    # Filled by the later stages, each returning new entries (dataclasses.replace); None until then.
    export: ExportReport | None = None  # export/stage.py: check_exports
    evaluation: EvaluationResult | None = None  # evaluate/stage.py: evaluate_catalog
    latency: Latency | None = None  # evaluate/stage.py: evaluate_catalog
    insight: InsightView | None = None  # evaluate/stage.py: evaluate_catalog
    tryit: TryIt | None = None  # tryit/stage.py: add_tryit
    deploy: Deploy | None = None  # bundle/stage.py: add_bundles
    # enrich/versions.py: whether `@latest` is this version, and every version of the model (newest first).
    is_latest: bool = True
    versions: tuple[VersionLink, ...] = ()
    # Further files to publish and list on the page, in the order the stages add them
    # (variants, the tokenizer's vocabulary, the deploy bundle).
    added_files: tuple[Artifact, ...] = ()

    @property
    def all_files(self) -> tuple[Artifact, ...]:
        return self.files + self.added_files


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _files_prefix(card: Card, sha: str) -> str:
    # Content hash in the URL: GitHub Pages caches for 10 minutes, and published versions never change.
    return f"files/{card.id}/{card.version}/{sha[:12]}"


# The raw file each input kind's snippets start from, and what to put there (issue 9: snippets that run).
_RAW_FILES = {
    "tabular": ("rows.csv", "one row per line, the columns of \"Inputs and outputs\" (a header row is optional)"),
    "image": ("picture.png", "a picture (PNG; Python and the CLI also read JPEG, GIF, WebP, BMP)"),
    "audio": ("speech.wav", "a WAV recording (PCM or float, any rate, mono or stereo, up to 60 s)"),
    "text": ("text.txt", "UTF-8 text"),
    "bytes": ("some-file", "any file (only its first and last blocks are read)"),
}
_PRIMARY_KINDS = ("tabular", "image", "audio", "bytes", "text", "tensor")
_THEME_SCRIPTS = Path(__file__).resolve().parents[2] / "site_theme" / "assets" / "javascripts"


@dataclass(frozen=True)
class _SnippetPlan:
    """What every "Use it" snippet of a model needs: the input kind, its raw file and what the snippets print."""

    kind: str
    file: str
    file_note: str
    input_name: str
    scored: str  # the output the snippets read, chosen as the runtime chooses it
    mode: str  # "top" (label and score), "value", "embedding" or "speech"
    squash: str | None  # "softmax" or "sigmoid" when the card's postprocessing applies one before the top label


def snippet_plan(card: Card) -> _SnippetPlan:
    primary = next((t for t in card.inputs if t.kind in _PRIMARY_KINDS), card.inputs[0])
    kind = primary.kind if primary.kind in _RAW_FILES else "tabular"
    file, note = _RAW_FILES[kind]
    outputs = list(card.outputs)
    scored = next((t for t in outputs if t.kind in ("scores", "embedding")),
                  next((t for t in outputs if t.dtype.startswith("float")), outputs[0]))
    ops = [s.as_dict().get("op") for s in card.postprocessing]
    if kind == "audio":
        mode = "speech"
    elif scored.kind == "embedding":
        mode = "embedding"
    elif scored.kind == "scores" or "topk" in ops or card.labels:
        mode = "top"
    else:
        mode = "value"
    squash = next((op for op in ops if op in ("softmax", "sigmoid")), None)
    return _SnippetPlan(kind, file, note, primary.name, scored.name, mode, squash)


def _model_ref(card: Card) -> str:
    return f"{card.id}@{card.version}"


def _python_snippet(card: Card, site_url: str) -> str:
    """onnxruntime in Python, from a raw file: the client makes the feeds, the visitor runs the session."""
    plan = snippet_plan(card)
    # Card strings only ever appear as Python string literals (repr: one line, quotes escaped).
    imports = (["import os", "from pathlib import Path", ""] if plan.mode == "speech"
               else ["import os", "", "import numpy as np", "import onnxruntime"])
    head = imports + ["from modelshelf.catalog import client", "",
            f"SITE = os.environ.get('MODELSHELF_SITE_URL', {site_url.rstrip('/') + '/'!r})",
            "# Downloads the model, checks its size and SHA-256 against the site's catalog.json, caches it.",
            f"model = client.load({_model_ref(card)!r}, base_url=SITE)",
            f"# {plan.file}: {plan.file_note}"]
    if plan.mode == "speech":
        return "\n".join(head + [
            "# A recording runs frame by frame, each frame fed the state the previous one returned, so predict_file",
            "# runs the session (model.session) for you instead of feeds_for_file.",
            f"answer = model.predict_file(Path({plan.file!r}))",
            "segments = answer['postprocessed']['segments']",
            "print('speech:', ', '.join(f'{start:.3f}-{end:.3f} s' for start, end in segments) or 'none')",
        ])
    lines = head + [
        f"feeds = model.feeds_for_file({plan.file!r})  # the input tensors, processed as on this page",
        "session = onnxruntime.InferenceSession(str(model.model_path), providers=['CPUExecutionProvider'])",
        "names = [o.name for o in session.get_outputs()]",
        "outputs = dict(zip(names, session.run(None, feeds)))",
        f"y = np.asarray(outputs[{plan.scored!r}], dtype=np.float64)",
    ]
    if plan.mode == "embedding":
        return "\n".join(lines + ["embedding = y.ravel()",
                                  "print('embedding:', embedding.size, 'values,', ' '.join(f'{v:.4f}' for v in embedding[:3]))"])
    if plan.mode == "value":
        return "\n".join(lines + ["for row in y.reshape(len(y), -1):",
                                  "    print('value:', ' '.join(f'{v:.4f}' for v in row))"])
    if plan.squash == "softmax":
        lines += ["y = np.exp(y - y.max(axis=-1, keepdims=True))  # the card's softmax",
                  "y /= y.sum(axis=-1, keepdims=True)"]
    elif plan.squash == "sigmoid":
        lines.append("y = 1 / (1 + np.exp(-y))  # the card's sigmoid")
    return "\n".join(lines + [
        "labels = model.config['labels']",
        "for row in y.reshape(-1, y.shape[-1]):",
        "    best = int(row.argmax())",
        "    print('top:', labels[best] if best < len(labels) else best, f'{row[best]:.4f}')",
    ])


def _site_default(site_url: str) -> str:
    # `${VAR:-word}` in an assignment: the quoted word is the default, and quote removal applies to it.
    return f"${{MODELSHELF_SITE_URL:-{url_for_shell(site_url.rstrip('/') + '/')}}}"


def _cli_snippet(card: Card, site_url: str) -> str:
    plan = snippet_plan(card)
    ref = shell_word(_model_ref(card))
    return "\n".join([
        f"export MODELSHELF_SITE_URL={_site_default(site_url)}",
        f"modelshelf pull {ref}  # verified against catalog.json, cached in ~/.cache/modelshelf",
        f"# {plan.file}: {plan.file_note}",
        f"modelshelf run {ref} {plan.file}",
        f"# or serve it over HTTP (POST /v1/predict): modelshelf serve {ref} --port 8080",
    ])


def _shell_snippet(card: Card, artifact: Artifact, site_url: str) -> str:
    # Every card value is one quoted shell word on its own line's command: a newline, `;` or `$(...)`
    # in a URL cannot add a command that a visitor would paste before `sha256sum -c`.
    plan = snippet_plan(card)
    name = shell_word(artifact.filename)
    where = url_for_shell(artifact.url) if artifact.hosted else f'"$SITE"{url_for_shell(artifact.url)}'
    return "\n".join([
        f"SITE={_site_default(site_url)}",
        f"curl -fLo {name} {where}",
        f"echo {shell_word(f'{artifact.sha256}  {artifact.filename}')} | sha256sum -c -",
        "",
        f"# Then, with `modelshelf serve {shell_word(_model_ref(card))} --port 8080` running,",
        f"# send {plan.file} as base64 in a JSON body:",
        "PORT=${PORT:-8080}",
        f"{{ printf '{{\"file\": {{\"name\": \"{plan.file}\", \"base64\": \"'; base64 -w0 {plan.file}; printf '\"}}}}'; }} |",
        "  curl -fsS -X POST \"http://127.0.0.1:$PORT/v1/predict\" -H 'Content-Type: application/json' --data-binary @-",
    ])


_JS_HEAD = """\
// Node 18 or later, beside: npm install onnxruntime-web@1.30.0{extra_packages}
const crypto = require("crypto");
const fs = require("fs");
const ort = require("onnxruntime-web");{extra_requires}

const SITE = process.env.MODELSHELF_SITE_URL || {site};
const MODEL = {model};
// {file}: {note}
const FILE = {file_js};

async function download(url, sha256) {{  // bytes from the site, refused unless their SHA-256 is the published one
  const response = await fetch(new URL(url, SITE));
  if (!response.ok) throw new Error(`HTTP ${{response.status}} for ${{url}}`);
  const bytes = Buffer.from(await response.arrayBuffer());
  const got = crypto.createHash("sha256").update(bytes).digest("hex");
  if (got !== sha256) throw new Error(`${{url}} has SHA-256 ${{got}}, expected ${{sha256}}`);
  return bytes;
}}

function script(bytes) {{  // one of the site's own scripts (the "Try it" panel's processing), run with `this` as its home
  const home = {{}};
  new Function(bytes.toString("utf8")).call(home);
  return home;
}}

function tensor(dtype, data, shape) {{  // numbers -> an onnxruntime tensor of the input's dtype
  const typed = dtype === "int64" ? BigInt64Array.from(data, (v) => BigInt(Math.round(Number(v))))
    : dtype === "int32" ? Int32Array.from(data) : dtype === "float64" ? Float64Array.from(data) : Float32Array.from(data);
  return new ort.Tensor(dtype, typed, shape);
}}
"""

_JS_WAV = """
function readWav(bytes) {  // RIFF/WAVE: 8, 16, 24 or 32-bit PCM or 32-bit float -> {channels, rate}
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 12, fmt = null;
  while (pos + 8 <= bytes.length) {
    const tag = bytes.toString("latin1", pos, pos + 4), size = view.getUint32(pos + 4, true);
    if (tag === "fmt ") {
      const ext = view.getUint16(pos + 8, true) === 0xfffe;
      fmt = { code: view.getUint16(pos + (ext ? 32 : 8), true), count: view.getUint16(pos + 10, true),
              rate: view.getUint32(pos + 12, true), width: view.getUint16(pos + 22, true) / 8 };
    } else if (tag === "data" && fmt) {
      const n = Math.floor(Math.min(size, bytes.length - pos - 8) / (fmt.width * fmt.count));
      const channels = Array.from({ length: fmt.count }, () => new Float32Array(n));
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < fmt.count; c++) {
          const at = pos + 8 + (i * fmt.count + c) * fmt.width;
          channels[c][i] = fmt.code === 3 ? view.getFloat32(at, true) : fmt.width === 1 ? (view.getUint8(at) - 128) / 128
            : fmt.width === 2 ? view.getInt16(at, true) / 32768
            : fmt.width === 3 ? ((view.getInt8(at + 2) << 16) | view.getUint16(at, true)) / 8388608
            : view.getInt32(at, true) / 2147483648;
        }
      }
      return { channels, rate: fmt.rate };
    }
    pos += 8 + size + (size % 2);
  }
  throw new Error(FILE + " is not a WAV file with fmt and data chunks");
}
"""

_JS_MAIN_HEAD = """
async function main() {
  const catalog = await (await fetch(new URL("catalog.json", SITE))).json();
  const entry = catalog.models.find((m) => m.id === MODEL.id && m.version === MODEL.version);
  const card = entry.card;
  const P = script(await download("assets/javascripts/processing.js", MODEL.processing_sha256)).ModelshelfProcessing;
  const session = await ort.InferenceSession.create(await download(MODEL.url, MODEL.sha256));
  const input = entry.signature.inputs.find((t) => t.name === MODEL.input);
  const feeds = {};
"""

_JS_FEEDS = {
    "tabular": """\
  const text = new TextDecoder("utf-8", { fatal: true }).decode(fs.readFileSync(FILE));
  const features = (card.inputs.find((t) => t.name === input.name) || {}).features || [];
  const rows = P.parseCsv(text, features, /\\.tsv$/i.test(FILE) ? "\\t" : ",");
  const pre = P.preprocess(card.preprocessing || [], { data: rows.flat(), shape: [rows.length, rows[0].length] });
  const x = P.arrangeInput(pre.tensor, pre.layout, input.shape, input.dtype);
  feeds[input.name] = tensor(input.dtype, x.data, x.shape);
""",
    "image": """\
  const png = PNG.sync.read(fs.readFileSync(FILE));  // RGBA bytes, as the browser decodes the picture
  const raw = P.captureImage(png.data, png.width, png.height, entry.pipeline.capture);
  const pre = P.preprocess(card.preprocessing || [], raw, "HWC");
  const x = P.arrangeInput(pre.tensor, pre.layout, input.shape, input.dtype);
  feeds[input.name] = tensor(input.dtype, x.data, x.shape);
""",
    "bytes": """\
  const bytes = fs.readFileSync(FILE);
  const pre = P.preprocess(card.preprocessing || [], { data: Float64Array.from(bytes), shape: [bytes.length] });
  const x = P.arrangeInput(pre.tensor, pre.layout, input.shape, input.dtype);
  feeds[input.name] = tensor(input.dtype, x.data, x.shape);
""",
    "text": """\
  const tok = entry.pipeline.tokenizer;
  const helpers = script(await download("assets/javascripts/tokenizer.js", MODEL.tokenizer_sha256));
  const T = helpers.ModelshelfTokenizer.WordPieceTokenizer;
  const tokenizer = new T(T.parseVocab((await download(tok.vocab_url, tok.vocab_sha256)).toString("utf8")), tok);
  const enc = tokenizer.encode(new TextDecoder("utf-8", { fatal: true }).decode(fs.readFileSync(FILE)));
  const plain = {};
  for (const t of entry.signature.inputs) {
    const name = t.name.toLowerCase();
    const values = /mask/.test(name) ? enc.attention_mask : /type/.test(name) ? enc.token_type_ids : enc.input_ids;
    plain[t.name] = { data: values, shape: [1, values.length] };
    feeds[t.name] = tensor(t.dtype, values, [1, values.length]);
  }
""",
}

_JS_SPEECH = """\
  // A recording runs frame by frame, each frame fed the state the previous one returned (as on this page).
  const spec = entry.pipeline.audio, wav = readWav(fs.readFileSync(FILE));
  const samples = P.resample(P.mixToMono(wav.channels), wav.rate, spec.sample_rate);
  const dtype = (name) => entry.signature.inputs.find((t) => t.name === name).dtype;
  let state = new Float32Array(spec.state_shape.reduce((a, b) => a * b, 1)), context = new Float32Array(spec.context);
  const probs = [];
  for (let i = 0; i < P.frameCount(samples.length, spec.frame); i++) {
    const x = new Float32Array(spec.context + spec.frame);  // the last frame is zero-padded
    x.set(context, 0);
    x.set(samples.subarray(i * spec.frame, (i + 1) * spec.frame), spec.context);
    const out = await session.run({
      [spec.input]: tensor(dtype(spec.input), x, [1, x.length]),
      [spec.state_input]: tensor(dtype(spec.state_input), state, spec.state_shape),
      [spec.rate_input]: tensor(dtype(spec.rate_input), [spec.sample_rate], []),
    });
    probs.push(Number(out[spec.output].data[0]));
    state = Float32Array.from(out[spec.state_output].data);
    context = x.slice(x.length - spec.context);
  }
  const segments = P.vadSegments(probs, spec);
  console.log("speech:", segments.map((s) => s[0].toFixed(3) + "-" + s[1].toFixed(3) + " s").join(", ") || "none");
}
"""

_JS_RUN = """\
  const outputs = await session.run(feeds);
  const y = outputs[MODEL.scored];
  const post = P.postprocess(card.postprocessing || [], { data: Array.from(y.data, Number), shape: Array.from(y.dims) },
    { labels: card.labels || [], feeds: {plain} });
"""

_JS_PRINT = {
    "top": """\
  const v = post.values, n = v.shape[v.shape.length - 1], labels = card.labels || [];
  for (let r = 0; r < v.data.length / n; r++) {
    const row = Array.from(v.data.subarray(r * n, (r + 1) * n)), best = row.indexOf(Math.max(...row));
    console.log("top:", best < labels.length ? labels[best] : best, row[best].toFixed(4));
  }
}
""",
    "value": """\
  const v = post.values, n = v.shape.length > 1 ? v.data.length / v.shape[0] : 1;
  for (let r = 0; r < v.data.length / n; r++) {
    console.log("value:", Array.from(v.data.subarray(r * n, (r + 1) * n), (x) => x.toFixed(4)).join(" "));
  }
}
""",
    "embedding": """\
  const embedding = Array.from(post.values.data);
  console.log("embedding:", embedding.length, "values,", embedding.slice(0, 3).map((x) => x.toFixed(4)).join(" "));
}
""",
}

_JS_TAIL = """
main().catch((error) => { console.error(error.message); process.exit(1); });"""


def _theme_script_sha256(name: str) -> str:
    return sha256_file(_THEME_SCRIPTS / name)


def _js_snippet(card: Card, artifact: Artifact, site_url: str) -> str:
    """Node with onnxruntime-web and the site's own processing.js (the "Try it" panel's twin of the runtime)."""
    plan = snippet_plan(card)
    # Card strings reach JavaScript only as JSON string literals (ASCII, so U+2028 cannot end a line).
    model: dict[str, Any] = {"id": card.id, "version": card.version, "url": artifact.url, "sha256": artifact.sha256,
                             "input": plan.input_name, "scored": plan.scored,
                             "processing_sha256": _theme_script_sha256("processing.js")}
    if plan.kind == "text":
        model["tokenizer_sha256"] = _theme_script_sha256("tokenizer.js")
    model_js = "{\n" + ",\n".join(f"  {key}: {json.dumps(value, ensure_ascii=True)}" for key, value in model.items()) + ",\n}"
    image = plan.kind == "image"
    parts = [_JS_HEAD.format(extra_packages=" pngjs@7.0.0" if image else "",
                             extra_requires='\nconst { PNG } = require("pngjs");' if image else "",
                             site=json.dumps(site_url.rstrip("/") + "/", ensure_ascii=True), model=model_js,
                             file=plan.file, note=plan.file_note, file_js=json.dumps(plan.file))]
    if plan.kind == "audio":
        parts += [_JS_WAV, _JS_MAIN_HEAD, _JS_SPEECH]
    else:
        parts += [_JS_MAIN_HEAD, _JS_FEEDS[plan.kind],
                  _JS_RUN.replace("{plain}", "plain" if plan.kind == "text" else "{}"), _JS_PRINT[plan.mode]]
    return "".join(parts) + _JS_TAIL


def _onnx_path(card: Card, cache_dir: Path, versions: dict[str, str | None], locked: LockedVersion | None,
               store: Store | None) -> tuple[Path, bool | None, tuple[str, ...]]:
    """(the ONNX file, whether a recipe's output came from a cache, the files the build gave the recipe)."""
    if card.source.file:
        return card.folder / card.source.file, None, ()
    if card.source.recipe and locked is not None and store is not None:  # the recipe does not run
        return locked_outputs(card, locked, store, cache_dir, versions) / "model.onnx", True, locked.given
    if card.source.recipe:
        out = run_recipe(card, cache_dir, versions=versions)
        return out.model, out.cached, out.given
    return fetch_source(card, cache_dir, f"{card.short_name}.onnx"), None, ()  # source.url


def artifact_for(card: Card, path: Path, filename: str, kind: str) -> Artifact:
    """Hash a local file and give it its content-addressed place in the site."""
    sha = sha256_file(path)
    return Artifact(filename, path.stat().st_size, sha, f"{_files_prefix(card, sha)}/{filename}", path, True, kind)


def enrich(cards: list[Card], documents: dict[str, Document], *, cache_dir: Path, site_url: str,
           limits: Limits = Limits(), lock: Lock | None = None, store: Store | None = None) -> list[ModelEntry]:
    """Turn validated cards into page-ready entries; raises CatalogInvalid with every model problem found.

    A version in `lock` must match it (generator/lock/stage.py) and is built from the bytes in `store`.
    """
    reports: list[CardReporter] = []
    titles = {t["id"]: t["title"] for t in tasks()}
    versions = tool_versions()
    entries: list[ModelEntry] = []
    for card in cards:
        problems = CardReporter(documents.get(card.ref), card.card_path)
        reports.append(problems)
        locked = lock.get(card.id, card.version) if lock is not None else None
        if locked is not None and not check_locked(card, locked, problems):
            continue
        try:
            path, cached, given = _onnx_path(card, cache_dir, versions, locked, store)
        except LockedBytesMissing as exc:
            problems.add(("source",), str(exc), "point the build at a store that holds them (plugins.modelshelf.store_dir), "
                         "or rebuild on the machine that locked them; `modelshelf reproduce` shows how far this run is off")
            continue
        except SourceDownloadFailed as exc:
            problems.add(("source", "url"), str(exc), "check the URL, and that sha256 and size are those of the file it serves "
                         "(`curl -fL URL | sha256sum`; `wc -c`)")
            continue
        onnx_name = f"{card.short_name}.onnx"
        # Our own checks (generator/export/safety.py) come before onnx.checker reads the file and its external data.
        unsafe = check_file(path, card.folder if card.source.file else path.parent, limits)
        for finding in unsafe:
            problems.add(("source",), finding.message, finding.hint)
        if unsafe:
            continue
        signature, invalid = checked_signature(path)
        if signature is None:
            problems.add(("source",), invalid, INVALID_MODEL_HINT)
            continue
        for where, message, hint in signature_mismatches(card, signature):
            problems.add(where, message, hint)
        sha, size = sha256_file(path), path.stat().st_size
        # A url source stays where it is hosted (the site links to it); every other file is served by the site.
        url = card.source.url or f"{_files_prefix(card, sha)}/{onnx_name}"
        onnx_artifact = Artifact(onnx_name, size, sha, url, path, True, "onnx")
        from_card = False
        card_sha, card_size = sha256_file(card.card_path), card.card_path.stat().st_size
        card_artifact = Artifact("card.yaml", card_size, card_sha, f"{_files_prefix(card, card_sha)}/card.yaml",
                                 card.card_path, True, "card")
        try:
            # A locked version keeps publishing the card file it was locked with (its texts and status may change since).
            card_artifact = pin_published(locked, card_artifact, store, cache_dir)
        except LockedBytesMissing as exc:
            problems.add(("version",), str(exc), "restore the store's blobs (git checkout -- store), or run `modelshelf lock` "
                         "where they are")
            continue
        entries.append(ModelEntry(
            card=card, url=f"models/{card.id}/", src_uri=f"models/{card.id}.md",
            task_title=titles.get(card.task, card.task), onnx=onnx_artifact, files=(onnx_artifact, card_artifact),
            signature=signature, signature_from_card=from_card,
            description_html=render_markdown(card.description),
            python_snippet=_python_snippet(card, site_url),
            shell_snippet=_shell_snippet(card, onnx_artifact, site_url),
            cli_snippet=_cli_snippet(card, site_url),
            js_snippet=_js_snippet(card, onnx_artifact, site_url),
            recipe_cached=cached, recipe_dir=path.parent if (path is not None and card.source.recipe) else None,
            recipe_given=given,
        ))
    found = [p for report in reports for p in report.items]
    if found:
        raise CatalogInvalid(sorted(found))
    return assign_versions(entries)


__all__ = ["Artifact", "ModelEntry", "enrich", "human_size", "sha256_file", "BuildError", "TensorInfo"]
