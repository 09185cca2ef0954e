/*
 * Modelshelf declarative processing in the browser: the card's preprocessing and
 * postprocessing steps, image capture from a canvas, cosine similarity.
 *
 * The twin of catalog/runtime/processing.py (read its docstring for the exact definition of each op).
 * Both must reproduce tests/fixtures/processing/*.json exactly, so the arithmetic here is
 * written in the same order as there: float64 throughout, sums left to right, one rounding
 * when the result is cast to the model's dtype. A tensor is {data: Float64Array, shape: [..]}.
 * Plain ES2017, no dependencies; exposes window.ModelshelfProcessing.
 */
(function (global) {
  "use strict";

  var PRE_OPS = ["scale", "normalize", "resize", "grayscale", "layout", "cast", "byte_sample"];
  var POST_OPS = ["softmax", "sigmoid", "topk", "threshold", "mean_pool", "l2_normalize"];
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

  function resizeArea(t, width, height) {
    if (t.shape.length !== 3) throw ProcessingError("resize needs an HWC image, got a tensor of shape [" + t.shape + "]");
    var h = t.shape[0], w = t.shape[1], c = t.shape[2], src = t.data;
    var rows = new Float64Array(height * w * c);
    areaWeights(h, height).forEach(function (pairs, i) {
      for (var x = 0; x < w * c; x++) {
        var acc = 0;
        for (var p = 0; p < pairs.length; p++) acc = acc + src[pairs[p][0] * w * c + x] * pairs[p][1];
        rows[i * w * c + x] = acc;
      }
    });
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
    return { data: out, shape: [height, width, c] };
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
    var top = null, mask = null;
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
      } else {
        throw ProcessingError(JSON.stringify(op) + " is not a postprocessing op (one of " + POST_OPS.join(", ") + ")");
      }
    });
    var out = { values: values };
    if (top) out.top = top;
    if (mask) out.mask = mask;
    return out;
  }

  /* ---- images from a canvas or a file ---------------------------------------------- */

  /* RGBA bytes (height x width x 4) to the raw HWC input; see capture_image in processing.py. */
  function captureImage(rgba, width, height, spec) {
    var channels = spec.channels === 1 ? 1 : 3, n = width * height;
    var img = new Float64Array(n * channels), k, c;
    for (k = 0; k < n; k++) {
      var alpha = rgba[k * 4 + 3] / 255, rgb = [];
      for (c = 0; c < 3; c++) rgb.push(rgba[k * 4 + c] * alpha + 255 * (1 - alpha));
      if (channels === 1) img[k] = (0.299 * rgb[0] + 0.587 * rgb[1]) + 0.114 * rgb[2];
      else for (c = 0; c < 3; c++) img[k * 3 + c] = rgb[c];
    }
    if (spec.invert) for (k = 0; k < img.length; k++) img[k] = 255 - img[k];
    var t = { data: img, shape: [height, width, channels] };
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
    byteSample: byteSample,
    roundHalfEven: roundHalfEven
  };
})(typeof window !== "undefined" ? window : this);
