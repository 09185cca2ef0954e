/*
 * Entry point of the "Try it" panel: a classic script, listed in mkdocs.yml `extra_javascript`.
 *
 * The panel is a set of ES modules under tryit/ (panel.js is its core, widgets/ holds one file
 * per widget). This loader imports tryit/panel.js, by a URL relative to this file so the site
 * works from 127.0.0.1 and under a GitHub Pages sub-path, only once a page has a panel: on the
 * first page and after each of mkdocs-material's instant navigations (document$). The module is
 * evaluated once per document, so the runtime and sessions it keeps survive instant navigation.
 */
(function () {
  "use strict";

  var base = document.currentScript.src;
  var core = null;

  function start() {
    if (!document.querySelector(".ms-tryit")) return;
    core = core || import(new URL("tryit/panel.js", base).href);
    core.then(function (panel) { panel.init(document); }, function (error) {
      core = null;  // a later page may load it
      if (window.console) console.warn("modelshelf try-it: the panel could not be loaded", error);
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
