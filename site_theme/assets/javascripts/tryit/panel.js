/*
 * Modelshelf "Try it" panel: run a model page's ONNX file in the visitor's browser. The core.
 *
 * Imported by tryit.js (the classic entry script) on a page with a panel (#ms-tryit, rendered by
 * generator/render/templates/sections/tryit.md.j2 with the config generator/tryit computes in
 * its data-config attribute); tryit.js calls init() on the first page and after each instant
 * navigation. Nothing is downloaded until a visitor opens the panel: then its widget
 * (widgets/<name>.js), the helpers, onnxruntime-web and the model (runtime.js).
 *
 * Every widget predicts through Panel.predict() (one queued session run, postprocessed) and
 * shows a result through Panel.show() (record `last`, draw it, time it, count it). A widget is
 * a module whose build(panel) draws its inputs into panel.widgetBox and returns its hooks:
 *   afterLoad()        once the session exists (e.g. fetch a vocabulary)
 *   firstRun()         the prediction shown when the panel opens
 *   exampleRun(i)      run the card's example i (default: feed its arrays as they are)
 *   showExample(ex, i) put an example into the inputs before the default exampleRun
 *   render(box, last)  draw a result its own way; return false to use results.js
 *
 * For tests, each panel element carries `msTryit`: {ready, last, firstPredictionMs, downloads, open(),
 * runExample(i)} plus what its widget adds (runCanvas, readFile, compare, runAudio, ...), and the
 * attributes data-runs (results shown), data-first-prediction-ms, data-runtime-bytes and
 * data-model-bytes (bytes received over the network; the runtime's are 0 when it came from Cache
 * Storage, see runtime.js) and data-saliency.
 */
import { el } from "../dom.js";
import { DownloadError, messageOf } from "./errors.js";
import { bytes, ms } from "./format.js";
import { labelOf, renderResult } from "./results.js";
import { absolute, fromOrt, loadHelpers, loadOrt, loadSession, ortTensor, plainFeeds } from "./runtime.js";

// config `widget` -> module in widgets/ (anything else gets the generic tensor editor).
const WIDGETS = new Set(["tabular", "image", "text", "bytes", "audio", "tensor"]);

function loadWidget(name) {
  const file = WIDGETS.has(name) ? name : "tensor";
  return import("./widgets/" + file + ".js").catch((error) => {
    throw DownloadError("The panel's " + file + " widget could not be loaded.", messageOf(error));
  });
}

export class Panel {
  constructor(root, node, cfg) {
    this.root = root;
    this.node = node;
    this.cfg = cfg;
    this.P = null;        // ModelshelfProcessing once loaded
    this.ort = null;
    this.session = null;
    this.widget = {};
    this.queue = Promise.resolve();
    this.openedAt = 0;
    this.firstPredictionMs = null;
    this.last = null;
    // Whether the postprocessed scores are probabilities (drives percentages and saliency).
    this.probabilities = (cfg.postprocessing || []).some((s) => s.op === "softmax" || s.op === "sigmoid");
    this.api = { ready: null, last: null, firstPredictionMs: null, downloads: {}, runExample: (i) => this.runExample(i) };
    node.msTryit = this.api;
  }

  open() {
    const cfg = this.cfg;
    this.openedAt = performance.now();
    this.node.classList.add("ms-tryit--open");
    const body = this.node.querySelector(".ms-tryit__body");
    body.hidden = false;
    body.textContent = "";
    this.status = el("p", { class: "ms-tryit__status", role: "status", text: "Loading onnxruntime-web…" });
    this.errorBox = el("div", { class: "ms-tryit__error", role: "alert", hidden: true });
    this.widgetBox = el("div", { class: "ms-tryit__widget" });
    this.resultBox = el("div", { class: "ms-tryit__result" });
    this.timing = el("p", { class: "ms-tryit__timing" });
    // Screen readers hear one short sentence per result, not the whole redrawn result box.
    this.announcer = el("p", { class: "ms-visually-hidden ms-tryit__announce", role: "status", "aria-live": "polite" });
    body.appendChild(this.errorBox);
    body.appendChild(el("div", { class: "ms-tryit__grid" }, [this.widgetBox, el("div", { class: "ms-tryit__output" }, [this.resultBox, this.timing])]));
    body.appendChild(this.status);
    body.appendChild(this.announcer);
    const button = this.node.querySelector(".ms-tryit__open");
    if (button) button.hidden = true;
    this.focusPanel();

    // A card's source.url is absolute (hosted elsewhere); the site's own files are relative to its root.
    const modelUrl = /^https:\/\//.test(cfg.model.url) ? cfg.model.url : absolute(this.root + cfg.model.url);
    this.api.ready = Promise.all([loadHelpers(cfg.widget), loadWidget(cfg.widget)]).then(([P, widget]) => {
      this.P = P;
      this.widget = widget.build(this) || {};
      this.setStatus("Starting onnxruntime-web…");
      return loadOrt(this.root, cfg, (p) => {
        this.download("runtime", p.received, p.total, p.cached);
        this.setStatus(p.cached ? "Starting onnxruntime-web (" + bytes(p.total) + ", from this browser's cache)…"
          : "Downloading the runtime, onnxruntime-web: " + bytes(p.received) + (p.total ? " of " + bytes(p.total) : "") + "…");
      });
    }).then((ort) => {
      this.ort = ort;
      this.setStatus("Downloading the model (" + cfg.model.size_text + ")…");
      return loadSession(ort, modelUrl, (received, total) => {
        this.download("model", received, total, false);
        this.setStatus("Downloading the model: " + bytes(received) + (total ? " of " + bytes(total) : "") + "…");
      });
    }).then((session) => {
      this.session = session;
      this.loadedMs = performance.now() - this.openedAt;
      this.setStatus("");
      this.node.classList.add("ms-tryit--ready");
      return this.widget.afterLoad ? this.widget.afterLoad() : null;
    }).then(() => (this.widget.firstRun ? this.widget.firstRun() : null)).catch((error) => {
      this.fail(error);
      throw error;
    });
    this.api.ready.catch(() => {});
    return this.api.ready;
  }

  /* The open button has just been hidden: without this, focus would fall back to <body>. The section's
     "Try it" heading takes it (the panel's controls follow it in the tab order). Done also after a click,
     so a screen reader reads where the panel starts; the page scrolls only when the heading is out of view. */
  focusPanel() {
    const heading = this.node.previousElementSibling && /^H[1-6]$/.test(this.node.previousElementSibling.tagName)
      ? this.node.previousElementSibling : null;
    const target = heading || this.node.querySelector(".ms-tryit__body");
    target.setAttribute("tabindex", "-1");
    target.focus({ preventScroll: target.getBoundingClientRect().top >= 0 && target.getBoundingClientRect().bottom <= window.innerHeight });
  }

  /* Empty the result area: a refused input must not leave the previous input's answer beside its error. */
  clearResult() {
    this.resultBox.textContent = "";
    this.timing.textContent = "";
    this.announcer.textContent = "";
    this.last = null;
    this.api.last = null;
  }

  /* Bytes received so far for `what` ("runtime" or "model"); tests read msTryit.downloads and the data-*-bytes attributes. */
  download(what, received, total, cached) {
    this.api.downloads[what] = { received, total, cached };
    this.node.setAttribute("data-" + what + "-bytes", String(received));
  }

  setStatus(text) {
    this.status.textContent = text;
    this.status.hidden = !text;
  }

  fail(error) {
    const cfg = this.cfg, box = this.errorBox;
    box.textContent = "";
    const title = error && error.message ? error.message : String(error);
    let hint;
    if (error && error.kind === "runtime") {
      hint = "Your browser may block WebAssembly, or the site's copy of onnxruntime-web is incomplete. " +
        "The model still works outside the browser: download it or use the deploy instructions below.";
    } else if (error && error.kind === "download") {
      hint = "Check your connection and reload the page; the file is listed under Files with its SHA-256.";
    } else if (error && error.kind === "input") {
      hint = error.hint || "";
    } else {
      hint = "This is a bug in the panel or the card; the Python snippet below runs the model with onnxruntime.";
    }
    box.appendChild(el("strong", { text: title }));
    if (error && error.detail) box.appendChild(el("code", { class: "ms-tryit__detail", text: error.detail }));
    if (hint) box.appendChild(el("p", { text: hint }));
    if (error && (error.kind === "runtime" || error.kind === "download")) {
      box.appendChild(el("p", {}, [
        el("a", { class: "md-button", href: this.root + cfg.download_url, download: cfg.download_name, text: "Download " + cfg.download_name }),
        " ",
        el("a", { class: "md-button", href: "#" + cfg.bundle_anchor, text: "Deploy instructions" })
      ]));
    }
    box.hidden = false;
    this.setStatus("");
    if (error && error.kind === "input") this.clearResult();
    this.node.classList.add("ms-tryit--failed");
  }

  clearError() {
    this.errorBox.hidden = true;
    this.errorBox.textContent = "";
    this.node.classList.remove("ms-tryit--failed");
  }

  /* The one prediction path. Run the session on model-ready `feeds` ({name: {data, shape}},
     numbers), one run at a time, and postprocess the scored output; then show the result, unless
     `show` is false: the steps of a composite result (audio frames, occluded copies, a second
     sentence) are predicted quietly and the widget shows the whole once. Errors are shown too. */
  predict(feeds, { extra = null, show = true } = {}) {
    const job = this.queue.then(() => {
      const ortFeeds = {};
      for (const t of this.cfg.inputs) {
        const f = feeds[t.name];
        if (!f) throw new Error("no value for input " + t.name);
        ortFeeds[t.name] = ortTensor(this.ort, t.dtype, f.data, f.shape);
      }
      const t0 = performance.now();
      return this.session.run(ortFeeds).then((result) => {
        const elapsed = performance.now() - t0, outputs = {};
        for (const name of Object.keys(result)) outputs[name] = fromOrt(result[name]);
        return { outputs, ms: elapsed };
      });
    });
    this.queue = job.catch(() => {});
    return job.then((run) => {
      const prediction = { feeds, outputs: run.outputs, post: this.postprocess(run.outputs, feeds), ms: run.ms, extra };
      return show ? this.show(prediction) : prediction;
    }).catch((error) => {
      this.fail(error);
      throw error;
    });
  }

  /* Record, draw, time and count one result (what predict() returned, or a widget's composite of
     several). `timing` replaces the usual "Inference …" line. Returns msTryit.last. */
  show(prediction, { timing = null } = {}) {
    this.clearError();
    const last = { feeds: plainFeeds(prediction.feeds), outputs: prediction.outputs, post: prediction.post,
      ms: prediction.ms, extra: prediction.extra || null };
    this.last = last;
    this.api.last = last;
    if (this.firstPredictionMs === null) {
      this.firstPredictionMs = performance.now() - this.openedAt;
      this.api.firstPredictionMs = this.firstPredictionMs;
      this.node.setAttribute("data-first-prediction-ms", this.firstPredictionMs.toFixed(1));
    }
    renderResult(this, this.resultBox, last);
    this.timing.textContent = timing || this.timingText(last.ms);
    this.announcer.textContent = this.summary();
    this.node.setAttribute("data-runs", String(Number(this.node.getAttribute("data-runs") || 0) + 1));
    return last;
  }

  /* What the live region says about the result on screen: its headline ("Prediction setosa 97.1 %"), else its first line. */
  summary() {
    const headline = this.resultBox.querySelector(".ms-tryit__headline") || this.resultBox.firstElementChild;
    const parts = headline && headline.children.length ? Array.from(headline.children, (c) => c.textContent) : [(headline || this.resultBox).textContent];
    const text = parts.join(" ").replace(/\s+/g, " ").trim();
    return "Result: " + (text.length > 160 ? text.slice(0, 157) + "…" : text || "ready");
  }

  postprocess(outputs, feeds) {
    const y = outputs[this.cfg.scored_output];
    if (!y) return null;
    const values = { data: Float64Array.from(y.data), shape: y.shape };
    return this.P.postprocess(this.cfg.postprocessing, values, { labels: this.cfg.labels, feeds });
  }

  timingText(runMs) {
    const parts = ["Inference " + ms(runMs)];
    if (this.firstPredictionMs !== null) parts.push("first prediction " + ms(this.firstPredictionMs) + " after opening");
    parts.push("onnxruntime-web " + (this.ort && this.ort.env && this.ort.env.versions ? this.ort.env.versions.web || "" : "") + " · wasm · 1 thread");
    return parts.join(" · ");
  }

  labelOf(index) {
    return labelOf(this.cfg, index);
  }

  /* Feed an example once the panel is ready (tests and the example buttons use this). */
  runExample(index) {
    return (this.api.ready || Promise.reject(new Error("the panel is not open"))).then(() => this.exampleRun(index));
  }

  exampleRun(index) {
    return this.widget.exampleRun ? this.widget.exampleRun(index) : this.predictExample(index);
  }

  /* Arrays go to the model as they are; widgets with raw inputs (text) have their own exampleRun. */
  predictExample(index) {
    const ex = this.cfg.examples[index];
    if (!ex) return Promise.reject(new Error("no example " + index));
    if (this.widget.showExample) this.widget.showExample(ex, index);
    return this.predict(this.exampleFeeds(ex), { extra: { example: index } });
  }

  exampleFeeds(ex) {
    const feeds = {};
    for (const t of this.cfg.inputs) {
      const value = ex.inputs[t.name];
      if (value === undefined) throw new Error("example gives no value for " + t.name);
      const tensor = typeof value === "number" ? { data: [value], shape: [] } : this.P.fromNested(value);
      feeds[t.name] = { data: this.P.castData(tensor.data, t.dtype), shape: tensor.shape };
    }
    return feeds;
  }

  /* A row of buttons, one per card example; null without examples. */
  exampleChips(onPick) {
    if (!this.cfg.examples.length) return null;
    const row = el("div", { class: "ms-tryit__examples" }, [el("span", { class: "ms-tryit__kicker", text: "Examples" })]);
    this.cfg.examples.forEach((ex, i) => {
      row.appendChild(el("button", { type: "button", class: "ms-chip ms-chip--button", "data-example": i, text: ex.name,
        onclick: () => onPick(ex, i) }));
    });
    return row;
  }
}

/* Wake up every panel of `doc` not yet seen (the first page, then each instant navigation). */
export function init(doc) {
  for (const node of doc.querySelectorAll(".ms-tryit:not([data-ms-init])")) {
    node.setAttribute("data-ms-init", "");
    let cfg;
    try { cfg = JSON.parse(node.getAttribute("data-config")); } catch (error) {
      if (window.console) console.warn("modelshelf try-it: unreadable panel config", error);
      continue;
    }
    const panel = new Panel(node.getAttribute("data-root") || "", node, cfg);
    const button = node.querySelector(".ms-tryit__open");
    if (!cfg.tryable || !button) continue;
    button.disabled = false;
    button.addEventListener("click", () => panel.open());
    node.msTryit.open = () => panel.open();
  }
}
