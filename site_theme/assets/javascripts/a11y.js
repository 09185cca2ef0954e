/*
 * Accessibility fixes for mkdocs-material's own markup: a classic script, listed in mkdocs.yml
 * `extra_javascript`.
 *
 * mkdocs-material gives every code block a `<nav class="md-code__nav">` (the copy button) with no
 * name, so a page with several code blocks has several navigation landmarks of the same name (axe:
 * landmark-unique). Each gets its own name, after its block. The blocks are drawn after load and after
 * each instant navigation, so new ones are watched for. (A role="group" would be neater, but a <nav>
 * may not take that role.)
 */
(function () {
  "use strict";

  function label(root) {
    var navs = root.querySelectorAll("nav.md-code__nav:not([aria-label])");
    for (var i = 0; i < navs.length; i++) {
      var block = navs[i].closest("pre");
      var code = block && block.querySelector("code[id]");
      var number = code ? Number(code.id.replace(/^__code_/, "")) + 1 : i + 1;
      navs[i].setAttribute("aria-label", "Code block " + number + " actions");
    }
  }

  function start() {
    label(document);
    new MutationObserver(function () { label(document); }).observe(document.body, { childList: true, subtree: true });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
