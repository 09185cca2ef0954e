/*
 * Entry point of the home-page search: a classic script, listed in mkdocs.yml `extra_javascript`.
 *
 * The search itself is the ES module search/page.js (sharing dom.js and load.js with the "Try
 * it" panel). This loader imports it, by a URL relative to this file so the site works from
 * 127.0.0.1 and under a GitHub Pages sub-path, only once a page has the search root (#ms-search):
 * on the first page and after each of mkdocs-material's instant navigations (document$).
 */
(function () {
  "use strict";

  var base = document.currentScript.src;
  var page = null;

  function start() {
    if (!document.getElementById("ms-search")) return;
    page = page || import(new URL("search/page.js", base).href);
    page.then(function (search) { search.init(document); }, function (error) {
      page = null;  // a later visit may load it
      if (window.console) console.warn("modelshelf search: the search could not be loaded", error);
    });
  }

  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(start);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
