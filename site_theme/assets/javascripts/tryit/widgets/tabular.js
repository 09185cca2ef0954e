/* Tabular widget: one number field per feature, prefilled from the first example; predicts as you type. */
import { el } from "../../dom.js";
import { InputError } from "../errors.js";
import { fmt } from "../format.js";

export function build(panel) {
  const cfg = panel.cfg, P = panel.P, input = cfg.inputs[0];
  const features = cfg.features || [];
  const form = el("form", { class: "ms-form", novalidate: true });
  const fields = features.map((f, i) => {
    const field = el("input", { type: "number", step: "any", inputmode: "decimal", id: "ms-f-" + i, name: f.name, required: true });
    const hint = f.min !== undefined ? fmt(f.min) + " – " + fmt(f.max) : "";
    form.appendChild(el("label", { class: "ms-form__field", for: "ms-f-" + i, title: f.source ? "Range in the " + f.source : null }, [
      el("span", { class: "ms-form__name", text: f.name }),
      field,
      hint ? el("span", { class: "ms-form__hint", text: hint }) : null
    ]));
    return field;
  });
  const ranges = features.some((f) => f.min !== undefined);
  const note = ranges ? el("p", { class: "ms-note", text: "Ranges: " + (features[0].source || "") + "." }) : null;
  form.appendChild(el("div", { class: "ms-form__actions" }, [el("button", { type: "submit", class: "md-button md-button--primary", text: "Predict" })]));
  let timer = 0;

  const fill = (values) => values.forEach((v, i) => { if (fields[i]) fields[i].value = String(v); });
  const exampleValues = (ex) => P.fromNested(ex.inputs[input.name]).data;

  function feedsFromForm() {
    const values = fields.map((f) => (f.value.trim() === "" ? NaN : Number(f.value)));
    const bad = values.map((v, i) => (isFinite(v) ? -1 : i)).filter((i) => i >= 0);
    fields.forEach((f, i) => f.classList.toggle("ms-form__input--bad", bad.indexOf(i) >= 0));
    if (bad.length) throw InputError("Enter a number for " + bad.map((i) => features[i].name).join(", ") + ".");
    const pre = P.preprocess(cfg.preprocessing, { data: values, shape: [1, values.length] });
    return { [input.name]: P.arrangeInput(pre.tensor, pre.layout, input.shape, input.dtype) };
  }

  function run(example) {
    let feeds;
    try { feeds = feedsFromForm(); } catch (error) { panel.fail(error); return Promise.resolve(null); }
    return panel.predict(feeds, { extra: example === undefined ? { form: true } : { form: true, example } });
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); run(); });
  form.addEventListener("input", () => {
    if (!panel.session) return;
    clearTimeout(timer);
    timer = setTimeout(run, 200);
  });
  const chips = panel.exampleChips((ex, i) => {
    clearTimeout(timer);
    fill(exampleValues(ex));
    if (panel.session) run(i);
  });
  panel.widgetBox.appendChild(el("p", { class: "ms-tryit__kicker", text: "Features of " + input.name }));
  if (chips) panel.widgetBox.appendChild(chips);
  panel.widgetBox.appendChild(form);
  if (note) panel.widgetBox.appendChild(note);
  if (cfg.examples.length) fill(exampleValues(cfg.examples[0]));
  return {
    showExample: (ex) => fill(exampleValues(ex)),
    exampleRun: (i) => { fill(exampleValues(cfg.examples[i])); return run(i); },
    firstRun: () => (cfg.examples.length ? run(0) : run())
  };
}
