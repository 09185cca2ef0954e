/* Generic widget: edit each input tensor as JSON, prefilled from the card's examples.
   The audio widget puts it under its file drop for one raw frame (`box`). */
import { el } from "../../dom.js";
import { InputError } from "../errors.js";

export function build(panel, box = panel.widgetBox) {
  const cfg = panel.cfg, P = panel.P, areas = {};
  for (const t of cfg.inputs) {
    const area = el("textarea", { class: "ms-text ms-text--code", rows: 4, id: "ms-t-" + t.name, spellcheck: "false" });
    areas[t.name] = area;
    box.appendChild(el("label", { class: "ms-tryit__kicker", for: "ms-t-" + t.name,
      text: t.name + " (" + t.dtype + ", [" + t.shape.map((d) => (d === null ? "?" : d)).join(", ") + "])" }));
    box.appendChild(area);
  }
  const fill = (ex) => { for (const t of cfg.inputs) areas[t.name].value = JSON.stringify(ex.inputs[t.name]); };
  if (cfg.examples.length) fill(cfg.examples[0]);

  function run() {
    const feeds = {};
    try {
      for (const t of cfg.inputs) {
        let value;
        try { value = JSON.parse(areas[t.name].value); } catch (e) { throw InputError(t.name + " is not valid JSON.", "Write nested lists of numbers, e.g. [[1, 2, 3]]."); }
        const tensor = typeof value === "number" ? { data: [value], shape: [] } : P.fromNested(value);
        feeds[t.name] = { data: P.castData(tensor.data, t.dtype), shape: tensor.shape };
      }
    } catch (error) { panel.fail(error); return Promise.resolve(null); }
    return panel.predict(feeds);
  }

  const chips = panel.exampleChips((ex, i) => { fill(ex); if (panel.session) panel.runExample(i); });
  if (chips) box.insertBefore(chips, box.firstChild);
  box.appendChild(el("div", { class: "ms-form__actions" }, [el("button", { type: "button", class: "md-button md-button--primary", text: "Run", onclick: run })]));
  return {
    showExample: fill,
    firstRun: cfg.examples.length ? () => panel.exampleRun(0) : null
  };
}
