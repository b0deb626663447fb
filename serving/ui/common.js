// Helpers shared by kapps serve's pages: elements, calls to the server (same origin only), encodings.

/** An element: `el("div", {class: "x", text: "hi", data: {k: "v"}}, child, ...)`. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key === "data") Object.assign(node.dataset, value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null) node.append(child);
  }
  return node;
}

/** A GET on this server: `{status, body}` with the JSON body (or `{error}` for a non-JSON answer). */
export async function getJson(path) {
  const response = await fetch(path, {headers: {Accept: "application/json"}});
  return {status: response.status, body: await parseJson(response)};
}

async function parseJson(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return {error: text || `HTTP ${response.status}`};
  }
}

/** POSTs `bodyText` to a predict URL: `{status, body, ms}` (ms: the round trip, as the page measured it). */
export async function postJson(path, bodyText) {
  const started = performance.now();
  const response = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: bodyText});
  const body = await parseJson(response);
  return {status: response.status, body, ms: performance.now() - started};
}

/** The REST path of a model (and version) under /v1/models. */
export function modelPath(name, version) {
  const base = `/v1/models/${encodeURIComponent(name)}`;
  return version ? `${base}/versions/${version}` : base;
}

/** A curl command that sends `bodyText` as the page did. */
export function curlFor(url, bodyText) {
  const quoted = "'" + bodyText.replaceAll("'", "'\\''") + "'";
  return `curl -X POST '${url}' \\\n  -H 'Content-Type: application/json' \\\n  -d ${quoted}`;
}

/** Base64 of an ArrayBuffer or Blob. */
export async function base64Of(data) {
  const bytes = new Uint8Array(data instanceof Blob ? await data.arrayBuffer() : data);
  let binary = "";
  for (let start = 0; start < bytes.length; start += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(start, start + 0x8000));
  }
  return btoa(binary);
}

/** A number field's text as a JSON token: the number as typed, NaN when blank (TF Serving's
 * missing value), otherwise a JSON string, so the server, not the page, says what is wrong. */
export function numberToken(text) {
  const trimmed = String(text).trim();
  if (trimmed === "") return "NaN";
  if (/^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(trimmed)) return trimmed;
  return JSON.stringify(trimmed);
}

/** The value of `{"b64": ...}` (or a plain string) as a data: URL of a PNG. */
export function pngUrl(value) {
  const b64 = typeof value === "object" && value !== null ? value.b64 : btoa(value);
  return `data:image/png;base64,${b64}`;
}

/** The first row of a predict answer as `{output: value}`, in either of TF Serving's layouts. */
export function firstRow(answer, outputNames) {
  const rows = answer.predictions ?? answer.outputs;
  if (Array.isArray(rows)) {
    const row = rows[0];
    return outputNames.length === 1 && (typeof row !== "object" || Array.isArray(row) || row === null)
      ? {[outputNames[0]]: row} : row;
  }
  return Object.fromEntries(Object.entries(rows).map(([name, values]) => [name, values[0]]));
}

/** Probability bars: one row per class, the most probable in bold. */
export function probabilityBars(names, probabilities) {
  const best = probabilities.indexOf(Math.max(...probabilities));
  const rows = probabilities.map((p, index) => {
    const track = el("div", {class: "bar-track"}, el("div", {class: "bar"}));
    track.firstChild.style.width = `${(100 * p).toFixed(2)}%`;
    const cls = index === best ? "best" : "";
    return [el("span", {class: cls, text: names[index] ?? String(index)}), el("span", {class: cls}, track),
      el("span", {class: `num ${cls}`, text: p.toFixed(4),
        data: {class: names[index] ?? String(index), probability: p.toFixed(4)}})];
  });
  return el("div", {class: "bars"}, rows.flat());
}

/** A file picker (and drop zone) that calls `onFile(file)`. */
export function filePicker(label, accept, onFile) {
  const input = el("input", {type: "file", accept, id: "file"});
  input.addEventListener("change", () => input.files[0] && onFile(input.files[0]));
  const zone = el("div", {class: "drop"}, el("label", {for: "file", text: label}), " ", input);
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files[0]) onFile(event.dataTransfer.files[0]);
  });
  return zone;
}

/** The natural size of an image URL: `{width, height}`. */
export function imageSize(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve({width: image.naturalWidth, height: image.naturalHeight, image});
    image.onerror = () => reject(new Error("not an image the browser can show"));
    image.src = url;
  });
}
