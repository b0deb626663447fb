// Segmentation: upload a photo; the answered mask over it, an opacity slider and a legend of the classes.
import {el, firstRow, pngUrl} from "./common.js";
import {figureOf, mountPhoto} from "./images.js";

const PALETTE = [[110, 110, 110], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
  [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128],
  [220, 190, 255], [170, 110, 40], [255, 250, 200], [128, 0, 0], [170, 255, 195], [128, 128, 0],
  [255, 215, 180], [0, 0, 128], [128, 128, 128]];

function colour(classId) {
  return PALETTE[classId % PALETTE.length];
}

/** Paints the class-id PNG `url` into `canvas` in the palette's colours; resolves to each class's pixel count. */
function paintMask(canvas, url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => {
      canvas.width = image.naturalWidth;
      canvas.height = image.naturalHeight;
      const pen = canvas.getContext("2d", {willReadFrequently: true});
      pen.drawImage(image, 0, 0);
      const pixels = pen.getImageData(0, 0, canvas.width, canvas.height);
      const counts = new Map();
      for (let at = 0; at < pixels.data.length; at += 4) {
        const id = pixels.data[at];
        counts.set(id, (counts.get(id) ?? 0) + 1);
        const [r, g, b] = colour(id);
        pixels.data.set([r, g, b, 255], at);
      }
      pen.putImageData(pixels, 0, 0);
      resolve(counts);
    };
    image.onerror = () => reject(new Error("the mask is not a PNG"));
    image.src = url;
  });
}

function legend(names, counts, total) {
  const ids = new Set([...names.keys(), ...counts.keys()]);
  return el("ul", {class: "legend"}, [...ids].sort((a, b) => a - b).map((id) => {
    const swatch = el("span", {class: "swatch"});
    swatch.style.background = `rgb(${colour(id).join(",")})`;
    const pixels = counts.get(id) ?? 0;
    return el("li", {data: {classId: String(id), pixels: String(pixels)}}, swatch,
      `${names[id] ?? `class ${id}`}: ${(100 * pixels / total).toFixed(1)}%`);
  }));
}

export default {
  mount(root, {app}, send) {
    mountPhoto(root, app, "A photo to segment", send);
  },

  render(output, answer, state, {app}) {
    const row = firstRow(answer, []);
    const figure = figureOf(state);
    const canvas = el("canvas", {class: "mask"});
    figure.append(canvas);
    const slider = el("input", {type: "range", min: "0", max: "1", step: "0.05", value: "0.6", class: "opacity"});
    const applyOpacity = () => { canvas.style.opacity = slider.value; };
    slider.addEventListener("input", applyOpacity);
    applyOpacity();
    const details = el("div", {class: "legend-box"});
    output.append(el("div", {class: "controls"}, el("label", {}, "mask opacity ", slider)),
      el("div", {class: "row"}, figure, details));
    paintMask(canvas, pngUrl(row.mask_png_bytes)).then((counts) => {
      details.append(el("h3", {text: "Classes"}), legend(app.class_names ?? [], counts, canvas.width * canvas.height),
        el("p", {class: "muted mask-size", text: `mask ${canvas.width} × ${canvas.height} px`,
          data: {width: String(canvas.width), height: String(canvas.height)}}));
      output.dataset.painted = "true";
    }, (error) => output.append(el("div", {class: "error", role: "alert", text: error.message})));
  },
};
