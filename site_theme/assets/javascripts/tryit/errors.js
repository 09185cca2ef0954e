/* The panel's errors: `kind` picks the hint Panel.fail() shows (input, runtime, download; none: a bug). */

/* The visitor's input cannot be used (wrong file, too large, not a number); `hint` says what to do. */
export function InputError(message, hint) {
  const error = new Error(message);
  error.kind = "input";
  error.hint = hint;
  return error;
}

/* onnxruntime-web or its WebAssembly could not be loaded or started. */
export function RuntimeError(message, detail) {
  const error = new Error(message);
  error.kind = "runtime";
  error.detail = detail;
  return error;
}

/* A file of the site (the model, the panel's own scripts) could not be downloaded. */
export function DownloadError(message, detail) {
  const error = new Error(message);
  error.kind = "download";
  error.detail = detail;
  return error;
}

export function messageOf(error) {
  return String((error && error.message) || error);
}
