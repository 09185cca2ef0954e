/* Text widget (sentence embeddings): a sentence box with its WordPiece tokens, and a two-sentence
   similarity view: both sentences are predicted quietly, then shown as one result. A text file
   goes into the first box and is embedded alone. */
import { el, svg } from "../../dom.js";
import { once } from "../../load.js";
import { InputError } from "../errors.js";
import { ms } from "../format.js";
import { absolute, plainFeeds } from "../runtime.js";

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

function firstString(ex) {
  for (const k in ex.inputs) if (typeof ex.inputs[k] === "string") return ex.inputs[k];
  return undefined;
}

/* A half-circle from -1 (left) to 1 (right). */
function gauge(value) {
  const angle = Math.PI * (1 - (Math.max(-1, Math.min(1, value)) + 1) / 2);
  const cx = 100, cy = 100, r = 80;
  const x = cx + r * Math.cos(angle), y = cy - r * Math.sin(angle);
  return svg("svg", { class: "ms-gauge", viewBox: "0 0 200 120", role: "img", "aria-label": "Similarity " + value.toFixed(3) + " on a scale from -1 to 1" }, [
    svg("path", { class: "ms-gauge__track", d: "M 20 100 A 80 80 0 0 1 180 100" }),
    svg("path", { class: "ms-gauge__fill", d: "M 20 100 A 80 80 0 0 1 " + x.toFixed(2) + " " + y.toFixed(2) }),
    svg("line", { class: "ms-gauge__needle", x1: cx, y1: cy, x2: x.toFixed(2), y2: y.toFixed(2) }),
    svg("circle", { class: "ms-gauge__hub", cx, cy, r: 5 }),
    svg("text", { class: "ms-gauge__tick", x: 20, y: 116, "text-anchor": "middle", text: "−1" }),
    svg("text", { class: "ms-gauge__tick", x: 100, y: 14, "text-anchor": "middle", text: "0" }),
    svg("text", { class: "ms-gauge__tick", x: 180, y: 116, "text-anchor": "middle", text: "1" })
  ]);
}

/* One band per embedding dimension (blue negative, red positive). */
function strip(v) {
  let peak = 1e-9;
  for (let i = 0; i < v.length; i++) peak = Math.max(peak, Math.abs(v[i]));
  const n = Math.min(v.length, 384), width = 300 / n, rects = [];
  for (let i = 0; i < n; i++) {
    const t = v[i] / peak;
    rects.push(svg("rect", { x: (i * width).toFixed(2), y: 0, width: Math.max(width, 0.6).toFixed(2), height: 28,
      fill: t >= 0 ? "rgba(229,57,53," + Math.abs(t).toFixed(3) + ")" : "rgba(30,136,229," + Math.abs(t).toFixed(3) + ")" }));
  }
  return svg("svg", { class: "ms-strip", viewBox: "0 0 300 28", preserveAspectRatio: "none", role: "img", "aria-label": "Embedding values" }, rects);
}

export function build(panel) {
  const cfg = panel.cfg, P = panel.P, tok = cfg.tokenizer;
  const textExamples = cfg.examples.filter((ex) => typeof firstString(ex) === "string");
  const a = el("textarea", { class: "ms-text", rows: 2, id: "ms-text-a", "aria-label": "First sentence" });
  const b = el("textarea", { class: "ms-text", rows: 2, id: "ms-text-b", "aria-label": "Second sentence" });
  a.value = textExamples[0] ? firstString(textExamples[0]) : "A man is playing a guitar.";
  b.value = textExamples[1] ? firstString(textExamples[1]) : "Someone plays an instrument.";
  const tokensBox = el("div", { class: "ms-tokens", "aria-label": "Tokens" });

  let tokenizerReady = null;
  function tokenizer() {
    if (!tokenizerReady) {
      tokenizerReady = once("vocab:" + tok.vocab_url, () => fetch(absolute(panel.root + tok.vocab_url)).then((r) => {
        if (!r.ok) throw new Error("HTTP " + r.status + " for the vocabulary");
        return r.text();
      })).then((text) => {
        const T = window.ModelshelfTokenizer.WordPieceTokenizer;
        return new T(T.parseVocab(text), tok);
      });
    }
    return tokenizerReady;
  }

  function feedsFor(text) {
    return tokenizer().then((t) => {
      const enc = t.encode(text), n = enc.input_ids.length, feeds = {};
      for (const input of cfg.inputs) {
        const lname = input.name.toLowerCase();
        const values = /mask/.test(lname) ? enc.attention_mask : /type/.test(lname) ? enc.token_type_ids : enc.input_ids;
        feeds[input.name] = { data: P.castData(values, input.dtype), shape: [1, n] };
      }
      return { feeds, tokens: enc.tokens };
    });
  }

  function showTokens(tokens) {
    tokensBox.textContent = "";
    for (const t of tokens) {
      tokensBox.appendChild(el("span", { class: "ms-token" + (/^\[.*\]$/.test(t) ? " ms-token--special" : /^##/.test(t) ? " ms-token--piece" : ""), text: t }));
    }
    tokensBox.appendChild(el("span", { class: "ms-note", text: " " + tokens.length + " tokens (max " + tok.max_length + ")" }));
  }

  function compare() {
    if (!panel.session) return Promise.resolve(null);
    if (!a.value.trim() || !b.value.trim()) {
      panel.fail(InputError("Write two sentences to compare.", ""));
      return Promise.resolve(null);
    }
    let first, tokens;
    return feedsFor(a.value).then((f) => {
      tokens = f.tokens;
      showTokens(tokens);
      return panel.predict(f.feeds, { show: false });
    }).then((p) => {
      first = p;
      return feedsFor(b.value).then((f) => panel.predict(f.feeds, { show: false }));
    }).then((second) => {
      const similarity = P.cosineSimilarity(first.post.values.data, second.post.values.data);
      return panel.show({ ...first, extra: { similarity, tokens,
        second: { feeds: plainFeeds(second.feeds), outputs: second.outputs, ms: second.ms } } });
    }).catch((error) => {
      panel.fail(error);
      throw error;
    });
  }

  function renderSimilarity(box, last) {
    const sim = last.extra.similarity, dims = last.post.values.data.length;
    box.appendChild(el("p", { class: "ms-tryit__headline" }, [
      el("span", { class: "ms-tryit__kicker", text: "Cosine similarity" }),
      el("strong", { class: "ms-tryit__similarity", text: sim.toFixed(3) }),
      el("span", { class: "ms-tryit__confidence", text: sim > 0.7 ? "very similar" : sim > 0.4 ? "related" : sim > 0.15 ? "loosely related" : "unrelated" })
    ]));
    box.appendChild(gauge(sim));
    box.appendChild(el("p", { class: "ms-note", text: "Two " + dims + "-dimensional sentence embeddings; each took " + ms(last.ms) + " and " + ms(last.extra.second.ms) + " to compute." }));
  }

  function renderEmbedding(box, last) {
    const v = last.post ? last.post.values.data : [];
    box.appendChild(el("p", { class: "ms-tryit__headline" }, [
      el("span", { class: "ms-tryit__kicker", text: "Sentence embedding" }),
      el("strong", { class: "ms-tryit__value", text: v.length + " dimensions" })
    ]));
    box.appendChild(strip(v));
    box.appendChild(el("p", { class: "ms-note", text: "Each band is one dimension (blue negative, red positive). Compare two sentences to see their similarity." }));
  }

  /* A text file: its text becomes sentence A and is embedded alone (as an example with a text is). */
  function readText(file) {
    panel.clearError();
    if (!panel.session) return Promise.resolve(null);
    return readUtf8(file).then((text) => {
      a.value = text;
      return feedsFor(text);
    }).then((f) => {
      showTokens(f.tokens);
      return panel.predict(f.feeds, { extra: { file: file.name, text: a.value, tokens: f.tokens } });
    }).catch((error) => {
      panel.fail(error);
      return null;
    });
  }
  const fileInput = el("input", { type: "file", class: "ms-visually-hidden", id: "ms-textfile", accept: ".txt,text/plain" });
  fileInput.addEventListener("change", () => { const f = fileInput.files[0]; fileInput.value = ""; if (f) readText(f); });

  const chips = panel.exampleChips((ex, i) => {
    const s = firstString(ex);
    if (typeof s === "string") { b.value = a.value; a.value = s; }
    if (panel.session) panel.runExample(i);
  });
  const box = panel.widgetBox;
  if (chips) box.appendChild(chips);
  box.appendChild(el("label", { class: "ms-tryit__kicker", for: "ms-text-a", text: "Sentence A" }));
  box.appendChild(a);
  box.appendChild(el("div", { class: "ms-form__actions ms-textfile" }, [
    el("label", { class: "md-button", for: "ms-textfile", text: "Choose a text file" }),
    fileInput
  ]));
  box.appendChild(tokensBox);
  box.appendChild(el("label", { class: "ms-tryit__kicker", for: "ms-text-b", text: "Sentence B" }));
  box.appendChild(b);
  box.appendChild(el("div", { class: "ms-form__actions" }, [
    el("button", { type: "button", class: "md-button md-button--primary", text: "Compare", onclick: compare })
  ]));
  box.appendChild(el("p", { class: "ms-note", text: "Tokenised in your browser with the model's WordPiece vocabulary (" +
    (tok.lowercase ? "lower-cased, " : "") + "at most " + tok.max_length + " tokens)." }));

  panel.api.compare = (x, y) => { a.value = x; b.value = y; return compare(); };
  panel.api.encode = (text) => tokenizer().then((t) => t.encode(text));
  panel.api.readText = readText;
  return {
    afterLoad: tokenizer,
    firstRun: compare,
    exampleRun(index) {
      const ex = cfg.examples[index], text = firstString(ex);
      if (typeof text !== "string") {
        const feeds = panel.exampleFeeds(ex);
        // Show the example's sentence (decoded from its token ids) as sentence A.
        const ids = feeds[cfg.inputs[0].name].data;
        return tokenizer().then((t) => {
          b.value = a.value;
          a.value = t.decode(Array.from(ids));
          showTokens(t.encode(a.value).tokens);
          return panel.predict(feeds, { extra: { example: index } });
        });
      }
      return feedsFor(text).then((f) => {
        showTokens(f.tokens);
        return panel.predict(f.feeds, { extra: { example: index, text, tokens: f.tokens } });
      });
    },
    render(box, last) {
      if (last.extra && last.extra.similarity !== undefined) renderSimilarity(box, last);
      else renderEmbedding(box, last);
      return true;
    }
  };
}
