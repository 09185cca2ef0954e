/*
 * The sharded search index (written by generator/render/search_index.py): a query downloads only what it needs.
 *
 * search/manifest.json first (a few KB); then, per word typed, the shard t/<first two characters>.json holding
 * every term with that start and its postings; result cards in chunks d/<n>.json (models are numbered in name
 * order); facet and sort columns c/<name>.json and metric claims m/<metric>.json only when a filter, a count or a
 * sort needs them. Every file is fetched once per visit (load.js `once`).
 */
import { once } from "../load.js";

// Weight of a hit in each text field, in the order of search_index.FIELD_BITS:
// name, id, tags, datasets, task, license, framework, summary.
var FIELD_WEIGHTS = [10, 6, 5, 4, 3, 3, 2, 1.5];
var MASK_WEIGHT = new Float32Array(256);
for (var mask = 0; mask < 256; mask++) {
  var best = 0;
  var extra = 0;
  for (var bit = 0; bit < 8; bit++) {
    if (mask & (1 << bit)) {
      // The best field counts fully, every other field a little (a word in the name and the tags beats the name alone).
      if (FIELD_WEIGHTS[bit] > best) { extra += best * 0.1; best = FIELD_WEIGHTS[bit]; } else extra += FIELD_WEIGHTS[bit] * 0.1;
    }
  }
  MASK_WEIGHT[mask] = best + extra;
}
var EXACT = 1;
var PREFIX = 0.6;
var FUZZY = 0.35;
var WHOLE_ID_BONUS = 100;
var SEPARATED = /[\/\-_.]/;

/* Lowercased words: runs of letters and digits (search_index.tokens splits the same way). */
export function tokenize(text) {
  return String(text).toLowerCase().match(/[\p{L}\p{N}]+/gu) || [];
}

/* The shard of a term: its first two characters, anything but a-z0-9 as _<hex> (search_index.shard_key). */
export function shardKey(term) {
  return Array.from(term).slice(0, 2).map(function (ch) {
    return /^[a-z0-9]$/.test(ch) ? ch : "_" + ch.codePointAt(0).toString(16);
  }).join("");
}

/* Damerau-Levenshtein distance, giving up (returning limit + 1) once it exceeds `limit`. */
function distance(a, b, limit) {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  var prev2 = null;
  var prev = [];
  for (var j = 0; j <= b.length; j++) prev.push(j);
  for (var i = 1; i <= a.length; i++) {
    var row = [i];
    var low = i;
    for (j = 1; j <= b.length; j++) {
      var cost = a[i - 1] === b[j - 1] ? 0 : 1;
      var v = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost);
      if (prev2 && i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2] + 1);
      row.push(v);
      if (v < low) low = v;
    }
    if (low > limit) return limit + 1;
    prev2 = prev;
    prev = row;
  }
  return prev[b.length];
}

function fetchJSON(url) {
  return once("json:" + url, function () {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error(url + ": HTTP " + response.status);
      return response.json();
    });
  });
}

/* The index whose manifest is at `base` + "manifest.json" (base ends in "/"). */
export function openIndex(base) {
  return once("index:" + base, function () {
    return fetchJSON(base + "manifest.json").then(function (manifest) { return new Index(base, manifest); });
  });
}

function Index(base, manifest) {
  this.base = base;
  this.manifest = manifest;
  this.count = manifest.count || 0;
  this.shards = new Set(manifest.shards || []);
  this.stop = new Set(manifest.stop_words || []);
  this.decoded = new Map();
  this.columns = new Map();
  this.metricData = new Map();
  this.cardCache = new Map();
}

Index.prototype.fetch = function (path) {
  return fetchJSON(this.base + path);
};

/* A shard with a term -> position map and postings decoded on first use; null when no term starts so. */
Index.prototype.shard = function (key) {
  var self = this;
  if (!this.shards.has(key)) return Promise.resolve(null);
  if (this.decoded.has(key)) return Promise.resolve(this.decoded.get(key));
  return this.fetch("t/" + key + ".json").then(function (raw) {
    if (self.decoded.has(key)) return self.decoded.get(key);
    var position = new Map();
    raw.terms.forEach(function (term, i) { position.set(term, i); });
    var shard = { terms: raw.terms, position: position, raw: raw, docs: new Array(raw.terms.length) };
    self.decoded.set(key, shard);
    return shard;
  });
};

function postings(shard, i) {
  var docs = shard.docs[i];
  if (!docs) {
    var deltas = shard.raw.docs[i];
    docs = new Int32Array(deltas.length);
    var doc = 0;
    for (var k = 0; k < deltas.length; k++) { doc += deltas[k]; docs[k] = doc; }
    shard.docs[i] = docs;
  }
  return docs;
}

/* Terms of the shard a word matches, with a quality: the word itself, words it starts, else words one typo away. */
function expand(shard, word) {
  var found = [];
  var exact = shard.position.get(word);
  if (exact !== undefined) found.push([exact, EXACT]);
  var terms = shard.terms;
  for (var i = 0; i < terms.length; i++) {
    var term = terms[i];
    if (i !== exact && term.length > word.length && term.lastIndexOf(word, 0) === 0) {
      found.push([i, PREFIX + 0.3 * (word.length / term.length)]);
    }
  }
  if (found.length || word.length < 4) return found;
  var limit = word.length >= 8 ? 2 : 1;
  for (i = 0; i < terms.length; i++) {
    term = terms[i];
    if (term.length < word.length - limit) continue;
    // A typo in a finished word ("digts") or in the start of a longer one ("digt" -> "digits").
    var d = Math.min(distance(word, term, limit), term.length > word.length ? distance(word, term.slice(0, word.length), limit) : limit + 1);
    if (d <= limit) found.push([i, FUZZY / d]);
  }
  return found;
}

/* Models matching every word of the query, best first: {docs: Int32Array, score: Float32Array by doc};
   null for a query without words ("everything"). */
Index.prototype.search = function (query) {
  var self = this;
  var words = tokenize(query);
  var content = words.filter(function (w) { return w.length > 1 && !self.stop.has(w); });
  if (!content.length) content = words.filter(function (w) { return w.length > 1; });
  if (!content.length) return Promise.resolve(null);
  content = Array.from(new Set(content));
  // Whole ids as typed ("sklearn/digits", "Apache-2.0") are terms of the index too: an exact one ranks first.
  var wholes = String(query).toLowerCase().split(/\s+/).filter(function (part) { return SEPARATED.test(part) && part.length > 2; });
  var keys = new Set(content.concat(wholes).map(shardKey));
  return Promise.all(Array.from(keys).map(function (key) { return self.shard(key).then(function (s) { return [key, s]; }); }))
    .then(function (pairs) {
      var shards = new Map(pairs);
      var n = self.count;
      var total = new Float32Array(n);
      var hits = new Uint8Array(n);
      var best = new Float32Array(n);
      content.forEach(function (word) {
        var shard = shards.get(shardKey(word));
        if (!shard) return;
        best.fill(0);
        expand(shard, word).forEach(function (pair) {
          var docs = postings(shard, pair[0]);
          var masks = shard.raw.masks[pair[0]];
          var idf = 1 + Math.log(1 + n / docs.length) * 0.25;
          for (var k = 0; k < docs.length; k++) {
            var s = pair[1] * MASK_WEIGHT[masks[k]] * idf;
            if (s > best[docs[k]]) best[docs[k]] = s;
          }
        });
        for (var doc = 0; doc < n; doc++) {
          if (best[doc] > 0) { total[doc] += best[doc]; hits[doc]++; }
        }
      });
      wholes.forEach(function (whole) {
        var shard = shards.get(shardKey(whole));
        var i = shard ? shard.position.get(whole) : undefined;
        if (i === undefined) return;
        var docs = postings(shard, i);
        for (var k = 0; k < docs.length; k++) total[docs[k]] += WHOLE_ID_BONUS;
      });
      var need = content.length;
      var matched = [];
      for (var doc = 0; doc < n; doc++) if (hits[doc] === need) matched.push(doc);
      matched.sort(function (a, b) { return total[b] - total[a] || a - b; });
      return { docs: Int32Array.from(matched), score: total };
    });
};

/* A column (c/<name>.json), once. */
Index.prototype.column = function (name) {
  var self = this;
  if (this.columns.has(name)) return Promise.resolve(this.columns.get(name));
  return this.fetch("c/" + name + ".json").then(function (data) {
    if (!self.columns.has(name)) {
      if (data.values) {
        data.position = new Map();
        data.values.forEach(function (v, i) { data.position.set(String(v), i); });
      }
      self.columns.set(name, data);
    }
    return self.columns.get(name);
  });
};

Index.prototype.hasColumn = function (name) {
  return Boolean((this.manifest.facets || {})[name] || (this.manifest.ranges || {})[name]);
};

Index.prototype.metricInfo = function (name) {
  return (this.manifest.metrics || []).find(function (m) { return m.name === name; }) || null;
};

/* Every claim of one metric (m/<file>.json), once. */
Index.prototype.metric = function (name) {
  var info = this.metricInfo(name);
  if (!info) return Promise.resolve(null);
  var self = this;
  if (this.metricData.has(name)) return Promise.resolve(this.metricData.get(name));
  return this.fetch(info.file).then(function (data) {
    self.metricData.set(name, data);
    return data;
  });
};

var CARD_FIELDS = ["id", "name", "version", "summary", "task_title", "license", "framework", "url", "size", "metric", "latency"];

/* Result cards of these models (by number), as objects, in the same order. */
Index.prototype.cards = function (docs) {
  var self = this;
  var chunk = this.manifest.chunk || 25;
  var needed = new Set();
  docs.forEach(function (doc) { needed.add(Math.floor(doc / chunk)); });
  return Promise.all(Array.from(needed).map(function (n) {
    return self.fetch("d/" + n + ".json").then(function (rows) { return [n, rows]; });
  })).then(function (pairs) {
    var chunks = new Map(pairs);
    return docs.map(function (doc) {
      var row = chunks.get(Math.floor(doc / chunk))[doc % chunk];
      var card = { doc: doc };
      CARD_FIELDS.forEach(function (field, i) { card[field] = row[i]; });
      return card;
    });
  });
};
