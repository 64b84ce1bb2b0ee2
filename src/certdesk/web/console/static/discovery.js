// The progress of a discovery job without reloading the page (R18): the job's region is
// fetched again every two seconds until the job has finished. Without JavaScript the
// page's "Show the progress now" link does the same by hand.
(function () {
  "use strict";
  var region = document.getElementById("discovery-job");
  if (!region || region.getAttribute("data-finished") === "yes") {
    return;
  }
  function tick() {
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (answer) { return answer.ok ? answer.text() : ""; })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("discovery-job");
        if (fresh) {
          region.innerHTML = fresh.innerHTML;
          region.setAttribute("data-finished", fresh.getAttribute("data-finished"));
          region.setAttribute("data-state", fresh.getAttribute("data-state"));
        }
        if (region.getAttribute("data-finished") !== "yes") {
          window.setTimeout(tick, 2000);
        }
      })
      .catch(function () { window.setTimeout(tick, 2000); });
  }
  window.setTimeout(tick, 2000);
}());
