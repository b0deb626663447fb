// Detection: upload or drop a photo; boxes over it with class and score; a score slider filters them here.
import {el, firstRow} from "./common.js";
import {figureOf, mountPhoto} from "./images.js";

function boxElement(box, name, score) {
  const [ymin, xmin, ymax, xmax] = box;
  const data = {box: box.map((v) => v.toFixed(4)).join(","), score: score.toFixed(4), name};
  const node = el("div", {class: "box", data}, el("span", {text: `${name} ${score.toFixed(2)}`}));
  Object.assign(node.style, {left: `${100 * xmin}%`, top: `${100 * ymin}%`,
    width: `${100 * (xmax - xmin)}%`, height: `${100 * (ymax - ymin)}%`});
  return node;
}

export default {
  mount(root, {app}, send) {
    mountPhoto(root, app, "A photo to look for objects in", send);
  },

  render(output, answer, state, {app}) {
    const row = firstRow(answer, []);
    const count = Math.round(Number(row.num_detections));
    const figure = figureOf(state);
    const boxes = [];
    for (let index = 0; index < count; index += 1) {
      const name = row.detection_class_names?.[index] || String(row.detection_classes[index]);
      boxes.push(boxElement(row.detection_boxes[index], name, Number(row.detection_scores[index])));
    }
    figure.append(...boxes);
    const shown = el("span", {class: "shown"});
    const slider = el("input", {type: "range", min: "0", max: "1", step: "0.01", class: "threshold",
      value: String(app.score_threshold ?? 0)});
    const value = el("span", {class: "num"});
    const filter = () => {
      const threshold = Number(slider.value);
      let visible = 0;
      for (const box of boxes) {
        const hidden = Number(box.dataset.score) < threshold;
        box.classList.toggle("hidden", hidden);
        visible += hidden ? 0 : 1;
      }
      value.textContent = threshold.toFixed(2);
      shown.textContent = `${visible} of ${count} boxes`;
      shown.dataset.visible = String(visible);
    };
    slider.addEventListener("input", filter);
    filter();
    output.append(el("div", {class: "controls"}, el("label", {}, "score ≥ ", slider, " ", value), shown), figure,
      el("p", {class: "muted image-size", text: state.size ? `${state.size.width} × ${state.size.height} px` : ""}));
  },
};
