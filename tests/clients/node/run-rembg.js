// Calls the official client unmodified; only the base URL changes (the client
// hard-codes https://api.rembg.com, so an axios interceptor rewrites the host).
// Usage: node run-rembg.js BASE INPUT OPTIONS_JSON MODE API_KEY OUT
//   MODE: path | buffer | base64 | dataurl. The result is copied to OUT.
const fs = require("fs");
const axios = require("axios");
const { rembg } = require("@remove-background-ai/rembg.js");

const [base, input, optionsJson, mode, apiKey, out] = process.argv.slice(2);
axios.interceptors.request.use((config) => {
  config.url = config.url.replace("https://api.rembg.com", base);
  return config;
});

const events = { upload: 0, download: 0 };
const raw = fs.readFileSync(input).toString("base64");
const inputImage = {
  path: input,
  buffer: fs.readFileSync(input),
  base64: { base64: raw },
  dataurl: { base64: "data:image/jpeg;base64," + raw },
}[mode];

rembg({
  apiKey,
  inputImage,
  options: JSON.parse(optionsJson),
  onUploadProgress: () => { events.upload += 1; },
  onDownloadProgress: () => { events.download += 1; },
})
  .then((result) => {
    if (result.base64Image) {
      fs.writeFileSync(out, Buffer.from(result.base64Image.split(",")[1], "base64"));
      console.log(JSON.stringify({ ok: true, base64Prefix: result.base64Image.slice(0, 22), events }));
    } else {
      fs.copyFileSync(result.outputImagePath, out);
      const tempName = result.outputImagePath;
      return Promise.resolve(result.cleanup()).then(() => {
        console.log(JSON.stringify({ ok: true, tempName, cleaned: !fs.existsSync(tempName), events }));
      });
    }
  })
  .catch((err) => {
    console.log(JSON.stringify({ ok: false, error: String(err.message) }));
  });
