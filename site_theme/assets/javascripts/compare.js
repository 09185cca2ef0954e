/*
 * Entry point of the compare page (compare/): a classic script, listed in mkdocs.yml `extra_javascript`.
 *
 * The page itself is the ES module compare/page.js, imported by a URL relative to this file (so the
 * site works from 127.0.0.1 and under a GitHub Pages sub-path) only once a page has the compare root
 * (#ms-compare): on the first page and after each of mkdocs-material's instant navigations (document$).
 *
 * On every page, an "Add to compare" link (a.ms-compare-add, a.ms-lb-add) keeps working without this
 * script (it opens the compare page with its own selection); with it, the link adds its models to the
 * selection last shown on the compare page (kept in sessionStorage for the visit), up to four.
 */
(function () {
  "use strict";

  var base = document.currentScript.src;
  var page = null;
  var KEY = "modelshelf.compare";
  var MOST = 4;

  function start() {
    var root = document.getElementById("ms-compare");
    if (!root) return;
    page = page || import(new URL("compare/page.js", base).href);
    page.then(function (compare) { compare.init(root); }, function (error) {
      page = null;  // a later visit may load it
      if (window.console) console.warn("modelshelf compare: the page could not be loaded", error);
    });
  }

  function remembered() {
    try {
      var value = window.sessionStorage.getItem(KEY);
      return value ? value.split(",").filter(Boolean) : [];
    } catch (error) {
      return [];
    }
  }

  // An "Add to compare" link: its models after the remembered ones (no repeats, at most MOST; the link's own stay).
  document.addEventListener("click", function (event) {
    var link = event.target instanceof Element ? event.target.closest("a.ms-compare-add, a.ms-lb-add") : null;
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    var url = new URL(link.href, document.baseURI);
    var own = (url.searchParams.get("m") || "").split(",").filter(Boolean);
    var names = own.map(function (ref) { return ref.split("@")[0]; });
    var kept = remembered().filter(function (ref) { return names.indexOf(ref.split("@")[0]) < 0; });
    var merged = kept.concat(own);
    merged = merged.slice(Math.max(0, merged.length - MOST));
    url.searchParams.set("m", merged.join(","));
    link.href = url.pathname + "?m=" + merged.map(encodeURIComponent).join(",").replace(/%2F/g, "/").replace(/%40/g, "@");
  }, true);

  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(start);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
