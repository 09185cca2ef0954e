/*
 * Modelshelf WordPiece tokenizer (BERT, uncased) for text models in the "Try it" panel.
 *
 * The twin of WordPieceTokenizer in catalog/runtime/processing.py, which follows the `tokenizers`
 * library (BertNormalizer + BertPreTokenizer + WordPiece + [CLS]/[SEP] template), the one
 * sentence-transformers uses:
 *   1. clean: drop U+0000, U+FFFD and control, format, private-use and surrogate characters
 *      (Cc, Cf, Co, Cs; unassigned ones stay) except tab, newline and carriage return; every
 *      White_Space character becomes a space;
 *   2. put spaces around CJK ideographs; strip accents (NFD, drop Mn); lower-case each character;
 *   3. split on spaces, then around every punctuation character (ASCII punctuation or P*);
 *   4. greedy longest-match-first subwords, "##" before every piece but the first; a word of
 *      more than 100 characters, or one that cannot be split, is [UNK];
 *   5. [CLS] tokens [SEP], truncated to max_length tokens in all.
 * Works on code points (for...of), as Python and Rust do. Exposes window.ModelshelfTokenizer.
 */
(function (global) {
  "use strict";

  var OTHER = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}]/u;
  var WHITE_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
  var MARK_NONSPACING = /\p{Mn}/u;
  var PUNCTUATION = /\p{P}/u;
  var CJK = [[0x4E00, 0x9FFF], [0x3400, 0x4DBF], [0x20000, 0x2A6DF], [0x2A700, 0x2B73F], [0x2B740, 0x2B81F],
             [0x2B820, 0x2CEAF], [0xF900, 0xFAFF], [0x2F800, 0x2FA1F]];

  function isControl(ch) {
    return ch !== "\t" && ch !== "\n" && ch !== "\r" && OTHER.test(ch);
  }

  function isPunctuation(ch) {
    var cp = ch.codePointAt(0);
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
    return PUNCTUATION.test(ch);
  }

  function isCJK(ch) {
    var cp = ch.codePointAt(0);
    for (var i = 0; i < CJK.length; i++) if (cp >= CJK[i][0] && cp <= CJK[i][1]) return true;
    return false;
  }

  function WordPieceTokenizer(vocab, options) {
    options = options || {};
    this.vocab = vocab;  // Map token -> id
    this.lowercase = options.lowercase !== false;
    this.stripAccents = options.strip_accents !== undefined ? !!options.strip_accents : this.lowercase;
    this.maxLength = options.max_length || 256;
    this.unk = options.unk_token || "[UNK]";
    this.cls = options.cls_token || "[CLS]";
    this.sep = options.sep_token || "[SEP]";
    this.maxChars = options.max_chars_per_word || 100;
    this.prefix = options.prefix || "##";
    var missing = [this.unk, this.cls, this.sep].filter(function (t) { return !vocab.has(t); });
    if (missing.length) throw new Error("the vocabulary has no " + missing.join(", "));
  }

  /* vocab.txt text (one token a line, line number = id) to a Map. */
  WordPieceTokenizer.parseVocab = function (text) {
    var lines = text.split("\n");
    if (lines.length && lines[lines.length - 1] === "") lines.pop();
    var vocab = new Map();
    for (var i = 0; i < lines.length; i++) vocab.set(lines[i], i);
    return vocab;
  };

  WordPieceTokenizer.prototype.normalize = function (text) {
    var out = "";
    for (var ch of text) {
      var cp = ch.codePointAt(0);
      if (cp === 0 || cp === 0xFFFD || isControl(ch)) continue;
      if (WHITE_SPACE.test(ch)) out += " ";
      else if (isCJK(ch)) out += " " + ch + " ";
      else out += ch;
    }
    if (this.stripAccents) {
      var stripped = "";
      for (var c of out.normalize("NFD")) if (!MARK_NONSPACING.test(c)) stripped += c;
      out = stripped;
    }
    if (this.lowercase) {
      // One character at a time, as Rust's char::to_lowercase (no final-sigma context).
      var lower = "";
      for (var l of out) lower += l.toLowerCase();
      out = lower;
    }
    return out;
  };

  WordPieceTokenizer.prototype.preTokenize = function (text) {
    var words = [];
    text.split(" ").forEach(function (chunk) {
      var current = "";
      for (var ch of chunk) {
        if (isPunctuation(ch)) {
          if (current) { words.push(current); current = ""; }
          words.push(ch);
        } else current += ch;
      }
      if (current) words.push(current);
    });
    return words;
  };

  WordPieceTokenizer.prototype.wordpiece = function (word) {
    var chars = Array.from(word);
    if (chars.length > this.maxChars) return [this.unk];
    var pieces = [], start = 0;
    while (start < chars.length) {
      var end = chars.length, found = null;
      while (start < end) {
        var piece = chars.slice(start, end).join("");
        if (start > 0) piece = this.prefix + piece;
        if (this.vocab.has(piece)) { found = piece; break; }
        end -= 1;
      }
      if (found === null) return [this.unk];
      pieces.push(found);
      start = end;
    }
    return pieces;
  };

  WordPieceTokenizer.prototype.tokenize = function (text) {
    var self = this, out = [];
    this.preTokenize(this.normalize(text)).forEach(function (word) {
      self.wordpiece(word).forEach(function (p) { out.push(p); });
    });
    return out;
  };

  /* Ids back to readable text: special tokens dropped, "##" pieces glued to the previous word. */
  WordPieceTokenizer.prototype.decode = function (ids) {
    var byId = this.byId || (this.byId = (function (vocab) {
      var out = [];
      vocab.forEach(function (id, token) { out[id] = token; });
      return out;
    })(this.vocab));
    var special = [this.cls, this.sep, "[PAD]"];
    return ids.map(function (id) { return byId[id]; })
      .filter(function (t) { return t !== undefined && special.indexOf(t) < 0; })
      .join(" ").replace(/ ##/g, "").replace(/ ([.,!?;:'])/g, "$1");
  };

  /* {tokens, input_ids, attention_mask, token_type_ids} of one text. */
  WordPieceTokenizer.prototype.encode = function (text) {
    var self = this;
    var tokens = [this.cls].concat(this.tokenize(text).slice(0, Math.max(this.maxLength - 2, 0)), [this.sep]);
    var ids = tokens.map(function (t) { return self.vocab.has(t) ? self.vocab.get(t) : self.vocab.get(self.unk); });
    return {
      tokens: tokens,
      input_ids: ids,
      attention_mask: ids.map(function () { return 1; }),
      token_type_ids: ids.map(function () { return 0; })
    };
  };

  global.ModelshelfTokenizer = { WordPieceTokenizer: WordPieceTokenizer };
})(typeof window !== "undefined" ? window : this);
