/*
 * What the panel downloads when it opens, each once per document (load.js): the processing and
 * tokenizer helpers (classic scripts defining globals, also run by tests on their own),
 * onnxruntime-web's wasm-only bundle (single-threaded: GitHub Pages sends no COOP/COEP headers)
 * and one session per model, the oldest released beyond SESSION_CACHE. Also tensors in and out.
 */
import { forget, integrityOf, loadScript, once } from "../load.js";
import { DownloadError, RuntimeError, messageOf } from "./errors.js";

const SESSION_CACHE = 3;
// The WebAssembly file of the wasm-only bundle (vendored by generator/site/vendor.py).
const WASM_FILE = "ort-wasm-simd-threaded.wasm";
// Models with a live session, oldest first (each holds its weights in wasm memory).
const sessionOrder = [];

export function absolute(url) {
  return new URL(url, document.baseURI).href;
}

function ownAsset(name) {
  return new URL(name, import.meta.url).href;
}

/* processing.js for every widget, tokenizer.js for text. */
export function loadHelpers(widget) {
  const wanted = [loadScript(ownAsset("../processing.js"), "ModelshelfProcessing")];
  if (widget === "text") wanted.push(loadScript(ownAsset("../tokenizer.js"), "ModelshelfTokenizer"));
  return Promise.all(wanted).then((globals) => globals[0]);
}

/*
 * onnxruntime-web's WebAssembly, fetched by us with the integrity the build recorded (generator/site/sri.py lists it
 * in the page's import map) and handed to the runtime as bytes: left to itself, the runtime fetches it unchecked.
 * Without a recorded integrity (an old page), the runtime fetches it as before.
 */
function checkedWasm(wasmPaths) {
  const url = new URL(WASM_FILE, wasmPaths).href;
  const integrity = integrityOf(url);
  if (!integrity) return Promise.resolve(null);
  return fetch(url, { credentials: "same-origin", integrity }).then((response) => {
    if (!response.ok) throw new Error("HTTP " + response.status + " for " + url);
    return response.arrayBuffer();
  }).catch((error) => {
    // A refused integrity check reads as a failed fetch; either way the runtime cannot start.
    throw RuntimeError("The WebAssembly runtime could not be started.", messageOf(error));
  });
}

export function loadOrt(root, cfg) {
  const script = absolute(root + cfg.ort.script);
  const wasmPaths = absolute(root + cfg.ort.wasm_paths);
  return once("ort", () => Promise.all([loadScript(script, "ort"), checkedWasm(wasmPaths)]).then(([ort, wasm]) => {
    ort.env.wasm.numThreads = 1;  // no SharedArrayBuffer without COOP/COEP
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmPaths = wasmPaths;
    if (wasm) ort.env.wasm.wasmBinary = wasm;
    return ort;
  }).catch((error) => {
    if (error.kind === "runtime") throw error;
    throw RuntimeError("onnxruntime-web could not be loaded.", messageOf(error));
  }));
}

export function fetchBytes(url, onProgress) {
  return fetch(url, { credentials: "same-origin" }).then((response) => {
    if (!response.ok) throw new Error("HTTP " + response.status + " for " + url);
    const total = Number(response.headers.get("Content-Length")) || 0;
    if (!response.body || !response.body.getReader || !onProgress) return response.arrayBuffer();
    const reader = response.body.getReader(), chunks = [];
    let received = 0;
    const pump = () => reader.read().then((step) => {
      if (step.done) {
        const out = new Uint8Array(received);
        let offset = 0;
        for (const c of chunks) { out.set(c, offset); offset += c.length; }
        return out.buffer;
      }
      chunks.push(step.value);
      received += step.value.length;
      onProgress(received, total);
      return pump();
    });
    return pump();
  });
}

export function loadSession(ort, url, onProgress) {
  return once("session:" + url, () => fetchBytes(url, onProgress).catch((error) => {
    throw DownloadError("The model file could not be downloaded.", messageOf(error));
  }).then((buffer) => ort.InferenceSession.create(new Uint8Array(buffer), {
    executionProviders: ["wasm"], graphOptimizationLevel: "all"
  }).catch((error) => {
    const message = messageOf(error);
    if (/backend|wasm|WebAssembly|fetch|import/i.test(message)) {
      throw RuntimeError("The WebAssembly runtime could not be started.", message);
    }
    const e = new Error("onnxruntime-web could not open this model.");
    e.detail = message;
    throw e;
  })).then((session) => {
    sessionOrder.push(url);
    while (sessionOrder.length > SESSION_CACHE) {
      const pending = forget("session:" + sessionOrder.shift());
      if (pending) pending.then((s) => { if (s.release) s.release(); }).catch(() => {});
    }
    return session;
  }));
}

/* {data (numbers), shape} of an input -> an onnxruntime tensor of the input's dtype. */
export function ortTensor(ort, dtype, data, shape) {
  const n = data.length;
  let typed;
  if (dtype === "int64") {
    typed = new BigInt64Array(n);
    for (let k = 0; k < n; k++) typed[k] = BigInt(Math.round(data[k]));
  } else if (dtype === "float32") typed = Float32Array.from(data);
  else if (dtype === "float64") typed = Float64Array.from(data);
  else if (dtype === "int32") typed = Int32Array.from(data);
  else if (dtype === "int8") typed = Int8Array.from(data);
  else if (dtype === "uint8") typed = Uint8Array.from(data);
  else if (dtype === "int16") typed = Int16Array.from(data);
  else if (dtype === "bool") typed = Uint8Array.from(data);
  else if (dtype === "float16") throw new Error("float16 inputs are not supported by the panel");
  else throw new Error("unsupported input type " + dtype);
  return new ort.Tensor(dtype, typed, shape);
}

/* An onnxruntime output -> {data (plain numbers), shape, dtype}. */
export function fromOrt(value) {
  const data = value.data, out = new Array(data.length);
  for (let k = 0; k < data.length; k++) out[k] = Number(data[k]);
  return { data: out, shape: Array.prototype.slice.call(value.dims), dtype: value.type };
}

/* {name: {data, shape}} with plain arrays, as msTryit.last shows feeds. */
export function plainFeeds(feeds) {
  if (!feeds) return null;
  const out = {};
  for (const [name, f] of Object.entries(feeds)) out[name] = { data: Array.from(f.data), shape: f.shape.slice() };
  return out;
}
