// Availsync dashboard: progressive enhancements only. Every page works
// without this file; with it you get copy buttons, confirmations before
// destructive actions, and live updates of the lists from the event stream.
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
    confirmForms(document);
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

  // "just now", "12 s ago", "3 min ago": as layout.rs's `relative`.
  function ago(then) {
    var seconds = Math.floor((Date.now() - then) / 1000);
    if (seconds < 5) { return "just now"; }
    if (seconds < 60) { return seconds + " s ago"; }
    if (seconds < 3600) { return Math.floor(seconds / 60) + " min ago"; }
    if (seconds < 86400) { return Math.floor(seconds / 3600) + " h ago"; }
    return Math.floor(seconds / 86400) + " d ago";
  }

  // A way to find the focused element again once its region is replaced:
  // its id, else its form's action, else its link, else its place.
  function focusKey(region) {
    var active = document.activeElement;
    if (!active || active === document.body || !region.contains(active)) { return null; }
    if (active.id) { return "#" + CSS.escape(active.id); }
    var form = active.closest("form[action]");
    if (form) {
      return 'form[action="' + CSS.escape(form.getAttribute("action")) + '"] ' + active.tagName.toLowerCase();
    }
    if (active.getAttribute("href")) {
      return 'a[href="' + CSS.escape(active.getAttribute("href")) + '"]';
    }
    var all = region.querySelectorAll(active.tagName);
    return { tag: active.tagName, index: Array.prototype.indexOf.call(all, active) };
  }

  function refocus(region, key) {
    if (!key) { return; }
    var target = typeof key === "string" ? region.querySelector(key)
      : region.querySelectorAll(key.tag)[key.index];
    if (target) { target.focus({ preventScroll: true }); }
  }

  function confirmForms(root) {
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  }

  // Live updates: the page listens to the workspace's event stream
  // (GET /v1/events, with the session cookie) and, when something happens,
  // fetches this same page again and swaps its lists in place, keeping
  // focus and scroll. The audit log is not in the stream: its page
  // refreshes on activity (most governance events come with some) and at
  // least every 30 s. A plain line says when the stream is down or the
  // session has ended.
  function setUpLive() {
    var regions = document.querySelectorAll("[data-live]");
    if (!regions.length || !window.EventSource) { return; }
    var controls = document.querySelector(".live-controls");
    var toggle = document.querySelector("[data-live-toggle]");
    var label = document.querySelector(".live-toggle");
    var status = document.querySelector(".live-status");
    var updated = document.querySelector(".live-controls .updated");
    var kinds = ((controls && controls.getAttribute("data-kinds")) || "").split(",").filter(Boolean);
    var paged = new URLSearchParams(window.location.search).has("cursor");
    var audit = !!document.querySelector('[data-live="audit"]');
    if (label) { label.hidden = false; }
    if (toggle && paged) { toggle.checked = false; }
    var lastUpdate = Date.now();
    var busy = false, again = false, timer = null, source = null, retry = null;

    function show(text) {
      if (!status) { return; }
      status.textContent = text;
      status.hidden = !text;
    }

    function age() {
      var rel = updated && updated.querySelector(".rel");
      if (rel) { rel.textContent = ago(lastUpdate); }
    }

    function on() { return !toggle || toggle.checked; }

    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      fetch(window.location.href, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "text/html" } })
        .then(function (response) {
          if (response.redirected || response.status === 401) { throw new Error("signed out"); }
          if (!response.ok) { throw new Error("failed"); }
          return response.text();
        })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html");
          var x = window.scrollX, y = window.scrollY;
          document.querySelectorAll("[data-live]").forEach(function (region) {
            var next = fresh.querySelector('[data-live="' + region.getAttribute("data-live") + '"]');
            if (!next) { return; }
            var key = focusKey(region);
            region.innerHTML = next.innerHTML;
            confirmForms(region);
            refocus(region, key);
          });
          window.scrollTo(x, y);
          var freshUpdated = fresh.querySelector(".live-controls .updated");
          if (updated && freshUpdated) { updated.innerHTML = freshUpdated.innerHTML; }
          lastUpdate = Date.now();
          age();
        })
        .catch(function (error) {
          if (error.message === "signed out") {
            stop();
            show("Your session has ended: log in again to see live updates.");
          } else {
            show("Could not refresh the list; it will try again on the next event.");
          }
        })
        .then(function () {
          busy = false;
          if (again) { again = false; soon(); }
        });
    }

    // Many events in a burst make one refresh.
    function soon() {
      if (timer) { return; }
      timer = setTimeout(function () { timer = null; refresh(); }, 300);
    }

    function stop() {
      if (source) { source.close(); source = null; }
      if (retry) { clearTimeout(retry); retry = null; }
    }

    function start() {
      stop();
      if (!on()) { show(""); return; }
      source = new EventSource("/v1/events", { withCredentials: true });
      source.onopen = function () { show(""); };
      kinds.forEach(function (kind) { source.addEventListener(kind, soon); });
      source.addEventListener("lagged", soon);
      source.onerror = function () {
        if (source && source.readyState === EventSource.CONNECTING) {
          show("Live updates paused: reconnecting…");
          return;
        }
        // Closed for good: the answer was not a stream. Find out why.
        stop();
        fetch("/v1/session", { credentials: "same-origin", cache: "no-store" })
          .then(function (response) {
            if (response.status === 401) {
              show("Your session has ended: log in again to see live updates.");
            } else {
              show("Live updates paused: the server cannot be reached; retrying…");
              retry = setTimeout(start, 5000);
            }
          }, function () {
            show("Live updates paused: the server cannot be reached; retrying…");
            retry = setTimeout(start, 5000);
          });
      };
    }

    setInterval(age, 10000);
    if (audit) { setInterval(function () { if (on() && !document.hidden) { refresh(); } }, 30000); }
    if (toggle) {
      toggle.addEventListener("change", function () {
        if (on()) { refresh(); }
        start();
      });
    }
    start();
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpCopyButtons(document);
    setUpForms();
    setUpLive();
  });
})();
