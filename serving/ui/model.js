// A model's page: reads the model's status, metadata and app descriptor, mounts the page that fits
// its app (page-<app>.js, or page-generic.js), sends the page's requests to one version or two,
// and shows each answer with the request itself (JSON body, curl, gRPC signature) and its latency.
import {curlFor, el, getJson, modelPath, postJson} from "./common.js";

const PAGES = ["digits", "detection", "segmentation", "sentiment", "churn", "dcgan"];
const MAX_SHOWN_BODY = 256 * 1024;
const $ = (id) => document.getElementById(id);

const modelName = decodeURIComponent(location.pathname.slice("/ui/".length));

function fail(message) {
  $("load-error").textContent = message;
  $("load-error").hidden = false;
}

function signaturesOf(metadata) {
  const defs = metadata?.metadata?.signature_def?.signature_def ?? {};
  return Object.fromEntries(Object.entries(defs).filter(([name]) => name !== "__saved_model_init_op"));
}

function fillVersions(versions) {
  for (const version of versions) {
    $("version-a").append(el("option", {value: String(version), text: String(version)}));
    $("version-b").append(el("option", {value: String(version), text: String(version)}));
  }
  $("versions").hidden = versions.length === 0;
}

function selectedVersions() {
  const versions = [$("version-a").value];
  if ($("version-b").value && $("version-b").value !== versions[0]) versions.push($("version-b").value);
  return versions.filter(Boolean);
}

class Page {
  constructor(module, context) {
    this.module = module;
    this.context = context;
    this.state = null;
    $("resend").addEventListener("click", () => this.send($("request-body").value, this.state));
    $("copy-curl").addEventListener("click", () => this.copyCurl());
  }

  /** Sends `bodyText` to every selected version; `state` is what the page keeps about its input. */
  async send(bodyText, state) {
    this.state = state;
    const versions = selectedVersions();
    const urls = versions.map((version) => `${modelPath(modelName, version)}:predict`);
    this.showRequest(urls, bodyText);
    const columns = versions.map((version) => el("div", {class: "answer", data: {version}},
      el("h2", {text: `Version ${version} `}, el("span", {class: "latency", text: "…"}))));
    $("answers").replaceChildren(...columns);
    const results = await Promise.all(urls.map((url) => postJson(url, bodyText)));
    results.forEach((result, index) => this.showAnswer(columns[index], result, state));
    $("latency").textContent = results.map((result, index) =>
      `version ${versions[index]}: ${result.status} in ${result.ms.toFixed(1)} ms`).join(" · ");
    document.body.dataset.answered = String(Number(document.body.dataset.answered ?? 0) + 1);
  }

  showRequest(urls, bodyText) {
    let signature = "serving_default";
    try {
      signature = JSON.parse(bodyText).signature_name || signature;
    } catch { /* the server will say what is wrong with the body */ }
    $("request").hidden = false;
    $("request-line").textContent = urls.map((url) => `POST ${url}`).join("  and  ");
    $("grpc").textContent = `PredictionService/Predict { model_spec { name: "${modelName}" version { value: ` +
      `${selectedVersions()[0]} } signature_name: "${signature}" } }`;
    const shown = bodyText.length > MAX_SHOWN_BODY;
    $("request-body").value = bodyText;
    $("request-body").dataset.full = shown ? "false" : "true";
    $("body-note").textContent = `${bodyText.length} bytes`;
    this.curl = curlFor(`${location.origin}${urls[0]}`, bodyText);
    $("curl").textContent = shown ? `${this.curl.slice(0, MAX_SHOWN_BODY)}… (copy for the whole command)` : this.curl;
  }

  showAnswer(column, result, state) {
    column.querySelector(".latency").textContent = `· HTTP ${result.status} · ${result.ms.toFixed(1)} ms`;
    column.dataset.status = String(result.status);
    if (result.status !== 200) {
      column.append(el("div", {class: "error", role: "alert", text: result.body.error ?? JSON.stringify(result.body)}));
      return;
    }
    const output = el("div", {class: "rendered"});
    column.append(output);
    try {
      this.module.render(output, result.body, state, this.context);
    } catch (error) {
      const text = `The page could not show this answer: ${error.message}`;
      output.append(el("div", {class: "error", role: "alert", text}));
    }
    if (this.module.showsJson) return;
    const json = JSON.stringify(result.body, null, 1);
    column.append(el("details", {}, el("summary", {text: "The JSON answer"}),
      el("pre", {class: "mono", text: json.length > MAX_SHOWN_BODY ? `${json.slice(0, MAX_SHOWN_BODY)}…` : json})));
  }

  async copyCurl() {
    try {
      await navigator.clipboard.writeText(this.curl ?? "");
      $("copied").textContent = "copied";
    } catch {
      window.getSelection().selectAllChildren($("curl"));
      $("copied").textContent = "selected: press Ctrl+C";
    }
  }
}

async function main() {
  document.title = `${modelName} · kapps serve`;
  $("title").textContent = modelName;
  const [status, metadata, info] = await Promise.all([
    getJson(modelPath(modelName)), getJson(`${modelPath(modelName)}/metadata`),
    getJson(`/ui/api/models/${encodeURIComponent(modelName)}`)]);
  if (status.status !== 200 || metadata.status !== 200) {
    fail((status.status !== 200 ? status : metadata).body.error);
    return;
  }
  const available = status.body.model_version_status.filter((v) => v.state === "AVAILABLE")
    .map((v) => Number(v.version));
  fillVersions(available.sort((a, b) => b - a));
  const app = info.status === 200 ? info.body.app : null;
  const kind = app && PAGES.includes(app.page) ? app.page : "generic";
  $("subtitle").textContent = app ? `${app.title} · the "${kind}" page`
    : "A model without a kapps app descriptor: the generic page";
  document.body.dataset.page = kind;
  const module = (await import(`./page-${kind}.js`)).default;
  const context = {name: modelName, app: app ?? {}, signatures: signaturesOf(metadata.body)};
  const page = new Page(module, context);
  module.mount($("input"), context, (bodyText, state) => page.send(bodyText, state));
  document.body.dataset.ready = "true";
}

main().catch((error) => fail(`The page failed to load: ${error.message}`));
