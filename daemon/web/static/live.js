// The dashboard's only script (served from /static: the Content-Security-Policy allows no
// inline script). Twice a second it asks /api/mark whether anything was handled since the
// page was drawn; when so, it fetches the same page again and swaps its <main>. The page is
// server-rendered HTML with every agent string escaped, so nothing here builds markup.
(function () {
  "use strict";
  var POLL_MS = 400;
  var REDRAW_MS = 30000; // the "... ago" times age even when nothing arrives
  var busy = false;
  var drawnAt = Date.now();

  function mark() {
    return document.body.getAttribute("data-mark");
  }

  function redraw() {
    return fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error("page " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var main = fresh.querySelector("main");
        if (main && fresh.body) {
          document.querySelector("main").replaceWith(document.adoptNode(main));
          document.body.setAttribute("data-mark", fresh.body.getAttribute("data-mark"));
          drawnAt = Date.now();
        }
      });
  }

  function look() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch("/api/mark", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        var live = document.getElementById("live");
        if (live) { live.className = answer ? "live on" : "live off"; }
        if (answer && (answer.mark !== mark() || Date.now() - drawnAt > REDRAW_MS)) {
          return redraw();
        }
        return null;
      })
      .catch(function () {
        var live = document.getElementById("live");
        if (live) { live.className = "live off"; }
      })
      .then(function () { busy = false; });
  }

  window.setInterval(look, POLL_MS);
})();
