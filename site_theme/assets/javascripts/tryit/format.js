/* How the "Try it" panel writes numbers, probabilities, durations and sizes. */

const numberFormat = new Intl.NumberFormat("en", { maximumSignificantDigits: 4 });

export function fmt(value) {
  if (typeof value !== "number" || !isFinite(value)) return String(value);
  if (value !== 0 && (Math.abs(value) >= 1e6 || Math.abs(value) < 1e-3)) return value.toExponential(2);
  return numberFormat.format(value);
}

export function pct(p) {
  if (p >= 0.9995 && p < 1) return ">99.9%";
  if (p > 0 && p < 0.0005) return "<0.1%";
  return (p * 100).toFixed(1) + "%";
}

export function ms(value) {
  if (value < 1) return value.toFixed(2) + " ms";
  if (value < 100) return value.toFixed(1) + " ms";
  if (value < 1000) return Math.round(value) + " ms";
  return (value / 1000).toFixed(2) + " s";
}

export function bytes(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
  return (n / 1024 / 1024).toFixed(1) + " MB";
}
