(function () {
  "use strict";
  var table = document.getElementById("items");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var text = rows.map(function (row) { return row.textContent.toLowerCase(); });
  var search = document.getElementById("q");
  var count = document.getElementById("count");
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));

  function matches(row, i, needle, chosen) {
    if (needle && text[i].indexOf(needle) < 0) { return false; }
    for (var k = 0; k < chosen.length; k++) {
      var have = " " + row.getAttribute("data-" + chosen[k][0]) + " ";
      if (have.indexOf(" " + chosen[k][1] + " ") < 0) { return false; }
    }
    return true;
  }

  var more = document.getElementById("more");
  var page = Number(more.getAttribute("data-page"));
  var limit = page;

  // Only the first `limit` matching rows are displayed: layout of 10,000 rows would freeze the page.
  function filter() {
    var needle = search.value.trim().toLowerCase();
    var chosen = selects.filter(function (s) { return s.value; }).map(function (s) { return [s.getAttribute("data-filter"), s.value]; });
    var matching = 0;
    rows.forEach(function (row, i) {
      var ok = matches(row, i, needle, chosen);
      if (ok) { matching++; }
      row.hidden = !ok || matching > limit;
    });
    var shown = Math.min(matching, limit);
    count.textContent = matching > shown
      ? matching + " of " + rows.length + " items match, the first " + shown + " shown"
      : shown + " of " + rows.length + " items shown";
    more.hidden = matching <= shown;
  }

  function reset() { limit = page; filter(); }

  function key(row, col) {
    var cell = row.cells[col];
    var v = cell.getAttribute("data-v");
    return v !== null ? Number(v) : cell.textContent.toLowerCase();
  }

  function sort(button) {
    var th = button.parentNode;
    var col = Number(button.getAttribute("data-col"));
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { if (c.hasAttribute("aria-sort")) { c.setAttribute("aria-sort", "none"); } });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var order = rows.map(function (row, i) { return [key(row, col), i]; });
    order.sort(function (a, b) { var r = a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]; return ascending ? r : -r; });
    rows = order.map(function (pair) { return rows[pair[1]]; });
    text = order.map(function (pair) { return text[pair[1]]; });
    var fragment = document.createDocumentFragment();
    rows.forEach(function (row) { fragment.appendChild(row); });
    body.appendChild(fragment);
    filter();
  }

  search.addEventListener("input", reset);
  selects.forEach(function (s) { s.addEventListener("change", reset); });
  more.addEventListener("click", function () { limit += page; filter(); });
  Array.prototype.forEach.call(table.querySelectorAll("th button"), function (b) {
    b.addEventListener("click", function () { sort(b); });
  });
  document.body.setAttribute("data-ready", "1");
  document.body.setAttribute("data-ready-ms", String(Math.round(performance.now())));
}());
