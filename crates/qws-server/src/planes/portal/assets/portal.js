// qws portal: confirmation dialogs, show/copy of access keys, the live workspace-name check.
// No inline code anywhere (the pages' CSP forbids it); everything is wired up from here.
"use strict";
(function () {
  // One reusable confirmation dialog with "Yes" and "No".
  function confirmDialog(message, onYes) {
    var d = document.getElementById("qws-confirm");
    if (!d) {
      d = document.createElement("dialog");
      d.id = "qws-confirm";
      d.setAttribute("aria-labelledby", "qws-confirm-text");
      d.innerHTML = '<p id="qws-confirm-text"></p><button type="button" class="primary" value="yes">Yes</button><button type="button" value="no">No</button>';
      document.body.appendChild(d);
    }
    d.querySelector("#qws-confirm-text").textContent = message;
    var buttons = d.querySelectorAll("button");
    buttons[0].onclick = function () { d.close(); onYes(); };
    buttons[1].onclick = function () { d.close(); };
    d.showModal();
    buttons[1].focus();
  }

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (form.dataset.confirmed === "1") { return; }
      e.preventDefault();
      confirmDialog(form.dataset.confirm, function () {
        form.dataset.confirmed = "1";
        form.submit();
      });
    });
  });

  // Access keys: fetched from the server only when Show or Copy is pressed, kept in memory.
  var box = document.querySelector(".keys[data-reveal]");
  if (box) {
    var values = null;
    var status = box.querySelector(".copied");
    var load = function () {
      if (values) { return Promise.resolve(values); }
      return fetch(box.dataset.reveal, {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: { "X-CSRF-Token": box.dataset.csrf }
      }).then(function (r) {
        if (!r.ok) { throw new Error("The keys could not be read (" + r.status + ")."); }
        return r.json();
      }).then(function (v) { values = v; return v; });
    };
    var fail = function (err) { status.textContent = err.message; };
    box.querySelectorAll("button[data-show]").forEach(function (b) {
      b.addEventListener("click", function () {
        var input = document.getElementById("k-" + b.dataset.show);
        if (b.getAttribute("aria-pressed") === "true") {
          input.type = "password"; input.value = "";
          b.setAttribute("aria-pressed", "false");
          return;
        }
        load().then(function (v) {
          input.value = v[b.dataset.show];
          input.type = "text";
          b.setAttribute("aria-pressed", "true");
        }).catch(fail);
      });
    });
    box.querySelectorAll("button[data-copy]").forEach(function (b) {
      b.addEventListener("click", function () {
        load().then(function (v) {
          return navigator.clipboard.writeText(v[b.dataset.copy]);
        }).then(function () {
          status.textContent = "Copied to the clipboard.";
        }).catch(fail);
      });
    });
  }

  // Create workspace: ask the server whether the name is free while it is typed.
  var name = document.querySelector("input[data-check]");
  if (name) {
    var out = document.getElementById(name.getAttribute("aria-describedby"));
    var timer = null;
    var check = function () {
      var form = name.form;
      if (!name.value) { out.textContent = ""; return; }
      var q = new URLSearchParams({
        subscription: form.elements.subscription.value,
        location: form.elements.location.value,
        name: name.value
      });
      fetch(name.dataset.check + "?" + q.toString(), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (v) {
          out.textContent = v.nameAvailable ? "The name is available." : (v.message || "The name is not available.");
        }).catch(function () { out.textContent = ""; });
    };
    name.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(check, 250); });
  }
})();
