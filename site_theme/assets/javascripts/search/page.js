/*
 * Modelshelf home-page search: a prebuilt lunr index plus facets, with the state in the URL.
 *
 * An ES module, imported by search.js (the classic entry script) on a page with the search root
 * (#ms-search, rendered by generator/render/templates/home.md.j2); search.js calls init() on
 * the first page and after each instant navigation. Every string that comes from JSON reaches
 * the DOM through dom.js (textContent or attribute setters), never through innerHTML.
 */
import { el } from "../dom.js";
import { once, loadScript } from "../load.js";

var ROOT_ID = "ms-search";
var FACETS = ["task", "license", "framework", "dataset"];
var PAGE_SIZE = 50;
// Characters with a meaning in lunr's query syntax (see lunr.QueryLexer).
var LUNR_SPECIAL = /[:^~+\-*\\]/g;
var URL_WRITE_DELAY_MS = 250;

function fetchJSON(url) {
  return once("json:" + url, function () {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error(url + ": HTTP " + response.status);
      return response.json();
    });
  });
}

function loadCatalog(urls) {
  return Promise.all([loadScript(urls.lunr, "lunr"), fetchJSON(urls.index), fetchJSON(urls.docs)])
    .then(function (parts) {
      var lunr = parts[0];
      return once("catalog:" + urls.index, function () {
        return Promise.resolve(makeCatalog(lunr, lunr.Index.load(parts[1]), parts[2]));
      });
    });
}

/* ---- data ----------------------------------------------------------------------- */

function makeCatalog(lunr, index, docs) {
  var models = (docs && docs.models) || [];
  var byId = new Map();
  models.forEach(function (model) {
    model._facets = {
      task: model.task ? [model.task] : [],
      license: model.license ? [model.license] : [],
      framework: model.framework ? [model.framework] : [],
      dataset: Array.isArray(model.datasets) ? model.datasets : []
    };
    model._sortKey = String(model.name || model.id || "").toLowerCase();
    byId.set(model.id, model);
  });
  var byName = models.slice().sort(compareByName);
  return { lunr: lunr, index: index, byId: byId, byName: byName };
}

function compareByName(a, b) {
  if (a._sortKey < b._sortKey) return -1;
  if (a._sortKey > b._sortKey) return 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

// Split a query the way the index was tokenised (whitespace and hyphens), trim
// punctuation at both ends like lunr's trimmer, and drop lunr's wildcard character.
function queryTerms(query) {
  return query.toLowerCase().split(/[\s\-]+/).map(function (token) {
    return token.replace(/\*/g, "").replace(/^\W+/, "").replace(/\W+$/, "");
  }).filter(Boolean);
}

function escapeLunr(text) {
  return text.replace(LUNR_SPECIAL, "\\$&");
}

// Score of every model that matches one term: the whole word (stemmed, boosted) or
// any word that starts with it (so results appear while the word is being typed).
function matchTerm(catalog, term) {
  var lunr = catalog.lunr;
  var hits;
  try {
    hits = catalog.index.query(function (q) {
      q.term(term, { boost: 10, usePipeline: true });
      q.term(term, { boost: 1, usePipeline: false, wildcard: lunr.Query.wildcard.TRAILING });
    });
  } catch (error) {
    // Should not happen with the query builder, but a bad term must never break the page.
    try {
      hits = catalog.index.search(escapeLunr(term));
    } catch (ignored) {
      hits = [];
    }
  }
  var scores = new Map();
  hits.forEach(function (hit) { scores.set(hit.ref, hit.score); });
  return scores;
}

// Models matching every term (stop words only add to the score), best first.
// Returns null for a query without terms: "everything".
function search(catalog, query) {
  var terms = queryTerms(query);
  if (!terms.length) return null;
  var stop = catalog.lunr.stopWordFilter;
  var required = terms.filter(function (t) { return stop(t) !== undefined; });
  var optional = terms.filter(function (t) { return stop(t) === undefined; });
  if (!required.length) { required = optional; optional = []; }

  var total = null;
  required.forEach(function (term) {
    var scores = matchTerm(catalog, term);
    if (total === null) { total = scores; return; }
    var next = new Map();
    total.forEach(function (score, ref) {
      if (scores.has(ref)) next.set(ref, score + scores.get(ref));
    });
    total = next;
  });
  optional.forEach(function (term) {
    matchTerm(catalog, term).forEach(function (score, ref) {
      if (total.has(ref)) total.set(ref, total.get(ref) + score);
    });
  });

  var results = [];
  total.forEach(function (score, ref) {
    var model = catalog.byId.get(ref);
    if (model) results.push({ model: model, score: score });
  });
  results.sort(function (a, b) { return b.score - a.score || compareByName(a.model, b.model); });
  return results.map(function (r) { return r.model; });
}

function passes(model, filters, skip) {
  for (var i = 0; i < FACETS.length; i++) {
    var group = FACETS[i];
    if (group === skip || !filters[group].size) continue;
    var values = model._facets[group];
    var hit = false;
    for (var j = 0; j < values.length && !hit; j++) hit = filters[group].has(values[j]);
    if (!hit) return false;
  }
  return true;
}

// Facet counts: for each group, the models that match the query and every *other*
// group, so that ticking a second value in a group shows how many it would add.
function facetCounts(models, filters) {
  var counts = {};
  FACETS.forEach(function (group) {
    var tally = new Map();
    models.forEach(function (model) {
      if (!passes(model, filters, group)) return;
      model._facets[group].forEach(function (value) {
        tally.set(value, (tally.get(value) || 0) + 1);
      });
    });
    counts[group] = tally;
  });
  return counts;
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

// The tier of a result's headline metric (search/docs.json; computed by the build's evaluation stage): label, explanation.
var TIERS = {
  verified: ["✓ verified", "Verified: recomputed by the build on the published ONNX file, with a dataset loader of the project's registry, on the dataset and split the claim names"],
  reproduced: ["reproduced", "Reproduced: recomputed by the build on the published ONNX file, on data the model's contributors supplied (its SHA-256 is published)"],
  claimed: ["claimed", "Claimed: reported by the contributor; the build did not recompute it"]
};

function renderCard(model, base) {
  var name = el("a", { class: "ms-card__name", href: safeHref(model.url, base), text: model.name || model.id });
  var chips = el("div", { class: "ms-card__chips" }, [
    model.task ? el("span", { class: "ms-chip ms-chip--task", text: model.task_title || model.task }) : null,
    model.license ? el("span", { class: "ms-chip ms-chip--license", text: model.license }) : null,
    model.framework ? el("span", { class: "ms-chip ms-chip--framework", text: model.framework }) : null
  ]);
  var facts = el("div", { class: "ms-card__facts" });
  var metric = Array.isArray(model.metrics) ? model.metrics[0] : null;
  if (metric && metric.name) {
    var tier = Object.prototype.hasOwnProperty.call(TIERS, metric.tier) ? metric.tier : (metric.verified === true ? "verified" : "claimed");
    var label = el("span", {
      class: "ms-card__tier ms-card__tier--" + tier + (tier === "verified" ? " ms-card__verified" : ""),
      title: TIERS[tier][1],
      text: TIERS[tier][0]
    });
    facts.appendChild(el("span", { class: "ms-card__metric" }, [
      el("span", { class: "ms-card__metric-name", text: metric.name }),
      " ",
      el("strong", { class: "ms-card__metric-value", text: formatNumber(metric.value) }),
      metric.dataset ? " on " + metric.dataset + (metric.split ? " (" + metric.split + ")" : "") : null,
      " · ",
      label
    ]));
  }
  var size = formatBytes(model.size);
  if (size) facts.appendChild(el("span", { class: "ms-card__size", text: size }));
  return el("li", { class: "ms-result" }, [
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

/* ---- the page --------------------------------------------------------------------- */

function readState(root) {
  var params = new URLSearchParams(window.location.search);
  var filters = {};
  FACETS.forEach(function (group) {
    var known = new Set();
    root.querySelectorAll('.ms-facet input[name="' + group + '"]').forEach(function (box) {
      known.add(box.value);
    });
    // Values that have no checkbox are dropped: they would filter invisibly.
    filters[group] = new Set(params.getAll(group).filter(function (v) { return known.has(v); }));
  });
  return { q: params.get("q") || "", filters: filters, limit: PAGE_SIZE };
}

function stateQuery(state) {
  var params = new URLSearchParams();
  if (state.q.trim()) params.set("q", state.q.trim());
  FACETS.forEach(function (group) {
    state.filters[group].forEach(function (value) { params.append(group, value); });
  });
  return params.toString();
}

export function init(doc) {
  var root = (doc || document).getElementById(ROOT_ID);
  if (!root || root.dataset.msReady) return;
  root.dataset.msReady = "1";

  // The home page lives at the site root; docs.json URLs are relative to it.
  var siteRoot = new URL(".", window.location.href).href;
  var urls = {
    index: new URL(root.dataset.indexUrl || "search/index.json", siteRoot).href,
    docs: new URL(root.dataset.docsUrl || "search/docs.json", siteRoot).href,
    lunr: new URL(root.dataset.lunrUrl || "assets/vendor/lunr/lunr.min.js", siteRoot).href
  };
  var form = root.querySelector(".ms-searchbox");
  var input = root.querySelector("#ms-q");
  var layout = root.querySelector(".ms-layout");
  var count = root.querySelector(".ms-results__count");
  var list = root.querySelector(".ms-results__list");
  var empty = root.querySelector(".ms-empty");
  var more = root.querySelector(".ms-more");
  var clear = root.querySelector(".ms-facets__clear");
  var boxes = Array.prototype.slice.call(root.querySelectorAll(".ms-facet input[type=checkbox]"));

  var state = readState(root);
  var catalog = null;
  var frame = 0;
  var urlTimer = 0;

  input.value = state.q;
  boxes.forEach(function (box) { box.checked = state.filters[box.name].has(box.value); });
  form.hidden = false;
  layout.hidden = false;

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

  function hasFilters() {
    return FACETS.some(function (group) { return state.filters[group].size > 0; });
  }

  function render() {
    frame = 0;
    if (!catalog) return;
    var matched = search(catalog, state.q);
    var pool = matched || catalog.byName;
    var results = pool.filter(function (model) { return passes(model, state.filters, null); });

    var counts = facetCounts(pool, state.filters);
    boxes.forEach(function (box) {
      var n = counts[box.name].get(box.value) || 0;
      var label = box.closest(".ms-facet__option");
      var badge = label && label.querySelector(".ms-facet__count");
      if (badge) badge.textContent = String(n);
      if (label) label.classList.toggle("ms-facet__option--empty", n === 0 && !box.checked);
    });

    count.textContent = plural(results.length, "model");
    clear.hidden = !hasFilters();

    var fragment = document.createDocumentFragment();
    var shown = results.slice(0, state.limit);
    shown.forEach(function (model) { fragment.appendChild(renderCard(model, siteRoot)); });
    list.replaceChildren(fragment);
    empty.hidden = results.length > 0;
    more.hidden = results.length <= shown.length;
    if (!more.hidden) {
      more.textContent = "Show " + Math.min(PAGE_SIZE, results.length - shown.length) + " more";
    }
    // Rendering waits for the next frame: this says which query the list on screen answers.
    root.dataset.renderedQuery = state.q;
  }

  function update(resetLimit) {
    if (resetLimit) state.limit = PAGE_SIZE;
    scheduleURL();
    if (!frame) frame = window.requestAnimationFrame(render);
  }

  input.addEventListener("input", function () {
    state.q = input.value;
    update(true);
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var first = list.querySelector(".ms-card__name[href]");
    if (first && input.value.trim()) first.click();
  });
  boxes.forEach(function (box) {
    box.addEventListener("change", function () {
      var group = state.filters[box.name];
      if (box.checked) group.add(box.value); else group.delete(box.value);
      update(true);
    });
  });
  clear.addEventListener("click", function () {
    FACETS.forEach(function (group) { state.filters[group].clear(); });
    boxes.forEach(function (box) { box.checked = false; });
    update(true);
  });
  more.addEventListener("click", function () {
    state.limit += PAGE_SIZE;
    if (!frame) frame = window.requestAnimationFrame(render);
  });

  loadCatalog(urls).then(function (loaded) {
    catalog = loaded;
    // Drop facet values from the URL that had no checkbox.
    writeURL();
    render();
    root.classList.add("ms-home--ready");
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
