/* Tabular widget: one number field per feature, prefilled from the first example; predicts as you type.
   A CSV file (P.parseCsv, the rules of catalog/runtime/processing.py's parse_csv) fills the form with its
   first row and predicts every row: in one batch when the input's batch size is free, else row by row. */
import { acceptDrops, el } from "../../dom.js";
import { InputError, messageOf } from "../errors.js";
import { fmt } from "../format.js";

// Rows listed under the result of a CSV file (all of them are predicted).
const LISTED_ROWS = 20;

/* A file's text as catalog/runtime/media.py's read_text reads it: strict UTF-8, a leading byte-order mark dropped. */
function readUtf8(file) {
  return file.arrayBuffer().then((buffer) => {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(buffer);
    } catch (error) {
      throw InputError(file.name + " is not UTF-8 text.", "Save it as UTF-8 and choose it again.");
    }
  });
}

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

  /* Rows of raw values (arrays of numbers) -> the model's feeds, preprocessed as one [rows, columns] tensor. */
  function feedsOf(rows) {
    const flat = [].concat.apply([], rows);
    const pre = P.preprocess(cfg.preprocessing, { data: flat, shape: [rows.length, rows[0].length] });
    return { [input.name]: P.arrangeInput(pre.tensor, pre.layout, input.shape, input.dtype) };
  }

  function feedsFromForm() {
    const values = fields.map((f) => (f.value.trim() === "" ? NaN : Number(f.value)));
    const bad = values.map((v, i) => (isFinite(v) ? -1 : i)).filter((i) => i >= 0);
    fields.forEach((f, i) => f.classList.toggle("ms-form__input--bad", bad.indexOf(i) >= 0));
    if (bad.length) throw InputError("Enter a number for " + bad.map((i) => features[i].name).join(", ") + ".");
    return feedsOf([values]);
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

  /* ---- a CSV file ---- */

  const names = features.map((f) => f.name);
  const columns = typeof input.shape[input.shape.length - 1] === "number" ? input.shape[input.shape.length - 1] : names.length;
  const csvHint = "Each row needs " + columns + " numbers" + (names.length ? " (" + names.join(", ") + ")" : "") +
    ", separated by commas (tabs in a .tsv file); a first row of column names is optional.";
  const csvInput = el("input", { type: "file", class: "ms-visually-hidden", id: "ms-csv",
    accept: ".csv,.tsv,text/csv,text/tab-separated-values" });
  const csvName = el("p", { class: "ms-note ms-filedrop__name" });
  const csvZone = el("div", { class: "ms-filedrop ms-csv__drop" }, [
    el("strong", { text: "Or predict the rows of a CSV file" }),
    el("span", { text: csvHint }),
    el("label", { class: "md-button", for: "ms-csv", text: "Choose a CSV file" }),
    csvInput
  ]);

  /* The per-row answer listed under the first row's result: the label output, the top class or the value. */
  function rowAnswers(outputs, post, rows) {
    const labelOutput = cfg.outputs.filter((t) => t.kind === "label")[0];
    const scored = cfg.outputs.filter((t) => t.name === cfg.scored_output)[0] || {};
    const values = post ? post.values : null, n = values ? values.shape[values.shape.length - 1] || 1 : 1;
    const out = [];
    for (let r = 0; r < rows; r++) {
      if (labelOutput && outputs[labelOutput.name]) out.push(panel.labelOf(Number(outputs[labelOutput.name].data[r])));
      else if (!values) out.push("");
      else if (scored.kind === "value") out.push(fmt(values.data[r * n]));
      else if (post.top && post.top[r]) out.push(post.top[r].length ? post.top[r][0].label : "none above the threshold");
      else out.push(panel.labelOf(P.topk({ data: values.data.slice(r * n, (r + 1) * n), shape: [n] }, 1)[0][0]));
    }
    return out;
  }

  function showRows(file, rows, answers) {
    const box = panel.resultBox, listed = Math.min(rows.length, LISTED_ROWS);
    const table = el("table", { class: "ms-csv-rows" }, [
      el("thead", {}, [el("tr", {}, [el("th", { text: "Row" }), el("th", { text: "Prediction" })])]),
      el("tbody", {}, answers.slice(0, listed).map((a, r) => el("tr", {}, [el("td", { text: String(r + 1) }), el("td", { text: a })])))
    ]);
    box.appendChild(el("p", { class: "ms-note ms-csv-rows__note", text: rows.length + " row" + (rows.length > 1 ? "s" : "") + " of " + file +
      " predicted; the result above is the first row's" + (rows.length > listed ? ", the first " + listed + " are listed." : ".") }));
    box.appendChild(el("div", { class: "ms-csv-rows__wrap" }, [table]));
  }

  /* Predict every row quietly, one at a time (the batch size is fixed), and show the first. */
  async function rowByRow(rows, extra) {
    const results = [];
    for (const row of rows) results.push(await panel.predict(feedsOf([row]), { show: false }));
    const answers = results.map((p) => rowAnswers(p.outputs, p.post, 1)[0]);
    return { last: panel.show({ ...results[0], ms: results.reduce((a, p) => a + p.ms, 0), extra: { ...extra, answers } }), answers };
  }

  async function readCsv(file) {
    panel.clearError();
    if (!panel.session) return null;
    csvName.textContent = file.name;
    let rows;
    try {
      const text = await readUtf8(file);
      // Tab-separated by the name's suffix alone, as catalog/runtime/predictor.py decides.
      rows = P.parseCsv(text, names, /\.tsv$/i.test(file.name) ? "\t" : ",");
      if (rows[0].length !== columns) {
        throw InputError(file.name + " has " + rows[0].length + " column" + (rows[0].length > 1 ? "s" : "") + "; the model takes " + columns + ".", csvHint);
      }
    } catch (error) {
      panel.fail(error.kind === "input" ? error : InputError(file.name + ": " + messageOf(error) + ".", csvHint));
      return null;
    }
    clearTimeout(timer);
    fill(rows[0]);
    fields.forEach((f) => f.classList.remove("ms-form__input--bad"));
    const extra = { csv: { file: file.name, rows: rows.length, columns } };
    try {
      let last, answers;
      if (input.shape[0] === null) {
        last = await panel.predict(feedsOf(rows), { extra });
        answers = rowAnswers(last.outputs, last.post, rows.length);
        last.extra.answers = answers;
      } else {
        ({ last, answers } = await rowByRow(rows, extra));
      }
      showRows(file.name, rows, answers);
      return last;
    } catch (error) {
      panel.fail(error);  // panel.predict has shown its own errors already; this shows any other
      return null;
    }
  }
  csvInput.addEventListener("change", () => { const f = csvInput.files[0]; csvInput.value = ""; if (f) readCsv(f); });
  acceptDrops(csvZone, "ms-filedrop--over", readCsv);

  const chips = panel.exampleChips((ex, i) => {
    clearTimeout(timer);
    fill(exampleValues(ex));
    if (panel.session) run(i);
  });
  panel.widgetBox.appendChild(el("p", { class: "ms-tryit__kicker", text: "Features of " + input.name }));
  if (chips) panel.widgetBox.appendChild(chips);
  panel.widgetBox.appendChild(form);
  if (note) panel.widgetBox.appendChild(note);
  panel.widgetBox.appendChild(csvZone);
  panel.widgetBox.appendChild(csvName);
  if (cfg.examples.length) fill(exampleValues(cfg.examples[0]));
  panel.api.readCsv = readCsv;
  return {
    showExample: (ex) => fill(exampleValues(ex)),
    exampleRun: (i) => { fill(exampleValues(cfg.examples[i])); return run(i); },
    firstRun: () => (cfg.examples.length ? run(0) : run())
  };
}
