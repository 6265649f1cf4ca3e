// Veil's inbox script: live updates and conveniences on top of pages that work without it.
// Served from our origin under `script-src 'self'`; no inline handlers, no eval, no HTML built
// from strings: fresh content comes as server-rendered (escaped) HTML, parsed by DOMParser
// (which runs no scripts) and moved into the page as nodes.
(function () {
  "use strict";

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var lang = document.documentElement.lang || "en";

  // Times: the server writes UTC in the page's language; show them in the viewer's time zone.
  function localTimes(root) {
    var format;
    try {
      format = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
    } catch (e) {
      return;
    }
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        el.textContent = format.format(when);
      }
    });
  }

  function scrollMessages(force) {
    var list = document.getElementById("messages");
    if (!list) return;
    var nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 120;
    if (force || nearBottom) list.scrollTop = list.scrollHeight;
  }

  // The live sections as the server last sent them, before this script touched them (local
  // times, unfolded links): a refresh that brings the same HTML leaves the section alone, so a
  // re-read moves nothing the agent is reading, selecting or pointing at.
  var LIVE = ["tabs", "conversation-list", "thread-head", "messages", "composer", "contact-panel"];
  var served = {};
  LIVE.forEach(function (id) {
    var el = document.getElementById(id);
    if (el) served[id] = el.outerHTML;
  });

  // Replaces the element with `id` by the one of the same id in `fresh`, unless it is unchanged.
  function swap(fresh, id, onlyIf) {
    var now = document.getElementById(id);
    var next = fresh.getElementById(id);
    if (!now || !next) return false;
    var html = next.outerHTML;
    if (served[id] === html) return false;
    if (onlyIf && !onlyIf(now, next)) return false;
    now.replaceWith(document.importNode(next, true));
    served[id] = html;
    return true;
  }

  // What the agent has unfolded in the thread (a link's target, its confirmation), as message id
  // and position, so that a live refresh does not fold it again.
  function openDetails() {
    var keys = [];
    document.querySelectorAll("#messages li.message[id]").forEach(function (message) {
      message.querySelectorAll("details").forEach(function (el, i) {
        if (el.open) keys.push([message.id, i]);
      });
    });
    return keys;
  }

  function reopen(keys) {
    keys.forEach(function (key) {
      var message = document.getElementById(key[0]);
      var el = message && message.querySelectorAll("details")[key[1]];
      if (el) el.open = true;
    });
  }

  var refreshing = false;
  var again = false;
  function refresh() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Veil-Refresh": "1" } })
      .then(function (response) {
        if (response.redirected && /\/login/.test(response.url)) {
          window.location.assign("/login");
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var list = document.getElementById("messages");
        var wasAtBottom = list && list.scrollHeight - list.scrollTop - list.clientHeight < 120;
        swap(fresh, "tabs");
        swap(fresh, "conversation-list");
        swap(fresh, "thread-head");
        var opened = openDetails();
        swap(fresh, "messages");
        reopen(opened);
        // Forms keep what the agent is typing: the composer is replaced only when its kind
        // changes (the 24-hour window opened or closed), the panel only when not in use.
        swap(fresh, "composer", function (now, next) {
          return now.dataset.mode !== next.dataset.mode;
        });
        swap(fresh, "contact-panel", function (now) {
          return !now.contains(document.activeElement);
        });
        localTimes(document);
        scrollMessages(wasAtBottom);
        enhance();
      })
      .catch(function () {})
      .then(function () {
        refreshing = false;
        if (again) {
          again = false;
          schedule();
        }
      });
  }

  var timer = null;
  function schedule() {
    if (timer) return;
    timer = setTimeout(function () {
      timer = null;
      refresh();
    }, 200);
  }

  function setLive(online) {
    var el = document.getElementById("live");
    if (!el) return;
    el.textContent = el.dataset[online ? "online" : "offline"] || "";
    el.dataset.state = online ? "online" : "offline";
  }

  // Live updates: a signal means "re-read". Every connection, the first one included, re-reads
  // once it is subscribed, so a change between rendering the page and subscribing is not missed.
  function listen() {
    if (!window.EventSource || !document.getElementById("conversation-list")) return;
    var source = new EventSource("/inbox/events");
    source.addEventListener("ready", function () {
      setLive(true);
      schedule();
    });
    source.addEventListener("change", function () {
      schedule();
    });
    source.addEventListener("error", function () {
      setLive(false);
    });
  }

  function insertAtCursor(area, text) {
    var start = area.selectionStart || 0;
    var end = area.selectionEnd || 0;
    area.value = area.value.slice(0, start) + text + area.value.slice(end);
    area.selectionStart = area.selectionEnd = start + text.length;
    area.focus();
  }

  function showError(form, text) {
    var box = form.querySelector(".form-error");
    if (!box) {
      box = document.createElement("p");
      box.className = "error form-error";
      box.setAttribute("role", "alert");
      form.prepend(box);
    }
    box.textContent = text;
  }

  // Posts a form with fetch; on success clears it and re-reads, on refusal shows the reason the
  // server rendered.
  function submitByFetch(form, body, headers) {
    return fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: headers,
      body: body,
    })
      .then(function (response) {
        return response.text().then(function (html) {
          if (response.ok) {
            form.reset();
            refresh();
            return;
          }
          var fresh = new DOMParser().parseFromString(html, "text/html");
          var reason = fresh.getElementById("composer-error");
          showError(form, reason ? reason.textContent : response.status + " " + response.statusText);
        });
      })
      .catch(function () {
        showError(form, document.getElementById("live").dataset.offline || "offline");
      });
  }

  function enhance() {
    var reply = document.getElementById("reply-form");
    if (reply && !reply.dataset.enhanced) {
      reply.dataset.enhanced = "1";
      var area = reply.querySelector("textarea");
      var canned = reply.querySelector("#canned");
      if (canned) {
        canned.addEventListener("change", function () {
          var option = canned.options[canned.selectedIndex];
          if (option && option.dataset.text) {
            area.value = option.dataset.text;
            canned.value = "";
            area.focus();
          }
        });
      }
      reply.querySelectorAll(".emoji-pick").forEach(function (button) {
        button.addEventListener("click", function () {
          insertAtCursor(area, button.dataset.emoji);
        });
      });
      area.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          reply.requestSubmit();
        }
      });
      reply.addEventListener("submit", function (event) {
        event.preventDefault();
        var body = new URLSearchParams(new FormData(reply, event.submitter));
        submitByFetch(reply, body, { "Content-Type": "application/x-www-form-urlencoded" });
      });
    }
    // "Send later": the chosen local time goes to the server as Unix ms; a time past the end of
    // the 24-hour window shows the warning at once.
    document.querySelectorAll("input.send-at").forEach(function (input) {
      if (input.dataset.enhanced) {
        return;
      }
      input.dataset.enhanced = "1";
      input.addEventListener("change", function () {
        var box = input.closest(".later");
        var at = new Date(input.value).getTime();
        box.querySelector(".send-at-ms").value = isNaN(at) ? "" : String(at);
        var closes = Number(input.dataset.windowCloses || "0");
        var warning = box.querySelector(".later-warning");
        if (warning) {
          warning.hidden = !(closes > 0 && at >= closes);
        }
      });
    });
    var attach = document.getElementById("attach-form");
    if (attach && !attach.dataset.enhanced) {
      attach.dataset.enhanced = "1";
      // Multipart bodies carry the CSRF token in a header (the gate reads form fields only
      // from URL-encoded bodies).
      attach.addEventListener("submit", function (event) {
        event.preventDefault();
        submitByFetch(attach, new FormData(attach), { "X-CSRF-Token": csrf });
      });
    }
  }

  localTimes(document);
  scrollMessages(true);
  enhance();
  listen();
})();
