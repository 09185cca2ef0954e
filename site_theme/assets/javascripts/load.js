/*
 * Downloads shared by the search page and the "Try it" panel.
 *
 * The cache lives as long as the document: mkdocs-material's instant navigation keeps the
 * document (and this module), so lunr, onnxruntime-web or a model is downloaded once per visit (and the
 * runtime's WebAssembly once per browser: tryit/runtime.js keeps it in Cache Storage).
 */

const pending = new Map();

/* The promise made by make() for `key`, made once; a failed one is forgotten so a later attempt may succeed. */
export function once(key, make) {
  if (!pending.has(key)) {
    pending.set(key, make().catch((error) => {
      pending.delete(key);
      throw error;
    }));
  }
  return pending.get(key);
}

/* Drop `key` from the cache; returns what it held (a promise) or undefined. */
export function forget(key) {
  const promise = pending.get(key);
  pending.delete(key);
  return promise;
}

// The site's root: this module is <root>/assets/javascripts/load.js.
const ROOT = new URL("../../", import.meta.url);
let integrities = null;

/*
 * The integrity ("sha384-...") the build recorded for a script of the site, by absolute URL, or "".
 * generator/site/sri.py lists them in each page's import map, which makes the browser check the ES
 * modules; this reads the same list for the classic scripts loadScript adds. Its keys are relative
 * to the page it was written for, not necessarily the current URL (instant navigation changes the
 * URL and swaps the element); data-root is that page's way to the site root, so a key without it
 * is a path in the site, resolved against ROOT.
 */
export function integrityOf(url) {
  if (integrities === null) {
    integrities = new Map();
    const map = document.querySelector('script[type="importmap"][data-root]');
    if (map) {
      const root = map.getAttribute("data-root");
      let listed = {};
      try {
        listed = JSON.parse(map.textContent).integrity || {};
      } catch (error) {
        if (window.console) console.warn("modelshelf: the page's import map is not JSON", error);
      }
      for (const [key, value] of Object.entries(listed)) {
        if (key.startsWith(root)) integrities.set(new URL(key.slice(root.length), ROOT).href, value);
      }
    }
  }
  return integrities.get(new URL(url, document.baseURI).href) || "";
}

/* A classic script (a library that defines a global), resolving to that global; checked against its integrity when the build listed one. */
export function loadScript(url, globalName) {
  return once("script:" + url, () => {
    if (globalName && window[globalName]) return Promise.resolve(window[globalName]);
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      const integrity = integrityOf(url);
      if (integrity) script.integrity = integrity;
      script.src = url;
      script.async = true;
      script.onload = () => {
        if (!globalName || window[globalName]) resolve(window[globalName]);
        else reject(new Error(url + " loaded but did not define " + globalName));
      };
      script.onerror = () => reject(new Error("could not load " + url));
      document.head.appendChild(script);
    });
  });
}
