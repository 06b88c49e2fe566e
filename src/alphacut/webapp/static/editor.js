// The editor: each image goes to POST /rmbg (the contract's endpoint) with the options
// chosen, two at a time, with upload and processing progress per image. Logged in, the
// session cookie plus the X-CSRF-Token header make it the user's "app" usage.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const picker = $("files");
  const list = $("results");
  const template = $("item-template");
  const downloadAll = $("download-all");
  const bgOn = $("opt-bg-on");
  const bgPick = $("opt-bg-pick");
  const bgText = $("opt-bg");
  const crop = $("opt-crop");
  const cropMargin = $("opt-crop-margin");
  const MAX_PARALLEL = 2;
  const EXTENSIONS = { "image/png": "png", "image/webp": "webp", "image/jpeg": "jpg",
                       "image/bmp": "bmp" };
  const queue = [];
  const results = [];
  const usedNames = new Set();
  let running = 0;

  // --- options ------------------------------------------------------------------------
  function syncBackground() {
    bgPick.disabled = !bgOn.checked;
    bgText.disabled = !bgOn.checked;
  }
  bgOn.addEventListener("change", syncBackground);
  bgPick.addEventListener("input", () => { bgText.value = bgPick.value; });
  bgText.addEventListener("input", () => {
    if (/^#[0-9a-f]{6}$/i.test(bgText.value)) bgPick.value = bgText.value.toLowerCase();
  });
  syncBackground();
  // The margin sizes the cropped canvas: without crop it means nothing, and is not sent.
  function syncCrop() {
    cropMargin.disabled = !crop.checked;
  }
  crop.addEventListener("change", syncCrop);
  syncCrop();

  // Every control with data-option is a form field of POST /rmbg (the server renders them
  // from its options' schema); a disabled one (the colour, the margin without crop) is
  // not sent.
  function chosenOptions() {
    const fields = [];
    for (const input of document.querySelectorAll("#options [data-option]")) {
      if (input.disabled) continue;
      const value = input.type === "checkbox" ? String(input.checked) : input.value.trim();
      if (value !== "") fields.push([input.name, value]);
    }
    return fields;
  }

  // --- the list of images -------------------------------------------------------------
  function addFiles(files) {
    for (const file of files) queue.push(newItem(file));
    pump();
  }

  function newItem(file) {
    const node = template.content.firstElementChild.cloneNode(true);
    node.querySelector(".name").textContent = file.name;
    const progress = node.querySelector("progress");
    progress.setAttribute("aria-label", `Progress of ${file.name}`);
    list.appendChild(node);
    $("empty").hidden = true;
    const item = { file, node, progress, state: node.querySelector(".state"),
                   fields: chosenOptions() };
    setState(item, "Waiting", 0);
    return item;
  }

  function setState(item, text, percent) {
    item.state.textContent = text;
    item.progress.value = percent;
  }

  function pump() {
    while (running < MAX_PARALLEL && queue.length) {
      running += 1;
      send(queue.shift()).then(() => { running -= 1; pump(); });
    }
  }

  function send(item) {
    return new Promise((resolve) => {
      const form = new FormData();
      form.append("image", item.file, item.file.name);
      for (const [name, value] of item.fields) form.append(name, value);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/rmbg");
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.responseType = "blob";
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) {
          const part = e.loaded / e.total;
          setState(item, `Uploading ${Math.round(part * 100)}%`, part * 50);
        }
      });
      xhr.upload.addEventListener("load", () => setState(item, "Removing the background…", 60));
      xhr.addEventListener("progress", (e) => {
        if (e.lengthComputable) setState(item, "Receiving the result…", 60 + 40 * e.loaded / e.total);
      });
      xhr.addEventListener("load", async () => {
        if (xhr.status === 200) finished(item, xhr.response);
        else failed(item, await errorText(xhr));
        resolve();
      });
      xhr.addEventListener("error", () => {
        failed(item, "The server could not be reached. Check the connection and try again.");
        resolve();
      });
      setState(item, "Uploading 0%", 0);
      xhr.send(form);
    });
  }

  async function errorText(xhr) {
    try {
      const body = JSON.parse(await xhr.response.text());
      if (Array.isArray(body.details)) return body.details.map((d) => d.message).join(" ");
      if (body.error) return body.error;
    } catch (err) {
      // not our JSON error: fall through to the status line
    }
    return `The server answered ${xhr.status} ${xhr.statusText}.`;
  }

  function failed(item, message) {
    const error = item.node.querySelector(".error");
    error.textContent = message;
    error.hidden = false;
    item.node.classList.add("failed");
    setState(item, "Failed", 0);
  }

  function uniqueName(name) {
    let candidate = name;
    for (let n = 2; usedNames.has(candidate); n++) candidate = name.replace(/(\.[^.]*)$/, `-${n}$1`);
    usedNames.add(candidate);
    return candidate;
  }

  function finished(item, blob) {
    const base = item.file.name.replace(/\.[^.]*$/, "");
    const name = uniqueName(`${base}-cutout.${EXTENSIONS[blob.type] || "png"}`);
    const url = URL.createObjectURL(blob);
    const original = URL.createObjectURL(item.file);
    const figure = item.node.querySelector(".compare");
    const before = figure.querySelector(".before");
    const after = figure.querySelector(".after");
    before.src = original;
    before.alt = `${item.file.name} before`;
    after.src = url;
    after.alt = `${item.file.name} with the background removed`;
    const slider = figure.querySelector(".slider");
    slider.setAttribute("aria-label", `Before and after of ${item.file.name}`);
    // Left of the divider the original, right of it the result on the checkerboard.
    const reveal = () => {
      before.style.clipPath = `inset(0 ${100 - slider.value}% 0 0)`;
      after.style.clipPath = `inset(0 0 0 ${slider.value}%)`;
    };
    slider.addEventListener("input", reveal);
    reveal();
    figure.hidden = false;
    const link = item.node.querySelector(".download");
    link.href = url;
    link.download = name;
    link.textContent = `Download ${name}`;
    item.node.querySelector(".actions").hidden = false;
    item.node.classList.add("done");
    setState(item, "Done", 100);
    const result = { name, blob };
    results.push(result);
    downloadAll.disabled = false;
    const remove = item.node.querySelector(".remove");
    remove.setAttribute("aria-label", `Remove ${name}`);
    remove.addEventListener("click", () => {
      // Release the blobs behind the object URLs: they live until revoked or the page goes.
      URL.revokeObjectURL(url);
      URL.revokeObjectURL(original);
      results.splice(results.indexOf(result), 1);
      usedNames.delete(name);
      item.node.remove();
      downloadAll.disabled = results.length === 0;
      $("empty").hidden = list.children.length > 0;
    });
  }

  // --- picking, dropping, downloading all ----------------------------------------------
  picker.addEventListener("change", () => {
    addFiles(picker.files);
    picker.value = "";
  });
  document.addEventListener("dragover", (e) => {
    e.preventDefault();
    $("drop").classList.add("over");
  });
  document.addEventListener("dragleave", () => $("drop").classList.remove("over"));
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    $("drop").classList.remove("over");
    if (e.dataTransfer && e.dataTransfer.files.length) addFiles(e.dataTransfer.files);
  });
  downloadAll.addEventListener("click", async () => {
    const archive = await window.AlphacutZip.build(results);
    const link = document.createElement("a");
    const url = URL.createObjectURL(archive);
    link.href = url;
    link.download = "alphacut-results.zip";
    document.body.appendChild(link);
    link.click();
    link.remove();
    // The download has its own copy once started; a new zip is built on every click.
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  });
})();
