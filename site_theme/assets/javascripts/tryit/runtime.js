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
 * onnxruntime-web's WebAssembly (14 MB), fetched by us and checked against the integrity the build recorded
 * (generator/site/sri.py lists it in the page's import map), then handed to the runtime as bytes: left to itself,
 * the runtime fetches it unchecked. Without a recorded integrity (an old page), the runtime fetches it as before.
 *
 * The bytes are read with a counting reader, so the panel can say how much of the runtime has arrived (a
 * `fetch(url, {integrity})` answers only once the whole body is in), and checked with SubtleCrypto. They are
 * kept in Cache Storage under their URL and integrity: a later visit starts the runtime without downloading it
 * again, whatever HTTP caching the host does (GitHub Pages allows 10 minutes; a 14 MB body may not fit a
 * private window's memory cache). Cached bytes are checked again before use.
 *
 * onProgress({received, total, cached}): received counts bytes that came over the network (0 from the cache).
 */
const RUNTIME_CACHE = "modelshelf-onnxruntime-web";

function openRuntimeCache() {
  if (!window.caches || !window.isSecureContext) return Promise.resolve(null);
  return caches.open(RUNTIME_CACHE).catch(() => null);
}

function sriDigest(buffer, algorithm) {
  const name = { sha256: "SHA-256", sha384: "SHA-384", sha512: "SHA-512" }[algorithm];
  return crypto.subtle.digest(name, buffer).then((hash) => {
    let binary = "";
    for (const b of new Uint8Array(hash)) binary += String.fromCharCode(b);
    return algorithm + "-" + btoa(binary);
  });
}

/* Whether `buffer` matches one of the hashes of an integrity attribute ("sha384-... sha512-..."). */
function matchesIntegrity(buffer, integrity) {
  const wanted = integrity.trim().split(/\s+/).filter((h) => /^sha(256|384|512)-/.test(h));
  if (!wanted.length) return Promise.resolve(false);
  return Promise.all(wanted.map((h) => sriDigest(buffer, h.split("-")[0]).then((got) => got === h.split("?")[0])))
    .then((results) => results.some(Boolean));
}

async function checkedWasm(wasmPaths, onProgress) {
  const url = new URL(WASM_FILE, wasmPaths).href;
  const integrity = integrityOf(url);
  if (!integrity) return null;
  try {
    if (!window.crypto || !crypto.subtle) {
      // No SubtleCrypto (a page served over plain HTTP from another host): the browser checks, without progress.
      const response = await fetch(url, { credentials: "same-origin", integrity });
      if (!response.ok) throw new Error("HTTP " + response.status + " for " + url);
      const bytes = await response.arrayBuffer();
      onProgress({ received: bytes.byteLength, total: bytes.byteLength, cached: false });
      return bytes;
    }
    const key = url + "?integrity=" + encodeURIComponent(integrity);
    const store = await openRuntimeCache();
    const hit = store ? await store.match(key).catch(() => null) : null;
    if (hit) {
      const bytes = await hit.arrayBuffer();
      if (await matchesIntegrity(bytes, integrity)) {
        onProgress({ received: 0, total: bytes.byteLength, cached: true });
        return bytes;
      }
      await store.delete(key);
    }
    const bytes = await fetchBytes(url, (received, total) => onProgress({ received, total, cached: false }));
    if (!(await matchesIntegrity(bytes, integrity))) {
      // Said in the console too, as the browser says a refused `integrity` attribute.
      const message = "Failed integrity check: " + url + " does not match its recorded integrity " + integrity + ".";
      if (window.console) console.error(message);
      throw new Error(message);
    }
    if (store) {
      // Drop copies of older runtimes, then keep this one; a full quota only costs a download next time.
      for (const old of await store.keys()) if (old.url !== key) await store.delete(old);
      await store.put(key, new Response(bytes, { headers: { "Content-Type": "application/wasm" } })).catch(() => {});
    }
    return bytes;
  } catch (error) {
    // A refused integrity check reads as a failed fetch; either way the runtime cannot start.
    throw RuntimeError("The WebAssembly runtime could not be started.", messageOf(error));
  }
}

/* onnxruntime-web, once per document; onProgress as checkedWasm's (called only by the first caller's download). */
export function loadOrt(root, cfg, onProgress = () => {}) {
  const script = absolute(root + cfg.ort.script);
  const wasmPaths = absolute(root + cfg.ort.wasm_paths);
  return once("ort", () => Promise.all([loadScript(script, "ort"), checkedWasm(wasmPaths, onProgress)]).then(([ort, wasm]) => {
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

/* The body of `url` as an ArrayBuffer, counted as it arrives: onProgress(received, total) with total from
   Content-Length (0 when unknown, or when the body is compressed: the header then counts compressed bytes). */
export function fetchBytes(url, onProgress) {
  return fetch(url, { credentials: "same-origin" }).then((response) => {
    if (!response.ok) throw new Error("HTTP " + response.status + " for " + url);
    const compressed = Boolean(response.headers.get("Content-Encoding"));
    const total = compressed ? 0 : Number(response.headers.get("Content-Length")) || 0;
    if (!response.body || !response.body.getReader || !onProgress) return response.arrayBuffer();
    onProgress(0, total);
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
