/* Passkey ceremonies for the hosted pages (WebAuthn Level 3).
 *
 * Loaded as a file because the CSP allows only 'self' scripts. Each ceremony asks the server for
 * options (JSON, CSRF token in the X-CSRFToken header), runs navigator.credentials.create/get,
 * and posts the browser's response back; the server answers {redirect} or {error}. Errors are
 * written into the element marked data-passkey-status (an aria-live region).
 *
 *   form[data-passkey="register"]       Account -> Security -> Add a passkey, and a recovery
 *                                       link's page; each form names its own calls in
 *                                       data-options-url and data-verify-url
 *   form[data-passkey="second-factor"]  the passkey step after the password
 *   [data-passkey="signin"]             sign-in page: button, and autofill (conditional UI)
 */
(function () {
  "use strict";

  class ServerRefusal extends Error {}

  function toBuffer(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    let binary = "";
    new Uint8Array(buffer).forEach(function (byte) {
      binary += String.fromCharCode(byte);
    });
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return Object.assign({}, item, { id: toBuffer(item.id) });
    });
  }

  function creationOptions(json) {
    return Object.assign({}, json, {
      challenge: toBuffer(json.challenge),
      user: Object.assign({}, json.user, { id: toBuffer(json.user.id) }),
      excludeCredentials: descriptors(json.excludeCredentials),
    });
  }

  function requestOptions(json) {
    return Object.assign({}, json, {
      challenge: toBuffer(json.challenge),
      allowCredentials: descriptors(json.allowCredentials),
    });
  }

  // The fields every PublicKeyCredential serialises the same way (WebAuthn L3 toJSON()).
  function credentialJSON(credential, response) {
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: response,
    };
  }

  function registrationJSON(credential) {
    const response = credential.response;
    return credentialJSON(credential, {
      clientDataJSON: toBase64url(response.clientDataJSON),
      attestationObject: toBase64url(response.attestationObject),
      transports: typeof response.getTransports === "function" ? response.getTransports() : [],
    });
  }

  function assertionJSON(credential) {
    const response = credential.response;
    return credentialJSON(credential, {
      clientDataJSON: toBase64url(response.clientDataJSON),
      authenticatorData: toBase64url(response.authenticatorData),
      signature: toBase64url(response.signature),
      userHandle: response.userHandle ? toBase64url(response.userHandle) : null,
    });
  }

  function csrfToken(root) {
    const input = root.querySelector('input[name="csrf_token"]') ||
      document.querySelector('input[name="csrf_token"]');
    return input ? input.value : "";
  }

  async function postJSON(url, body, token) {
    let response;
    let data = null;
    try {
      response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": token,
        },
        body: JSON.stringify(body),
      });
      data = await response.json();
    } catch (error) {
      throw new ServerRefusal("The server could not be reached. Check your connection and try again.");
    }
    if (!response.ok || !data) {
      throw new ServerRefusal((data && data.error) || "Something went wrong. Reload the page and try again.");
    }
    return data;
  }

  function friendly(error) {
    if (error instanceof ServerRefusal) return error.message;
    switch (error && error.name) {
      case "AbortError":
        return "";
      case "NotAllowedError":
        return "The passkey request was cancelled or timed out. Try again when you are ready.";
      case "InvalidStateError":
        return "This device already holds a passkey for your account.";
      case "SecurityError":
        return "Passkeys cannot be used on this address.";
      case "NotSupportedError":
        return "This browser or device does not support passkeys.";
      default:
        return "The passkey could not be used. Try again, or use another method.";
    }
  }

  function statusOf(root) {
    const element = root.querySelector("[data-passkey-status]");
    return function (message) {
      if (element) element.textContent = message;
    };
  }

  function supported() {
    return Boolean(window.PublicKeyCredential && navigator.credentials);
  }

  /* Run one ceremony behind a button: busy state, messages, redirect on success. */
  function ceremony(root, button, run) {
    const say = statusOf(root);
    return async function (event) {
      if (event) event.preventDefault();
      if (!supported()) {
        say("This browser does not support passkeys.");
        return;
      }
      button.disabled = true;
      say("Follow the instructions of your browser or device…");
      try {
        const result = await run();
        say("Done. One moment…");
        window.location.assign(result.redirect);
      } catch (error) {
        say(friendly(error));
        button.disabled = false;
      }
    };
  }

  /* The ceremony buttons are rendered disabled: without this script they could do nothing. */
  function enable(root, button) {
    if (supported()) {
      button.disabled = false;
    } else {
      statusOf(root)("This browser does not support passkeys. Use another method.");
    }
  }

  function setUpRegister(form) {
    const button = form.querySelector('button[type="submit"]');
    const token = csrfToken(form);
    enable(form, button);
    form.addEventListener("submit", ceremony(form, button, async function () {
      const name = form.querySelector('input[name="name"]').value.trim();
      if (!name) throw new ServerRefusal("Give the passkey a name.");
      const options = await postJSON(form.dataset.optionsUrl, {}, token);
      const credential = await navigator.credentials.create({
        publicKey: creationOptions(options.publicKey),
      });
      return postJSON(form.dataset.verifyUrl, {
        challenge: options.challenge,
        name: name,
        credential: registrationJSON(credential),
      }, token);
    }));
  }

  function setUpSecondFactor(form) {
    const button = form.querySelector('button[type="submit"]');
    const token = csrfToken(form);
    enable(form, button);
    form.addEventListener("submit", ceremony(form, button, async function () {
      const options = await postJSON(form.dataset.optionsUrl, {}, token);
      const credential = await navigator.credentials.get({
        publicKey: requestOptions(options.publicKey),
      });
      const remember = form.querySelector('input[name="remember"]');
      return postJSON(form.dataset.verifyUrl, {
        challenge: options.challenge,
        credential: assertionJSON(credential),
        next: form.querySelector('input[name="next"]').value,
        remember: Boolean(remember && remember.checked),
      }, token);
    }));
  }

  function setUpSignIn(root) {
    if (!supported()) return; // the password form works on its own
    const button = root.querySelector("button");
    const token = csrfToken(document);
    const nextInput = document.querySelector('input[name="next"]');
    const say = statusOf(root);
    let autofill = null;

    async function signIn(mediation, signal) {
      const options = await postJSON(root.dataset.optionsUrl, {}, token);
      const request = { publicKey: requestOptions(options.publicKey) };
      if (mediation) request.mediation = mediation;
      if (signal) request.signal = signal;
      const credential = await navigator.credentials.get(request);
      return postJSON(root.dataset.verifyUrl, {
        credential: assertionJSON(credential),
        next: nextInput ? nextInput.value : "",
      }, token);
    }

    /* Autofill: the browser offers passkeys in the email field's suggestions. */
    async function startAutofill() {
      const available = PublicKeyCredential.isConditionalMediationAvailable &&
        (await PublicKeyCredential.isConditionalMediationAvailable());
      if (!available) return;
      autofill = new AbortController();
      try {
        const result = await signIn("conditional", autofill.signal);
        say("Done. One moment…");
        window.location.assign(result.redirect);
      } catch (error) {
        const message = friendly(error);
        if (message && error.name !== "NotAllowedError") say(message);
      }
    }

    button.addEventListener("click", ceremony(root, button, function () {
      if (autofill) autofill.abort();
      autofill = null;
      return signIn(null, null);
    }));
    root.hidden = false;
    startAutofill();
  }

  function start() {
    document.querySelectorAll('form[data-passkey="register"]').forEach(setUpRegister);
    document.querySelectorAll('form[data-passkey="second-factor"]').forEach(setUpSecondFactor);
    document.querySelectorAll('[data-passkey="signin"]').forEach(setUpSignIn);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
