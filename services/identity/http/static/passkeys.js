/* Passkeys (WebAuthn), the one task that needs JavaScript: the browser's credential API has
   no HTML form. Progressive enhancement: a form marked data-passkey stays hidden until this
   script sees the API, so without JavaScript (or without passkey support) the page is the
   password page it always was. The server's options come in data-options (JSON, as
   py_webauthn writes them); the credential goes back in the form's "credential" field, as the
   JSON of WebAuthn Level 3 (toJSON), and the form is posted like any other (CSRF token). */
(function () {
  "use strict";

  function toBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) { return Object.assign({}, d, { id: toBytes(d.id) }); });
  }

  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) { return PublicKeyCredential.parseCreationOptionsFromJSON(json); }
    return Object.assign({}, json, { challenge: toBytes(json.challenge), user: Object.assign({}, json.user, { id: toBytes(json.user.id) }),
                                     excludeCredentials: descriptors(json.excludeCredentials) });
  }

  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) { return PublicKeyCredential.parseRequestOptionsFromJSON(json); }
    return Object.assign({}, json, { challenge: toBytes(json.challenge), allowCredentials: descriptors(json.allowCredentials) });
  }

  function credentialJSON(credential) {
    if (credential.toJSON) { return credential.toJSON(); }
    var r = credential.response, response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      if (r.userHandle) { response.userHandle = toText(r.userHandle); }
    }
    return { id: credential.id, rawId: toText(credential.rawId), type: credential.type, response: response,
             clientExtensionResults: credential.getClientExtensionResults(),
             authenticatorAttachment: credential.authenticatorAttachment || undefined };
  }

  function enhance(form) {
    var options = JSON.parse(form.getAttribute("data-options"));
    var field = form.querySelector('input[name="credential"]');
    var status = form.querySelector("[data-passkey-status]");
    var kind = form.getAttribute("data-passkey");
    var pending = null;
    form.hidden = false;

    function ceremony(mediation) {
      if (pending) { pending.abort(); }
      pending = new AbortController();
      var call = kind === "register"
        ? navigator.credentials.create({ publicKey: creationOptions(options), signal: pending.signal })
        : navigator.credentials.get({ publicKey: requestOptions(options), mediation: mediation, signal: pending.signal });
      return call.then(function (credential) {
        field.value = JSON.stringify(credentialJSON(credential));
        form.submit();
      });
    }

    form.addEventListener("submit", function (event) {
      if (field.value) { return; }
      event.preventDefault();
      ceremony(undefined).catch(function (error) {
        if (error && error.name === "AbortError") { return; }
        if (status) { status.textContent = status.getAttribute("data-failed"); }
      });
    });

    // Conditional UI (WebAuthn L3 s. 5.1.4.1): the browser offers the site's passkeys in the
    // login field's autofill (autocomplete="username webauthn"), without a button press.
    if (kind === "sign-in" && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (available) { ceremony("conditional").catch(function () { /* the resident typed a password */ }); }
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.PublicKeyCredential || !navigator.credentials) { return; }
    Array.prototype.forEach.call(document.querySelectorAll("form[data-passkey]"), enhance);
  });
})();
