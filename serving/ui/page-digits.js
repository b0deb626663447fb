// Digits: draw on a canvas (mouse, touch or pen) or pick a picture; the digit's probabilities as bars.
import {base64Of, el, filePicker, firstRow, probabilityBars} from "./common.js";

const SIDE = 280;

function body(app, b64) {
  return JSON.stringify({signature_name: app.signature, instances: [{[app.image_input]: {b64}}]});
}

function drawingCanvas(onStroke) {
  const canvas = el("canvas", {class: "draw", width: SIDE, height: SIDE, id: "canvas", "aria-label": "draw a digit"});
  const pen = canvas.getContext("2d");
  const clear = () => { pen.fillStyle = "#000"; pen.fillRect(0, 0, SIDE, SIDE); };
  clear();
  pen.strokeStyle = "#fff";
  pen.lineWidth = 20;
  pen.lineCap = pen.lineJoin = "round";
  let drawing = false;
  const at = (event) => {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * SIDE / box.width, (event.clientY - box.top) * SIDE / box.height];
  };
  canvas.addEventListener("pointerdown", (event) => {
    drawing = true;
    canvas.setPointerCapture(event.pointerId);
    pen.beginPath();
    pen.moveTo(...at(event));
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    pen.lineTo(...at(event));
    pen.stroke();
  });
  const finish = () => {
    if (drawing) { drawing = false; onStroke(); }
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
  return {canvas, clear};
}

export default {
  mount(root, {app}, send) {
    const sendCanvas = () => drawing.canvas.toBlob(async (blob) =>
      send(body(app, await base64Of(blob)), {source: "canvas"}), "image/png");
    const drawing = drawingCanvas(sendCanvas);
    const clear = el("button", {type: "button", class: "secondary", text: "Clear", id: "clear"});
    clear.addEventListener("click", drawing.clear);
    const predict = el("button", {type: "button", text: "Predict", id: "predict"});
    predict.addEventListener("click", sendCanvas);
    const picker = filePicker("…or pick a picture of a digit:", "image/*", async (file) =>
      send(body(app, await base64Of(file)), {source: file.name}));
    root.append(el("h2", {text: "Draw a digit (white on black), or pick a picture"}),
      el("div", {class: "row"}, drawing.canvas,
        el("div", {}, el("p", {class: "muted", text: "Each stroke is sent when you lift the pen."}),
          el("div", {class: "buttons"}, predict, clear))), picker);
  },

  render(output, answer, state, {app}) {
    const row = firstRow(answer, ["probabilities", "classes"]);
    const names = app.class_names ?? [];
    const predicted = el("p", {class: "big", text: names[row.classes] ?? String(row.classes),
      data: {predicted: String(row.classes)}});
    output.append(predicted,
      probabilityBars(names, row.probabilities));
  },
};
