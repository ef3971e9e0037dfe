(() => {
  "use strict";
  const sealed = JSON.parse(document.getElementById("sealed").textContent);
  // the provenance is authenticated with the ciphertext: show the sealed copy, bind it as AAD
  const provenance = typeof sealed.provenance === "string" ? sealed.provenance : "";
  document.getElementById("provenance").textContent = provenance;
  const aad = new TextEncoder().encode(sealed.format + "\n" + provenance);
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const normalise = (text) =>
    text.trim().toLowerCase().split(/[\s\-_.,;:]+/).filter(Boolean).join("-");
  const form = document.getElementById("unlock");
  const error = document.getElementById("error");
  const status = document.getElementById("status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    status.hidden = false;
    const phrase = new TextEncoder().encode(normalise(document.getElementById("passphrase").value));
    try {
      const base = await crypto.subtle.importKey("raw", phrase, "PBKDF2", false, ["deriveKey"]);
      const key = await crypto.subtle.deriveKey(
        { name: "PBKDF2", hash: "SHA-256", salt: bytes(sealed.salt), iterations: sealed.iterations },
        base,
        { name: "AES-GCM", length: 256 },
        false,
        ["decrypt"],
      );
      const plain = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: bytes(sealed.nonce), additionalData: aad },
        key,
        bytes(sealed.ciphertext),
      );
      const html = new TextDecoder().decode(plain);
      document.open();
      document.write(html);
      document.close();
    } catch (err) {
      status.hidden = true;
      error.hidden = false;
    }
  });
})();
