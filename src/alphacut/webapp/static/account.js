// The account page: copy a new API key to the clipboard.
(() => {
  "use strict";
  const button = document.getElementById("copy-key");
  if (!button) return;
  button.addEventListener("click", async () => {
    const input = document.getElementById(button.dataset.copy);
    const status = document.getElementById("copy-status");
    try {
      await navigator.clipboard.writeText(input.value);
      status.textContent = "Copied to the clipboard.";
    } catch (err) {
      input.select();
      status.textContent = "Select the key and copy it (Ctrl+C or ⌘C).";
    }
  });
})();
