/*
 * Modelshelf home-page search: the sharded index (engine.js), facets with counts, ranges, a metric threshold
 * and sorting, with the whole state in the URL.
 *
 * An ES module, imported by search.js (the classic entry script) on a page with the search root
 * (#ms-search, rendered by generator/render/templates/home.md.j2); search.js calls init() on
 * the first page and after each instant navigation. Every string that comes from JSON reaches
 * the DOM through dom.js (textContent or attribute setters), never through innerHTML.
 */
import { el } from "../dom.js";
import { openIndex } from "./engine.js";

var ROOT_ID = "ms-search";
// Facets in the order the sidebar shows them: [URL parameter and column, legend].
var FACETS = [["task", "Task"], ["license", "Licence"], ["framework", "Framework"], ["dataset", "Dataset"], ["tag", "Tag"], ["opset", "ONNX opset"]];
var FACET_NAMES = FACETS.map(function (f) { return f[0]; });
var RANGES = { size: 1024, latency: 1, params: 1 };  // URL/input unit -> column unit (size: KB in the UI, bytes in the column)
var PAGE_SIZE = 20;
var FACET_SHOWN = 8;  // values a facet lists before "more"
var FACET_MORE = 100;  // values it lists after "more" (the filter box narrows them)
var URL_WRITE_DELAY_MS = 250;
var TIER_RANK = { "": 0, claimed: 0, reproduced: 1, verified: 2 };
// Sorts by a column, ascending; a leading "-" reverses. "metric" sorts best first in the metric's own direction.
var COLUMN_SORTS = { size: true, latency: true, params: true, updated: true };

/* ---- state and URL ------------------------------------------------------------------ */

function emptyState() {
  var filters = {};
  FACET_NAMES.forEach(function (group) { filters[group] = new Set(); });
  return {
    q: "", filters: filters, permissive: false,
    ranges: { size: ["", ""], latency: ["", ""], params: ["", ""] },
    metric: { name: "", dataset: "", tier: "", min: "" },
    sort: "", shown: PAGE_SIZE
  };
}

function readState(search) {
  var params = new URLSearchParams(search);
  var state = emptyState();
  state.q = params.get("q") || "";
  FACET_NAMES.forEach(function (group) {
    params.getAll(group).forEach(function (value) { if (value) state.filters[group].add(value); });
  });
  state.permissive = params.get("permissive") === "1";
  Object.keys(RANGES).forEach(function (name) {
    state.ranges[name] = [params.get(name + "_min") || "", params.get(name + "_max") || ""];
  });
  state.metric = { name: params.get("metric") || "", dataset: params.get("metric_dataset") || "",
                   tier: Object.prototype.hasOwnProperty.call(TIER_RANK, params.get("tier")) ? params.get("tier") : "",
                   min: params.get("metric_min") || "" };
  state.sort = params.get("sort") || "";
  var shown = parseInt(params.get("shown") || "", 10);
  state.shown = isFinite(shown) && shown > PAGE_SIZE ? shown : PAGE_SIZE;
  return state;
}

function stateQuery(state) {
  var params = new URLSearchParams();
  if (state.q.trim()) params.set("q", state.q.trim());
  FACET_NAMES.forEach(function (group) {
    state.filters[group].forEach(function (value) { params.append(group, value); });
  });
  if (state.permissive) params.set("permissive", "1");
  Object.keys(RANGES).forEach(function (name) {
    if (state.ranges[name][0] !== "") params.set(name + "_min", state.ranges[name][0]);
    if (state.ranges[name][1] !== "") params.set(name + "_max", state.ranges[name][1]);
  });
  if (state.metric.name) params.set("metric", state.metric.name);
  if (state.metric.dataset) params.set("metric_dataset", state.metric.dataset);
  if (state.metric.tier) params.set("tier", state.metric.tier);
  if (state.metric.min !== "") params.set("metric_min", state.metric.min);
  if (state.sort) params.set("sort", state.sort);
  if (state.shown > PAGE_SIZE) params.set("shown", String(state.shown));
  return params.toString();
}

function number(text) {
  var value = parseFloat(text);
  return text !== "" && isFinite(value) ? value : null;
}

function activeFilterCount(state) {
  var n = 0;
  FACET_NAMES.forEach(function (group) { n += state.filters[group].size; });
  if (state.permissive) n++;
  Object.keys(RANGES).forEach(function (name) { if (number(state.ranges[name][0]) !== null || number(state.ranges[name][1]) !== null) n++; });
  if (state.metric.name) n++;
  return n;
}

/* ---- filtering, counting, sorting --------------------------------------------------- */

// The columns a state needs before its results can be shown.
function neededColumns(index, state) {
  var needed = new Set();
  FACET_NAMES.forEach(function (group) { if (state.filters[group].size && index.hasColumn(group)) needed.add(group); });
  if (state.permissive && index.hasColumn("license")) needed.add("license");
  Object.keys(RANGES).forEach(function (name) {
    if ((number(state.ranges[name][0]) !== null || number(state.ranges[name][1]) !== null) && index.hasColumn(name)) needed.add(name);
  });
  var sortKey = state.sort.replace(/^-/, "");
  if (COLUMN_SORTS[sortKey] && index.hasColumn(sortKey)) needed.add(sortKey);
  return needed;
}

// The best value of the selected metric per model (NaN: no claim that qualifies), in the metric's direction.
function metricValues(index, data, selection) {
  var n = index.count;
  var values = new Float64Array(n).fill(NaN);
  if (!data) return values;
  var dataset = selection.dataset.trim().toLowerCase();
  var minTier = TIER_RANK[selection.tier] || 0;
  var higher = data.higher !== false;
  for (var k = 0; k < data.doc.length; k++) {
    if (data.tier[k] < minTier) continue;
    if (dataset && String(data.datasets[data.ds[k]]).toLowerCase() !== dataset) continue;
    var doc = data.doc[k];
    var v = data.value[k];
    var old = values[doc];
    if (isNaN(old) || (higher ? v > old : v < old)) values[doc] = v;
  }
  return values;
}

// One test per active filter group: {group, pass(doc)}; facets are OR within a group, AND across groups.
function buildTests(index, state, metric) {
  var tests = [];
  FACET_NAMES.forEach(function (group) {
    var selected = state.filters[group];
    var column = index.columns.get(group);
    if (!selected.size || !column) return;
    var wanted = new Uint8Array(column.values.length);
    selected.forEach(function (value) {
      var i = column.position.get(value);
      if (i !== undefined) wanted[i] = 1;
    });
    var col = column.col;
    tests.push({ group: group, pass: column.multi ? function (doc) {
      var vals = col[doc];
      for (var j = 0; j < vals.length; j++) if (wanted[vals[j]]) return true;
      return false;
    } : function (doc) { return col[doc] >= 0 && wanted[col[doc]] === 1; } });
  });
  if (state.permissive && index.columns.get("license")) {
    var licences = index.columns.get("license");
    var allowed = new Set(index.manifest.permissive || []);
    var ok = new Uint8Array(licences.values.length);
    licences.values.forEach(function (v, i) { ok[i] = allowed.has(v) ? 1 : 0; });
    tests.push({ group: "permissive", pass: function (doc) { return licences.col[doc] >= 0 && ok[licences.col[doc]] === 1; } });
  }
  Object.keys(RANGES).forEach(function (name) {
    var lo = number(state.ranges[name][0]);
    var hi = number(state.ranges[name][1]);
    var column = index.columns.get(name);
    if ((lo === null && hi === null) || !column) return;
    var unit = RANGES[name];
    var low = lo === null ? -Infinity : lo * unit;
    var high = hi === null ? Infinity : hi * unit;
    tests.push({ group: name, pass: function (doc) {
      var v = column.col[doc];
      return typeof v === "number" && v >= low && v <= high;
    } });
  });
  if (metric) {
    var min = number(state.metric.min);
    var higher = metric.higher;
    var values = metric.values;
    tests.push({ group: "metric", pass: function (doc) {
      var v = values[doc];
      if (isNaN(v)) return false;
      return min === null || (higher ? v >= min : v <= min);
    } });
  }
  return tests;
}

// Counts per facet value (and for "permissive"): models of the pool that pass every *other* group's test,
// so that ticking a second value in a group shows how many it would add.
function countFacets(index, pool, tests) {
  var counts = {};
  var facets = FACET_NAMES.filter(function (g) { return index.columns.has(g); });
  facets.forEach(function (g) { counts[g] = new Int32Array(index.columns.get(g).values.length); });
  var licences = index.columns.get("license");
  var permissive = null;
  if (licences) {
    var allowed = new Set(index.manifest.permissive || []);
    permissive = new Uint8Array(licences.values.length);
    licences.values.forEach(function (v, i) { permissive[i] = allowed.has(v) ? 1 : 0; });
    counts.permissive = 0;
  }
  var nTests = tests.length;
  function add(doc, only) {
    for (var f = 0; f < facets.length; f++) {
      var g = facets[f];
      if (only !== null && only !== g) continue;
      var column = index.columns.get(g);
      var v = column.col[doc];
      if (column.multi) { for (var j = 0; j < v.length; j++) counts[g][v[j]]++; } else if (v >= 0) counts[g][v]++;
    }
    if (permissive && (only === null || only === "permissive") && licences.col[doc] >= 0 && permissive[licences.col[doc]]) counts.permissive++;
  }
  for (var k = 0; k < pool.length; k++) {
    var doc = pool[k];
    var failed = null;
    var fails = 0;
    for (var t = 0; t < nTests && fails < 2; t++) {
      if (!tests[t].pass(doc)) { fails++; failed = tests[t].group; }
    }
    if (fails === 0) add(doc, null);
    else if (fails === 1) add(doc, failed);
  }
  return counts;
}

function sortResults(index, results, state, scores, metric) {
  var key = state.sort || (scores ? "" : "name");
  var reverse = key.charAt(0) === "-";
  var name = key.replace(/^-/, "");
  if (name === "" && scores) return results;  // the engine's order: best match, then name
  if (name === "" || name === "name") {
    // Models are numbered in name order: without a query the results already are.
    if (scores) results.sort(function (a, b) { return a - b; });
    if (reverse) results.reverse();
    return results;
  }
  var values = null;
  var direction = reverse ? -1 : 1;
  if (name === "metric") {
    if (!metric) return results;
    values = metric.values;
    direction = (metric.higher ? -1 : 1) * (reverse ? -1 : 1);
  } else if (COLUMN_SORTS[name] && index.columns.get(name)) {
    values = index.columns.get(name).col;
  } else {
    return results;
  }
  results.sort(function (a, b) {
    var x = values[a];
    var y = values[b];
    var xm = typeof x !== "number" || isNaN(x);
    var ym = typeof y !== "number" || isNaN(y);
    if (xm || ym) return xm === ym ? a - b : (xm ? 1 : -1);  // models without the value last
    return (x - y) * direction || a - b;
  });
  return results;
}

/* ---- formatting ------------------------------------------------------------------- */

var numberFormat = new Intl.NumberFormat("en", { maximumSignificantDigits: 4 });

function formatNumber(value) {
  return typeof value === "number" && isFinite(value) ? numberFormat.format(value) : String(value);
}

function formatBytes(size) {
  if (typeof size !== "number" || !isFinite(size) || size < 0) return "";
  var units = ["B", "KB", "MB", "GB"];
  var i = 0;
  while (size >= 1024 && i < units.length - 1) { size /= 1024; i++; }
  return (i === 0 ? String(size) : size.toFixed(size < 10 ? 1 : 0)) + " " + units[i];
}

function plural(n, word) {
  return n.toLocaleString("en") + " " + word + (n === 1 ? "" : "s");
}

/* ---- DOM -------------------------------------------------------------------------- */

// Only http(s) links, resolved against the home page (= the site root).
function safeHref(url, base) {
  try {
    var resolved = new URL(String(url), base);
    return resolved.protocol === "http:" || resolved.protocol === "https:" ? resolved.href : null;
  } catch (error) {
    return null;
  }
}

// The tier of a result's headline metric (computed by the build's evaluation stage): label, explanation.
var TIERS = {
  verified: ["✓ verified", "Verified: recomputed by the build on the published ONNX file, with a dataset loader of the project's registry, on the dataset and split the claim names"],
  reproduced: ["reproduced", "Reproduced: recomputed by the build on the published ONNX file, on data the model's contributors supplied (its SHA-256 is published)"],
  claimed: ["claimed", "Claimed: reported by the contributor; the build did not recompute it"]
};

function renderCard(model, base, sortedBy) {
  var name = el("a", { class: "ms-card__name", href: safeHref(model.url, base), text: model.name || model.id });
  var chips = el("div", { class: "ms-card__chips" }, [
    model.task_title ? el("span", { class: "ms-chip ms-chip--task", text: model.task_title }) : null,
    model.license ? el("span", { class: "ms-chip ms-chip--license", text: model.license }) : null,
    model.framework ? el("span", { class: "ms-chip ms-chip--framework", text: model.framework }) : null
  ]);
  var facts = el("div", { class: "ms-card__facts" });
  var metric = Array.isArray(model.metric) ? model.metric : null;
  if (metric && metric[0]) {
    var tier = Object.prototype.hasOwnProperty.call(TIERS, metric[4]) ? metric[4] : "claimed";
    var label = el("span", {
      class: "ms-card__tier ms-card__tier--" + tier + (tier === "verified" ? " ms-card__verified" : ""),
      title: TIERS[tier][1],
      text: TIERS[tier][0]
    });
    facts.appendChild(el("span", { class: "ms-card__metric" }, [
      el("span", { class: "ms-card__metric-name", text: metric[0] }),
      " ",
      el("strong", { class: "ms-card__metric-value", text: formatNumber(metric[1]) }),
      metric[2] ? " on " + metric[2] + (metric[3] ? " (" + metric[3] + ")" : "") : null,
      " · ",
      label
    ]));
  }
  if (sortedBy) facts.appendChild(el("span", { class: "ms-card__sorted", text: sortedBy }));
  var size = formatBytes(model.size);
  if (size) facts.appendChild(el("span", { class: "ms-card__size", text: size }));
  if (typeof model.latency === "number") facts.appendChild(el("span", { class: "ms-card__latency", text: formatNumber(model.latency) + " ms" }));
  return el("li", { class: "ms-result", "data-id": model.id }, [
    el("article", { class: "ms-card" }, [
      el("div", { class: "ms-card__head" }, [
        name,
        model.version ? el("span", { class: "ms-card__version", text: "v" + model.version }) : null
      ]),
      el("div", { class: "ms-card__id", text: model.id }),
      model.summary ? el("p", { class: "ms-card__summary", text: model.summary }) : null,
      el("div", { class: "ms-card__foot" }, [chips, facts])
    ])
  ]);
}

/* One facet's fieldset: a bounded list of checkboxes (top values, the ticked ones, "more" with a filter box). */
function FacetView(group, legend, onChange) {
  this.group = group;
  this.options = new Map();  // value -> label element (kept across renders, so focus survives)
  this.expanded = false;
  this.filter = "";
  var self = this;
  this.list = el("div", { class: "ms-facet__options" });
  this.find = el("input", { class: "ms-facet__find", type: "search", placeholder: "Find a " + legend.toLowerCase() + "…",
                            "aria-label": "Find a " + legend.toLowerCase(), autocomplete: "off", spellcheck: "false", hidden: true });
  this.more = el("button", { class: "ms-facet__more", type: "button", hidden: true, "aria-expanded": "false" });
  this.find.addEventListener("input", function () { self.filter = self.find.value; onChange(false); });
  this.more.addEventListener("click", function () {
    self.expanded = !self.expanded;
    self.more.setAttribute("aria-expanded", String(self.expanded));
    self.find.hidden = !self.expanded;
    if (self.expanded) self.find.focus();
    onChange(false);
  });
  this.onToggle = onChange;
  this.node = el("fieldset", { class: "ms-facet", "data-facet": group }, [
    el("legend", { class: "ms-facet__legend", text: legend }), this.find, this.list, this.more
  ]);
}

FacetView.prototype.option = function (value, label, selected) {
  var node = this.options.get(value);
  if (!node) {
    var self = this;
    var box = el("input", { type: "checkbox", name: this.group, value: value });
    box.addEventListener("change", function () {
      if (box.checked) selected.add(value); else selected.delete(value);
      self.onToggle(true);
    });
    node = el("label", { class: "ms-facet__option" }, [box, el("span", { class: "ms-facet__label", text: label }),
                                                       el("span", { class: "ms-facet__count" })]);
    this.options.set(value, node);
  }
  return node;
};

/* values: [{value, label, index}] in global order; counts: Int32Array by index, or null (not known yet). */
FacetView.prototype.render = function (values, total, counts, selected, fallbackCounts) {
  var needle = this.filter.trim().toLowerCase();
  var limit = this.expanded ? FACET_MORE : FACET_SHOWN;
  var shown = [];
  var seen = new Set();
  for (var i = 0; i < values.length && shown.length < limit; i++) {
    var v = values[i];
    if (needle && String(v.label).toLowerCase().indexOf(needle) < 0 && String(v.value).toLowerCase().indexOf(needle) < 0) continue;
    shown.push(v);
    seen.add(v.value);
  }
  var ticked = [];
  selected.forEach(function (value) {
    if (!seen.has(value)) {
      var known = values.find(function (x) { return x.value === value; });
      ticked.push(known || { value: value, label: value, index: -1 });
    }
  });
  shown = ticked.concat(shown);
  var self = this;
  var nodes = shown.map(function (v) {
    var node = self.option(v.value, v.label, selected);
    var box = node.firstChild;
    box.checked = selected.has(v.value);
    var n = counts && v.index >= 0 ? counts[v.index] : (fallbackCounts ? fallbackCounts.get(v.value) : null);
    node.lastChild.textContent = n === null || n === undefined ? "" : String(n);
    node.classList.toggle("ms-facet__option--empty", n === 0 && !box.checked);
    return node;
  });
  var current = Array.prototype.slice.call(this.list.children);
  if (current.length !== nodes.length || current.some(function (node, k) { return node !== nodes[k]; })) {
    this.list.replaceChildren.apply(this.list, nodes);
  }
  var many = total > FACET_SHOWN;
  this.more.hidden = !many;
  this.more.textContent = this.expanded ? "Fewer" : "More (" + (total - Math.min(FACET_SHOWN, total)).toLocaleString("en") + ")";
  this.find.hidden = !(many && this.expanded);
};

/* ---- the page --------------------------------------------------------------------- */

export function init(doc) {
  var root = (doc || document).getElementById(ROOT_ID);
  if (!root || root.dataset.msReady) return;
  root.dataset.msReady = "1";

  // The home page lives at the site root; the index URLs are relative to it.
  var siteRoot = new URL(".", window.location.href).href;
  var manifestUrl = new URL(root.dataset.indexUrl || "search/manifest.json", siteRoot).href;
  var base = new URL(".", manifestUrl).href;
  var q = function (selector) { return root.querySelector(selector); };
  var form = q(".ms-searchbox");
  var input = q("#ms-q");
  var layout = q(".ms-layout");
  var aside = q(".ms-facets");
  var groupsBox = q(".ms-facets__groups");
  var count = q(".ms-results__count");
  var list = q(".ms-results__list");
  var empty = q(".ms-empty");
  var more = q(".ms-more");
  var clear = q(".ms-facets__clear");
  var toggle = q(".ms-filters-toggle");
  var toggleN = q(".ms-filters-toggle__n");
  var closeButton = q(".ms-facets__close");
  var sortSelect = q(".ms-sort__select");
  var permissiveBox = q('input[name="permissive"]');
  var permissiveCount = permissiveBox.closest("label").querySelector(".ms-facet__count");
  var metricSelect = q('select[name="metric"]');
  var metricDataset = q('input[name="metric_dataset"]');
  var metricDatasets = q("#ms-metric-datasets");
  var tierSelect = q('select[name="tier"]');
  var metricMin = q('input[name="metric_min"]');
  var metricBound = q(".ms-filter__bound");
  var rangeInputs = Array.prototype.slice.call(root.querySelectorAll(".ms-filter--range input"));

  var state = readState(window.location.search);
  var index = null;
  var views = new Map();
  var frame = 0;
  var urlTimer = 0;
  var generation = 0;

  form.hidden = false;
  layout.hidden = false;

  function showState() {
    input.value = state.q;
    permissiveBox.checked = state.permissive;
    rangeInputs.forEach(function (box) {
      var parts = box.name.split("_");
      box.value = state.ranges[parts[0]][parts[1] === "min" ? 0 : 1];
    });
    metricSelect.value = state.metric.name;
    metricDataset.value = state.metric.dataset;
    tierSelect.value = state.metric.tier;
    metricMin.value = state.metric.min;
    sortSelect.value = state.sort;
  }

  function writeURL() {
    urlTimer = 0;
    var query = stateQuery(state);
    var url = window.location.pathname + (query ? "?" + query : "") + window.location.hash;
    if (url !== window.location.pathname + window.location.search + window.location.hash) {
      history.replaceState(history.state, "", url);
    }
  }

  function scheduleURL() {
    if (urlTimer) clearTimeout(urlTimer);
    urlTimer = setTimeout(writeURL, URL_WRITE_DELAY_MS);
  }

  function update(resetLimit) {
    if (resetLimit) state.shown = PAGE_SIZE;
    scheduleURL();
    if (!frame) frame = window.requestAnimationFrame(render);
  }

  function facetValues(group) {
    var column = index.columns.get(group);
    if (column) {
      if (!column.list) {
        column.list = column.values.map(function (value, i) {
          return { value: String(value), label: group === "opset" ? "opset " + value : String(column.labels[i]), index: i };
        });
      }
      return { values: column.list, total: column.values.length };
    }
    var facet = index.manifest.facets[group];
    return { values: facet.top.map(function (t) { return { value: String(t[0]), label: group === "opset" ? "opset " + t[0] : String(t[1]), index: -1 }; }),
             total: facet.distinct, fallback: new Map(facet.top.map(function (t) { return [String(t[0]), t[2]]; })) };
  }

  function setupFilters() {
    var manifest = index.manifest;
    FACETS.forEach(function (pair) {
      if (!manifest.facets[pair[0]]) return;
      var view = new FacetView(pair[0], pair[1], function (reset) { update(reset); });
      views.set(pair[0], view);
      groupsBox.appendChild(view.node);
    });
    (manifest.metrics || []).forEach(function (metric) {
      metricSelect.appendChild(el("option", { value: metric.name, text: metric.title + " (" + metric.count.toLocaleString("en") + ")" }));
    });
    Object.keys(RANGES).forEach(function (name) {
      var box = root.querySelector('.ms-filter--range[data-range="' + name + '"]');
      if (box) box.hidden = !(manifest.ranges || {})[name];
    });
    Array.prototype.forEach.call(sortSelect.options, function (option) {
      var key = option.value.replace(/^-/, "");
      if (COLUMN_SORTS[key]) option.hidden = !(manifest.ranges || {})[key];
    });
  }

  function updateMetricControls() {
    var info = state.metric.name ? index.metricInfo(state.metric.name) : null;
    metricBound.textContent = info && !info.higher ? "At most" : "At least";
    var data = state.metric.name ? index.metricData.get(state.metric.name) : null;
    var wanted = data ? data.datasets.slice(0, 200).join("\n") : "";
    if (metricDatasets.dataset.list !== wanted) {
      metricDatasets.dataset.list = wanted;
      metricDatasets.replaceChildren.apply(metricDatasets, data ? data.datasets.slice(0, 200).map(function (d) { return el("option", { value: d }); }) : []);
    }
  }

  function render() {
    frame = 0;
    if (!index) return;
    var gen = ++generation;
    var started = performance.now();
    var snapshot = stateQuery(state);
    var needed = neededColumns(index, state);
    var waits = [index.search(state.q)];
    needed.forEach(function (name) { waits.push(index.column(name)); });
    var metricWanted = state.metric.name && index.metricInfo(state.metric.name) ? state.metric.name : "";
    waits.push(metricWanted ? index.metric(metricWanted) : Promise.resolve(null));
    Promise.all(waits).then(function (parts) {
      if (gen !== generation) return null;
      var searched = performance.now();
      var found = parts[0];
      // Values the catalog does not have would filter invisibly: dropped (and from the URL) once their column is here.
      FACET_NAMES.forEach(function (group) {
        var column = index.columns.get(group);
        if (!column) return;
        state.filters[group].forEach(function (value) {
          if (!column.position.has(value)) { state.filters[group].delete(value); scheduleURL(); }
        });
      });
      var metricData = parts[parts.length - 1];
      var metric = metricData ? { higher: metricData.higher !== false, values: metricValues(index, metricData, state.metric) } : null;
      var pool;
      if (found) pool = found.docs;
      else {
        pool = new Int32Array(index.count);
        for (var i = 0; i < pool.length; i++) pool[i] = i;
      }
      var tests = buildTests(index, state, metric);
      var results = [];
      for (var k = 0; k < pool.length; k++) {
        var doc = pool[k];
        var ok = true;
        for (var t = 0; t < tests.length && ok; t++) ok = tests[t].pass(doc);
        if (ok) results.push(doc);
      }
      results = sortResults(index, results, state, found ? found.score : null, metric);
      var shownDocs = results.slice(0, state.shown);
      var filtered = performance.now();
      return index.cards(shownDocs).then(function (cards) {
        if (gen !== generation) return;
        var carded = performance.now();
        paint(results, cards, metric);
        renderFacets(pool, tests, !found && !tests.length);
        // Where the time went (ms): fetching and matching, filtering and sorting, result cards, the DOM.
        root.dataset.renderSteps = [searched - started, filtered - searched, carded - filtered, performance.now() - carded]
          .map(function (x) { return x.toFixed(1); }).join(" ");
        // How long this render took, from the query to the cards in the DOM (the benchmark reads it).
        root.dataset.renderMs = (performance.now() - started).toFixed(2);
        root.dataset.renderedQuery = state.q;
        root.dataset.renderedState = snapshot;
        root.classList.add("ms-home--ready");
        // Facet counts need every facet column: fetched after the first results are on screen.
        var missing = FACET_NAMES.filter(function (g) { return index.manifest.facets[g] && !index.columns.has(g); });
        var expanded = Array.from(views.values()).some(function (view) { return view.expanded; });
        if (missing.length && (expanded || !(found === null && !tests.length))) {
          Promise.all(missing.map(function (g) { return index.column(g); })).then(function () {
            if (gen === generation && !frame) frame = window.requestAnimationFrame(render);
          }, function () {});
        }
      });
    }).catch(function (error) {
      if (gen !== generation) return;
      count.textContent = "Search is unavailable: part of the model index could not be loaded.";
      root.classList.add("ms-home--failed");
      if (window.console) console.warn("modelshelf search:", error);
    });
  }

  function paint(results, cards, metric) {
    count.textContent = plural(results.length, "model");
    var filters = activeFilterCount(state);
    clear.hidden = filters === 0;
    toggleN.textContent = filters ? " (" + filters + ")" : "";
    var sortedBy = null;
    var fragment = document.createDocumentFragment();
    cards.forEach(function (card) {
      sortedBy = metric && state.metric.name ? state.metric.name + " " + formatNumber(metric.values[card.doc]) : null;
      fragment.appendChild(renderCard(card, siteRoot, sortedBy && !isNaN(metric.values[card.doc]) ? sortedBy : null));
    });
    list.replaceChildren(fragment);
    empty.hidden = results.length > 0;
    more.hidden = results.length <= cards.length;
    if (!more.hidden) more.textContent = "Show " + Math.min(PAGE_SIZE, results.length - cards.length) + " more";
    updateMetricControls();
  }

  function renderFacets(pool, tests, unfiltered) {
    var counts = countFacets(index, pool, tests);
    views.forEach(function (view, group) {
      var source = facetValues(group);
      var known = counts[group] || null;
      view.render(source.values, source.total, known, state.filters[group], unfiltered && !known ? source.fallback : null);
    });
    permissiveCount.textContent = counts.permissive === undefined ? "" : String(counts.permissive);
  }

  function setDrawer(open) {
    layout.classList.toggle("ms-layout--drawer", open);
    toggle.setAttribute("aria-expanded", String(open));
    if (open) aside.focus(); else toggle.focus();
  }

  input.addEventListener("input", function () { state.q = input.value; update(true); });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var first = list.querySelector(".ms-card__name[href]");
    if (first && input.value.trim()) first.click();
  });
  permissiveBox.addEventListener("change", function () { state.permissive = permissiveBox.checked; update(true); });
  rangeInputs.forEach(function (box) {
    box.addEventListener("input", function () {
      var parts = box.name.split("_");
      state.ranges[parts[0]][parts[1] === "min" ? 0 : 1] = box.value.trim();
      update(true);
    });
  });
  metricSelect.addEventListener("change", function () { state.metric.name = metricSelect.value; update(true); });
  metricDataset.addEventListener("input", function () { state.metric.dataset = metricDataset.value.trim(); update(true); });
  tierSelect.addEventListener("change", function () { state.metric.tier = tierSelect.value; update(true); });
  metricMin.addEventListener("input", function () { state.metric.min = metricMin.value.trim(); update(true); });
  sortSelect.addEventListener("change", function () { state.sort = sortSelect.value; update(true); });
  clear.addEventListener("click", function () {
    var keep = { q: state.q, sort: state.sort };
    state = emptyState();
    state.q = keep.q;
    state.sort = keep.sort;
    showState();
    update(true);
  });
  more.addEventListener("click", function () {
    state.shown += PAGE_SIZE;
    update(false);
  });
  toggle.addEventListener("click", function () { setDrawer(!layout.classList.contains("ms-layout--drawer")); });
  closeButton.addEventListener("click", function () { setDrawer(false); });
  aside.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && layout.classList.contains("ms-layout--drawer")) setDrawer(false);
  });

  showState();
  openIndex(base).then(function (loaded) {
    index = loaded;
    setupFilters();
    if (state.metric.name && !index.metricInfo(state.metric.name)) state.metric.name = "";
    if (!Array.prototype.some.call(sortSelect.options, function (o) { return o.value === state.sort && !o.hidden; })) state.sort = "";
    showState();  // the metric select has its options now
    scheduleURL();
    render();  // adds ms-home--ready once the first results are on screen
  }).catch(function (error) {
    count.textContent = "Search is unavailable: the model index could not be loaded.";
    root.classList.add("ms-home--failed");
    if (window.console) console.warn("modelshelf search:", error);
  });
}

// "/" jumps to the search box, as on most hubs (mkdocs-material's own search is not used).
document.addEventListener("keydown", function (event) {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
  var target = event.target;
  if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
  var input = document.getElementById("ms-q");
  if (!input || input.offsetParent === null) return;
  event.preventDefault();
  input.focus();
  input.select();
});
