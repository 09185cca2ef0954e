/*
 * DOM helpers shared by the search page (search/page.js) and the "Try it" panel (tryit/).
 *
 * Strings from JSON (catalog, cards, configs) reach the DOM only through textContent and
 * attribute setters, never through innerHTML.
 */

const SVG_NS = "http://www.w3.org/2000/svg";

/* An element: el("a", {class: "x", href: url, text: "label", onclick: fn}, [child, "text", null]).
   Attributes that are null, undefined or false are left out; true gives an empty attribute. */
export function el(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children || []) {
    if (child === null || child === undefined) continue;
    node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/* An SVG element, with the same attribute and child conventions as el(). */
export function svg(tag, attrs, children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children || []) if (child) node.appendChild(child);
  return node;
}

/* Let `zone` take a dropped file: `overClass` marks it while a file is dragged over it. */
export function acceptDrops(zone, overClass, onFile) {
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => { event.preventDefault(); zone.classList.add(overClass); });
  }
  for (const type of ["dragleave", "drop"]) zone.addEventListener(type, () => zone.classList.remove(overClass));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) onFile(file);
  });
}
