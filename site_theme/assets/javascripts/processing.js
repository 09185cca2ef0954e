/*
 * Modelshelf declarative processing in the browser: the card's preprocessing and
 * postprocessing steps, image capture from a canvas or a picture, cosine similarity, CSV rows, and
 * audio (mixing to mono, resampling, speech segments).
 *
 * The twin of catalog/runtime/processing.py (read its docstring for the exact definition of each op).
 * Both must reproduce tests/fixtures/processing/*.json exactly, so the arithmetic here is
 * written in the same order as there: float64 throughout, sums left to right, one rounding
 * when the result is cast to the model's dtype. A tensor is {data: Float64Array, shape: [..]}.
 * Plain ES2018 (Unicode property escapes for the CSV number syntax), no dependencies; exposes
 * window.ModelshelfProcessing.
 */
(function (global) {
  "use strict";

  var PRE_OPS = ["scale", "normalize", "resize", "grayscale", "layout", "cast", "byte_sample"];
  var POST_OPS = ["softmax", "sigmoid", "topk", "threshold", "mean_pool", "l2_normalize", "decide"];
  var INT_RANGES = {
    int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], int32: [-2147483648, 2147483647],
    int64: [-9223372036854775808, 9223372036854775807], bool: [0, 1]
  };
  var INK_THRESHOLD = 0.1 * 255;

  function ProcessingError(message) {
    var error = new Error(message);
    error.name = "ProcessingError";
    return error;
  }

  function size(shape) {
    var n = 1;
    for (var i = 0; i < shape.length; i++) n *= shape[i];
    return n;
  }

  function tensor(data, shape) {
    var out = data instanceof Float64Array ? data : Float64Array.from(data);
    if (out.length !== size(shape)) throw ProcessingError("tensor of shape [" + shape + "] needs " + size(shape) + " values, got " + out.length);
    return { data: out, shape: shape.slice() };
  }

  /* Nested arrays (as in a card's examples) to a tensor. */
  function fromNested(value) {
    var shape = [];
    var probe = value;
    while (Array.isArray(probe)) { shape.push(probe.length); probe = probe[0]; }
    var flat = [];
    (function walk(v) {
      if (Array.isArray(v)) { for (var i = 0; i < v.length; i++) walk(v[i]); }
      else flat.push(Number(v));
    })(value);
    return tensor(flat, shape);
  }

  function toNested(t) {
    var data = t.data, shape = t.shape, pos = 0;
    if (shape.length === 0) return data[0];
    function build(axis) {
      var out = [];
      for (var i = 0; i < shape[axis]; i++) out.push(axis === shape.length - 1 ? data[pos++] : build(axis + 1));
      return out;
    }
    return build(0);
  }

  function strides(shape) {
    var out = new Array(shape.length), s = 1;
    for (var i = shape.length - 1; i >= 0; i--) { out[i] = s; s *= shape[i]; }
    return out;
  }

  function transpose(t, order) {
    var shape = order.map(function (a) { return t.shape[a]; });
    var src = strides(t.shape), n = t.data.length;
    var out = new Float64Array(n), idx = new Array(shape.length).fill(0);
    for (var k = 0; k < n; k++) {
      var off = 0;
      for (var d = 0; d < shape.length; d++) off += idx[d] * src[order[d]];
      out[k] = t.data[off];
      for (var e = shape.length - 1; e >= 0; e--) { if (++idx[e] < shape[e]) break; idx[e] = 0; }
    }
    return { data: out, shape: shape };
  }

  /* ---- preprocessing ---------------------------------------------------------------- */

  function channelAxis(t, layout) {
    if (layout && layout.indexOf("C") >= 0 && layout.length === t.shape.length) return layout.indexOf("C");
    return t.shape.length - 1;
  }

  function perChannel(value, t, axis) {
    var values = Array.isArray(value) ? value.map(Number) : [Number(value)];
    if (values.length !== 1 && values.length !== t.shape[axis]) {
      throw ProcessingError("normalize has " + values.length + " values but the tensor has " + t.shape[axis] + " channels");
    }
    var inner = strides(t.shape)[axis], n = t.shape[axis];
    return function (k) { return values.length === 1 ? values[0] : values[Math.floor(k / inner) % n]; };
  }

  function areaWeights(src, dst) {
    var ratio = src / dst, out = [];
    for (var i = 0; i < dst; i++) {
      var start = i * ratio, end = (i + 1) * ratio, pairs = [];
      for (var j = Math.floor(start); j < end && j < src; j++) {
        var overlap = Math.min(end, j + 1) - Math.max(start, j);
        if (overlap > 0) pairs.push([j, overlap / ratio]);
      }
      out.push(pairs);
    }
    return out;
  }

  /* The rows half of an area resize: `row(j, out)` writes source row j (w * c float64 values) into `out`;
     rows are read in the order of the output rows' weights, as _resize_rows reads them in processing.py. */
  function resizeRows(row, h, w, c, height) {
    var rows = new Float64Array(height * w * c), line = new Float64Array(w * c);
    areaWeights(h, height).forEach(function (pairs, i) {
      var base = i * w * c;
      for (var p = 0; p < pairs.length; p++) {
        row(pairs[p][0], line);
        var weight = pairs[p][1];
        for (var x = 0; x < w * c; x++) rows[base + x] = rows[base + x] + line[x] * weight;
      }
    });
    return rows;
  }

  function resizeColumns(rows, height, w, c, width) {
    var out = new Float64Array(height * width * c);
    areaWeights(w, width).forEach(function (pairs, i) {
      for (var y = 0; y < height; y++) {
        for (var ch = 0; ch < c; ch++) {
          var acc = 0;
          for (var p = 0; p < pairs.length; p++) acc = acc + rows[(y * w + pairs[p][0]) * c + ch] * pairs[p][1];
          out[(y * width + i) * c + ch] = acc;
        }
      }
    });
    return out;
  }

  function resizeArea(t, width, height) {
    if (t.shape.length !== 3) throw ProcessingError("resize needs an HWC image, got a tensor of shape [" + t.shape + "]");
    var h = t.shape[0], w = t.shape[1], c = t.shape[2], src = t.data;
    var rows = resizeRows(function (j, line) { for (var x = 0; x < w * c; x++) line[x] = src[j * w * c + x]; }, h, w, c, height);
    return { data: resizeColumns(rows, height, w, c, width), shape: [height, width, c] };
  }

  function grayscale(t) {
    if (t.shape.length !== 3) throw ProcessingError("grayscale needs an HWC image, got a tensor of shape [" + t.shape + "]");
    var h = t.shape[0], w = t.shape[1], c = t.shape[2];
    if (c === 1) return { data: Float64Array.from(t.data), shape: t.shape.slice() };
    if (c !== 3 && c !== 4) throw ProcessingError("grayscale needs 1, 3 or 4 channels, got " + c);
    var out = new Float64Array(h * w), d = t.data;
    for (var k = 0; k < h * w; k++) out[k] = (0.299 * d[k * c] + 0.587 * d[k * c + 1]) + 0.114 * d[k * c + 2];
    return { data: out, shape: [h, w, 1] };
  }

  function changeLayout(t, from, to) {
    if (from.length !== t.shape.length) throw ProcessingError("layout " + from + " does not fit a tensor of shape [" + t.shape + "]");
    var keep = [], keptShape = [];
    for (var a = 0; a < from.length; a++) {
      if (to.indexOf(from[a]) < 0) {
        if (t.shape[a] !== 1) throw ProcessingError("layout " + from + " -> " + to + " would drop axis " + from[a] + " of size " + t.shape[a]);
      } else { keep.push(from[a]); keptShape.push(t.shape[a]); }
    }
    var order = [];
    for (var b = 0; b < to.length; b++) if (keep.indexOf(to[b]) >= 0) order.push(keep.indexOf(to[b]));
    var moved = transpose({ data: t.data, shape: keptShape }, order);
    var shape = [], it = 0;
    for (var d = 0; d < to.length; d++) shape.push(keep.indexOf(to[d]) >= 0 ? moved.shape[it++] : 1);
    return { data: moved.data, shape: shape };
  }

  function roundHalfEven(v) {
    var r = Math.round(v);  // rounds .5 up
    if (r - v === 0.5 && r % 2 !== 0) r -= 1;
    return r;
  }

  function castData(data, dtype) {
    var n = data.length, out = new Float64Array(n), k;
    if (dtype === "float32") { for (k = 0; k < n; k++) out[k] = Math.fround(data[k]); return out; }
    if (dtype === "float64") return Float64Array.from(data);
    if (dtype === "float16") {
      for (k = 0; k < n; k++) out[k] = toFloat16(data[k]);
      return out;
    }
    var range = INT_RANGES[dtype];
    if (!range) throw ProcessingError("cannot cast to " + JSON.stringify(dtype));
    for (k = 0; k < n; k++) out[k] = Math.min(range[1], Math.max(range[0], roundHalfEven(data[k])));
    return out;
  }

  // Round a float64 to the nearest float16 value (ties to even), returned as a float64.
  function toFloat16(v) {
    if (!isFinite(v) || v === 0) return v;
    var a = Math.abs(v);
    if (a >= 65520) return v > 0 ? Infinity : -Infinity;
    var e = Math.max(Math.floor(Math.log2(a)), -14);
    if (Math.pow(2, e) > a) e -= 1;  // guard against log2 rounding
    e = Math.max(e, -14);
    var ulp = Math.pow(2, e - 10);
    return Math.sign(v) * roundHalfEven(a / ulp) * ulp;
  }

  var ASCII_WHITESPACE = [32, 9, 10, 13, 11, 12];

  /* A file's bytes (Uint8Array) to one row of begin + end values; see byte_sample in processing.py. */
  function byteSample(bytes, begin, end, block, padding, strip) {
    block = block === undefined ? 4096 : block;
    padding = padding === undefined ? 256 : padding;
    var n = bytes.length;
    var f0 = 0, f1 = Math.min(block, n), l0 = block ? Math.max(0, n - block) : n, l1 = n;
    if (strip !== false) {
      while (f0 < f1 && ASCII_WHITESPACE.indexOf(bytes[f0]) >= 0) f0++;
      while (l1 > l0 && ASCII_WHITESPACE.indexOf(bytes[l1 - 1]) >= 0) l1--;
    }
    var out = new Float64Array(begin + end), k;
    for (k = 0; k < begin; k++) out[k] = f0 + k < f1 ? bytes[f0 + k] : padding;
    var take = Math.min(end, l1 - l0);
    for (k = 0; k < end - take; k++) out[begin + k] = padding;
    for (k = 0; k < take; k++) out[begin + end - take + k] = bytes[l1 - take + k];
    return { data: out, shape: [1, begin + end] };
  }

  function applyStep(step, t, layout) {
    var op = step.op, k, out;
    if (op === "byte_sample") {
      var strip = step.strip === undefined ? true : !!step.strip;
      return [byteSample(t.data, Number(step.begin), Number(step.end), step.block === undefined ? 4096 : Number(step.block),
        step.padding === undefined ? 256 : Number(step.padding), strip), null];
    }
    if (op === "scale") {
      out = new Float64Array(t.data.length);
      for (k = 0; k < out.length; k++) out[k] = t.data[k] * Number(step.factor);
      return [{ data: out, shape: t.shape.slice() }, layout];
    }
    if (op === "normalize") {
      var axis = channelAxis(t, layout), mean = perChannel(step.mean, t, axis), std = perChannel(step.std, t, axis);
      out = new Float64Array(t.data.length);
      for (k = 0; k < out.length; k++) out[k] = (t.data[k] - mean(k)) / std(k);
      return [{ data: out, shape: t.shape.slice() }, layout];
    }
    if (op === "resize") {
      if (layout && layout !== "HWC") throw ProcessingError("resize needs an HWC image, the tensor is " + layout);
      return [resizeArea(t, Number(step.width), Number(step.height)), "HWC"];
    }
    if (op === "grayscale") {
      if (layout && layout !== "HWC") throw ProcessingError("grayscale needs an HWC image, the tensor is " + layout);
      return [grayscale(t), "HWC"];
    }
    if (op === "layout") {
      var from = layout || step.from;
      if (from !== step.from) throw ProcessingError("layout step says from " + step.from + " but the tensor is " + from);
      return [changeLayout(t, step.from, step.to), step.to];
    }
    if (op === "cast") return [{ data: castData(t.data, String(step.dtype)), shape: t.shape.slice() }, layout];
    throw ProcessingError(JSON.stringify(op) + " is not a preprocessing op (one of " + PRE_OPS.join(", ") + ")");
  }

  function preprocess(steps, raw, layout) {
    var t = raw.data ? tensor(raw.data, raw.shape) : fromNested(raw);
    var current = layout || null;
    (steps || []).forEach(function (step) {
      var r = applyStep(step, t, current);
      t = r[0]; current = r[1];
    });
    return { tensor: t, layout: current };
  }

  /* Give a preprocessed tensor the model input's rank, then round it to the input's dtype. */
  function arrangeInput(t, layout, shape, dtype) {
    if (layout === "HWC" && shape.length === 4) {
      var c = t.shape[2];
      var channelsFirst = shape[1] === c && shape[3] !== c;
      t = changeLayout(t, "HWC", channelsFirst ? "NCHW" : "NHWC");
    }
    var have = t.shape.slice();
    while (have.length < shape.length) have.unshift(1);
    for (var a = 0; a < shape.length; a++) {
      if (typeof shape[a] === "number" && shape[a] !== have[a]) {
        throw ProcessingError("the input needs shape [" + shape.map(function (d) { return d === null ? "?" : d; }) +
          "], the preprocessed tensor has [" + have + "] (axis " + a + ")");
      }
    }
    return { data: castData(t.data, dtype), shape: have };
  }

  /* ---- postprocessing --------------------------------------------------------------- */

  function lastAxisRows(t) {
    var n = t.shape.length ? t.shape[t.shape.length - 1] : 1;
    return { n: n, rows: t.data.length / n };
  }

  function softmax(t) {
    var r = lastAxisRows(t), out = new Float64Array(t.data.length);
    for (var i = 0; i < r.rows; i++) {
      var base = i * r.n, max = -Infinity, total = 0, k;
      for (k = 0; k < r.n; k++) if (t.data[base + k] > max) max = t.data[base + k];
      for (k = 0; k < r.n; k++) out[base + k] = Math.exp(t.data[base + k] - max);
      for (k = 0; k < r.n; k++) total = total + out[base + k];
      for (k = 0; k < r.n; k++) out[base + k] = out[base + k] / total;
    }
    return { data: out, shape: t.shape.slice() };
  }

  function sigmoid(t) {
    var out = new Float64Array(t.data.length);
    for (var k = 0; k < out.length; k++) out[k] = 1 / (1 + Math.exp(-t.data[k]));
    return { data: out, shape: t.shape.slice() };
  }

  function topk(t, k) {
    var r = lastAxisRows(t), result = [];
    for (var i = 0; i < r.rows; i++) {
      var idx = [];
      for (var j = 0; j < r.n; j++) idx.push(j);
      var base = i * r.n;
      idx.sort(function (a, b) { var d = t.data[base + b] - t.data[base + a]; return d !== 0 ? d : a - b; });
      result.push(idx.slice(0, Math.min(k, r.n)));
    }
    return result;
  }

  function meanPool(t, mask) {
    if (t.shape.length !== 3) throw ProcessingError("mean_pool needs a [batch, tokens, dim] tensor, got shape [" + t.shape + "]");
    var b = t.shape[0], n = t.shape[1], d = t.shape[2], out = new Float64Array(b * d);
    for (var i = 0; i < b; i++) {
      var count = 0, total = new Float64Array(d);
      for (var s = 0; s < n; s++) {
        var m = Number(mask[i * n + s]);
        for (var e = 0; e < d; e++) total[e] = total[e] + t.data[(i * n + s) * d + e] * m;
        count = count + m;
      }
      for (var f = 0; f < d; f++) out[i * d + f] = total[f] / Math.max(count, 1e-9);
    }
    return { data: out, shape: [b, d] };
  }

  function l2Normalize(t) {
    var r = lastAxisRows(t), out = new Float64Array(t.data.length);
    for (var i = 0; i < r.rows; i++) {
      var base = i * r.n, total = 0, k;
      for (k = 0; k < r.n; k++) total = total + t.data[base + k] * t.data[base + k];
      var norm = Math.max(Math.sqrt(total), 1e-12);
      for (k = 0; k < r.n; k++) out[base + k] = t.data[base + k] / norm;
    }
    return { data: out, shape: t.shape.slice() };
  }

  function cosineSimilarity(a, b) {
    var dot = 0, na = 0, nb = 0;
    for (var k = 0; k < a.length; k++) { dot += a[k] * b[k]; na += a[k] * a[k]; nb += b[k] * b[k]; }
    return dot / Math.max(Math.sqrt(na) * Math.sqrt(nb), 1e-12);
  }

  function postprocess(steps, y, options) {
    options = options || {};
    var labels = options.labels || [], feeds = options.feeds || {};
    var values = y.data ? tensor(y.data, y.shape) : fromNested(y);
    var top = null, mask = null, decision = null;
    (steps || []).forEach(function (step) {
      var op = step.op;
      if (op === "softmax") values = softmax(values);
      else if (op === "sigmoid") values = sigmoid(values);
      else if (op === "l2_normalize") values = l2Normalize(values);
      else if (op === "mean_pool") {
        var m = feeds[step.mask];
        if (!m) throw ProcessingError("mean_pool needs the model input " + JSON.stringify(step.mask));
        values = meanPool(values, m.data || m);
      } else if (op === "topk") {
        var r = lastAxisRows(values);
        top = topk(values, Number(step.k)).map(function (idx, row) {
          return idx.map(function (i) {
            return { index: i, value: values.data[row * r.n + i], label: i < labels.length ? labels[i] : String(i) };
          });
        });
      } else if (op === "threshold") {
        var limit = Number(step.value);
        if (top) top = top.map(function (row) { return row.filter(function (e) { return e.value >= limit; }); });
        else {
          var md = new Float64Array(values.data.length);
          for (var k = 0; k < md.length; k++) md[k] = values.data[k] >= limit ? 1 : 0;
          mask = { data: md, shape: values.shape.slice() };
        }
      } else if (op === "decide") {
        decision = decide(values, step, labels);
      } else {
        throw ProcessingError(JSON.stringify(op) + " is not a postprocessing op (one of " + POST_OPS.join(", ") + ")");
      }
    });
    var out = { values: values };
    if (top) out.top = top;
    if (mask) out.mask = mask;
    if (decision) out.decision = decision;
    return out;
  }

  /* The classifier's own decision rule per row (Python: processing.decide). */
  function decide(values, step, labels) {
    var thresholds = step.thresholds || {}, overwrite = step.overwrite || {}, textLabels = step.text_labels || [];
    var fallback = step.fallback === undefined ? "unknown" : String(step.fallback);
    var textFallback = step.text_fallback === undefined ? fallback : String(step.text_fallback);
    var byDefault = step["default"] === undefined ? 0.5 : Number(step["default"]);
    var r = lastAxisRows(values);
    return topk(values, 1).map(function (idx, row) {
      var best = idx[0], modelLabel = best < labels.length ? labels[best] : String(best), score = values.data[row * r.n + best];
      var need = Object.prototype.hasOwnProperty.call(thresholds, modelLabel) ? Number(thresholds[modelLabel]) : byDefault;
      var confident = score >= need;
      var label = confident ? modelLabel : (textLabels.indexOf(modelLabel) >= 0 ? textFallback : fallback);
      if (Object.prototype.hasOwnProperty.call(overwrite, label)) label = String(overwrite[label]);
      return { label: label, score: score, model_label: modelLabel, confident: confident };
    });
  }

  /* ---- images from a canvas or a file ---------------------------------------------- */

  /* Pictures are decoded at their own size, at most MAX_IMAGE_SIDE a side and MAX_IMAGE_BYTES as a file;
     captureImage first brings the longer side down to WORK_SIDE (as processing.py does). */
  var MAX_IMAGE_SIDE = 4096;
  var MAX_IMAGE_BYTES = 20 * 1024 * 1024;
  var WORK_SIDE = 512;

  /* The size a picture is area-averaged to before capture: the longer side WORK_SIDE, rounded half up. */
  function workSize(width, height) {
    var scale = WORK_SIDE / Math.max(width, height);
    return [Math.max(1, Math.floor(width * scale + 0.5)), Math.max(1, Math.floor(height * scale + 0.5))];
  }

  /* Row y of RGBA bytes composited over white into `out` (width * 3 float64): c * a/255 + 255 * (1 - a/255). */
  function overWhiteRow(rgba, width, y, out) {
    for (var x = 0; x < width; x++) {
      var k = (y * width + x) * 4, alpha = rgba[k + 3] / 255;
      for (var c = 0; c < 3; c++) out[x * 3 + c] = rgba[k + c] * alpha + 255 * (1 - alpha);
    }
  }

  /* RGBA bytes (height x width x 4) to the raw HWC input; see capture_image in processing.py. */
  function captureImage(rgba, width, height, spec) {
    var rgb, h = height, w = width, k;
    if (Math.max(width, height) > WORK_SIDE) {
      // Composite and area-average in one pass over the rows, so a large picture is never held as float64 whole.
      var size = workSize(width, height);
      w = size[0]; h = size[1];
      var rows = resizeRows(function (j, line) { overWhiteRow(rgba, width, j, line); }, height, width, 3, h);
      rgb = resizeColumns(rows, h, width, 3, w);
    } else {
      rgb = new Float64Array(h * w * 3);
      var line = new Float64Array(w * 3);
      for (var y = 0; y < h; y++) {
        overWhiteRow(rgba, w, y, line);
        rgb.set(line, y * w * 3);
      }
    }
    var t = { data: rgb, shape: [h, w, 3] };
    if (Number(spec.channels === undefined ? 3 : spec.channels) === 1) t = grayscale(t);
    var img = t.data;
    // Light ink on a dark ground is flipped first, so both polarities read alike (Python: _dark_border).
    if (spec.fit && darkBorder(t)) for (k = 0; k < img.length; k++) img[k] = 255 - img[k];
    if (spec.invert) for (k = 0; k < img.length; k++) img[k] = 255 - img[k];
    if (spec.fit) t = fitInk(t, !!spec.invert);
    t = resizeArea(t, Number(spec.width), Number(spec.height));
    var low = spec.low === undefined ? 0 : Number(spec.low), high = spec.high === undefined ? 255 : Number(spec.high);
    var factor = (high - low) / 255;
    for (k = 0; k < t.data.length; k++) {
      var v = low + t.data[k] * factor;
      t.data[k] = spec.integer ? roundHalfEven(v) : v;
    }
    return t;
  }

  /* Whether the outermost rows and columns of an HWC image are dark on average (sum < 127.5 * count). */
  function darkBorder(t) {
    var h = t.shape[0], w = t.shape[1], c = t.shape[2], d = t.data, sum = 0, count = 0, x, y, ch;
    function add(yy, xx) { for (ch = 0; ch < c; ch++) { sum += d[(yy * w + xx) * c + ch]; count++; } }
    if (h <= 2 || w <= 2) {
      for (y = 0; y < h; y++) for (x = 0; x < w; x++) add(y, x);
    } else {
      for (x = 0; x < w; x++) add(0, x);
      for (x = 0; x < w; x++) add(h - 1, x);
      for (y = 1; y < h - 1; y++) add(y, 0);
      for (y = 1; y < h - 1; y++) add(y, w - 1);
    }
    return sum < 127.5 * count;
  }

  function fitInk(t, invert) {
    var h = t.shape[0], w = t.shape[1], c = t.shape[2], d = t.data;
    var top = h, bottom = -1, left = w, right = -1;
    for (var y = 0; y < h; y++) {
      for (var x = 0; x < w; x++) {
        var ink = invert ? -Infinity : Infinity;
        for (var ch = 0; ch < c; ch++) {
          var v = d[(y * w + x) * c + ch];
          ink = invert ? Math.max(ink, v) : Math.min(ink, v);
        }
        if (!invert) ink = 255 - ink;
        if (ink > INK_THRESHOLD) {
          if (y < top) top = y;
          if (y > bottom) bottom = y;
          if (x < left) left = x;
          if (x > right) right = x;
        }
      }
    }
    if (bottom < 0) return t;
    bottom += 1; right += 1;
    var side = Math.max(bottom - top, right - left), background = invert ? 0 : 255;
    var out = new Float64Array(side * side * c).fill(background);
    var oy = Math.floor((side - (bottom - top)) / 2), ox = Math.floor((side - (right - left)) / 2);
    for (var yy = top; yy < bottom; yy++) {
      for (var xx = left; xx < right; xx++) {
        for (var cc = 0; cc < c; cc++) out[((yy - top + oy) * side + (xx - left + ox)) * c + cc] = d[(yy * w + xx) * c + cc];
      }
    }
    return { data: out, shape: [side, side, c] };
  }

  /* ---- CSV rows ------------------------------------------------------------------ */

  // Python's whitespace (str.isspace, and `\s` in its regular expressions): not JavaScript's trim() set,
  // which has U+FEFF but lacks U+001C..U+001F and U+0085.
  var PY_SPACE = "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
  var PY_STRIP = new RegExp("^[" + PY_SPACE + "]+|[" + PY_SPACE + "]+$", "g");
  // processing.py's _NUMBER: a plain decimal (Python's \d is any Unicode decimal digit, which float() reads too).
  var NUMBER = new RegExp("^[" + PY_SPACE + "]*[+-]?(\\p{Nd}+\\.?\\p{Nd}*|\\.\\p{Nd}+)([eE][+-]?\\p{Nd}+)?[" + PY_SPACE + "]*$", "u");
  var DIGIT = /\p{Nd}/u;
  var NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

  function pyStrip(text) {
    return text.replace(PY_STRIP, "");
  }

  /* The value of a Unicode decimal digit: digits come in runs of ten from 0, so count back to the run's start. */
  function digitValue(ch) {
    var cp = ch.codePointAt(0);
    if (cp >= 48 && cp <= 57) return cp - 48;
    var zero = cp;
    while (zero > 0 && DIGIT.test(String.fromCodePoint(zero - 1))) zero--;
    return (cp - zero) % 10;
  }

  /* float() of a cell NUMBER accepts. */
  function pyFloat(cell) {
    var ascii = "";
    for (var ch of pyStrip(cell)) ascii += DIGIT.test(ch) ? String(digitValue(ch)) : ch;
    return Number(ascii);
  }

  function hex(cp, digits) {
    var h = cp.toString(16);
    while (h.length < digits) h = "0" + h;
    return h;
  }

  /* Python's repr() of a string, for error messages worded as processing.py words them. */
  function pyRepr(text) {
    var quote = text.indexOf("'") >= 0 && text.indexOf('"') < 0 ? '"' : "'", out = quote;
    for (var ch of text) {
      var cp = ch.codePointAt(0);
      if (ch === quote || ch === "\\") out += "\\" + ch;
      else if (ch === "\t") out += "\\t";
      else if (ch === "\n") out += "\\n";
      else if (ch === "\r") out += "\\r";
      else if (cp < 32 || cp === 127) out += "\\x" + hex(cp, 2);
      else if (cp < 127 || !NOT_PRINTABLE.test(ch)) out += ch;
      else if (cp <= 0xff) out += "\\x" + hex(cp, 2);
      else if (cp <= 0xffff) out += "\\u" + hex(cp, 4);
      else out += "\\U" + hex(cp, 8);
    }
    return out + quote;
  }

  /* Rows of cells: RFC 4180 quoting, CRLF or LF line ends, a leading byte-order mark dropped, blank rows
     skipped; see split_csv in processing.py. */
  function splitCsv(text, delimiter) {
    delimiter = delimiter === undefined ? "," : delimiter;
    text = String(text);
    if (text.charAt(0) === "\ufeff") text = text.slice(1);
    var rows = [], row = [], cell = "", quoted = false;
    // Quote, delimiter and line ends are all single UTF-16 units, so walking units is walking characters here.
    for (var i = 0; i < text.length; i++) {
      var ch = text.charAt(i);
      if (quoted) {
        if (ch === '"' && text.charAt(i + 1) === '"') { cell += '"'; i++; }
        else if (ch === '"') quoted = false;
        else cell += ch;
      } else if (ch === '"' && cell === "") {
        quoted = true;
      } else if (ch === delimiter) {
        row.push(cell); cell = "";
      } else if (ch === "\r" || ch === "\n") {
        if (ch === "\r" && text.charAt(i + 1) === "\n") i++;
        row.push(cell); rows.push(row);
        row = []; cell = "";
      } else {
        cell += ch;
      }
    }
    if (cell !== "" || row.length) { row.push(cell); rows.push(row); }
    return rows.filter(function (r) { return r.some(function (c) { return pyStrip(c) !== ""; }); });
  }

  /* CSV text -> rows of float64 values (arrays of numbers); see parse_csv in processing.py: the same header
     rule, number syntax, reordering to the card's `features` and error messages (a ProcessingError). */
  function parseCsv(text, features, delimiter) {
    features = (features || []).map(String);
    var rows = splitCsv(text, delimiter);
    if (!rows.length) throw ProcessingError("the file has no rows");
    var isNumber = function (c) { return NUMBER.test(c); };
    var header = rows[0].every(isNumber) ? null : rows[0].map(pyStrip);
    var body = header ? rows.slice(1) : rows, first = header ? 2 : 1;
    if (!body.length) throw ProcessingError("the file has a header row but no rows of values");
    var reorder = null;
    if (header && features.length && sameItems(header, features) && !sameList(header, features)) {
      // Columns named like the card's features, in any order.
      reorder = features.map(function (f) { return header.indexOf(f); });
    }
    var out = [];
    body.forEach(function (r, n) {
      r.forEach(function (cell, c) {  // errors name the file's own row and column
        if (!NUMBER.test(cell)) {
          var name = header && c < header.length ? " (" + header[c] + ")" : "";
          throw ProcessingError("row " + (n + first) + ", column " + (c + 1) + name + ": " +
            pyRepr(Array.from(pyStrip(cell)).slice(0, 40).join("")) + " is not a number");
        }
      });
      var values = r.map(pyFloat);
      out.push(reorder && values.length === reorder.length ? reorder.map(function (i) { return values[i]; }) : values);
    });
    var lengths = [];
    out.forEach(function (r) { if (lengths.indexOf(r.length) < 0) lengths.push(r.length); });
    if (lengths.length > 1) {
      lengths.sort(function (a, b) { return a - b; });
      throw ProcessingError("the rows have different numbers of values ([" + lengths.join(", ") + "])");
    }
    return out;
  }

  function sameList(a, b) {
    return a.length === b.length && a.every(function (v, i) { return v === b[i]; });
  }

  function sameItems(a, b) {
    return sameList(a.slice().sort(), b.slice().sort());
  }

  /* ---- audio files ------------------------------------------------------------------ */

  // The browser and the runtime take recordings of up to this many seconds (after decoding).
  var MAX_AUDIO_SECONDS = 60;
  // Zero crossings of the resampling filter on each side of an output sample.
  var RESAMPLE_ZEROS = 16;

  /* Decoded channels (arrays or Float32Arrays) averaged to one Float64Array: summed in channel order
     in float64, then divided by the channel count. */
  function mixToMono(channels) {
    if (!channels || !channels.length) throw ProcessingError("the recording has no channels");
    var total = Float64Array.from(channels[0]), n = total.length, k;
    for (var c = 1; c < channels.length; c++) {
      var d = channels[c];
      for (k = 0; k < n; k++) total[k] = total[k] + d[k];
    }
    if (channels.length > 1) for (k = 0; k < n; k++) total[k] = total[k] / channels.length;
    return total;
  }

  /* Band-limited resampling with a Hann-windowed sinc; the arithmetic of resample in processing.py, term
     by term in the same order (only Math.sin and Math.cos may differ from numpy's in the last bit). */
  function resample(x, srcRate, dstRate) {
    srcRate = Math.trunc(Number(srcRate)); dstRate = Math.trunc(Number(dstRate));
    if (!(srcRate > 0) || !(dstRate > 0)) throw ProcessingError("sample rates must be positive, got " + srcRate + " and " + dstRate);
    var size = x.length;
    if (srcRate === dstRate) return Float64Array.from(x);
    var nOut = Math.floor((size * dstRate + srcRate - 1) / srcRate);
    var fc = Math.min(1, dstRate / srcRate), half = RESAMPLE_ZEROS / fc, reach = Math.ceil(half);
    var piFc = Math.PI * fc, out = new Float64Array(nOut);
    for (var n = 0; n < nOut; n++) {
      var t = n * srcRate / dstRate, base = Math.floor(t), acc = 0;
      // Samples outside the signal are 0: their terms (+-0) leave the sum as it is, so they are skipped.
      var from = Math.max(base - reach + 1, 0), to = Math.min(base + reach, size - 1);
      for (var k = from; k <= to; k++) {
        var d = t - k, arg = piFc * d;
        var s = d === 0 ? 1 : Math.sin(arg) / arg;
        var w = Math.abs(d) < half ? 0.5 + 0.5 * Math.cos(Math.PI * d / half) : 0;
        acc = acc + x[k] * (fc * s * w);
      }
      out[n] = acc;
    }
    return out;
  }

  /* How many frames a streaming model runs over `samples` samples (the last one zero-padded). */
  function frameCount(samples, frame) {
    return Math.floor((samples + frame - 1) / frame);
  }

  /* Per-frame speech probabilities -> speech segments [start, end] in seconds: a segment starts at
     p >= threshold and ends after min_silence_ms below neg_threshold; segments shorter than
     min_speech_ms are dropped (Silero's get_speech_timestamps rules, frame by frame). */
  function vadSegments(probs, spec) {
    var frame = Math.trunc(Number(spec.frame)), rate = Math.trunc(Number(spec.sample_rate)), out = [];
    var silence = Math.ceil(Number(spec.min_silence_ms) * rate / 1000 / frame), minSpeech = Number(spec.min_speech_ms) * rate / 1000;
    var threshold = Number(spec.threshold), negThreshold = Number(spec.neg_threshold);
    var start = -1, tempEnd = -1;
    function close(endFrame) {
      if ((endFrame - start) * frame >= minSpeech) out.push([start * frame / rate, endFrame * frame / rate]);
    }
    for (var i = 0; i < probs.length; i++) {
      var p = probs[i];
      if (p >= threshold) {
        tempEnd = -1;
        if (start < 0) start = i;
      } else if (start >= 0 && p < negThreshold) {
        if (tempEnd < 0) tempEnd = i;
        if (i + 1 - tempEnd >= silence) { close(tempEnd); start = -1; tempEnd = -1; }
      }
    }
    if (start >= 0) close(probs.length);
    return out;
  }

  global.ModelshelfProcessing = {
    PRE_OPS: PRE_OPS,
    POST_OPS: POST_OPS,
    tensor: tensor,
    fromNested: fromNested,
    toNested: toNested,
    size: size,
    applyStep: applyStep,
    preprocess: preprocess,
    arrangeInput: arrangeInput,
    castData: castData,
    postprocess: postprocess,
    softmax: softmax,
    sigmoid: sigmoid,
    topk: topk,
    meanPool: meanPool,
    l2Normalize: l2Normalize,
    cosineSimilarity: cosineSimilarity,
    resizeArea: resizeArea,
    grayscale: grayscale,
    changeLayout: changeLayout,
    captureImage: captureImage,
    workSize: workSize,
    byteSample: byteSample,
    roundHalfEven: roundHalfEven,
    splitCsv: splitCsv,
    parseCsv: parseCsv,
    mixToMono: mixToMono,
    resample: resample,
    frameCount: frameCount,
    vadSegments: vadSegments,
    ProcessingError: ProcessingError,
    MAX_IMAGE_SIDE: MAX_IMAGE_SIDE,
    MAX_IMAGE_BYTES: MAX_IMAGE_BYTES,
    WORK_SIDE: WORK_SIDE,
    MAX_AUDIO_SECONDS: MAX_AUDIO_SECONDS,
    RESAMPLE_ZEROS: RESAMPLE_ZEROS
  };
})(typeof window !== "undefined" ? window : this);
