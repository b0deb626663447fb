// Churn: a form built from the export's columns (numbers; the categories it knows, as choices);
// the probability and the decision at the model's own threshold.
import {el, firstRow, numberToken} from "./common.js";

function field(column) {
  if (column.kind === "category") {
    const options = column.choices.map((choice) => el("option", {value: choice, text: choice}));
    const select = el("select", {name: column.name}, options);
    return el("label", {}, column.name, select);
  }
  const input = el("input", {type: "text", inputmode: "decimal", name: column.name,
    value: String(column.default ?? "")});
  return el("label", {}, column.name, input);
}

/** The request body, written by hand so that each number goes as typed (blank: NaN, missing). */
function body(app, form) {
  const values = app.columns.map((column) => {
    const value = form.elements[column.name].value;
    return `${JSON.stringify(column.name)}: ${column.kind === "category" ? JSON.stringify(value) : numberToken(value)}`;
  });
  return `{"signature_name": ${JSON.stringify(app.signature)}, "instances": [{${values.join(", ")}}]}`;
}

export default {
  mount(root, {app}, send) {
    const form = el("form", {id: "churn-form", class: "form-grid"}, (app.columns ?? []).map(field));
    const submit = el("button", {type: "submit", text: "Predict", id: "predict"});
    const wrapper = el("form", {}, form, el("div", {class: "buttons"}, submit));
    wrapper.addEventListener("submit", (event) => {
      event.preventDefault();
      send(body(app, form), {});
    });
    root.append(el("h2", {text: "A customer"}), el("p", {class: "muted",
      text: "Numbers start at the training median; a blank number is sent as NaN (missing)."}), wrapper);
  },

  render(output, answer, state, {app}) {
    const row = firstRow(answer, ["churn_probability", "churn"]);
    const probability = Number(row.churn_probability);
    const threshold = Number(app.threshold);
    const meter = el("div", {class: "meter"}, el("div", {class: "fill"}), el("div", {class: "mark"}));
    meter.firstChild.style.width = `${(100 * probability).toFixed(2)}%`;
    meter.lastChild.style.left = `${(100 * threshold).toFixed(2)}%`;
    const decision = el("p", {class: "big decision", text: row.churn ? "churns" : "stays",
      data: {churn: String(row.churn)}});
    output.append(decision,
      el("p", {}, "churn probability ", el("b", {class: "probability", text: probability.toFixed(4)}),
        `, decision threshold ${Number.isFinite(threshold) ? threshold.toFixed(4) : "?"} (the red mark)`), meter);
  },
};
