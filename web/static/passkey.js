// Passkeys for the lantls owner UI: the only script the UI has. Every other
// page works without it.
"use strict";
(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  const csrf = document.querySelector('meta[name="csrf"]').content;
  const enc = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const dec = (s) => {
    const b = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(b, (c) => c.charCodeAt(0)).buffer;
  };

  async function post(url, body) {
    const res = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Content-Type": body ? "application/json" : "application/x-www-form-urlencoded" },
      body: body ? JSON.stringify(body) : "",
    });
    let data = {};
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) throw new Error(data.error || "The issuer answered " + res.status + ".");
    return data;
  }

  function say(msg) {
    const el = document.getElementById("passkey-status");
    if (el) el.textContent = msg;
  }

  function failed(e) {
    if (e && e.name === "NotAllowedError") say("Cancelled, or no passkey for this site was found.");
    else say(e && e.message ? e.message : "That did not work.");
  }

  const loginBox = document.querySelector(".passkey-login");
  if (loginBox) {
    loginBox.hidden = false;
    document.getElementById("passkey-login").addEventListener("click", async () => {
      try {
        say("Waiting for your passkey…");
        const opts = (await post("/login/passkey/begin")).publicKey;
        opts.challenge = dec(opts.challenge);
        (opts.allowCredentials || []).forEach((c) => { c.id = dec(c.id); });
        const cred = await navigator.credentials.get({ publicKey: opts });
        const r = cred.response;
        const next = encodeURIComponent(loginBox.dataset.next || "/");
        const done = await post("/login/passkey/finish?next=" + next, {
          id: cred.id, rawId: enc(cred.rawId), type: cred.type,
          response: {
            authenticatorData: enc(r.authenticatorData), clientDataJSON: enc(r.clientDataJSON),
            signature: enc(r.signature), userHandle: r.userHandle ? enc(r.userHandle) : null,
          },
        });
        location.assign(done.redirect || "/");
      } catch (e) { failed(e); }
    });
  }

  const registerBox = document.querySelector(".passkey-register");
  if (registerBox) {
    registerBox.hidden = false;
    document.getElementById("passkey-register").addEventListener("click", async () => {
      try {
        const password = document.getElementById("passkey-password").value;
        if (!password) { say("Enter your password to add a passkey."); return; }
        say("Follow your browser's prompt…");
        const opts = (await post("/account/passkeys/begin", { password })).publicKey;
        opts.challenge = dec(opts.challenge);
        opts.user.id = dec(opts.user.id);
        (opts.excludeCredentials || []).forEach((c) => { c.id = dec(c.id); });
        const cred = await navigator.credentials.create({ publicKey: opts });
        const r = cred.response;
        const name = encodeURIComponent(document.getElementById("passkey-name").value || "");
        const done = await post("/account/passkeys/finish?name=" + name, {
          id: cred.id, rawId: enc(cred.rawId), type: cred.type,
          response: {
            attestationObject: enc(r.attestationObject), clientDataJSON: enc(r.clientDataJSON),
            transports: r.getTransports ? r.getTransports() : [],
          },
        });
        location.assign(done.redirect || "/account");
      } catch (e) { failed(e); }
    });
  }
})();
