/*
 * Audio widget (streaming voice activity, e.g. Silero VAD): a file is decoded in the browser at
 * its own rate, mixed to mono and resampled to the model's rate by processing.js (the arithmetic of
 * catalog/runtime/processing.py, so both give the same samples from the same file) and predicted frame
 * by frame, each frame preceded by the last `context` samples and fed the state the previous
 * frame returned (as the card's eval.py and silero_vad do). The frames go through
 * Panel.predict() quietly; the speech probability over time is shown once, through Panel.show().
 * The raw tensor editor (tensor.js) stays below for one frame.
 */
import { acceptDrops, el, svg } from "../../dom.js";
import { InputError, messageOf } from "../errors.js";
import { bytes, fmt, ms } from "../format.js";
import { build as buildTensorEditor } from "./tensor.js";

const MAX_UPLOAD_BYTES = 20 * 1024 * 1024;

/* The sample rate of a RIFF/WAVE file (so it is decoded without resampling), else 0. */
function wavRate(buffer) {
  const v = new DataView(buffer);
  if (buffer.byteLength < 28) return 0;
  const tag = (at) => String.fromCharCode(v.getUint8(at), v.getUint8(at + 1), v.getUint8(at + 2), v.getUint8(at + 3));
  if (tag(0) !== "RIFF" || tag(8) !== "WAVE") return 0;
  for (let at = 12; at + 8 <= buffer.byteLength;) {
    const size = v.getUint32(at + 4, true);
    if (tag(at) === "fmt " && at + 16 <= buffer.byteLength) return v.getUint32(at + 12, true);
    at += 8 + size + (size % 2);
  }
  return 0;
}

/* A file's bytes -> {samples (mono Float64Array at spec.sample_rate), rate, channels, duration} of the source:
   decoded at the file's own rate (a WAV's, read from its header), then P.mixToMono and P.resample. */
function decode(arrayBuffer, spec, P) {
  const Offline = window.OfflineAudioContext || window.webkitOfflineAudioContext;
  if (!Offline) return Promise.reject(InputError("This browser cannot decode audio (no Web Audio API).", ""));
  const native = wavRate(arrayBuffer) || spec.sample_rate;  // decode a WAV at its own rate: no resampling by the browser
  const ctx = new Offline(1, 1, native);
  return ctx.decodeAudioData(arrayBuffer.slice(0)).catch((error) => {
    throw InputError("This file is not audio this panel can read.", "Choose a WAV file (or MP3, OGG, FLAC that your browser plays). " + messageOf(error));
  }).then((buffer) => {
    if (buffer.duration > P.MAX_AUDIO_SECONDS) {
      throw InputError("The recording is too long: " + buffer.duration.toFixed(1) + " s.", "The panel takes at most " + P.MAX_AUDIO_SECONDS + " s; cut the file or use the deploy script.");
    }
    const channels = [];
    for (let c = 0; c < buffer.numberOfChannels; c++) channels.push(buffer.getChannelData(c));
    const mono = P.mixToMono(channels);
    return { samples: P.resample(mono, buffer.sampleRate, spec.sample_rate), rate: buffer.sampleRate,
      channels: buffer.numberOfChannels, duration: buffer.duration };
  });
}

/* Speech probability over time: the curve, the threshold and the segments shaded. */
function chart(audio, spec) {
  const W = 340, H = 150, L = 24, R = 14, T = 6, B = 20, pw = W - L - R, ph = H - T - B;
  const dur = Math.max(audio.seconds, 1e-3), frameS = spec.frame / spec.sample_rate;
  const x = (s) => L + pw * Math.min(1, s / dur), y = (p) => T + ph * (1 - p);
  const kids = [svg("rect", { class: "ms-vad__plot", x: L, y: T, width: pw, height: ph })];
  for (const s of audio.segments) {
    kids.push(svg("rect", { class: "ms-vad__speech", x: x(s[0]).toFixed(1), y: T, width: Math.max(1, x(s[1]) - x(s[0])).toFixed(1), height: ph }));
  }
  const pts = [];
  audio.probs.forEach((p, i) => {
    pts.push(x(i * frameS).toFixed(1) + "," + y(p).toFixed(1), x((i + 1) * frameS).toFixed(1) + "," + y(p).toFixed(1));
  });
  kids.push(svg("polyline", { class: "ms-vad__prob", points: pts.join(" ") }));
  kids.push(svg("line", { class: "ms-vad__threshold", x1: L, x2: L + pw, y1: y(spec.threshold), y2: y(spec.threshold) }));
  kids.push(svg("text", { class: "ms-vad__tick", x: L + pw - 2, y: y(spec.threshold) - 3, "text-anchor": "end", text: "threshold " + fmt(spec.threshold) }));
  for (const p of [0, 0.5, 1]) kids.push(svg("text", { class: "ms-vad__tick", x: L - 4, y: y(p) + 3, "text-anchor": "end", text: String(p) }));
  const step = dur > 30 ? 10 : dur > 12 ? 5 : dur > 5 ? 2 : dur > 2 ? 1 : 0.5;
  for (let s = 0; s <= dur + 1e-9; s += step) {
    kids.push(svg("text", { class: "ms-vad__tick", x: x(s), y: H - 6, "text-anchor": "middle", text: fmt(s) + " s" }));
  }
  return svg("svg", { class: "ms-vad", viewBox: "0 0 " + W + " " + H, role: "img",
    "aria-label": "Speech probability over " + audio.seconds.toFixed(2) + " s, threshold " + spec.threshold }, kids);
}

export function build(panel) {
  const spec = panel.cfg.audio, P = panel.P;
  if (!spec) return buildTensorEditor(panel);
  const outer = panel.widgetBox;
  const fileInput = el("input", { type: "file", class: "ms-visually-hidden", id: "ms-audio", accept: "audio/*,.wav" });
  const name = el("p", { class: "ms-note ms-filedrop__name" });
  const zone = el("div", { class: "ms-filedrop ms-audio__drop" }, [
    el("strong", { text: "Drop an audio file here" }),
    el("span", { text: "WAV (or any format your browser decodes), up to " + P.MAX_AUDIO_SECONDS + " s; mixed to mono and resampled to " +
      (spec.sample_rate / 1000) + " kHz in your browser, then run in " + spec.frame + "-sample frames." }),
    el("label", { class: "md-button", for: "ms-audio", text: "Choose an audio file" }),
    fileInput
  ]);
  outer.appendChild(zone);
  outer.appendChild(name);
  const editor = el("div", { class: "ms-audio__tensors" });
  const hooks = buildTensorEditor(panel, editor);
  editor.insertBefore(el("p", { class: "ms-tryit__kicker", text: "Or one frame as raw tensors" }), editor.firstChild);
  outer.appendChild(editor);

  /* Frame by frame through Panel.predict (quietly), carrying context and state; the per-frame probabilities. */
  async function stream(samples) {
    const frame = spec.frame, ctxLen = spec.context, n = P.frameCount(samples.length, frame);
    let state = new Float32Array(spec.state_shape.reduce((a, b) => a * b, 1)), context = new Float32Array(ctxLen);
    const probs = [];
    let runMs = 0;
    for (let i = 0; i < n; i++) {
      const x = new Float32Array(ctxLen + frame);
      x.set(context, 0);
      // float64 samples rounded to float32 as they are fed; the last frame is zero-padded.
      x.set(samples.subarray(i * frame, Math.min(samples.length, (i + 1) * frame)), ctxLen);
      const step = await panel.predict({
        [spec.input]: { data: x, shape: [1, ctxLen + frame] },
        [spec.state_input]: { data: state, shape: spec.state_shape },
        [spec.rate_input]: { data: [spec.sample_rate], shape: [] }
      }, { show: false });
      runMs += step.ms;
      probs.push(step.outputs[spec.output].data[0]);
      state = Float32Array.from(step.outputs[spec.state_output].data);
      context = x.slice(x.length - ctxLen);
    }
    return { probs, runMs };
  }

  async function runAudio(file) {
    panel.clearError();
    if (!panel.session) return null;
    if (file.size > MAX_UPLOAD_BYTES) {
      panel.fail(InputError("The file is too large: " + bytes(file.size) + ".", "The panel takes files up to " + bytes(MAX_UPLOAD_BYTES) + " and " + P.MAX_AUDIO_SECONDS + " s."));
      return null;
    }
    const t0 = performance.now();
    name.textContent = file.name + " (" + bytes(file.size) + ")";
    panel.setStatus("Decoding " + file.name + "…");
    try {
      const decoded = await decode(await file.arrayBuffer(), spec, P);
      const tDecoded = performance.now();
      panel.setStatus("Running " + P.frameCount(decoded.samples.length, spec.frame) + " frames…");
      const result = await stream(decoded.samples);
      const total = performance.now() - t0;
      panel.setStatus("");
      const audio = { file: file.name, probs: result.probs, segments: P.vadSegments(result.probs, spec), frames: result.probs.length,
        seconds: decoded.samples.length / spec.sample_rate, source_rate: decoded.rate, channels: decoded.channels,
        decode_ms: tDecoded - t0, run_ms: result.runMs, total_ms: total };
      return panel.show({ feeds: null, outputs: null, post: null, ms: result.runMs, extra: { audio } }, {
        timing: "Total " + ms(total) + " (decoding " + ms(audio.decode_ms) + ", " + audio.frames + " frames, " +
          ms(result.runMs / Math.max(1, audio.frames)) + " per frame) · onnxruntime-web · wasm · 1 thread"
      });
    } catch (error) {
      panel.fail(error);
      return null;
    }
  }

  function render(box, last) {
    const audio = last.extra && last.extra.audio;
    if (!audio) return false;
    const speech = audio.segments.reduce((a, s) => a + s[1] - s[0], 0);
    box.appendChild(el("p", { class: "ms-tryit__headline" }, [
      el("span", { class: "ms-tryit__kicker", text: "Speech detected" }),
      el("strong", { class: "ms-tryit__label", text: audio.segments.length ? audio.segments.length + " segment" + (audio.segments.length > 1 ? "s" : "") : "no speech" }),
      el("span", { class: "ms-tryit__confidence", text: speech.toFixed(2) + " s of " + audio.seconds.toFixed(2) + " s" })
    ]));
    box.appendChild(chart(audio, spec));
    if (audio.segments.length) {
      box.appendChild(el("ol", { class: "ms-vad__segments", "aria-label": "Speech segments" }, audio.segments.map((s) =>
        el("li", { "data-start": s[0].toFixed(3), "data-end": s[1].toFixed(3), text: s[0].toFixed(2) + " – " + s[1].toFixed(2) + " s (" + (s[1] - s[0]).toFixed(2) + " s)" }))));
    }
    box.appendChild(el("p", { class: "ms-note", text: audio.frames + " frames of " + spec.frame + " samples (" + (1000 * spec.frame / spec.sample_rate) + " ms) from " +
      audio.file + " (" + audio.source_rate + " Hz, " + audio.channels + " channel" + (audio.channels > 1 ? "s" : "") + "). A segment starts at p ≥ " +
      fmt(spec.threshold) + " and ends after " + spec.min_silence_ms + " ms below " + fmt(spec.neg_threshold) + "; segments under " + spec.min_speech_ms + " ms are dropped." }));
    return true;
  }

  fileInput.addEventListener("change", () => { const f = fileInput.files[0]; fileInput.value = ""; if (f) runAudio(f); });
  acceptDrops(zone, "ms-filedrop--over", runAudio);
  panel.api.runAudio = runAudio;
  panel.api.segments = (probs) => P.vadSegments(probs, spec);
  return { ...hooks, render };
}
