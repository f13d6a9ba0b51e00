// Availsync dashboard: progressive enhancements only. Every page works
// without this file; with it you get copy buttons, confirmations before
// destructive actions, and live refresh of the lists.
"use strict";

(function () {
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-HTTP origins other than localhost have no clipboard API.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "sr-only";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  function say(text) {
    var status = document.getElementById("copy-status");
    if (status) { status.textContent = text; }
  }

  function setUpCopyButtons(root) {
    root.querySelectorAll("[data-copy-target]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var target = document.getElementById(button.getAttribute("data-copy-target"));
        if (!target) { return; }
        var text = "value" in target && target.tagName === "INPUT" ? target.value : target.textContent;
        var label = button.textContent;
        copyText(text.trim()).then(function () {
          button.textContent = "Copied ✓";
          button.setAttribute("data-copied", "true");
          say("Copied to the clipboard.");
          setTimeout(function () { button.textContent = label; }, 2000);
        }, function () {
          if (target.select) { target.select(); }
          say("Could not copy automatically: the text is selected, press Ctrl+C (⌘C on a Mac).");
        });
      });
    });
  }

  function setUpForms() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
    document.querySelectorAll("form[data-busy]").forEach(function (form) {
      form.addEventListener("submit", function () {
        var button = form.querySelector("button[type=submit]");
        if (button) {
          // Disabled after the submit has been taken, so the form still posts.
          setTimeout(function () {
            button.disabled = true;
            button.textContent = form.getAttribute("data-busy");
          }, 0);
        }
      });
    });
    document.querySelectorAll("input[data-select-on-focus]").forEach(function (input) {
      input.addEventListener("focus", function () { input.select(); });
    });
    // A refused form's summary links to the field at fault: following the
    // link puts the cursor there, not only the scroll position.
    document.querySelectorAll(".notice-error a[href^='#f-']").forEach(function (link) {
      link.addEventListener("click", function (event) {
        var field = document.getElementById(link.getAttribute("href").slice(1));
        if (field) {
          event.preventDefault();
          field.focus();
        }
      });
    });
  }

  // Live refresh: fetch this same page again and swap the lists in place.
  function setUpLive() {
    var regions = document.querySelectorAll("[data-live]");
    if (!regions.length) { return; }
    var toggle = document.querySelector("[data-live-toggle]");
    var label = document.querySelector(".live-toggle");
    var paged = new URLSearchParams(window.location.search).has("cursor");
    if (label) { label.hidden = false; }
    if (toggle && paged) { toggle.checked = false; }
    var busy = false;

    function refresh() {
      if (busy || document.hidden || (toggle && !toggle.checked)) { return; }
      busy = true;
      fetch(window.location.href, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "text/html" } })
        .then(function (response) {
          if (!response.ok || response.redirected) { throw new Error("stopped"); }
          return response.text();
        })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html");
          document.querySelectorAll("[data-live]").forEach(function (region) {
            var next = fresh.querySelector('[data-live="' + region.getAttribute("data-live") + '"]');
            if (next) { region.innerHTML = next.innerHTML; }
          });
          var updated = document.querySelector(".live-controls .updated");
          var freshUpdated = fresh.querySelector(".live-controls .updated");
          if (updated && freshUpdated) { updated.innerHTML = freshUpdated.innerHTML; }
          var forms = document.querySelectorAll("[data-live] form[data-confirm]");
          forms.forEach(function (form) {
            form.addEventListener("submit", function (event) {
              if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
            });
          });
        })
        .catch(function () {
          if (toggle) { toggle.checked = false; }
        })
        .then(function () { busy = false; });
    }

    setInterval(refresh, 5000);
    if (toggle) { toggle.addEventListener("change", refresh); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpCopyButtons(document);
    setUpForms();
    setUpLive();
  });
})();
