/*
 * Modelshelf "Try it" panel: run a model page's ONNX file in the visitor's browser.
 *
 * Loaded on every page (mkdocs `extra_javascript`) but does nothing until a visitor opens a
 * panel (#ms-tryit, rendered by generator/templates/sections/tryit.md.j2 with the config that
 * generator/tryit.py computes in its data-config attribute). Only then does it load processing.js, tokenizer.js (text
 * models), onnxruntime-web's wasm-only bundle (single-threaded: GitHub Pages sends no
 * COOP/COEP headers) and the model, all from the site itself. The runtime and sessions are
 * kept across mkdocs-material's instant navigation (document$), so a second model page only
 * downloads its model.
 *
 * Widgets follow the kind of the model's first input: a form for tabular features, a drawing
 * canvas and image upload (with an occlusion saliency map), a text box with a WordPiece
 * tokenizer and a two-sentence similarity view, a file drop for byte models, an audio file run
 * frame by frame for streaming audio models (speech probability over time), and a generic
 * tensor editor. Results are drawn as bars, ranges and gauges, with the inference time.
 *
 * Plain ES2017, no build step. Strings from the config reach the DOM through textContent or
 * attribute setters, never innerHTML. For tests, each panel element carries `msTryit`:
 * {ready, last, runExample(i), firstPredictionMs}.
 */
(function () {
  "use strict";

  var SELF = document.currentScript ? document.currentScript.src : "";
  var MAX_UPLOAD_BYTES = 20 * 1024 * 1024;
  var MAX_IMAGE_SIDE = 4096;
  var WORK_SIDE = 512;  // uploaded pictures are scaled to at most this many pixels a side first
  var DRAW_SIDE = 224;
  var SESSION_CACHE = 3;
  var IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"];

  /* ---- shared downloads (kept across instant navigation) ------------------------------ */

  var loads = {};
  var sessionOrder = [];

  function once(key, make) {
    if (!loads[key]) {
      loads[key] = make().catch(function (error) {
        delete loads[key];  // a later attempt may succeed
        throw error;
      });
    }
    return loads[key];
  }

  function absolute(url) {
    return new URL(url, document.baseURI).href;
  }

  function loadScript(url, globalName) {
    return once("script:" + url, function () {
      if (globalName && window[globalName]) return Promise.resolve(window[globalName]);
      return new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = url;
        script.async = true;
        script.onload = function () {
          if (!globalName || window[globalName]) resolve(window[globalName]);
          else reject(new Error(url + " loaded but did not define " + globalName));
        };
        script.onerror = function () { reject(new Error("could not load " + url)); };
        document.head.appendChild(script);
      });
    });
  }

  function ownAsset(name) {
    return SELF ? new URL(name, SELF).href : absolute(name);
  }

  function loadHelpers(widget) {
    var wanted = [loadScript(ownAsset("processing.js"), "ModelshelfProcessing")];
    if (widget === "text") wanted.push(loadScript(ownAsset("tokenizer.js"), "ModelshelfTokenizer"));
    return Promise.all(wanted);
  }

  function RuntimeError(message, detail) {
    var error = new Error(message);
    error.kind = "runtime";
    error.detail = detail;
    return error;
  }

  function loadOrt(root, cfg) {
    var script = absolute(root + cfg.ort.script);
    return once("ort", function () {
      return loadScript(script, "ort").then(function (ort) {
        ort.env.wasm.numThreads = 1;  // no SharedArrayBuffer without COOP/COEP
        ort.env.wasm.proxy = false;
        ort.env.wasm.wasmPaths = absolute(root + cfg.ort.wasm_paths);
        return ort;
      }).catch(function (error) {
        throw RuntimeError("onnxruntime-web could not be loaded.", String(error && error.message || error));
      });
    });
  }

  function fetchBytes(url, onProgress) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status + " for " + url);
      var total = Number(response.headers.get("Content-Length")) || 0;
      if (!response.body || !response.body.getReader || !onProgress) return response.arrayBuffer();
      var reader = response.body.getReader(), chunks = [], received = 0;
      return (function pump() {
        return reader.read().then(function (step) {
          if (step.done) {
            var out = new Uint8Array(received), offset = 0;
            chunks.forEach(function (c) { out.set(c, offset); offset += c.length; });
            return out.buffer;
          }
          chunks.push(step.value);
          received += step.value.length;
          onProgress(received, total);
          return pump();
        });
      })();
    });
  }

  function loadSession(ort, url, onProgress) {
    return once("session:" + url, function () {
      return fetchBytes(url, onProgress).catch(function (error) {
        var e = new Error("The model file could not be downloaded.");
        e.detail = String(error && error.message || error);
        e.kind = "download";
        throw e;
      }).then(function (buffer) {
        return ort.InferenceSession.create(new Uint8Array(buffer), {
          executionProviders: ["wasm"], graphOptimizationLevel: "all"
        }).catch(function (error) {
          var message = String(error && error.message || error);
          if (/backend|wasm|WebAssembly|fetch|import/i.test(message)) {
            throw RuntimeError("The WebAssembly runtime could not be started.", message);
          }
          var e = new Error("onnxruntime-web could not open this model.");
          e.detail = message;
          throw e;
        });
      }).then(function (session) {
        sessionOrder.push(url);
        // Free the oldest sessions: each holds its model's weights in wasm memory.
        while (sessionOrder.length > SESSION_CACHE) {
          var old = sessionOrder.shift();
          var pending = loads["session:" + old];
          delete loads["session:" + old];
          if (pending) pending.then(function (s) { if (s.release) s.release(); }).catch(function () {});
        }
        return session;
      });
    });
  }

  /* ---- small DOM helpers ------------------------------------------------------------- */

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  var SVG = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, children) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else node.setAttribute(key, String(attrs[key]));
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  var numberFormat = new Intl.NumberFormat("en", { maximumSignificantDigits: 4 });

  function fmt(value) {
    if (typeof value !== "number" || !isFinite(value)) return String(value);
    if (value !== 0 && (Math.abs(value) >= 1e6 || Math.abs(value) < 1e-3)) return value.toExponential(2);
    return numberFormat.format(value);
  }

  function pct(p) {
    if (p >= 0.9995 && p < 1) return ">99.9%";
    if (p > 0 && p < 0.0005) return "<0.1%";
    return (p * 100).toFixed(1) + "%";
  }

  function ms(value) {
    if (value < 1) return value.toFixed(2) + " ms";
    if (value < 100) return value.toFixed(1) + " ms";
    if (value < 1000) return Math.round(value) + " ms";
    return (value / 1000).toFixed(2) + " s";
  }

  function bytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  /* ---- tensors in and out of onnxruntime --------------------------------------------- */

  function ortTensor(ort, dtype, data, shape) {
    var n = data.length, typed, k;
    if (dtype === "int64") {
      typed = new BigInt64Array(n);
      for (k = 0; k < n; k++) typed[k] = BigInt(Math.round(data[k]));
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

  function fromOrt(value) {
    var data = value.data, out = new Array(data.length);
    for (var k = 0; k < data.length; k++) out[k] = typeof data[k] === "bigint" ? Number(data[k]) : Number(data[k]);
    return { data: out, shape: Array.prototype.slice.call(value.dims), dtype: value.type };
  }

  /* ---- one panel --------------------------------------------------------------------- */

  function Panel(root, node, cfg) {
    this.root = root;
    this.node = node;
    this.cfg = cfg;
    this.P = null;        // ModelshelfProcessing once loaded
    this.ort = null;
    this.session = null;
    this.queue = Promise.resolve();
    this.openedAt = 0;
    this.firstPredictionMs = null;
    this.last = null;
    // Whether the postprocessed scores are probabilities (drives percentages and saliency).
    this.probabilities = (cfg.postprocessing || []).some(function (s) { return s.op === "softmax" || s.op === "sigmoid"; });
    var self = this;
    this.api = { ready: null, last: null, firstPredictionMs: null,
      runExample: function (i) { return self.runExample(i); } };
    node.msTryit = this.api;
  }

  Panel.prototype.input = function (name) {
    return this.cfg.inputs.filter(function (t) { return t.name === name; })[0];
  };

  Panel.prototype.open = function () {
    var self = this, cfg = this.cfg;
    this.openedAt = performance.now();
    this.node.classList.add("ms-tryit--open");
    var body = this.node.querySelector(".ms-tryit__body");
    body.hidden = false;
    body.textContent = "";
    this.status = el("p", { class: "ms-tryit__status", role: "status", text: "Loading onnxruntime-web…" });
    this.errorBox = el("div", { class: "ms-tryit__error", role: "alert", hidden: true });
    this.widgetBox = el("div", { class: "ms-tryit__widget" });
    this.resultBox = el("div", { class: "ms-tryit__result", "aria-live": "polite" });
    this.timing = el("p", { class: "ms-tryit__timing" });
    body.appendChild(this.errorBox);
    body.appendChild(el("div", { class: "ms-tryit__grid" }, [this.widgetBox, el("div", { class: "ms-tryit__output" }, [this.resultBox, this.timing])]));
    body.appendChild(this.status);
    var button = this.node.querySelector(".ms-tryit__open");
    if (button) button.hidden = true;

    var modelUrl = absolute(this.root + cfg.model.url);
    this.api.ready = loadHelpers(cfg.widget).then(function () {
      self.P = window.ModelshelfProcessing;
      self.buildWidget();
      return loadOrt(self.root, cfg);
    }).then(function (ort) {
      self.ort = ort;
      self.setStatus("Downloading the model (" + cfg.model.size_text + ")…");
      return loadSession(ort, modelUrl, function (received, total) {
        self.setStatus("Downloading the model: " + bytes(received) + (total ? " of " + bytes(total) : "") + "…");
      });
    }).then(function (session) {
      self.session = session;
      self.loadedMs = performance.now() - self.openedAt;
      self.setStatus("");
      self.node.classList.add("ms-tryit--ready");
      return self.afterLoad ? self.afterLoad() : null;
    }).then(function () {
      return self.firstRun ? self.firstRun() : null;
    }).catch(function (error) {
      self.fail(error);
      throw error;
    });
    this.api.ready.catch(function () {});
    return this.api.ready;
  };

  Panel.prototype.setStatus = function (text) {
    this.status.textContent = text;
    this.status.hidden = !text;
  };

  Panel.prototype.fail = function (error) {
    var cfg = this.cfg, box = this.errorBox;
    box.textContent = "";
    var title = error && error.message ? error.message : String(error);
    var hint;
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
    this.node.classList.add("ms-tryit--failed");
  };

  Panel.prototype.clearError = function () {
    this.errorBox.hidden = true;
    this.errorBox.textContent = "";
    this.node.classList.remove("ms-tryit--failed");
  };

  function InputError(message, hint) {
    var error = new Error(message);
    error.kind = "input";
    error.hint = hint;
    return error;
  }

  /* Run the session on {name: {data, shape}} (numbers), one run at a time. */
  Panel.prototype.infer = function (feeds) {
    var self = this;
    var job = this.queue.then(function () {
      var ortFeeds = {};
      self.cfg.inputs.forEach(function (t) {
        var f = feeds[t.name];
        if (!f) throw new Error("no value for input " + t.name);
        ortFeeds[t.name] = ortTensor(self.ort, t.dtype, f.data, f.shape);
      });
      var t0 = performance.now();
      return self.session.run(ortFeeds).then(function (result) {
        var elapsed = performance.now() - t0, outputs = {};
        Object.keys(result).forEach(function (name) { outputs[name] = fromOrt(result[name]); });
        return { outputs: outputs, ms: elapsed };
      });
    });
    this.queue = job.catch(function () {});
    return job;
  };

  /* Run, record and draw one prediction. `feeds` are model-ready tensors; `view` what was shown. */
  Panel.prototype.predict = function (feeds, extra) {
    var self = this;
    return this.infer(feeds).then(function (run) {
      self.clearError();
      var post = self.postprocess(run.outputs, feeds);
      var last = { feeds: plainFeeds(feeds), outputs: run.outputs, post: post, ms: run.ms, extra: extra || null };
      self.last = last;
      self.api.last = last;
      if (self.firstPredictionMs === null) {
        self.firstPredictionMs = performance.now() - self.openedAt;
        self.api.firstPredictionMs = self.firstPredictionMs;
        self.node.setAttribute("data-first-prediction-ms", self.firstPredictionMs.toFixed(1));
      }
      self.renderResult(last);
      self.renderTiming(run.ms);
      self.node.setAttribute("data-runs", String(Number(self.node.getAttribute("data-runs") || 0) + 1));
      return last;
    }).catch(function (error) {
      self.fail(error);
      throw error;
    });
  };

  function plainFeeds(feeds) {
    var out = {};
    Object.keys(feeds).forEach(function (k) { out[k] = { data: Array.from(feeds[k].data), shape: feeds[k].shape.slice() }; });
    return out;
  }

  Panel.prototype.postprocess = function (outputs, feeds) {
    var name = this.cfg.scored_output, y = outputs[name];
    if (!y) return null;
    var values = { data: Float64Array.from(y.data), shape: y.shape };
    return this.P.postprocess(this.cfg.postprocessing, values, { labels: this.cfg.labels, feeds: feeds });
  };

  Panel.prototype.renderTiming = function (runMs) {
    var parts = ["Inference " + ms(runMs)];
    if (this.firstPredictionMs !== null) parts.push("first prediction " + ms(this.firstPredictionMs) + " after opening");
    parts.push("onnxruntime-web " + (this.ort && this.ort.env && this.ort.env.versions ? this.ort.env.versions.web || "" : "") + " · wasm · 1 thread");
    this.timing.textContent = parts.join(" · ");
  };

  /* Feed an example once the panel is ready (tests and the example buttons use this). */
  Panel.prototype.runExample = function (index) {
    var self = this;
    return (this.api.ready || Promise.reject(new Error("the panel is not open"))).then(function () {
      return self.exampleRun(index);
    });
  };

  /* Arrays go to the model as they are; widgets with raw inputs (text) override this. */
  Panel.prototype.exampleRun = function (index) {
    var ex = this.cfg.examples[index];
    if (!ex) return Promise.reject(new Error("no example " + index));
    if (this.showExample) this.showExample(ex, index);
    return this.predict(this.exampleFeeds(ex), { example: index });
  };

  Panel.prototype.exampleFeeds = function (ex) {
    var self = this, feeds = {};
    this.cfg.inputs.forEach(function (t) {
      var value = ex.inputs[t.name];
      if (value === undefined) throw new Error("example gives no value for " + t.name);
      var tensor = typeof value === "number" ? { data: [value], shape: [] } : self.P.fromNested(value);
      feeds[t.name] = { data: self.P.castData(tensor.data, t.dtype), shape: tensor.shape };
    });
    return feeds;
  };

  /* ---- results ----------------------------------------------------------------------- */

  Panel.prototype.renderResult = function (last) {
    var box = this.resultBox, cfg = this.cfg, post = last.post;
    box.textContent = "";
    var scored = cfg.outputs.filter(function (t) { return t.name === cfg.scored_output; })[0] || {};
    if (this.renderCustom && this.renderCustom(box, last)) return;
    if (scored.kind === "value") return this.renderValue(box, last);
    if (post && (scored.kind === "scores" || cfg.labels.length)) return this.renderScores(box, last);
    this.renderRaw(box, last);
  };

  Panel.prototype.labelOf = function (index) {
    return index < this.cfg.labels.length ? this.cfg.labels[index] : "class " + index;
  };

  /* One probability for two labels (e.g. speech / no speech): label 1 when it passes the card's threshold. */
  Panel.prototype.renderBinary = function (box, p) {
    var step = this.cfg.postprocessing.filter(function (s) { return s.op === "threshold"; })[0];
    var limit = step ? Number(step.value) : 0.5, yes = p >= limit;
    box.appendChild(el("p", { class: "ms-tryit__headline" }, [
      el("span", { class: "ms-tryit__kicker", text: "Prediction" }),
      el("strong", { class: "ms-tryit__label", "data-label-index": yes ? 1 : 0, text: this.labelOf(yes ? 1 : 0) }),
      el("span", { class: "ms-tryit__confidence", text: pct(yes ? p : 1 - p) })
    ]));
    var self = this, list = el("ol", { class: "ms-bars", "aria-label": "Probability of each label" });
    [[1, p], [0, 1 - p]].forEach(function (pair, rank) {
      list.appendChild(el("li", { class: "ms-bars__row" + ((pair[0] === 1) === yes ? " ms-bars__row--best" : "") }, [
        el("span", { class: "ms-bars__label", text: self.labelOf(pair[0]) }),
        el("span", { class: "ms-bars__track" }, [el("span", { class: "ms-bars__fill", style: "width:" + Math.max(0, Math.min(1, pair[1])) * 100 + "%" })]),
        el("span", { class: "ms-bars__value", text: pct(pair[1]) })
      ]));
      void rank;
    });
    box.appendChild(list);
    box.appendChild(el("p", { class: "ms-note", text: "The model gives one probability for “" + this.labelOf(1) + "”; the card's threshold is " + fmt(limit) + "." }));
  };

  Panel.prototype.renderScores = function (box, last) {
    var cfg = this.cfg, post = last.post;
    var values = post.values.data, n = post.values.shape[post.values.shape.length - 1] || values.length;
    if (n === 1 && cfg.labels.length === 2) return this.renderBinary(box, values[0]);
    var probabilities = cfg.postprocessing.some(function (s) { return s.op === "softmax" || s.op === "sigmoid"; });
    if (!probabilities) {
      // Scores that already sum to one per row (e.g. skl2onnx probabilities) are shown as percentages.
      var total = 0;
      for (var k = 0; k < n; k++) total += values[k];
      probabilities = Math.abs(total - 1) < 1e-3 && Array.prototype.every.call(values.slice(0, n), function (v) { return v >= 0; });
    }
    var order = this.P.topk({ data: values.slice(0, n), shape: [n] }, n)[0];
    var topSet = {};
    (post.top ? post.top[0] : order.slice(0, 1).map(function (i) { return { index: i }; })).forEach(function (e) { topSet[e.index] = true; });
    var best = order[0];
    var labelOutput = cfg.outputs.filter(function (t) { return t.kind === "label"; })[0];
    var predicted = labelOutput && last.outputs[labelOutput.name] ? last.outputs[labelOutput.name].data[0] : best;
    box.appendChild(el("p", { class: "ms-tryit__headline" }, [
      el("span", { class: "ms-tryit__kicker", text: "Prediction" }),
      el("strong", { class: "ms-tryit__label", "data-label-index": predicted, text: this.labelOf(predicted) }),
      el("span", { class: "ms-tryit__confidence", text: probabilities ? pct(values[predicted]) : "score " + fmt(values[predicted]) })
    ]));
    var max = -Infinity, min = Infinity;
    for (var j = 0; j < n; j++) { max = Math.max(max, values[j]); min = Math.min(min, values[j]); }
    var list = el("ol", { class: "ms-bars", "aria-label": "Scores of every class" });
    var shown = n > 12 ? order.slice(0, 10) : order;
    var self = this;
    shown.forEach(function (i, rank) {
      var v = values[i];
      var width = probabilities ? v : (max > min ? (v - min) / (max - min) : 1);
      var item = el("li", { class: "ms-bars__row" + (topSet[i] ? " ms-bars__row--top" : "") + (rank === 0 ? " ms-bars__row--best" : "") }, [
        el("span", { class: "ms-bars__label", text: self.labelOf(i) }),
        el("span", { class: "ms-bars__track" }, [el("span", { class: "ms-bars__fill", style: "width:" + Math.max(0, Math.min(1, width)) * 100 + "%" })]),
        el("span", { class: "ms-bars__value", text: probabilities ? pct(v) : fmt(v) })
      ]);
      list.appendChild(item);
    });
    box.appendChild(list);
    if (n > shown.length) box.appendChild(el("p", { class: "ms-note", text: (n - shown.length) + " more classes not shown." }));
    if (post.top && post.top[0]) {
      var k2 = cfg.postprocessing.filter(function (s) { return s.op === "topk"; })[0];
      if (k2 && post.top[0].length === 0) box.appendChild(el("p", { class: "ms-note", text: "No class passes the card's threshold." }));
    }
  };

  Panel.prototype.renderValue = function (box, last) {
    var cfg = this.cfg, value = last.post ? last.post.values.data[0] : NaN;
    var scored = cfg.outputs.filter(function (t) { return t.name === cfg.scored_output; })[0];
    box.appendChild(el("p", { class: "ms-tryit__headline" }, [
      el("span", { class: "ms-tryit__kicker", text: scored.description || "Predicted value" }),
      el("strong", { class: "ms-tryit__value", text: fmt(value) })
    ]));
    var range = cfg.target_range;
    if (!range) return;
    var lo = range.min, hi = range.max, span = hi - lo || 1;
    var pos = Math.max(0, Math.min(1, (value - lo) / span));
    var outside = value < lo || value > hi;
    var figure = svg("svg", { class: "ms-range", viewBox: "0 0 300 54", role: "img",
      "aria-label": "Prediction " + fmt(value) + " within the range " + fmt(lo) + " to " + fmt(hi) }, [
      svg("rect", { class: "ms-range__track", x: 10, y: 20, width: 280, height: 10, rx: 5 }),
      svg("rect", { class: "ms-range__fill", x: 10, y: 20, width: Math.max(2, 280 * pos), height: 10, rx: 5 }),
      svg("circle", { class: "ms-range__marker" + (outside ? " ms-range__marker--outside" : ""), cx: 10 + 280 * pos, cy: 25, r: 8 }),
      svg("text", { class: "ms-range__tick", x: 10, y: 48, "text-anchor": "start", text: fmt(lo) }),
      svg("text", { class: "ms-range__tick", x: 290, y: 48, "text-anchor": "end", text: fmt(hi) })
    ]);
    box.appendChild(figure);
    box.appendChild(el("p", { class: "ms-note", text: (outside ? "Outside the range seen in the " : "Range seen in the ") + range.source + ": " + fmt(lo) + " to " + fmt(hi) + "." }));
  };

  Panel.prototype.renderRaw = function (box, last) {
    var self = this;
    box.appendChild(el("p", { class: "ms-tryit__kicker", text: "Outputs" }));
    this.cfg.outputs.forEach(function (t) {
      var o = last.outputs[t.name];
      if (!o) return;
      var shown = o.data.slice(0, 16).map(fmt).join(", ") + (o.data.length > 16 ? ", … (" + o.data.length + " values)" : "");
      box.appendChild(el("p", {}, [el("code", { text: t.name }), " [" + o.shape.join(", ") + "]: " + shown]));
    });
    void self;
  };

  /* ---- widgets ----------------------------------------------------------------------- */

  Panel.prototype.buildWidget = function () {
    var builder = WIDGETS[this.cfg.widget] || WIDGETS.tensor;
    builder.call(this);
  };

  Panel.prototype.exampleChips = function (onPick) {
    var self = this;
    if (!this.cfg.examples.length) return null;
    var row = el("div", { class: "ms-tryit__examples" }, [el("span", { class: "ms-tryit__kicker", text: "Examples" })]);
    this.cfg.examples.forEach(function (ex, i) {
      row.appendChild(el("button", { type: "button", class: "ms-chip ms-chip--button", "data-example": i, text: ex.name,
        onclick: function () { onPick(ex, i); } }));
    });
    void self;
    return row;
  };

  var WIDGETS = {};

  /* Tabular: one number field per feature, prefilled from the first example. */
  WIDGETS.tabular = function () {
    var self = this, cfg = this.cfg, input = cfg.inputs[0];
    var features = cfg.features || [];
    var form = el("form", { class: "ms-form", novalidate: true });
    var fields = features.map(function (f, i) {
      var field = el("input", { type: "number", step: "any", inputmode: "decimal", id: "ms-f-" + i, name: f.name, required: true });
      var hint = f.min !== undefined ? fmt(f.min) + " – " + fmt(f.max) : "";
      form.appendChild(el("label", { class: "ms-form__field", for: "ms-f-" + i, title: f.source ? "Range in the " + f.source : null }, [
        el("span", { class: "ms-form__name", text: f.name }),
        field,
        hint ? el("span", { class: "ms-form__hint", text: hint }) : null
      ]));
      return field;
    });
    var ranges = features.some(function (f) { return f.min !== undefined; });
    var note = ranges ? el("p", { class: "ms-note", text: "Ranges: " + (features[0].source || "") + "." }) : null;
    var submit = el("button", { type: "submit", class: "md-button md-button--primary", text: "Predict" });
    form.appendChild(el("div", { class: "ms-form__actions" }, [submit]));
    var timer = 0;

    function fill(values) {
      values.forEach(function (v, i) { if (fields[i]) fields[i].value = String(v); });
    }

    function feedsFromForm() {
      var values = fields.map(function (f) { return f.value.trim() === "" ? NaN : Number(f.value); });
      var bad = values.map(function (v, i) { return isFinite(v) ? -1 : i; }).filter(function (i) { return i >= 0; });
      fields.forEach(function (f, i) { f.classList.toggle("ms-form__input--bad", bad.indexOf(i) >= 0); });
      if (bad.length) throw InputError("Enter a number for " + bad.map(function (i) { return features[i].name; }).join(", ") + ".");
      var pre = self.P.preprocess(cfg.preprocessing, { data: values, shape: [1, values.length] });
      var feeds = {};
      feeds[input.name] = self.P.arrangeInput(pre.tensor, pre.layout, input.shape, input.dtype);
      return feeds;
    }

    function run(example) {
      var feeds;
      try { feeds = feedsFromForm(); } catch (error) { self.fail(error); return Promise.resolve(null); }
      return self.predict(feeds, example === undefined ? { form: true } : { form: true, example: example });
    }

    form.addEventListener("submit", function (event) { event.preventDefault(); run(); });
    form.addEventListener("input", function () {
      if (!self.session) return;
      clearTimeout(timer);
      timer = setTimeout(run, 200);
    });
    var chips = this.exampleChips(function (ex, i) {
      clearTimeout(timer);
      fill(self.P.fromNested(ex.inputs[input.name]).data);
      if (self.session) run(i);
    });
    this.widgetBox.appendChild(el("p", { class: "ms-tryit__kicker", text: "Features of " + input.name }));
    if (chips) this.widgetBox.appendChild(chips);
    this.widgetBox.appendChild(form);
    if (note) this.widgetBox.appendChild(note);
    if (cfg.examples.length) fill(this.P.fromNested(cfg.examples[0].inputs[input.name]).data);
    this.showExample = function (ex) { fill(self.P.fromNested(ex.inputs[input.name]).data); };
    this.exampleRun = function (i) {
      fill(self.P.fromNested(cfg.examples[i].inputs[input.name]).data);
      return run(i);
    };
    this.firstRun = function () { return cfg.examples.length ? run(0) : run(); };
  };

  /* Image: a drawing canvas, an upload, what the model sees, and an occlusion saliency map. */
  WIDGETS.image = function () {
    var self = this, cfg = this.cfg, input = cfg.inputs[0], spec = cfg.capture;
    var canvas = el("canvas", { class: "ms-draw", width: DRAW_SIDE, height: DRAW_SIDE, "aria-label": "Drawing area: draw with the mouse or a finger" });
    var ctx = canvas.getContext("2d", { willReadFrequently: true });
    var drawn = false;

    function clear() {
      ctx.fillStyle = "#ffffff";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      drawn = false;
      if (placeholder) placeholder.hidden = false;
    }
    var placeholder = null;
    clear();
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#000000";
    ctx.lineWidth = Math.round(DRAW_SIDE * 0.12);

    var drawing = false, lastPoint = null;
    function point(event) {
      var rect = canvas.getBoundingClientRect();
      return [(event.clientX - rect.left) * canvas.width / rect.width, (event.clientY - rect.top) * canvas.height / rect.height];
    }
    canvas.addEventListener("pointerdown", function (event) {
      drawing = true;
      lastPoint = point(event);
      if (canvas.setPointerCapture) { try { canvas.setPointerCapture(event.pointerId); } catch (e) { /* synthetic events */ } }
      ctx.beginPath();
      ctx.arc(lastPoint[0], lastPoint[1], ctx.lineWidth / 2, 0, Math.PI * 2);
      ctx.fillStyle = "#000000";
      ctx.fill();
      drawn = true;
      placeholder.hidden = true;
      event.preventDefault();
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) return;
      var p = point(event);
      ctx.beginPath();
      ctx.moveTo(lastPoint[0], lastPoint[1]);
      ctx.lineTo(p[0], p[1]);
      ctx.stroke();
      lastPoint = p;
      event.preventDefault();
    });
    function end() {
      if (!drawing) return;
      drawing = false;
      if (self.session) runCanvas();
    }
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    canvas.addEventListener("pointerleave", end);

    var seeCanvas = el("canvas", { class: "ms-see", width: 160, height: 160, "aria-label": "What the model sees" });
    var heatCanvas = el("canvas", { class: "ms-see ms-see--heat", width: 160, height: 160, "aria-label": "Occlusion saliency map" });
    var heatBase = el("canvas", { class: "ms-see ms-see--base", width: 160, height: 160, "aria-hidden": "true" });
    var showHeat = el("input", { type: "checkbox", id: "ms-heat-toggle", checked: true });
    var heatNote = el("p", { class: "ms-note ms-tryit__heatnote" });
    showHeat.addEventListener("change", function () { heatCanvas.parentNode.hidden = !showHeat.checked; });

    var upload = el("input", { type: "file", accept: IMAGE_TYPES.join(","), class: "ms-visually-hidden", id: "ms-upload" });
    upload.addEventListener("change", function () { if (upload.files[0]) readFile(upload.files[0]); upload.value = ""; });
    placeholder = el("span", { class: "ms-drop__hint", text: "Draw here, or drop a picture" });
    var drop = el("div", { class: "ms-drop" }, [canvas, placeholder]);
    ["dragenter", "dragover"].forEach(function (type) {
      drop.addEventListener(type, function (event) { event.preventDefault(); drop.classList.add("ms-drop--over"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      drop.addEventListener(type, function () { drop.classList.remove("ms-drop--over"); });
    });
    drop.addEventListener("drop", function (event) {
      event.preventDefault();
      var file = event.dataTransfer && event.dataTransfer.files[0];
      if (file) readFile(file);
    });

    function rawFromPixels(rgba, width, height) {
      var raw = self.P.captureImage(rgba, width, height, spec);
      var pre = self.P.preprocess(cfg.preprocessing, raw, "HWC");
      var feeds = {};
      feeds[input.name] = self.P.arrangeInput(pre.tensor, pre.layout, input.shape, input.dtype);
      return { raw: raw, feeds: feeds };
    }

    function runPixels(rgba, width, height, source) {
      var prepared;
      try { prepared = rawFromPixels(rgba, width, height); } catch (error) { self.fail(error); return Promise.resolve(null); }
      drawModelView(prepared.feeds[input.name]);
      return self.predict(prepared.feeds, { source: source, raw: Array.from(prepared.raw.data), rawShape: prepared.raw.shape })
        .then(function (last) { return saliency(prepared.feeds, last); });
    }

    function runCanvas() {
      if (!drawn) return Promise.resolve(null);
      var image = ctx.getImageData(0, 0, canvas.width, canvas.height);
      return runPixels(image.data, canvas.width, canvas.height, "canvas");
    }

    function readFile(file) {
      self.clearError();
      if (IMAGE_TYPES.indexOf(file.type) < 0) {
        self.fail(InputError("That file is not an image this panel can read" + (file.type ? " (" + file.type + ")" : "") + ".",
          "Use a PNG, JPEG, GIF, WebP or BMP picture."));
        return Promise.resolve(null);
      }
      if (file.size > MAX_UPLOAD_BYTES) {
        self.fail(InputError("The image is too large: " + bytes(file.size) + ".", "Use a picture of at most " + bytes(MAX_UPLOAD_BYTES) + "."));
        return Promise.resolve(null);
      }
      var decode = window.createImageBitmap ? createImageBitmap(file) : Promise.reject(new Error("no createImageBitmap"));
      return decode.then(function (bitmap) {
        if (bitmap.width > MAX_IMAGE_SIDE || bitmap.height > MAX_IMAGE_SIDE) {
          throw InputError("The image is too large: " + bitmap.width + " × " + bitmap.height + " pixels.",
            "Use a picture of at most " + MAX_IMAGE_SIDE + " pixels a side.");
        }
        var scale = Math.min(1, WORK_SIDE / Math.max(bitmap.width, bitmap.height));
        var w = Math.max(1, Math.round(bitmap.width * scale)), h = Math.max(1, Math.round(bitmap.height * scale));
        var work = document.createElement("canvas");
        work.width = w; work.height = h;
        var wctx = work.getContext("2d");
        wctx.drawImage(bitmap, 0, 0, w, h);
        // Show the picture on the drawing area too, fitted and centred.
        clear();
        var fit = Math.min(canvas.width / w, canvas.height / h);
        ctx.drawImage(work, (canvas.width - w * fit) / 2, (canvas.height - h * fit) / 2, w * fit, h * fit);
        drawn = true;
        placeholder.hidden = true;
        return runPixels(wctx.getImageData(0, 0, w, h).data, w, h, "upload");
      }).catch(function (error) {
        if (error && error.kind === "input") self.fail(error);
        else self.fail(InputError("The file could not be read as an image.", "It may be damaged, or in a format this browser cannot decode."));
        return null;
      });
    }

    /* Draw the model's input tensor (any layout) as a picture, ink dark as in the drawing. */
    function toPicture(feed) {
      var shape = feed.shape, d = feed.data, h, w, c, chFirst = spec.layout === "NCHW";
      if (shape.length === 4) { c = chFirst ? shape[1] : shape[3]; h = chFirst ? shape[2] : shape[1]; w = chFirst ? shape[3] : shape[2]; }
      else { h = shape[shape.length - 2]; w = shape[shape.length - 1]; c = 1; }
      var lo = Infinity, hi = -Infinity, k;
      for (k = 0; k < d.length; k++) { lo = Math.min(lo, d[k]); hi = Math.max(hi, d[k]); }
      var range = self.modelRange || [lo, hi];
      var pixels = new Uint8ClampedArray(w * h * 4);
      for (var y = 0; y < h; y++) {
        for (var x = 0; x < w; x++) {
          for (var ch = 0; ch < 3; ch++) {
            var cc = c === 1 ? 0 : ch;
            var v = chFirst || shape.length !== 4 ? d[(cc * h + y) * w + x] : d[(y * w + x) * c + cc];
            var t = range[1] > range[0] ? (v - range[0]) / (range[1] - range[0]) : 0;
            pixels[(y * w + x) * 4 + ch] = Math.round(255 * (spec.invert ? 1 - t : t));
          }
          pixels[(y * w + x) * 4 + 3] = 255;
        }
      }
      return { pixels: pixels, width: w, height: h };
    }

    function drawModelView(feed) {
      var pic = toPicture(feed);
      var small = document.createElement("canvas");
      small.width = pic.width; small.height = pic.height;
      small.getContext("2d").putImageData(new ImageData(pic.pixels, pic.width, pic.height), 0, 0);
      var sctx = seeCanvas.getContext("2d");
      sctx.imageSmoothingEnabled = pic.width > 64;
      sctx.clearRect(0, 0, seeCanvas.width, seeCanvas.height);
      sctx.drawImage(small, 0, 0, seeCanvas.width, seeCanvas.height);
      var bctx = heatBase.getContext("2d");
      bctx.imageSmoothingEnabled = pic.width > 64;
      bctx.clearRect(0, 0, heatBase.width, heatBase.height);
      bctx.drawImage(small, 0, 0, heatBase.width, heatBase.height);
      heatCanvas.getContext("2d").clearRect(0, 0, heatCanvas.width, heatCanvas.height);
      heatNote.textContent = "";
    }

    /* Occlusion saliency: blank each patch of the input (to the background value), rerun, and
       colour the patch by how much the predicted class's probability drops. */
    function saliency(feeds, last) {
      if (!last || !last.post) return last;
      var feed = feeds[input.name], shape = feed.shape;
      var chFirst = spec.layout === "NCHW" || shape.length !== 4;
      var h = shape.length === 4 ? (chFirst ? shape[2] : shape[1]) : shape[shape.length - 2];
      var w = shape.length === 4 ? (chFirst ? shape[3] : shape[2]) : shape[shape.length - 1];
      var c = shape.length === 4 ? (chFirst ? shape[1] : shape[3]) : 1;
      var patch = Math.max(1, Math.round(Math.max(h, w) / 8));
      var gy = Math.ceil(h / patch), gx = Math.ceil(w / patch), count = gx * gy;
      var background = self.modelBackground === undefined ? 0 : self.modelBackground;
      var per = feed.data.length, batch = new Float64Array(per * count);
      for (var p = 0; p < count; p++) {
        var py = Math.floor(p / gx), px = p % gx;
        batch.set(feed.data, p * per);
        for (var y = py * patch; y < Math.min(h, (py + 1) * patch); y++) {
          for (var x = px * patch; x < Math.min(w, (px + 1) * patch); x++) {
            for (var ch = 0; ch < c; ch++) {
              var idx = chFirst ? (ch * h + y) * w + x : (y * w + x) * c + ch;
              batch[p * per + idx] = background;
            }
          }
        }
      }
      var target = last.post.top && last.post.top[0] && last.post.top[0][0] ? last.post.top[0][0].index : argmax(last.post.values.data);
      var base = last.post.values.data[target];
      var dynamicBatch = input.shape[0] === null;
      var runs;
      if (dynamicBatch) {
        var bf = {};
        bf[input.name] = { data: batch, shape: [count].concat(shape.slice(1)) };
        runs = self.infer(bf).then(function (r) {
          var post = self.postprocess(r.outputs, bf), n = post.values.shape[post.values.shape.length - 1], drops = [];
          for (var i = 0; i < count; i++) drops.push(logOf(base) - logOf(post.values.data[i * n + target]));
          return { drops: drops, ms: r.ms };
        });
      } else {
        var drops = [], total = 0;
        runs = Array.from({ length: count }).reduce(function (chain, _, i) {
          return chain.then(function () {
            var one = {};
            one[input.name] = { data: batch.slice(i * per, (i + 1) * per), shape: shape };
            return self.infer(one).then(function (r) {
              total += r.ms;
              drops.push(logOf(base) - logOf(self.postprocess(r.outputs, one).values.data[target]));
            });
          });
        }, Promise.resolve()).then(function () { return { drops: drops, ms: total }; });
      }
      return runs.then(function (result) {
        drawHeat(result.drops, gx, gy, patch, w, h);
        heatNote.textContent = "Right: which parts make the model say “" + self.labelOf(target) + "”. Red patches lower its " +
          (self.probabilities ? "log-probability" : "score") + " most when blanked out, blue ones raise it (" + count + " occluded copies, " + ms(result.ms) + ").";
        self.api.saliency = result.drops;
        self.node.setAttribute("data-saliency", "ready");
        return last;
      });
    }

    // Drops are measured in log-probability, so a confident model (p close to 1) still shows
    // which patches matter; scores that are not probabilities are compared as they are.
    function logOf(v) {
      return self.probabilities ? Math.log(Math.max(v, 1e-12)) : v;
    }

    function argmax(a) {
      var best = 0;
      for (var i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
      return best;
    }

    function drawHeat(drops, gx, gy, patch, w, h) {
      var hctx = heatCanvas.getContext("2d");
      hctx.clearRect(0, 0, heatCanvas.width, heatCanvas.height);
      var peak = 1e-9;
      drops.forEach(function (d) { peak = Math.max(peak, Math.abs(d)); });
      var sx = heatCanvas.width / w, sy = heatCanvas.height / h;
      drops.forEach(function (d, i) {
        // Square root: a few decisive patches should not hide every other one.
        var t = (d < 0 ? -1 : 1) * Math.sqrt(Math.abs(d) / peak), py = Math.floor(i / gx), px = i % gx;
        hctx.fillStyle = t >= 0 ? "rgba(229, 57, 53," + (0.75 * t).toFixed(3) + ")" : "rgba(30, 136, 229," + (0.75 * -t).toFixed(3) + ")";
        hctx.fillRect(px * patch * sx, py * patch * sy, patch * sx, patch * sy);
      });
      void gy;
    }

    var pad = el("div", { class: "ms-imagepad" }, [
      el("div", { class: "ms-imagepad__draw" }, [
        el("p", { class: "ms-tryit__kicker", text: "Draw or drop a picture" }),
        drop,
        el("div", { class: "ms-imagepad__actions" }, [
          el("button", { type: "button", class: "md-button", text: "Clear", onclick: function () {
            clear();
            seeCanvas.getContext("2d").clearRect(0, 0, seeCanvas.width, seeCanvas.height);
            heatCanvas.getContext("2d").clearRect(0, 0, heatCanvas.width, heatCanvas.height);
            heatBase.getContext("2d").clearRect(0, 0, heatBase.width, heatBase.height);
            heatNote.textContent = "";
          } }),
          el("label", { class: "md-button", for: "ms-upload", text: "Upload image" }),
          upload
        ])
      ]),
      el("div", { class: "ms-imagepad__see" }, [
        el("p", { class: "ms-tryit__kicker", text: "What the model sees (" + spec.width + " × " + spec.height + ")" }),
        el("div", { class: "ms-see__pair" }, [
          el("div", { class: "ms-see__stack" }, [seeCanvas]),
          el("div", { class: "ms-see__stack ms-see__stack--heat" }, [heatBase, heatCanvas])
        ]),
        el("label", { class: "ms-toggle", for: "ms-heat-toggle" }, [showHeat, " Occlusion saliency"]),
        heatNote
      ])
    ]);
    var chips = this.exampleChips(function (ex, i) { if (self.session) self.runExample(i); });
    if (chips) this.widgetBox.appendChild(chips);
    this.widgetBox.appendChild(pad);
    this.widgetBox.appendChild(el("p", { class: "ms-note", text: spec.fit
      ? "Your drawing is cropped to the ink, centred and scaled to " + spec.width + " × " + spec.height + (spec.invert ? ", with ink as the bright value," : "") + " like the training images."
      : "Pictures are scaled to " + spec.width + " × " + spec.height + " pixels." }));

    this.afterLoad = function () {
      // The model-space values of "no ink" and "full ink", for the preview and for occlusion.
      try {
        var ends = self.P.preprocess(cfg.preprocessing.filter(function (s) { return s.op === "scale" || s.op === "normalize"; }),
          { data: [spec.low, spec.high], shape: [2] });
        self.modelRange = [Math.min(ends.tensor.data[0], ends.tensor.data[1]), Math.max(ends.tensor.data[0], ends.tensor.data[1])];
        self.modelBackground = spec.invert ? ends.tensor.data[0] : ends.tensor.data[1];
        if (spec.background !== undefined) self.modelBackground = spec.background;
      } catch (error) { self.modelRange = null; }
    };
    this.showExample = function (ex) {
      var feed = self.P.fromNested(ex.inputs[input.name]);
      drawModelView(feed);
    };
    this.exampleRun = function (i) {
      return Panel.prototype.exampleRun.call(self, i).then(function (last) {
        var feeds = {};
        feeds[input.name] = self.P.fromNested(self.cfg.examples[i].inputs[input.name]);
        return saliency(feeds, last).then(function () { return last; });
      });
    };
    this.api.runCanvas = runCanvas;
    this.api.readFile = readFile;
    this.firstRun = function () { return cfg.examples.length ? self.exampleRun(0) : null; };
  };

  /* Text: a sentence box (tokens shown) and a two-sentence similarity view. */
  WIDGETS.text = function () {
    var self = this, cfg = this.cfg, tok = cfg.tokenizer;
    var names = cfg.inputs.map(function (t) { return t.name; });
    var textExamples = cfg.examples.filter(function (ex) { return typeof firstString(ex) === "string"; });
    var a = el("textarea", { class: "ms-text", rows: 2, id: "ms-text-a", "aria-label": "First sentence" });
    var b = el("textarea", { class: "ms-text", rows: 2, id: "ms-text-b", "aria-label": "Second sentence" });
    a.value = textExamples[0] ? firstString(textExamples[0]) : "A man is playing a guitar.";
    b.value = textExamples[1] ? firstString(textExamples[1]) : "Someone plays an instrument.";
    var tokensBox = el("div", { class: "ms-tokens", "aria-label": "Tokens" });

    function firstString(ex) {
      for (var k in ex.inputs) if (typeof ex.inputs[k] === "string") return ex.inputs[k];
      return undefined;
    }

    this.tokenizerReady = null;
    function tokenizer() {
      if (!self.tokenizerReady) {
        self.tokenizerReady = once("vocab:" + tok.vocab_url, function () {
          return fetch(absolute(self.root + tok.vocab_url)).then(function (r) {
            if (!r.ok) throw new Error("HTTP " + r.status + " for the vocabulary");
            return r.text();
          });
        }).then(function (text) {
          var T = window.ModelshelfTokenizer.WordPieceTokenizer;
          return new T(T.parseVocab(text), tok);
        });
      }
      return self.tokenizerReady;
    }

    function feedsFor(text) {
      return tokenizer().then(function (t) {
        var enc = t.encode(text), n = enc.input_ids.length, feeds = {};
        cfg.inputs.forEach(function (input) {
          var lname = input.name.toLowerCase(), values;
          if (/mask/.test(lname)) values = enc.attention_mask;
          else if (/type/.test(lname)) values = enc.token_type_ids;
          else values = enc.input_ids;
          feeds[input.name] = { data: self.P.castData(values, input.dtype), shape: [1, n] };
        });
        return { feeds: feeds, tokens: enc.tokens };
      });
    }

    function embed(text) {
      return feedsFor(text).then(function (f) {
        return self.infer(f.feeds).then(function (run) {
          var post = self.postprocess(run.outputs, f.feeds);
          return { feeds: f.feeds, tokens: f.tokens, run: run, post: post };
        });
      });
    }

    function showTokens(tokens) {
      tokensBox.textContent = "";
      tokens.forEach(function (t) {
        tokensBox.appendChild(el("span", { class: "ms-token" + (/^\[.*\]$/.test(t) ? " ms-token--special" : /^##/.test(t) ? " ms-token--piece" : ""), text: t }));
      });
      tokensBox.appendChild(el("span", { class: "ms-note", text: " " + tokens.length + " tokens (max " + tok.max_length + ")" }));
    }

    function compare() {
      if (!self.session) return Promise.resolve(null);
      if (!a.value.trim() || !b.value.trim()) {
        self.fail(InputError("Write two sentences to compare.", ""));
        return Promise.resolve(null);
      }
      var first;
      return embed(a.value).then(function (ea) {
        first = ea;
        showTokens(ea.tokens);
        return embed(b.value);
      }).then(function (eb) {
        var va = first.post.values.data, vb = eb.post.values.data;
        var sim = self.P.cosineSimilarity(va, vb);
        self.clearError();
        var last = { feeds: plainFeeds(first.feeds), outputs: first.run.outputs, post: first.post, ms: first.run.ms,
          extra: { similarity: sim, second: { feeds: plainFeeds(eb.feeds), outputs: eb.run.outputs }, tokens: first.tokens } };
        self.last = last;
        self.api.last = last;
        if (self.firstPredictionMs === null) {
          self.firstPredictionMs = performance.now() - self.openedAt;
          self.api.firstPredictionMs = self.firstPredictionMs;
          self.node.setAttribute("data-first-prediction-ms", self.firstPredictionMs.toFixed(1));
        }
        renderSimilarity(sim, va.length, first.run.ms, eb.run.ms);
        self.renderTiming(first.run.ms);
        self.node.setAttribute("data-runs", String(Number(self.node.getAttribute("data-runs") || 0) + 1));
        return last;
      }).catch(function (error) { self.fail(error); throw error; });
    }

    function renderSimilarity(sim, dims, msA, msB) {
      var box = self.resultBox;
      box.textContent = "";
      box.appendChild(el("p", { class: "ms-tryit__headline" }, [
        el("span", { class: "ms-tryit__kicker", text: "Cosine similarity" }),
        el("strong", { class: "ms-tryit__similarity", text: sim.toFixed(3) }),
        el("span", { class: "ms-tryit__confidence", text: sim > 0.7 ? "very similar" : sim > 0.4 ? "related" : sim > 0.15 ? "loosely related" : "unrelated" })
      ]));
      box.appendChild(gauge(sim));
      box.appendChild(el("p", { class: "ms-note", text: "Two " + dims + "-dimensional sentence embeddings; each took " + ms(msA) + " and " + ms(msB) + " to compute." }));
    }

    function gauge(value) {
      // A half-circle from -1 (left) to 1 (right).
      var angle = Math.PI * (1 - (Math.max(-1, Math.min(1, value)) + 1) / 2);
      var cx = 100, cy = 100, r = 80;
      var x = cx + r * Math.cos(angle), y = cy - r * Math.sin(angle);
      var large = 0;
      return svg("svg", { class: "ms-gauge", viewBox: "0 0 200 120", role: "img", "aria-label": "Similarity " + value.toFixed(3) + " on a scale from -1 to 1" }, [
        svg("path", { class: "ms-gauge__track", d: "M 20 100 A 80 80 0 0 1 180 100" }),
        svg("path", { class: "ms-gauge__fill", d: "M 20 100 A 80 80 0 " + large + " 1 " + x.toFixed(2) + " " + y.toFixed(2) }),
        svg("line", { class: "ms-gauge__needle", x1: cx, y1: cy, x2: x.toFixed(2), y2: y.toFixed(2) }),
        svg("circle", { class: "ms-gauge__hub", cx: cx, cy: cy, r: 5 }),
        svg("text", { class: "ms-gauge__tick", x: 20, y: 116, "text-anchor": "middle", text: "−1" }),
        svg("text", { class: "ms-gauge__tick", x: 100, y: 14, "text-anchor": "middle", text: "0" }),
        svg("text", { class: "ms-gauge__tick", x: 180, y: 116, "text-anchor": "middle", text: "1" })
      ]);
    }

    var chips = this.exampleChips(function (ex, i) {
      var s = firstString(ex);
      if (typeof s === "string") { b.value = a.value; a.value = s; }
      if (self.session) self.runExample(i);
    });
    if (chips) this.widgetBox.appendChild(chips);
    this.widgetBox.appendChild(el("label", { class: "ms-tryit__kicker", for: "ms-text-a", text: "Sentence A" }));
    this.widgetBox.appendChild(a);
    this.widgetBox.appendChild(tokensBox);
    this.widgetBox.appendChild(el("label", { class: "ms-tryit__kicker", for: "ms-text-b", text: "Sentence B" }));
    this.widgetBox.appendChild(b);
    this.widgetBox.appendChild(el("div", { class: "ms-form__actions" }, [
      el("button", { type: "button", class: "md-button md-button--primary", text: "Compare", onclick: compare })
    ]));
    this.widgetBox.appendChild(el("p", { class: "ms-note", text: "Tokenised in your browser with the model's WordPiece vocabulary (" +
      (tok.lowercase ? "lower-cased, " : "") + "at most " + tok.max_length + " tokens)." }));

    this.afterLoad = function () { return tokenizer(); };
    this.exampleRun = function (index) {
      var ex = cfg.examples[index], feedsDirect = {}, text = firstString(ex);
      if (typeof text !== "string") {
        cfg.inputs.forEach(function (t) { var v = self.P.fromNested(ex.inputs[t.name]); feedsDirect[t.name] = { data: self.P.castData(v.data, t.dtype), shape: v.shape }; });
        // Show the example's sentence (decoded from its token ids) as sentence A.
        var ids = feedsDirect[cfg.inputs[0].name].data;
        return tokenizer().then(function (t) {
          b.value = a.value;
          a.value = t.decode(Array.from(ids));
          showTokens(t.encode(a.value).tokens);
          return self.predict(feedsDirect, { example: index });
        });
      }
      return feedsFor(text).then(function (f) {
        showTokens(f.tokens);
        return self.predict(f.feeds, { example: index, text: text, tokens: f.tokens });
      });
    };
    this.api.compare = function (x, y) { a.value = x; b.value = y; return compare(); };
    this.api.encode = function (text) { return tokenizer().then(function (t) { return t.encode(text); }); };
    this.renderCustom = function (box, last) {
      var v = last.post ? last.post.values.data : [];
      box.appendChild(el("p", { class: "ms-tryit__headline" }, [
        el("span", { class: "ms-tryit__kicker", text: "Sentence embedding" }),
        el("strong", { class: "ms-tryit__value", text: v.length + " dimensions" })
      ]));
      box.appendChild(strip(v));
      box.appendChild(el("p", { class: "ms-note", text: "Each band is one dimension (blue negative, red positive). Compare two sentences to see their similarity." }));
      return true;
    };
    function strip(v) {
      var peak = 1e-9, i;
      for (i = 0; i < v.length; i++) peak = Math.max(peak, Math.abs(v[i]));
      var n = Math.min(v.length, 384), width = 300 / n, rects = [];
      for (i = 0; i < n; i++) {
        var t = v[i] / peak;
        rects.push(svg("rect", { x: (i * width).toFixed(2), y: 0, width: Math.max(width, 0.6).toFixed(2), height: 28,
          fill: t >= 0 ? "rgba(229,57,53," + Math.abs(t).toFixed(3) + ")" : "rgba(30,136,229," + Math.abs(t).toFixed(3) + ")" }));
      }
      return svg("svg", { class: "ms-strip", viewBox: "0 0 300 28", preserveAspectRatio: "none", role: "img", "aria-label": "Embedding values" }, rects);
    }
    this.firstRun = compare;
    void names;
  };

  /* Bytes: drop any file (only its first and last blocks are read) or paste text. */
  WIDGETS.bytes = function () {
    var self = this, cfg = this.cfg, input = cfg.inputs[0];
    var sample = cfg.preprocessing.filter(function (s) { return s.op === "byte_sample"; })[0];
    var block = sample.block === undefined ? 4096 : sample.block;
    var fileInput = el("input", { type: "file", class: "ms-visually-hidden", id: "ms-file" });
    var name = el("p", { class: "ms-note ms-filedrop__name" });
    var zone = el("div", { class: "ms-filedrop" }, [
      el("strong", { text: "Drop any file here" }),
      el("span", { text: "Only its first and last " + bytes(block) + " are read, in your browser." }),
      el("label", { class: "md-button", for: "ms-file", text: "Choose a file" }),
      fileInput
    ]);
    var text = el("textarea", { class: "ms-text ms-text--code", rows: 5, id: "ms-paste", spellcheck: "false",
      placeholder: "…or paste some text or code here" });
    text.value = "import numpy as np\n\ndef softmax(x):\n    e = np.exp(x - x.max())\n    return e / e.sum()\n";

    function runBytes(data, label) {
      var feeds = {}, pre;
      try {
        pre = self.P.preprocess(cfg.preprocessing, { data: Float64Array.from(data), shape: [data.length] });
        feeds[input.name] = self.P.arrangeInput(pre.tensor, pre.layout, input.shape, input.dtype);
      } catch (error) { self.fail(error); return Promise.resolve(null); }
      name.textContent = label;
      return self.predict(feeds, { source: label, size: data.length });
    }

    function readFile(file) {
      self.clearError();
      var head = file.slice(0, block), tail = file.slice(Math.max(block, file.size - block));
      return Promise.all([head.arrayBuffer(), tail.arrayBuffer()]).then(function (parts) {
        // The first block and the last block (which overlap for small files) as one byte string.
        var a = new Uint8Array(parts[0]), b = new Uint8Array(parts[1]);
        var joined = new Uint8Array(a.length + b.length);
        joined.set(a, 0);
        joined.set(b, a.length);
        return runBytes(file.size <= block ? a : joined, file.name + " (" + bytes(file.size) + ")");
      }).catch(function (error) {
        self.fail(InputError("The file could not be read.", String(error && error.message || error)));
        return null;
      });
    }

    fileInput.addEventListener("change", function () { if (fileInput.files[0]) readFile(fileInput.files[0]); fileInput.value = ""; });
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.add("ms-filedrop--over"); });
    });
    ["dragleave", "drop"].forEach(function (type) { zone.addEventListener(type, function () { zone.classList.remove("ms-filedrop--over"); }); });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      var file = event.dataTransfer && event.dataTransfer.files[0];
      if (file) readFile(file);
    });
    function runText() { return runBytes(new TextEncoder().encode(text.value), "pasted text (" + bytes(new TextEncoder().encode(text.value).length) + ")"); }

    var chips = this.exampleChips(function (ex, i) { if (self.session) self.runExample(i); });
    if (chips) this.widgetBox.appendChild(chips);
    this.widgetBox.appendChild(zone);
    this.widgetBox.appendChild(name);
    this.widgetBox.appendChild(text);
    this.widgetBox.appendChild(el("div", { class: "ms-form__actions" }, [
      el("button", { type: "button", class: "md-button md-button--primary", text: "Detect", onclick: runText })
    ]));
    this.showExample = function (ex) { name.textContent = "Example: " + ex.name; };
    this.api.readFile = readFile;
    this.api.runBytes = runBytes;
    this.firstRun = runText;
  };

  /* Audio (streaming voice activity, e.g. Silero VAD): a file is decoded in the browser, mixed to
   * mono, resampled to the model's rate with an OfflineAudioContext and run frame by frame, each
   * frame preceded by the last `context` samples and fed the state the previous frame returned
   * (as the card's eval.py and silero_vad do). The raw tensor editor stays below for one frame. */
  var MAX_AUDIO_SECONDS = 60;

  function wavRate(buffer) {
    // The sample rate of a RIFF/WAVE file (so it is decoded without resampling), else 0.
    var v = new DataView(buffer);
    if (buffer.byteLength < 28) return 0;
    var tag = function (at) { return String.fromCharCode(v.getUint8(at), v.getUint8(at + 1), v.getUint8(at + 2), v.getUint8(at + 3)); };
    if (tag(0) !== "RIFF" || tag(8) !== "WAVE") return 0;
    for (var at = 12; at + 8 <= buffer.byteLength;) {
      var size = v.getUint32(at + 4, true);
      if (tag(at) === "fmt " && at + 16 <= buffer.byteLength) return v.getUint32(at + 12, true);
      at += 8 + size + (size % 2);
    }
    return 0;
  }

  function vadSegments(probs, spec) {
    // Frames -> speech segments in seconds: start at >= threshold, end after min_silence_ms below
    // neg_threshold, keep those of at least min_speech_ms (tests/acceptance mirrors this in Python).
    var frame = spec.frame, rate = spec.sample_rate, out = [];
    var silence = Math.ceil(spec.min_silence_ms * rate / 1000 / frame), minSpeech = spec.min_speech_ms * rate / 1000;
    var start = -1, tempEnd = -1;
    function close(endFrame) {
      if ((endFrame - start) * frame >= minSpeech) out.push([start * frame / rate, endFrame * frame / rate]);
      start = -1; tempEnd = -1;
    }
    for (var i = 0; i < probs.length; i++) {
      var p = probs[i];
      if (p >= spec.threshold) {
        tempEnd = -1;
        if (start < 0) start = i;
      } else if (start >= 0 && p < spec.neg_threshold) {
        if (tempEnd < 0) tempEnd = i;
        if (i + 1 - tempEnd >= silence) close(tempEnd);
      }
    }
    if (start >= 0) close(probs.length);
    return out;
  }

  WIDGETS.audio = function () {
    var self = this, cfg = this.cfg, spec = cfg.audio;
    if (!spec) return WIDGETS.tensor.call(this);
    var outer = this.widgetBox;
    var fileInput = el("input", { type: "file", class: "ms-visually-hidden", id: "ms-audio", accept: "audio/*,.wav" });
    var name = el("p", { class: "ms-note ms-filedrop__name" });
    var zone = el("div", { class: "ms-filedrop ms-audio__drop" }, [
      el("strong", { text: "Drop an audio file here" }),
      el("span", { text: "WAV (or any format your browser decodes), up to " + MAX_AUDIO_SECONDS + " s; mixed to mono and resampled to " +
        (spec.sample_rate / 1000) + " kHz in your browser, then run in " + spec.frame + "-sample frames." }),
      el("label", { class: "md-button", for: "ms-audio", text: "Choose an audio file" }),
      fileInput
    ]);
    outer.appendChild(zone);
    outer.appendChild(name);
    var editor = el("div", { class: "ms-audio__tensors" });
    this.widgetBox = editor;
    WIDGETS.tensor.call(this);
    this.widgetBox = outer;
    editor.insertBefore(el("p", { class: "ms-tryit__kicker", text: "Or one frame as raw tensors" }), editor.firstChild);
    outer.appendChild(editor);

    function toMono(buffer) {
      var n = buffer.length, channels = buffer.numberOfChannels, mono = new Float32Array(n);
      for (var c = 0; c < channels; c++) {
        var d = buffer.getChannelData(c);
        for (var k = 0; k < n; k++) mono[k] += d[k] / channels;
      }
      if (channels === 1) mono.set(buffer.getChannelData(0));
      return mono;
    }

    function decode(arrayBuffer) {
      var Offline = window.OfflineAudioContext || window.webkitOfflineAudioContext;
      if (!Offline) return Promise.reject(InputError("This browser cannot decode audio (no Web Audio API).", ""));
      var native = wavRate(arrayBuffer) || spec.sample_rate;  // decode a WAV at its own rate: no resampling yet
      var ctx = new Offline(1, 1, native);
      return ctx.decodeAudioData(arrayBuffer.slice(0)).catch(function (error) {
        throw InputError("This file is not audio this panel can read.", "Choose a WAV file (or MP3, OGG, FLAC that your browser plays). " +
          String(error && error.message || error));
      }).then(function (buffer) {
        if (buffer.duration > MAX_AUDIO_SECONDS) {
          throw InputError("The recording is too long: " + buffer.duration.toFixed(1) + " s.", "The panel takes at most " + MAX_AUDIO_SECONDS + " s; cut the file or use the deploy script.");
        }
        var mono = toMono(buffer);
        if (buffer.sampleRate === spec.sample_rate) return { samples: mono, rate: buffer.sampleRate, channels: buffer.numberOfChannels, duration: buffer.duration };
        var length = Math.max(1, Math.ceil(buffer.duration * spec.sample_rate));
        var off = new Offline(1, length, spec.sample_rate);
        var src = off.createBufferSource(), one = off.createBuffer(1, mono.length, buffer.sampleRate);
        one.copyToChannel(mono, 0);
        src.buffer = one;
        src.connect(off.destination);
        src.start(0);
        return off.startRendering().then(function (rendered) {
          return { samples: rendered.getChannelData(0).slice(0), rate: buffer.sampleRate, channels: buffer.numberOfChannels, duration: buffer.duration };
        });
      });
    }

    /* Frame by frame, carrying context and state; returns the per-frame probabilities. */
    function stream(samples) {
      var frame = spec.frame, ctxLen = spec.context, n = Math.ceil(samples.length / frame);
      var stateSize = spec.state_shape.reduce(function (a, b) { return a * b; }, 1);
      var state = new Float32Array(stateSize), context = new Float32Array(ctxLen), probs = [], runMs = 0;
      var i = 0;
      function step() {
        if (i >= n) return Promise.resolve();
        var x = new Float32Array(ctxLen + frame);
        x.set(context, 0);
        x.set(samples.subarray(i * frame, Math.min(samples.length, (i + 1) * frame)), ctxLen);  // the last frame is zero-padded
        var feeds = {};
        feeds[spec.input] = { data: x, shape: [1, ctxLen + frame] };
        feeds[spec.state_input] = { data: state, shape: spec.state_shape };
        feeds[spec.rate_input] = { data: [spec.sample_rate], shape: [] };
        return self.infer(feeds).then(function (run) {
          runMs += run.ms;
          probs.push(run.outputs[spec.output].data[0]);
          state = Float32Array.from(run.outputs[spec.state_output].data);
          context = x.slice(x.length - ctxLen);
          i++;
          return step();
        });
      }
      return step().then(function () { return { probs: probs, runMs: runMs }; });
    }

    function runAudio(file) {
      self.clearError();
      if (!self.session) return Promise.resolve(null);
      if (file.size > MAX_UPLOAD_BYTES) {
        self.fail(InputError("The file is too large: " + bytes(file.size) + ".", "The panel takes files up to " + bytes(MAX_UPLOAD_BYTES) + " and " + MAX_AUDIO_SECONDS + " s."));
        return Promise.resolve(null);
      }
      var t0 = performance.now(), decoded, tDecoded;
      name.textContent = file.name + " (" + bytes(file.size) + ")";
      self.setStatus("Decoding " + file.name + "…");
      return file.arrayBuffer().then(decode).then(function (d) {
        decoded = d;
        tDecoded = performance.now();
        self.setStatus("Running " + Math.ceil(d.samples.length / spec.frame) + " frames…");
        return stream(d.samples);
      }).then(function (result) {
        var total = performance.now() - t0;
        self.setStatus("");
        var segments = vadSegments(result.probs, spec);
        var audio = { file: file.name, probs: result.probs, segments: segments, frames: result.probs.length,
          seconds: decoded.samples.length / spec.sample_rate, source_rate: decoded.rate, channels: decoded.channels,
          decode_ms: tDecoded - t0, run_ms: result.runMs, total_ms: total };
        var last = { feeds: null, outputs: null, post: null, ms: result.runMs, extra: { audio: audio } };
        self.last = last;
        self.api.last = last;
        self.clearError();
        self.renderResult(last);
        self.timing.textContent = "Total " + ms(total) + " (decoding " + ms(audio.decode_ms) + ", " + audio.frames + " frames, " +
          ms(result.runMs / Math.max(1, audio.frames)) + " per frame) · onnxruntime-web · wasm · 1 thread";
        self.node.setAttribute("data-runs", String(Number(self.node.getAttribute("data-runs") || 0) + 1));
        return last;
      }).catch(function (error) {
        self.fail(error);
        return null;
      });
    }

    function chart(audio) {
      var W = 340, H = 150, L = 24, R = 14, T = 6, B = 20, pw = W - L - R, ph = H - T - B;
      var dur = Math.max(audio.seconds, 1e-3), frameS = spec.frame / spec.sample_rate;
      var x = function (s) { return L + pw * Math.min(1, s / dur); }, y = function (p) { return T + ph * (1 - p); };
      var kids = [svg("rect", { class: "ms-vad__plot", x: L, y: T, width: pw, height: ph })];
      audio.segments.forEach(function (s) {
        kids.push(svg("rect", { class: "ms-vad__speech", x: x(s[0]).toFixed(1), y: T, width: Math.max(1, x(s[1]) - x(s[0])).toFixed(1), height: ph }));
      });
      var pts = [];
      audio.probs.forEach(function (p, i) {
        pts.push(x(i * frameS).toFixed(1) + "," + y(p).toFixed(1), x((i + 1) * frameS).toFixed(1) + "," + y(p).toFixed(1));
      });
      kids.push(svg("polyline", { class: "ms-vad__prob", points: pts.join(" ") }));
      kids.push(svg("line", { class: "ms-vad__threshold", x1: L, x2: L + pw, y1: y(spec.threshold), y2: y(spec.threshold) }));
      kids.push(svg("text", { class: "ms-vad__tick", x: L + pw - 2, y: y(spec.threshold) - 3, "text-anchor": "end", text: "threshold " + fmt(spec.threshold) }));
      [0, 0.5, 1].forEach(function (p) { kids.push(svg("text", { class: "ms-vad__tick", x: L - 4, y: y(p) + 3, "text-anchor": "end", text: String(p) })); });
      var step = dur > 30 ? 10 : dur > 12 ? 5 : dur > 5 ? 2 : dur > 2 ? 1 : 0.5;
      for (var s = 0; s <= dur + 1e-9; s += step) {
        kids.push(svg("text", { class: "ms-vad__tick", x: x(s), y: H - 6, "text-anchor": "middle", text: fmt(s) + " s" }));
      }
      return svg("svg", { class: "ms-vad", viewBox: "0 0 " + W + " " + H, role: "img",
        "aria-label": "Speech probability over " + audio.seconds.toFixed(2) + " s, threshold " + spec.threshold }, kids);
    }

    this.renderCustom = function (box, last) {
      var audio = last.extra && last.extra.audio;
      if (!audio) return false;
      var speech = audio.segments.reduce(function (a, s) { return a + s[1] - s[0]; }, 0);
      box.appendChild(el("p", { class: "ms-tryit__headline" }, [
        el("span", { class: "ms-tryit__kicker", text: "Speech detected" }),
        el("strong", { class: "ms-tryit__label", text: audio.segments.length ? audio.segments.length + " segment" + (audio.segments.length > 1 ? "s" : "") : "no speech" }),
        el("span", { class: "ms-tryit__confidence", text: speech.toFixed(2) + " s of " + audio.seconds.toFixed(2) + " s" })
      ]));
      box.appendChild(chart(audio));
      var list = el("ol", { class: "ms-vad__segments", "aria-label": "Speech segments" });
      audio.segments.forEach(function (s) {
        list.appendChild(el("li", { "data-start": s[0].toFixed(3), "data-end": s[1].toFixed(3), text: s[0].toFixed(2) + " – " + s[1].toFixed(2) + " s (" + (s[1] - s[0]).toFixed(2) + " s)" }));
      });
      if (audio.segments.length) box.appendChild(list);
      box.appendChild(el("p", { class: "ms-note", text: audio.frames + " frames of " + spec.frame + " samples (" + (1000 * spec.frame / spec.sample_rate) + " ms) from " +
        audio.file + " (" + audio.source_rate + " Hz, " + audio.channels + " channel" + (audio.channels > 1 ? "s" : "") + "). A segment starts at p ≥ " +
        fmt(spec.threshold) + " and ends after " + spec.min_silence_ms + " ms below " + fmt(spec.neg_threshold) + "; segments under " + spec.min_speech_ms + " ms are dropped." }));
      return true;
    };

    fileInput.addEventListener("change", function () { var f = fileInput.files[0]; fileInput.value = ""; if (f) runAudio(f); });
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.add("ms-filedrop--over"); });
    });
    ["dragleave", "drop"].forEach(function (type) { zone.addEventListener(type, function () { zone.classList.remove("ms-filedrop--over"); }); });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      var file = event.dataTransfer && event.dataTransfer.files[0];
      if (file) runAudio(file);
    });
    this.api.runAudio = runAudio;
    this.api.segments = function (probs) { return vadSegments(probs, spec); };
  };

  /* Generic: edit each input tensor as JSON, prefilled from the examples. */
  WIDGETS.tensor = function () {
    var self = this, cfg = this.cfg, areas = {};
    cfg.inputs.forEach(function (t) {
      var area = el("textarea", { class: "ms-text ms-text--code", rows: 4, id: "ms-t-" + t.name, spellcheck: "false" });
      areas[t.name] = area;
      self.widgetBox.appendChild(el("label", { class: "ms-tryit__kicker", for: "ms-t-" + t.name, text: t.name + " (" + t.dtype + ", [" + t.shape.map(function (d) { return d === null ? "?" : d; }).join(", ") + "])" }));
      self.widgetBox.appendChild(area);
    });
    function fill(ex) { cfg.inputs.forEach(function (t) { areas[t.name].value = JSON.stringify(ex.inputs[t.name]); }); }
    if (cfg.examples.length) fill(cfg.examples[0]);
    function run() {
      var feeds = {};
      try {
        cfg.inputs.forEach(function (t) {
          var value;
          try { value = JSON.parse(areas[t.name].value); } catch (e) { throw InputError(t.name + " is not valid JSON.", "Write nested lists of numbers, e.g. [[1, 2, 3]]."); }
          var tensor = typeof value === "number" ? { data: [value], shape: [] } : self.P.fromNested(value);
          feeds[t.name] = { data: self.P.castData(tensor.data, t.dtype), shape: tensor.shape };
        });
      } catch (error) { self.fail(error); return Promise.resolve(null); }
      return self.predict(feeds, {});
    }
    var chips = this.exampleChips(function (ex, i) { fill(ex); if (self.session) self.runExample(i); });
    if (chips) this.widgetBox.insertBefore(chips, this.widgetBox.firstChild);
    this.widgetBox.appendChild(el("div", { class: "ms-form__actions" }, [el("button", { type: "button", class: "md-button md-button--primary", text: "Run", onclick: run })]));
    this.showExample = fill;
    this.firstRun = cfg.examples.length ? function () { return self.exampleRun(0); } : null;
  };

  /* ---- page wiring -------------------------------------------------------------------- */

  function init() {
    var nodes = document.querySelectorAll(".ms-tryit:not([data-ms-init])");
    Array.prototype.forEach.call(nodes, function (node) {
      node.setAttribute("data-ms-init", "");
      var cfg;
      try { cfg = JSON.parse(node.getAttribute("data-config")); } catch (error) {
        if (window.console) console.warn("modelshelf try-it: unreadable panel config", error);
        return;
      }
      var root = node.getAttribute("data-root") || "";
      var panel = new Panel(root, node, cfg);
      var button = node.querySelector(".ms-tryit__open");
      if (!cfg.tryable || !button) return;
      button.disabled = false;
      button.addEventListener("click", function () { panel.open(); });
      node.msTryit.open = function () { return panel.open(); };
    });
  }

  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(function () { init(); });
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
