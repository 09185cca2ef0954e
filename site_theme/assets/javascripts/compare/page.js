/*
 * The compare page: two to four models side by side, read from catalog.json in the browser (no server).
 *
 * The selection is the `m` parameter of the page's URL: comma-separated `org/name@version` (a version) or
 * `org/name` (its latest version). Adding or removing a model rewrites the URL (history.replaceState), so the
 * page can be bookmarked and shared. compare/data.json (generator/render/leaderboard_pages.py) adds what
 * catalog.json does not carry: parameter counts and which metrics are better lower. Strings from the catalog
 * reach the DOM only through dom.js (textContent and attribute setters).
 */
import { el } from "../dom.js";
import { once } from "../load.js";

const KEY = "modelshelf.compare";

function fetchJson(url) {
  return once("json:" + url, () => fetch(url).then((response) => {
    if (!response.ok) throw new Error(url + ": HTTP " + response.status);
    return response.json();
  }));
}

/* The selection in `search` (location.search): refs, without repeats, at most `most`. */
export function parseSelection(search, most) {
  const raw = new URLSearchParams(search).get("m") || "";
  const refs = [];
  for (const part of raw.split(",")) {
    const ref = part.trim();
    if (ref && !refs.includes(ref) && refs.length < most) refs.push(ref);
  }
  return refs;
}

/* The query string for refs; '/' and '@' stay readable. */
export function selectionQuery(refs) {
  return refs.length ? "?m=" + refs.map((r) => encodeURIComponent(r).replace(/%2F/g, "/").replace(/%40/g, "@")).join(",") : "";
}

function resolve(models, ref) {
  const at = ref.lastIndexOf("@");
  const id = at > 0 ? ref.slice(0, at) : ref;
  const version = at > 0 ? ref.slice(at + 1) : null;
  return models.find((m) => m.id === id && (version ? m.version === version : m.latest)) || null;
}

function humanSize(bytes) {
  let value = bytes;
  for (const unit of ["B", "KB", "MB", "GB"]) {
    if (value < 1024 || unit === "GB") return unit === "B" ? value.toFixed(0) + " B" : value.toFixed(1) + " " + unit;
    value /= 1024;
  }
  return bytes + " B";
}

function latencyText(ms) {
  if (ms === null || ms === undefined) return "";
  return ms < 1 ? (ms * 1000).toPrecision(3).replace(/\.?0+$/, "") + " µs" : ms.toPrecision(3) + " ms";
}

function valueText(value) {
  return value === null || value === undefined ? "" : String(Number(value.toPrecision(4)));
}

function shapeText(shape) {
  return "[" + shape.map((d) => (d === null ? "?" : String(d))).join(", ") + "]";
}

/* metric · dataset -> {metric, dataset, value, claimed, tier} of one model (claims in card order, then measured metrics). */
export function metricsOf(model) {
  const out = new Map();
  const card = model.card || {};
  const ev = model.evaluation;
  const claims = (ev && ev.claims) || [];
  (card.metrics || []).forEach((m, i) => {
    const claim = claims[i] || {};
    const tier = claim.tier || "claimed";
    const key = m.name + " · " + m.dataset;
    if (!out.has(key) || out.get(key).value === null) {
      out.set(key, {metric: m.name, dataset: m.dataset, claimed: m.value, tier,
                    value: tier !== "claimed" && claim.recomputed !== undefined ? claim.recomputed : null});
    }
  });
  if (ev && ev.metrics) {
    const claimed = new Set([...out.values()].map((r) => r.metric));
    const dataset = (card.evaluation && card.evaluation.dataset) || ((card.datasets || [])[0] || {}).id || "";
    for (const [name, value] of Object.entries(ev.metrics)) {
      if (claimed.has(name) || !dataset) continue;
      out.set(name + " · " + dataset, {metric: name, dataset, claimed: null, tier: (ev.tiers || {})[name] || "claimed", value});
    }
  }
  return out;
}

/* Whether every model takes the same inputs: the same count, and per input the same kind, dtype and shape
   (a named or unknown dimension matches any). Returns {ok, reason}. */
export function compatibility(models) {
  const sig = (m) => (m.signature && m.signature.inputs) || [];
  const kinds = (m) => ((m.card && m.card.inputs) || []).map((t) => t.kind || "tensor");
  const first = models[0];
  for (const other of models.slice(1)) {
    if (sig(other).length !== sig(first).length) return {ok: false, reason: "they take different numbers of inputs"};
    if (kinds(other).join() !== kinds(first).join()) return {ok: false, reason: "different kinds of input: " + kinds(first).join(", ") + " against " + kinds(other).join(", ")};
    for (let i = 0; i < sig(first).length; i++) {
      const a = sig(first)[i];
      const b = sig(other)[i];
      if (a.dtype !== b.dtype) return {ok: false, reason: "input " + (i + 1) + " is " + a.dtype + " in one and " + b.dtype + " in another"};
      const same = a.shape.length === b.shape.length && a.shape.every((d, j) => {
        const e = b.shape[j];
        return typeof d !== "number" || typeof e !== "number" || d === e;
      });
      if (!same) return {ok: false, reason: "input " + (i + 1) + " has shape " + shapeText(a.shape) + " in one and " + shapeText(b.shape) + " in another"};
    }
  }
  return {ok: true, reason: "the same input " + (kinds(first).join(", ") || "tensor") + ", " + sig(first).map((t) => t.dtype + " " + shapeText(t.shape)).join(", ")};
}

function tierChip(tier) {
  return el("span", {class: "ms-chip ms-tier ms-tier--" + tier, "data-tier": tier, text: tier});
}

function render(root, state) {
  const {models, data, refs, rootUrl, most} = state;
  const chosen = refs.map((ref) => ({ref, model: resolve(models, ref)}));
  const found = chosen.filter((c) => c.model);
  const missing = chosen.filter((c) => !c.model).map((c) => c.ref);
  try {
    window.sessionStorage.setItem(KEY, found.map((c) => c.model.id + "@" + c.model.version).join(","));
  } catch (error) { /* private mode: the links still open the page with their own selection */ }

  const status = root.querySelector(".ms-compare__status");
  const parts = [];
  if (found.length < 2) parts.push(found.length ? "Add at least one more model to compare." : "Pick two to " + most + " models to compare.");
  if (missing.length) parts.push("Not in the catalog: " + missing.join(", ") + ".");
  status.textContent = parts.join(" ");

  // Picker: the latest version of every model not chosen yet.
  const picker = root.querySelector(".ms-compare__picker");
  picker.replaceChildren();
  const ids = new Set(found.map((c) => c.model.id));
  const options = models.filter((m) => m.latest && !ids.has(m.id)).sort((a, b) => a.id.localeCompare(b.id));
  const select = el("select", {class: "ms-compare__select", id: "ms-compare-select", "aria-label": "Model to add"},
    [el("option", {value: "", text: "Add a model…"}), ...options.map((m) => el("option", {value: m.id, text: m.card.name + " (" + m.id + ")"}))]);
  const full = refs.length >= most;
  select.disabled = full || !options.length;
  const add = el("button", {class: "md-button ms-compare__add", type: "button", text: "Add", disabled: full || !options.length,
    onclick: () => { if (select.value) update(root, state, [...refs, select.value]); }});
  picker.append(el("label", {for: "ms-compare-select", class: "ms-visually-hidden", text: "Model to add"}), select, add);
  if (full) picker.append(el("span", {class: "ms-note", text: " At most " + most + " models."}));

  const compat = root.querySelector(".ms-compare__compat");
  compat.replaceChildren();
  const table = root.querySelector(".ms-compare__table");
  table.replaceChildren();
  if (!found.length) return;

  const cols = found.map((c) => c.model);
  const page = (m) => new URL(m.page, rootUrl).href;
  const head = el("tr", {}, [el("th", {scope: "col", text: "Model"}), ...found.map((c) => el("th", {scope: "col", class: "ms-compare__model", "data-model": c.model.id + "@" + c.model.version}, [
    el("a", {href: page(c.model)}, [el("strong", {text: c.model.card.name})]), el("br"),
    el("span", {class: "ms-id", text: c.model.id + "@" + c.model.version}), " ",
    el("button", {type: "button", class: "ms-compare__remove", "aria-label": "Remove " + c.model.id + " from the comparison", text: "remove",
      onclick: () => update(root, state, refs.filter((r) => r !== c.ref))}),
  ]))]);
  const rows = [];
  const row = (label, cells, cls) => rows.push(el("tr", {class: cls || null, "data-field": label}, [el("th", {scope: "row", text: label}), ...cells.map((cell) => el("td", {}, [cell]))]));
  const params = data.parameters || {};
  const lower = new Set(data.lower_is_better || []);
  row("Task", cols.map((m) => m.task));
  row("Licence", cols.map((m) => (m.card.license === "other" ? m.card.license_name || "other" : m.card.license)));
  row("Size (ONNX)", cols.map((m) => { const f = (m.files || [])[0]; return f ? el("span", {"data-bytes": f.size, title: f.size + " bytes", text: humanSize(f.size)}) : "—"; }));
  row("Latency (median)", cols.map((m) => (m.latency ? latencyText(m.latency.median_ms) : "—")));
  row("Parameters", cols.map((m) => { const n = params[m.id + "@" + m.version]; return n === undefined || n === null ? "—" : n.toLocaleString("en"); }));
  row("Opset", cols.map((m) => String((m.signature || {}).opset ?? "—")));
  const io = (list) => el("ul", {class: "ms-compare__io"}, list.map((t) => el("li", {}, [el("code", {text: t.name}), " " + t.dtype + " " + shapeText(t.shape)])));
  row("Inputs", cols.map((m) => io((m.signature || {}).inputs || [])));
  row("Outputs", cols.map((m) => io((m.signature || {}).outputs || [])));

  // Metrics: one row per metric and dataset any of them has; the best recomputed value in bold.
  const per = cols.map(metricsOf);
  const keys = [];
  for (const map of per) for (const key of map.keys()) if (!keys.includes(key)) keys.push(key);
  for (const key of keys) {
    const cells = per.map((map) => map.get(key));
    const metric = cells.find(Boolean).metric;
    const values = cells.filter((c) => c && c.value !== null).map((c) => c.value);
    const best = values.length > 1 ? (lower.has(metric) ? Math.min(...values) : Math.max(...values)) : null;
    row(key, cells.map((c) => {
      if (!c) return el("span", {class: "ms-muted", text: "—"});
      const shown = c.value !== null ? valueText(c.value) : valueText(c.claimed);
      return el("span", {class: "ms-compare__metric", "data-value": c.value === null ? "" : String(c.value), "data-tier": c.tier}, [
        c.value !== null && c.value === best ? el("strong", {text: shown}) : shown, " ", tierChip(c.tier),
        c.value !== null && c.claimed !== null ? el("span", {class: "ms-muted", text: " claimed " + valueText(c.claimed)}) : null,
      ]);
    }), "ms-compare__metric-row");
  }
  table.append(el("table", {class: "ms-compare-table"}, [el("thead", {}, [head]), el("tbody", {}, rows)]));

  if (cols.length >= 2) {
    const verdict = compatibility(cols);
    compat.append(verdict.ok
      ? el("div", {class: "admonition tip ms-compare__same", role: "note"}, [
          el("p", {class: "admonition-title", text: "Try the same input on all of them"}),
          el("p", {text: "These models take compatible inputs: " + verdict.reason + ". Open each one's Try it panel and give it the same input:"}),
          el("ul", {}, cols.map((m) => el("li", {}, [el("a", {class: "ms-compare__try", href: page(m) + "#try-it", text: "Try " + m.card.name + " " + m.version})]))),
        ])
      : el("p", {class: "ms-note ms-compare__different", text: "Their inputs differ, so one input cannot be tried on all of them: " + verdict.reason + "."}));
  }
}

function update(root, state, refs) {
  state.refs = refs.slice(0, state.most);
  history.replaceState(history.state, "", location.pathname + selectionQuery(state.refs) + location.hash);
  render(root, state);
}

export async function init(root) {
  if (root.dataset.ready === "true") return;
  root.dataset.ready = "true";
  const most = Number(root.dataset.max) || 4;
  const rootUrl = new URL(root.dataset.root || "./", location.href);
  const status = root.querySelector(".ms-compare__status");
  status.textContent = "Loading the catalog…";
  try {
    const [catalog, data] = await Promise.all([
      fetchJson(new URL("catalog.json", rootUrl).href),
      fetchJson(new URL("compare/data.json", rootUrl).href).catch(() => ({})),
    ]);
    const state = {models: catalog.models || [], data, refs: parseSelection(location.search, most), rootUrl, most};
    render(root, state);
  } catch (error) {
    status.textContent = "The catalog could not be loaded: " + error.message;
  }
}
