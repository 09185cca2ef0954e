/* Image widget: a drawing canvas, an upload, what the model sees, and an occlusion saliency map. */
import { acceptDrops, el } from "../../dom.js";
import { InputError } from "../errors.js";
import { bytes, ms } from "../format.js";

const DRAW_SIDE = 224;
// Decode the file's own pixels: no premultiplied alpha, no colour management, the EXIF orientation applied
// (as catalog/runtime reads a picture); P.captureImage then shrinks it as processing.py does.
const DECODE_OPTIONS = { premultiplyAlpha: "none", colorSpaceConversion: "none", imageOrientation: "from-image" };
const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"];

function argmax(a) {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

export function build(panel) {
  const cfg = panel.cfg, P = panel.P, input = cfg.inputs[0], spec = cfg.capture;
  // The model-space values of "no ink" and "full ink" (afterLoad), for the preview and for occlusion.
  let modelRange = null, modelBackground;

  const canvas = el("canvas", { class: "ms-draw", width: DRAW_SIDE, height: DRAW_SIDE, "aria-label": "Drawing area: draw with the mouse or a finger" });
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const placeholder = el("span", { class: "ms-drop__hint", text: "Draw here, or drop a picture" });
  let drawn = false;

  function clear() {
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    drawn = false;
    placeholder.hidden = false;
  }
  clear();
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.strokeStyle = "#000000";
  ctx.lineWidth = Math.round(DRAW_SIDE * 0.12);

  let drawing = false, lastPoint = null;
  function point(event) {
    const rect = canvas.getBoundingClientRect();
    return [(event.clientX - rect.left) * canvas.width / rect.width, (event.clientY - rect.top) * canvas.height / rect.height];
  }
  canvas.addEventListener("pointerdown", (event) => {
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
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    const p = point(event);
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
    if (panel.session) runCanvas();
  }
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  canvas.addEventListener("pointerleave", end);

  const seeCanvas = el("canvas", { class: "ms-see", width: 160, height: 160, "aria-label": "What the model sees" });
  const heatCanvas = el("canvas", { class: "ms-see ms-see--heat", width: 160, height: 160, "aria-label": "Occlusion saliency map" });
  const heatBase = el("canvas", { class: "ms-see ms-see--base", width: 160, height: 160, "aria-hidden": "true" });
  const showHeat = el("input", { type: "checkbox", id: "ms-heat-toggle", checked: true });
  const heatNote = el("p", { class: "ms-note ms-tryit__heatnote" });
  showHeat.addEventListener("change", () => { heatCanvas.parentNode.hidden = !showHeat.checked; });

  const upload = el("input", { type: "file", accept: IMAGE_TYPES.join(","), class: "ms-visually-hidden", id: "ms-upload" });
  upload.addEventListener("change", () => { if (upload.files[0]) readFile(upload.files[0]); upload.value = ""; });
  const drop = el("div", { class: "ms-drop" }, [canvas, placeholder]);
  acceptDrops(drop, "ms-drop--over", readFile);

  function prepare(rgba, width, height) {
    const raw = P.captureImage(rgba, width, height, spec);
    const pre = P.preprocess(cfg.preprocessing, raw, "HWC");
    return { raw, feeds: { [input.name]: P.arrangeInput(pre.tensor, pre.layout, input.shape, input.dtype) } };
  }

  function runPixels(rgba, width, height, source) {
    let prepared;
    try { prepared = prepare(rgba, width, height); } catch (error) { return Promise.resolve(failUpload(error)); }
    drawModelView(prepared.feeds[input.name]);
    return panel.predict(prepared.feeds, { extra: { source, raw: Array.from(prepared.raw.data), rawShape: prepared.raw.shape } })
      .then((last) => saliency(prepared.feeds, last));
  }

  function runCanvas() {
    if (!drawn) return Promise.resolve(null);
    const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
    return runPixels(image.data, canvas.width, canvas.height, "canvas");
  }

  /* The panel has no call that empties its result, so a refused upload clears it here: an old answer
     must not stay beside the error as if it were the new picture's. */
  function failUpload(error) {
    panel.fail(error);
    panel.resultBox.textContent = "";
    panel.timing.textContent = "";
    panel.last = null;
    panel.api.last = null;
    for (const c of [seeCanvas, heatCanvas, heatBase]) c.getContext("2d").clearRect(0, 0, c.width, c.height);
    heatNote.textContent = "";
    return null;
  }

  function readFile(file) {
    panel.clearError();
    if (IMAGE_TYPES.indexOf(file.type) < 0) {
      return Promise.resolve(failUpload(InputError("That file is not an image this panel can read" + (file.type ? " (" + file.type + ")" : "") + ".",
        "Use a PNG, JPEG, GIF, WebP or BMP picture.")));
    }
    if (file.size > P.MAX_IMAGE_BYTES) {
      return Promise.resolve(failUpload(InputError("The image is too large: " + bytes(file.size) + ".",
        "Use a picture of at most " + bytes(P.MAX_IMAGE_BYTES) + ".")));
    }
    const decode = window.createImageBitmap ? createImageBitmap(file, DECODE_OPTIONS) : Promise.reject(new Error("no createImageBitmap"));
    const unreadable = () => InputError("The file could not be read as an image.", "It may be damaged, or in a format this browser cannot decode.");
    return decode.then(pixelsOf, () => { throw unreadable(); }).then(
      (picture) => runPixels(picture.rgba, picture.width, picture.height, "upload"),
      (error) => failUpload(error && error.kind === "input" ? error : unreadable())
    ).catch(() => null);  // a failed prediction is already shown by panel.predict
  }

  /* A decoded picture's RGBA bytes at its own size (refused over P.MAX_IMAGE_SIDE a side), also shown on the drawing area. */
  function pixelsOf(bitmap) {
    const w = bitmap.width, h = bitmap.height;
    if (w > P.MAX_IMAGE_SIDE || h > P.MAX_IMAGE_SIDE) {
      if (bitmap.close) bitmap.close();
      throw InputError("The image is too large: " + w + " × " + h + " pixels.",
        "Use a picture of at most " + P.MAX_IMAGE_SIDE + " pixels a side.");
    }
    // The picture at its own size: captureImage composites it over white and area-averages it.
    const work = document.createElement("canvas");
    work.width = w; work.height = h;
    const wctx = work.getContext("2d", { willReadFrequently: true });
    wctx.drawImage(bitmap, 0, 0);
    if (bitmap.close) bitmap.close();
    const rgba = wctx.getImageData(0, 0, w, h).data;
    clear();
    const fit = Math.min(canvas.width / w, canvas.height / h);
    ctx.drawImage(work, (canvas.width - w * fit) / 2, (canvas.height - h * fit) / 2, w * fit, h * fit);
    drawn = true;
    placeholder.hidden = true;
    return { rgba, width: w, height: h };
  }

  /* Draw the model's input tensor (any layout) as a picture, ink dark as in the drawing. */
  function toPicture(feed) {
    const shape = feed.shape, d = feed.data, chFirst = spec.layout === "NCHW";
    let h, w, c;
    if (shape.length === 4) { c = chFirst ? shape[1] : shape[3]; h = chFirst ? shape[2] : shape[1]; w = chFirst ? shape[3] : shape[2]; }
    else { h = shape[shape.length - 2]; w = shape[shape.length - 1]; c = 1; }
    let lo = Infinity, hi = -Infinity;
    for (let k = 0; k < d.length; k++) { lo = Math.min(lo, d[k]); hi = Math.max(hi, d[k]); }
    const range = modelRange || [lo, hi];
    const pixels = new Uint8ClampedArray(w * h * 4);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < 3; ch++) {
          const cc = c === 1 ? 0 : ch;
          const v = chFirst || shape.length !== 4 ? d[(cc * h + y) * w + x] : d[(y * w + x) * c + cc];
          const t = range[1] > range[0] ? (v - range[0]) / (range[1] - range[0]) : 0;
          pixels[(y * w + x) * 4 + ch] = Math.round(255 * (spec.invert ? 1 - t : t));
        }
        pixels[(y * w + x) * 4 + 3] = 255;
      }
    }
    return { pixels, width: w, height: h };
  }

  function drawScaled(target, small, smooth) {
    const tctx = target.getContext("2d");
    tctx.imageSmoothingEnabled = smooth;
    tctx.clearRect(0, 0, target.width, target.height);
    tctx.drawImage(small, 0, 0, target.width, target.height);
  }

  function drawModelView(feed) {
    const pic = toPicture(feed);
    const small = document.createElement("canvas");
    small.width = pic.width; small.height = pic.height;
    small.getContext("2d").putImageData(new ImageData(pic.pixels, pic.width, pic.height), 0, 0);
    drawScaled(seeCanvas, small, pic.width > 64);
    drawScaled(heatBase, small, pic.width > 64);
    heatCanvas.getContext("2d").clearRect(0, 0, heatCanvas.width, heatCanvas.height);
    heatNote.textContent = "";
  }

  // Drops are measured in log-probability, so a confident model (p close to 1) still shows
  // which patches matter; scores that are not probabilities are compared as they are.
  const logOf = (v) => (panel.probabilities ? Math.log(Math.max(v, 1e-12)) : v);

  /* Occlusion saliency: blank each patch of the input (to the background value), predict again
     (quietly: one batch when the batch size is free, else one copy at a time), and colour the
     patch by how much the predicted class's probability drops. */
  function saliency(feeds, last) {
    if (!last || !last.post) return last;
    const feed = feeds[input.name], shape = feed.shape;
    const chFirst = spec.layout === "NCHW" || shape.length !== 4;
    const h = shape.length === 4 ? (chFirst ? shape[2] : shape[1]) : shape[shape.length - 2];
    const w = shape.length === 4 ? (chFirst ? shape[3] : shape[2]) : shape[shape.length - 1];
    const c = shape.length === 4 ? (chFirst ? shape[1] : shape[3]) : 1;
    const patch = Math.max(1, Math.round(Math.max(h, w) / 8));
    const gx = Math.ceil(w / patch), gy = Math.ceil(h / patch), count = gx * gy;
    const background = modelBackground === undefined ? 0 : modelBackground;
    const per = feed.data.length, batch = new Float64Array(per * count);
    for (let p = 0; p < count; p++) {
      const py = Math.floor(p / gx), px = p % gx;
      batch.set(feed.data, p * per);
      for (let y = py * patch; y < Math.min(h, (py + 1) * patch); y++) {
        for (let x = px * patch; x < Math.min(w, (px + 1) * patch); x++) {
          for (let ch = 0; ch < c; ch++) batch[p * per + (chFirst ? (ch * h + y) * w + x : (y * w + x) * c + ch)] = background;
        }
      }
    }
    const target = last.post.top && last.post.top[0] && last.post.top[0][0] ? last.post.top[0][0].index : argmax(last.post.values.data);
    const base = logOf(last.post.values.data[target]);
    let runs;
    if (input.shape[0] === null) {
      const all = { [input.name]: { data: batch, shape: [count].concat(shape.slice(1)) } };
      runs = panel.predict(all, { show: false }).then((r) => {
        const n = r.post.values.shape[r.post.values.shape.length - 1], drops = [];
        for (let i = 0; i < count; i++) drops.push(base - logOf(r.post.values.data[i * n + target]));
        return { drops, ms: r.ms };
      });
    } else {
      const drops = [];
      let total = 0;
      runs = Array.from({ length: count }).reduce((chain, _, i) => chain.then(() => {
        const one = { [input.name]: { data: batch.slice(i * per, (i + 1) * per), shape } };
        return panel.predict(one, { show: false }).then((r) => {
          total += r.ms;
          drops.push(base - logOf(r.post.values.data[target]));
        });
      }), Promise.resolve()).then(() => ({ drops, ms: total }));
    }
    return runs.then((result) => {
      drawHeat(result.drops, gx, patch, w, h);
      heatNote.textContent = "Right: which parts make the model say “" + panel.labelOf(target) + "”. Red patches lower its " +
        (panel.probabilities ? "log-probability" : "score") + " most when blanked out, blue ones raise it (" + count + " occluded copies, " + ms(result.ms) + ").";
      panel.api.saliency = result.drops;
      panel.node.setAttribute("data-saliency", "ready");
      return last;
    });
  }

  function drawHeat(drops, gx, patch, w, h) {
    const hctx = heatCanvas.getContext("2d");
    hctx.clearRect(0, 0, heatCanvas.width, heatCanvas.height);
    let peak = 1e-9;
    for (const d of drops) peak = Math.max(peak, Math.abs(d));
    const sx = heatCanvas.width / w, sy = heatCanvas.height / h;
    drops.forEach((d, i) => {
      // Square root: a few decisive patches should not hide every other one.
      const t = (d < 0 ? -1 : 1) * Math.sqrt(Math.abs(d) / peak), py = Math.floor(i / gx), px = i % gx;
      hctx.fillStyle = t >= 0 ? "rgba(229, 57, 53," + (0.75 * t).toFixed(3) + ")" : "rgba(30, 136, 229," + (0.75 * -t).toFixed(3) + ")";
      hctx.fillRect(px * patch * sx, py * patch * sy, patch * sx, patch * sy);
    });
  }

  const pad = el("div", { class: "ms-imagepad" }, [
    el("div", { class: "ms-imagepad__draw" }, [
      el("p", { class: "ms-tryit__kicker", text: "Draw or drop a picture" }),
      drop,
      el("div", { class: "ms-imagepad__actions" }, [
        el("button", { type: "button", class: "md-button", text: "Clear", onclick: () => {
          clear();
          for (const c of [seeCanvas, heatCanvas, heatBase]) c.getContext("2d").clearRect(0, 0, c.width, c.height);
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
  const chips = panel.exampleChips((ex, i) => { if (panel.session) panel.runExample(i); });
  if (chips) panel.widgetBox.appendChild(chips);
  panel.widgetBox.appendChild(pad);
  panel.widgetBox.appendChild(el("p", { class: "ms-note", text: spec.fit
    ? "Your drawing is cropped to the ink, centred and scaled to " + spec.width + " × " + spec.height + (spec.invert ? ", with ink as the bright value," : "") + " like the training images."
    : "Pictures are scaled to " + spec.width + " × " + spec.height + " pixels." }));

  panel.api.runCanvas = runCanvas;
  panel.api.readFile = readFile;
  const exampleRun = (i) => panel.predictExample(i).then((last) => {
    const feeds = { [input.name]: P.fromNested(cfg.examples[i].inputs[input.name]) };
    return saliency(feeds, last).then(() => last);
  });
  return {
    afterLoad() {
      try {
        const ends = P.preprocess(cfg.preprocessing.filter((s) => s.op === "scale" || s.op === "normalize"),
          { data: [spec.low, spec.high], shape: [2] });
        modelRange = [Math.min(ends.tensor.data[0], ends.tensor.data[1]), Math.max(ends.tensor.data[0], ends.tensor.data[1])];
        modelBackground = spec.invert ? ends.tensor.data[0] : ends.tensor.data[1];
        if (spec.background !== undefined) modelBackground = spec.background;
      } catch (error) { modelRange = null; }
    },
    showExample: (ex) => drawModelView(P.fromNested(ex.inputs[input.name])),
    exampleRun,
    firstRun: () => (cfg.examples.length ? exampleRun(0) : null)
  };
}
