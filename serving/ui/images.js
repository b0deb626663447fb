// What the photo pages (detection, segmentation) share: pick a photo, send it, show it again under the answer.
import {base64Of, el, filePicker, imageSize} from "./common.js";

/** Mounts a photo picker that sends `{signature_name, instances: [{<image input>: {b64}}]}`. */
export function mountPhoto(root, app, title, send) {
  const preview = el("p", {class: "muted", id: "photo-size"});
  const picker = filePicker("Drop a photo here, or pick one:", "image/*", async (file) => {
    const url = URL.createObjectURL(file);
    let size = null;
    try {
      size = await imageSize(url);
      preview.textContent = `${file.name}: ${size.width} × ${size.height} px`;
    } catch {
      preview.textContent = `${file.name}: the browser cannot show this file; sending it anyway`;
    }
    const b64 = await base64Of(file);
    send(JSON.stringify({signature_name: app.signature, instances: [{[app.image_input]: {b64}}]}),
      {url, size, name: file.name});
  });
  const pixels = app.max_image_pixels;
  const limit = pixels ? `The server refuses images over ${pixels.toLocaleString("en")} pixels.` : "";
  root.append(el("h2", {text: title}), picker, el("p", {class: "muted", text: limit}), preview);
}

/** The photo the user sent, in a box that answers can be drawn over. */
export function figureOf(state) {
  const image = el("img", {src: state.url, alt: state.name, class: "photo"});
  return el("div", {class: "figure"}, image);
}
