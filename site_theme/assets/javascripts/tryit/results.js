/*
 * How the panel draws a prediction: the scored output's kind picks bars (classes, one binary
 * probability), a value on the card's target range, or the raw outputs. A widget with its own
 * view (sentence embeddings, similarity, speech over time) draws it through its render() hook.
 */
import { el, svg } from "../dom.js";
import { fmt, pct } from "./format.js";

export function labelOf(cfg, index) {
  return index < cfg.labels.length ? cfg.labels[index] : "class " + index;
}

/* Replace the content of `box` with `last` (what Panel.show() recorded). */
export function renderResult(panel, box, last) {
  const cfg = panel.cfg, post = last.post;
  box.textContent = "";
  const scored = cfg.outputs.filter((t) => t.name === cfg.scored_output)[0] || {};
  if (panel.widget.render && panel.widget.render(box, last)) return;
  if (scored.kind === "value") return renderValue(cfg, box, last);
  if (post && (scored.kind === "scores" || cfg.labels.length)) return renderScores(panel, box, last);
  renderRaw(cfg, box, last);
}

function bar(label, width, value, className) {
  return el("li", { class: "ms-bars__row" + className }, [
    el("span", { class: "ms-bars__label", text: label }),
    el("span", { class: "ms-bars__track" }, [el("span", { class: "ms-bars__fill", style: "width:" + Math.max(0, Math.min(1, width)) * 100 + "%" })]),
    el("span", { class: "ms-bars__value", text: value })
  ]);
}

/* One probability for two labels (e.g. speech / no speech): label 1 when it passes the card's threshold. */
function renderBinary(cfg, box, p) {
  const step = cfg.postprocessing.filter((s) => s.op === "threshold")[0];
  const limit = step ? Number(step.value) : 0.5, yes = p >= limit;
  box.appendChild(el("p", { class: "ms-tryit__headline" }, [
    el("span", { class: "ms-tryit__kicker", text: "Prediction" }),
    el("strong", { class: "ms-tryit__label", "data-label-index": yes ? 1 : 0, text: labelOf(cfg, yes ? 1 : 0) }),
    el("span", { class: "ms-tryit__confidence", text: pct(yes ? p : 1 - p) })
  ]));
  const list = el("ol", { class: "ms-bars", "aria-label": "Probability of each label" });
  for (const [index, value] of [[1, p], [0, 1 - p]]) {
    list.appendChild(bar(labelOf(cfg, index), value, pct(value), (index === 1) === yes ? " ms-bars__row--best" : ""));
  }
  box.appendChild(list);
  box.appendChild(el("p", { class: "ms-note", text: "The model gives one probability for “" + labelOf(cfg, 1) + "”; the card's threshold is " + fmt(limit) + "." }));
}

function renderScores(panel, box, last) {
  const cfg = panel.cfg, post = last.post;
  const values = post.values.data, n = post.values.shape[post.values.shape.length - 1] || values.length;
  if (n === 1 && cfg.labels.length === 2) return renderBinary(cfg, box, values[0]);
  let probabilities = panel.probabilities;
  if (!probabilities) {
    // Scores that already sum to one per row (e.g. skl2onnx probabilities) are shown as percentages.
    let total = 0;
    for (let k = 0; k < n; k++) total += values[k];
    probabilities = Math.abs(total - 1) < 1e-3 && Array.prototype.every.call(values.slice(0, n), (v) => v >= 0);
  }
  const order = panel.P.topk({ data: values.slice(0, n), shape: [n] }, n)[0];
  const topSet = {};
  for (const e of post.top ? post.top[0] : [{ index: order[0] }]) topSet[e.index] = true;
  const labelOutput = cfg.outputs.filter((t) => t.kind === "label")[0];
  const predicted = labelOutput && last.outputs[labelOutput.name] ? last.outputs[labelOutput.name].data[0] : order[0];
  const decision = post.decision && post.decision[0];
  box.appendChild(el("p", { class: "ms-tryit__headline" }, [
    el("span", { class: "ms-tryit__kicker", text: "Prediction" }),
    decision
      ? el("strong", { class: "ms-tryit__label", "data-label": decision.label, text: decision.label })
      : el("strong", { class: "ms-tryit__label", "data-label-index": predicted, text: labelOf(cfg, predicted) }),
    el("span", { class: "ms-tryit__confidence", text: probabilities ? pct(values[predicted]) : "score " + fmt(values[predicted]) })
  ]));
  if (decision && !decision.confident) {
    // The card's decision rule (e.g. Magika's per-type thresholds) did not accept the top label.
    box.appendChild(el("p", { class: "ms-note", text: "The top label, " + decision.model_label + ", is under the score the model's " +
      "own rule needs for it, so the answer is " + decision.label + ", as the deploy bundle and `modelshelf run` say." }));
  }
  let max = -Infinity, min = Infinity;
  for (let j = 0; j < n; j++) { max = Math.max(max, values[j]); min = Math.min(min, values[j]); }
  const list = el("ol", { class: "ms-bars", "aria-label": "Scores of every class" });
  const shown = n > 12 ? order.slice(0, 10) : order;
  shown.forEach((i, rank) => {
    const v = values[i];
    const width = probabilities ? v : (max > min ? (v - min) / (max - min) : 1);
    list.appendChild(bar(labelOf(cfg, i), width, probabilities ? pct(v) : fmt(v),
      (topSet[i] ? " ms-bars__row--top" : "") + (rank === 0 ? " ms-bars__row--best" : "")));
  });
  box.appendChild(list);
  if (n > shown.length) box.appendChild(el("p", { class: "ms-note", text: (n - shown.length) + " more classes not shown." }));
  if (post.top && post.top[0]) {
    const topk = cfg.postprocessing.filter((s) => s.op === "topk")[0];
    if (topk && post.top[0].length === 0) box.appendChild(el("p", { class: "ms-note", text: "No class passes the card's threshold." }));
  }
}

function renderValue(cfg, box, last) {
  const value = last.post ? last.post.values.data[0] : NaN;
  const scored = cfg.outputs.filter((t) => t.name === cfg.scored_output)[0];
  box.appendChild(el("p", { class: "ms-tryit__headline" }, [
    el("span", { class: "ms-tryit__kicker", text: scored.description || "Predicted value" }),
    el("strong", { class: "ms-tryit__value", text: fmt(value) })
  ]));
  const range = cfg.target_range;
  if (!range) return;
  const lo = range.min, hi = range.max, span = hi - lo || 1;
  const pos = Math.max(0, Math.min(1, (value - lo) / span));
  const outside = value < lo || value > hi;
  box.appendChild(svg("svg", { class: "ms-range", viewBox: "0 0 300 54", role: "img",
    "aria-label": "Prediction " + fmt(value) + " within the range " + fmt(lo) + " to " + fmt(hi) }, [
    svg("rect", { class: "ms-range__track", x: 10, y: 20, width: 280, height: 10, rx: 5 }),
    svg("rect", { class: "ms-range__fill", x: 10, y: 20, width: Math.max(2, 280 * pos), height: 10, rx: 5 }),
    svg("circle", { class: "ms-range__marker" + (outside ? " ms-range__marker--outside" : ""), cx: 10 + 280 * pos, cy: 25, r: 8 }),
    svg("text", { class: "ms-range__tick", x: 10, y: 48, "text-anchor": "start", text: fmt(lo) }),
    svg("text", { class: "ms-range__tick", x: 290, y: 48, "text-anchor": "end", text: fmt(hi) })
  ]));
  box.appendChild(el("p", { class: "ms-note", text: (outside ? "Outside the range seen in the " : "Range seen in the ") + range.source + ": " + fmt(lo) + " to " + fmt(hi) + "." }));
}

function renderRaw(cfg, box, last) {
  box.appendChild(el("p", { class: "ms-tryit__kicker", text: "Outputs" }));
  for (const t of cfg.outputs) {
    const o = last.outputs && last.outputs[t.name];
    if (!o) continue;
    const shown = o.data.slice(0, 16).map(fmt).join(", ") + (o.data.length > 16 ? ", … (" + o.data.length + " values)" : "");
    box.appendChild(el("p", {}, [el("code", { text: t.name }), " [" + o.shape.join(", ") + "]: " + shown]));
  }
}
