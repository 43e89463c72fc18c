// dispatcher console: refreshes the overview and a replay's progress.
// Only text is written into the page from JSON (textContent); the overview
// part is HTML the server rendered and escaped.
(function () {
  "use strict";

  function every(ms, fn) {
    var busy = false;
    function tick() {
      if (document.hidden || busy) { return; }
      busy = true;
      fn().then(function () { busy = false; }, function () { busy = false; });
    }
    return setInterval(tick, ms);
  }

  function refreshOverview(el) {
    var url = el.getAttribute("data-refresh");
    var ms = parseInt(el.getAttribute("data-every"), 10) || 3000;
    every(ms, function () {
      return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (r) {
        if (r.status === 401) { location.reload(); return; }
        if (!r.ok) { return; }
        return r.text().then(function (html) { el.innerHTML = html; });
      });
    });
  }

  function followJob(el) {
    var id = el.getAttribute("data-job");
    var bar = document.getElementById("job-bar");
    var status = document.getElementById("job-status");
    var failures = document.getElementById("job-failures");
    var cancel = document.getElementById("job-cancel");
    var timer = every(1000, function () {
      return fetch("/ui/api/jobs/" + encodeURIComponent(id), { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) { return; }
        return r.json().then(function (j) {
          var rep = j.report || {};
          bar.max = Math.max(j.selected, 1);
          bar.value = j.done;
          var counts = (rep.replayed || 0) + " replayed, " + (rep.failed || 0) + " failed, " + (rep.skipped || 0) + " skipped";
          if (j.running) {
            status.textContent = j.done + " of " + j.selected + ": " + counts;
          } else {
            status.textContent = j.result + ": " + counts + " of " + j.selected + (j.error ? " (" + j.error + ")" : "");
            if (cancel) { cancel.remove(); }
            clearInterval(timer);
          }
          failures.textContent = "";
          (j.failures || []).forEach(function (f) {
            var li = document.createElement("li");
            li.textContent = f;
            failures.appendChild(li);
          });
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var ov = document.getElementById("overview");
    if (ov) { refreshOverview(ov); }
    var job = document.getElementById("job");
    if (job) { followJob(job); }
  });
})();
