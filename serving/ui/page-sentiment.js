// Sentiment: a text box; the label and the probability (and per-word weights where an export answers them).
import {el, firstRow} from "./common.js";

export default {
  mount(root, {app}, send) {
    const text = el("textarea", {id: "text", rows: 5, placeholder: "Type a review…"});
    text.value = "A wonderful film: the acting was superb and the story moved me.";
    const analyse = el("button", {type: "button", text: "Analyse", id: "analyse"});
    analyse.addEventListener("click", () => send(JSON.stringify({signature_name: app.signature,
      instances: [{[app.text_input ?? "text"]: text.value}]}), {text: text.value}));
    root.append(el("h2", {text: "A review"}), text, el("div", {class: "buttons"}, analyse));
  },

  render(output, answer) {
    const row = firstRow(answer, ["sentiment", "label", "probability"]);
    const probability = Number(row.probability);
    const meter = el("div", {class: "meter"}, el("div", {class: "fill"}), el("div", {class: "mark"}));
    meter.firstChild.style.width = `${(100 * probability).toFixed(2)}%`;
    meter.lastChild.style.left = "50%";
    output.append(el("p", {class: "big", text: row.sentiment ?? String(row.label), data: {label: String(row.label)}}),
      el("p", {}, "probability of positive: ", el("b", {class: "probability", text: probability.toFixed(4)})), meter);
    const weights = row.word_weights ?? row.top_words;
    if (weights) output.append(el("p", {class: "muted", text: `words that weighed most: ${JSON.stringify(weights)}`}));
  },
};
