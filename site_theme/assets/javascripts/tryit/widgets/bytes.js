/* Bytes widget (file-type detection, e.g. Magika): drop any file (only its first and last blocks
   are read) or paste text. */
import { acceptDrops, el } from "../../dom.js";
import { InputError, messageOf } from "../errors.js";
import { bytes } from "../format.js";

export function build(panel) {
  const cfg = panel.cfg, P = panel.P, input = cfg.inputs[0];
  const sample = cfg.preprocessing.filter((s) => s.op === "byte_sample")[0];
  const block = sample.block === undefined ? 4096 : sample.block;
  const fileInput = el("input", { type: "file", class: "ms-visually-hidden", id: "ms-file" });
  const name = el("p", { class: "ms-note ms-filedrop__name" });
  const zone = el("div", { class: "ms-filedrop" }, [
    el("strong", { text: "Drop any file here" }),
    el("span", { text: "Only its first and last " + bytes(block) + " are read, in your browser." }),
    el("label", { class: "md-button", for: "ms-file", text: "Choose a file" }),
    fileInput
  ]);
  const text = el("textarea", { class: "ms-text ms-text--code", rows: 5, id: "ms-paste", spellcheck: "false",
    placeholder: "…or paste some text or code here" });
  text.value = "import numpy as np\n\ndef softmax(x):\n    e = np.exp(x - x.max())\n    return e / e.sum()\n";

  function runBytes(data, label) {
    const feeds = {};
    try {
      const pre = P.preprocess(cfg.preprocessing, { data: Float64Array.from(data), shape: [data.length] });
      feeds[input.name] = P.arrangeInput(pre.tensor, pre.layout, input.shape, input.dtype);
    } catch (error) { panel.fail(error); return Promise.resolve(null); }
    name.textContent = label;
    return panel.predict(feeds, { extra: { source: label, size: data.length } });
  }

  function readFile(file) {
    panel.clearError();
    const head = file.slice(0, block), tail = file.slice(Math.max(block, file.size - block));
    return Promise.all([head.arrayBuffer(), tail.arrayBuffer()]).then((parts) => {
      // The first block and the last block (which overlap for small files) as one byte string.
      const a = new Uint8Array(parts[0]), b = new Uint8Array(parts[1]);
      const joined = new Uint8Array(a.length + b.length);
      joined.set(a, 0);
      joined.set(b, a.length);
      return runBytes(file.size <= block ? a : joined, file.name + " (" + bytes(file.size) + ")");
    }).catch((error) => {
      panel.fail(InputError("The file could not be read.", messageOf(error)));
      return null;
    });
  }

  fileInput.addEventListener("change", () => { if (fileInput.files[0]) readFile(fileInput.files[0]); fileInput.value = ""; });
  acceptDrops(zone, "ms-filedrop--over", readFile);
  function runText() {
    const data = new TextEncoder().encode(text.value);
    return runBytes(data, "pasted text (" + bytes(data.length) + ")");
  }

  const chips = panel.exampleChips((ex, i) => { if (panel.session) panel.runExample(i); });
  const box = panel.widgetBox;
  if (chips) box.appendChild(chips);
  box.appendChild(zone);
  box.appendChild(name);
  box.appendChild(text);
  box.appendChild(el("div", { class: "ms-form__actions" }, [
    el("button", { type: "button", class: "md-button md-button--primary", text: "Detect", onclick: runText })
  ]));
  panel.api.readFile = readFile;
  panel.api.runBytes = runBytes;
  return {
    showExample: (ex) => { name.textContent = "Example: " + ex.name; },
    firstRun: runText
  };
}
