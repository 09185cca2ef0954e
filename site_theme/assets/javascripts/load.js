/*
 * Downloads shared by the search page and the "Try it" panel.
 *
 * The cache lives as long as the document: mkdocs-material's instant navigation keeps the
 * document (and this module), so lunr, onnxruntime-web or a model is downloaded once per visit.
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

/* A classic script (a library that defines a global), resolving to that global. */
export function loadScript(url, globalName) {
  return once("script:" + url, () => {
    if (globalName && window[globalName]) return Promise.resolve(window[globalName]);
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
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
