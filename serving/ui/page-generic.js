// Any other model: its signatures from the metadata API, a JSON body to edit, the JSON answer.
import {el} from "./common.js";

const EXAMPLES = {DT_STRING: "", DT_BOOL: false};

function exampleValue(input) {
  const dims = (input.tensor_shape?.dim ?? []).slice(1).map((dim) => Math.max(Number(dim.size), 1));
  const scalar = EXAMPLES[input.dtype] ?? 0;
  return dims.reduceRight((inner, size) => Array.from({length: Math.min(size, 64)}, () => inner), scalar);
}

function exampleBody(name, signature) {
  const row = Object.fromEntries(Object.entries(signature.inputs).map(([input, spec]) => [input, exampleValue(spec)]));
  return JSON.stringify({signature_name: name, instances: [row]}, null, 1);
}

function describe(tensors) {
  return Object.entries(tensors).map(([name, spec]) => {
    const shape = (spec.tensor_shape?.dim ?? []).map((dim) => dim.size).join(", ");
    return el("tr", {}, el("td", {class: "mono", text: name}), el("td", {text: spec.dtype}),
      el("td", {text: `[${shape}]`}));
  });
}

export default {
  showsJson: true,

  mount(root, {signatures}, send) {
    const names = Object.keys(signatures).sort();
    const choice = el("select", {id: "signature"}, names.map((name) => el("option", {value: name, text: name})));
    if (names.includes("serving_default")) choice.value = "serving_default";
    const table = el("table", {});
    const body = el("textarea", {id: "generic-body", rows: 8, spellcheck: "false"});
    const show = () => {
      const signature = signatures[choice.value];
      const head = el("tr", {}, el("th", {text: "input"}), el("th", {text: "dtype"}), el("th", {text: "shape"}));
      table.replaceChildren(head, ...describe(signature.inputs));
      body.value = exampleBody(choice.value, signature);
    };
    choice.addEventListener("change", show);
    const predict = el("button", {type: "button", text: "Predict", id: "predict"});
    predict.addEventListener("click", () => send(body.value, {}));
    root.append(el("h2", {text: "A request to any signature"}), el("label", {}, "signature ", choice), table,
      el("p", {class: "muted", text: "One row per instance; edit the values and send."}), body,
      el("div", {class: "buttons"}, predict));
    if (names.length) show();
  },

  render(output, answer) {
    output.append(el("pre", {class: "mono generic-answer", text: JSON.stringify(answer, null, 1)}));
  },
};
