// The index: every served model with its versions and their states, its signatures (from TF Serving's
// status and metadata APIs) and the model card of its newest version.
import {el, getJson, modelPath} from "./common.js";

function signatureRows(metadata) {
  const defs = metadata?.metadata?.signature_def?.signature_def ?? {};
  const tensors = (map) => Object.entries(map ?? {}).map(([name, spec]) => `${name}: ${spec.dtype}`).join(", ");
  return Object.entries(defs).filter(([name]) => name !== "__saved_model_init_op").sort()
    .map(([name, def]) => el("tr", {}, el("td", {class: "mono", text: name}),
      el("td", {class: "mono", text: tensors(def.inputs)}), el("td", {class: "mono", text: tensors(def.outputs)})));
}

async function modelCard(name) {
  const [status, metadata, info] = await Promise.all([getJson(modelPath(name)), getJson(`${modelPath(name)}/metadata`),
    getJson(`/ui/api/models/${encodeURIComponent(name)}`)]);
  const card = el("article", {class: "card", data: {model: name}},
    el("h2", {}, el("a", {href: `/ui/${encodeURIComponent(name)}`, text: name})));
  const app = info.status === 200 ? info.body.app : null;
  card.append(el("p", {class: "muted", text: app ? app.title : "no kapps app descriptor: the generic page"}));
  const versions = status.status === 200 ? status.body.model_version_status : [];
  card.append(el("p", {class: "versions"}, "versions: ", versions.map((v) =>
    el("span", {class: `state-${v.state}`, text: `${v.version} ${v.state}`,
      data: {version: String(v.version), state: v.state}})),
  status.status === 200 ? null : el("span", {class: "error", text: status.body.error})));
  if (metadata.status === 200) {
    const head = el("tr", {}, el("th", {text: "signature"}), el("th", {text: "inputs"}), el("th", {text: "outputs"}));
    card.append(el("table", {class: "signatures"}, head, signatureRows(metadata.body)));
  }
  if (info.status === 200 && info.body.model_card) {
    card.append(el("details", {}, el("summary", {text: `model card (version ${info.body.version})`}),
      el("pre", {class: "model-card", text: info.body.model_card})));
  }
  return card;
}

async function main() {
  const listing = await getJson("/ui/api/models");
  const names = listing.body.models ?? [];
  const cards = await Promise.all(names.map(modelCard));
  const shown = cards.length ? cards : [el("p", {text: "No models are served."})];
  document.getElementById("models").replaceChildren(...shown);
  document.body.dataset.ready = "true";
}

main().catch((error) => document.getElementById("models").replaceChildren(
  el("p", {class: "error", text: error.message})));
