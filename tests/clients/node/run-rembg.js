// Calls the official client unmodified; only the base URL changes (the client
// hard-codes https://api.rembg.com, so an axios interceptor rewrites the host).
const axios = require("axios");
const { rembg } = require("@remove-background-ai/rembg.js");

const [base, input, optionsJson, mode, apiKey] = process.argv.slice(2);
axios.interceptors.request.use((config) => {
  config.url = config.url.replace("https://api.rembg.com", base);
  return config;
});

const events = { upload: 0, download: 0 };
const inputImage =
  mode === "buffer" ? require("fs").readFileSync(input)
  : mode === "base64" ? { base64: "data:image/jpeg;base64," + require("fs").readFileSync(input).toString("base64") }
  : input;

rembg({
  apiKey,
  inputImage,
  options: JSON.parse(optionsJson),
  onUploadProgress: () => { events.upload += 1; },
  onDownloadProgress: () => { events.download += 1; },
})
  .then((result) => {
    const fs = require("fs");
    const out = result.base64Image
      ? { base64Prefix: result.base64Image.slice(0, 30), bytes: Buffer.from(result.base64Image.split(",")[1], "base64").length }
      : { path: result.outputImagePath, bytes: fs.statSync(result.outputImagePath).size, head: fs.readFileSync(result.outputImagePath).subarray(0, 16).toString("hex") };
    console.log(JSON.stringify({ ok: true, ...out, events }));
    if (result.cleanup) result.cleanup();
  })
  .catch((err) => {
    console.log(JSON.stringify({ ok: false, error: String(err.message) }));
  });
