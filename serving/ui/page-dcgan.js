// DCGAN: a seed, a count (and a class for a conditional generator), a "new seed" button; the grid of images.
import {el, firstRow, numberToken, pngUrl} from "./common.js";

export default {
  mount(root, {app}, send) {
    const seed = el("input", {type: "text", inputmode: "numeric", id: "seed", value: "42"});
    const count = el("input", {type: "text", inputmode: "numeric", id: "count", value: "16"});
    const label = el("select", {id: "label"}, el("option", {value: String(app.any_label ?? -1), text: "any (in turn)"}),
      (app.class_names ?? []).map((name, index) => el("option", {value: String(index), text: name})));
    const generate = el("button", {type: "submit", text: "Generate", id: "generate"});
    const newSeed = el("button", {type: "button", class: "secondary", text: "New seed", id: "new-seed"});
    const form = el("form", {class: "controls"}, el("label", {}, "seed ", seed),
      el("label", {}, `count (1 to ${app.max_images ?? "?"}) `, count),
      app.conditional ? el("label", {}, "class ", label) : null, generate, newSeed);
    const submit = () => {
      const labelToken = app.conditional ? label.value : String(app.any_label ?? -1);
      send(`{"signature_name": ${JSON.stringify(app.signature)}, "instances": [{"seed": ${numberToken(seed.value)}, ` +
        `"count": ${numberToken(count.value)}, "label": ${labelToken}}]}`, {});
    };
    form.addEventListener("submit", (event) => { event.preventDefault(); submit(); });
    newSeed.addEventListener("click", () => {
      seed.value = String(Math.floor(Math.random() * 2 ** 31));
      submit();
    });
    root.append(el("h2", {text: "Generate images"}), form);
  },

  render(output, answer) {
    const row = firstRow(answer, ["images_png_bytes", "images"]);
    const image = el("img", {class: "grid-image", alt: "generated images", src: pngUrl(row.images_png_bytes)});
    const size = el("p", {class: "muted grid-size"});
    image.addEventListener("load", () => {
      size.textContent = `${row.images.length} images in a ${image.naturalWidth} × ${image.naturalHeight} px grid`;
      size.dataset.width = String(image.naturalWidth);
      size.dataset.height = String(image.naturalHeight);
    });
    output.append(image, size);
  },
};
