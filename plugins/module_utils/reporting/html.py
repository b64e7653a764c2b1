# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The findings report's one self-contained HTML page.

Summary cards, an inline SVG chart of open findings by control and severity, sortable tables by control
(with each control's verdict and coverage), host and account, and a sortable, filterable, paged findings
table that the page's script renders from an embedded JSON block (one array per finding), so 100,000
findings make one data block and one page of rows in the DOM, not 100,000 rows.
Everything is escaped; the page loads nothing from anywhere and its Content-Security-Policy forbids it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json
import re

from html import escape as _html_escape

from ansible_collections.ainative.security.plugins.module_utils.core.findings import sort_findings
from ansible_collections.ainative.security.plugins.module_utils.core.reports import TextOut
from ansible_collections.ainative.security.plugins.module_utils.reporting.aggregate import (
    SEVERITY_ORDER,
    VERDICT_RANK,
    coverage_text,
)

SEVERITY_COLOURS = {"CRITICAL": "#7b1fa2", "HIGH": "#c62828", "MEDIUM": "#ef6c00", "LOW": "#f9a825",
                    "INFO": "#1565c0", "UNKNOWN": "#757575"}


def _e(value):
    return _html_escape("" if value is None else str(value), quote=True)


_ROW_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))
# The order of the values in each finding's array in the data block (the page's script reads "columns").
COLUMNS = ("severity", "status", "control", "module", "host", "account", "id", "title", "target", "where", "url")
_ROW_BATCH = 2000


def _script_json(data):
    """JSON safe inside <script type=application/json>: no '<', '>', '&' and ASCII only."""
    return _script_safe(json.dumps(data, sort_keys=True, ensure_ascii=True, separators=(",", ":")))


def _script_safe(text):
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _csp_hash(text):
    return "'sha256-%s'" % base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _where(finding):
    loc = finding["location"]
    parts = []
    if loc.get("package"):
        parts.append("%s %s" % (loc["package"], loc.get("installed_version") or ""))
        if loc.get("fixed_version"):
            parts.append("fixed in %s" % loc["fixed_version"])
    if loc.get("path"):
        parts.append("%s:%s" % (loc["path"], loc["line"]) if loc.get("line") else loc["path"])
    if loc.get("resource"):
        parts.append(str(loc["resource"]))
    return "; ".join(p.strip() for p in parts if p)


def _safe_url(url):
    return url if isinstance(url, str) and re.match(r"^https?://", url, re.I) else None


def _row(finding):
    origin = finding["details"]["origin"]
    return [finding["severity"], finding["status"], origin["control"], finding["control"], origin["host"],
            origin["account"], finding["id"], finding["title"] or finding["id"],
            "" if finding["target"] is None else str(finding["target"]), _where(finding), _safe_url(finding.get("url"))]


def _write_data(text, findings, summary, max_rows):
    """The data block's JSON, written in batches of rows: ``{"columns", "findings": [[...]], ...}``."""
    head = {"columns": list(COLUMNS), "max_rows": int(max_rows),
            "summary": {"total": summary["total"], "open": summary["open"]}}
    text.write(_script_json(head)[:-1] + ',"findings":[')
    ordered = sort_findings(findings)
    for start in range(0, len(ordered), _ROW_BATCH):
        batch = ",".join(_ROW_ENCODER.encode(_row(f)) for f in ordered[start:start + _ROW_BATCH])
        text.write(("," if start else "") + _script_safe(batch))
    text.write("]}")


def chart_svg(by_control):
    """Horizontal stacked bars: open findings per control, one segment per severity."""
    controls = sorted(by_control, key=lambda c: (-by_control[c]["open"], c))
    label_w, bar_w, row_h, top = 190, 470, 26, 10
    width = label_w + bar_w + 60
    height = top + row_h * max(len(controls), 1) + 44
    peak = max([by_control[c]["open"] for c in controls] + [1])
    out = ['<svg xmlns="http://www.w3.org/2000/svg" id="chart" role="img" width="%d" height="%d" '
           'viewBox="0 0 %d %d" aria-label="Open findings by control and severity">' % (width, height, width, height),
           "<title>Open findings by control and severity</title>"]
    for row, control in enumerate(controls):
        y = top + row * row_h
        entry = by_control[control]
        out.append('<text x="%d" y="%d" text-anchor="end" class="lbl">%s</text>' % (label_w - 8, y + 16, _e(control)))
        x = float(label_w)
        for severity in SEVERITY_ORDER:
            count = entry["by_severity"][severity]
            if not count:
                continue
            w = bar_w * count / float(peak)
            out.append('<rect x="%.2f" y="%d" width="%.2f" height="%d" fill="%s" data-control="%s" '
                       'data-severity="%s" data-count="%d"><title>%s: %d %s</title></rect>'
                       % (x, y + 4, w, row_h - 8, SEVERITY_COLOURS[severity], _e(control), severity, count,
                          _e(control), count, severity))
            x += w
        out.append('<text x="%.2f" y="%d" class="num">%d</text>' % (x + 6, y + 16, entry["open"]))
    if not controls:
        out.append('<text x="%d" y="%d" class="lbl">no control reports</text>' % (label_w, top + 16))
    y = height - 18
    x = label_w
    for severity in SEVERITY_ORDER:
        legend = (x, y - 10, SEVERITY_COLOURS[severity], x + 16, y, severity)
        out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"></rect>'
                   '<text x="%d" y="%d" class="leg">%s</text>' % legend)
        x += 16 + 8 * len(severity) + 14
    out.append("</svg>")
    return "".join(out)


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c9cfdb}
main{padding:18px 28px;max-width:1400px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:14px 18px;margin:0 0 18px}
h2{font-size:16px;margin:0 0 10px}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #dde1e8;border-radius:6px;padding:8px 14px;min-width:92px;background:#fafbfc}
.card b{display:block;font-size:22px}
.card span{font-size:12px;color:#5b6475;text-transform:uppercase}
.sev-CRITICAL b,.sev-CRITICAL{color:#7b1fa2}.sev-HIGH b,.sev-HIGH{color:#c62828}
.sev-MEDIUM b,.sev-MEDIUM{color:#ef6c00}.sev-LOW b,.sev-LOW{color:#a07800}
.sev-INFO b,.sev-INFO{color:#1565c0}.sev-UNKNOWN b,.sev-UNKNOWN{color:#757575}
.verdict{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;background:#e0e0e0}
.v-fail,.v-error,.v-incomplete{background:#ffcdd2;color:#8e0000}.v-findings{background:#ffe0b2;color:#7a3b00}
.v-pass{background:#c8e6c9;color:#1b5e20}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #e6e9ef;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f5;cursor:pointer;user-select:none;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.t{max-width:520px;overflow-wrap:anywhere}
.muted{color:#5b6475}
svg text.lbl{font-size:12px;fill:#1d2330}svg text.num{font-size:12px;fill:#5b6475}
svg text.leg{font-size:11px;fill:#1d2330}
input[type=search]{padding:5px 8px;width:320px;border:1px solid #c3c9d5;border-radius:4px}
ul.notes{margin:4px 0 0 18px;padding:0;color:#5b6475;font-size:12px}
ul.cov{margin:0;padding:0;list-style:none;font-size:12px;color:#5b6475}ul.cov.gap{color:#8e0000}
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var SEV = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO", "UNKNOWN"];
  var RANK = {CRITICAL: 5, HIGH: 4, MEDIUM: 3, LOW: 2, INFO: 1, UNKNOWN: 0};
  var data = JSON.parse(document.getElementById("report-data").textContent);
  // Each finding is an array in the order of data.columns; make them objects once.
  var rows = data.findings.map(function (values, i) {
    var f = {order: i};
    data.columns.forEach(function (key, col) { f[key] = values[col]; });
    return f;
  });

  var counts = {total: 0, open: 0};
  SEV.forEach(function (s) { counts[s] = 0; });
  rows.forEach(function (f) {
    counts.total += 1;
    if (f.status === "open") { counts.open += 1; counts[f.severity] += 1; }
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-count-of]"), function (el) {
    el.textContent = String(counts[el.getAttribute("data-count-of")]);
  });
  if (counts.total !== data.summary.total || counts.open !== data.summary.open) {
    console.error("findings report: page counts differ from the report summary");
  }

  // Findings table: filtered and sorted in memory, one page of rows in the DOM, text via textContent only.
  var body = document.getElementById("findings-body");
  var shown = document.getElementById("findings-shown");
  var filter = document.getElementById("findings-filter");
  var prev = document.getElementById("findings-prev");
  var next = document.getElementById("findings-next");
  var pageSize = data.max_rows;
  var sortKey = "severity", sortDir = -1, page = 0, list = rows;
  var KEYS = ["severity", "status", "control", "host", "id", "title", "target", "where"];

  function value(f, key) { return key === "severity" ? RANK[f.severity] : String(f[key] || "").toLowerCase(); }
  function cmp(a, b) {
    var x = value(a, sortKey), y = value(b, sortKey);
    if (x < y) { return -sortDir; }
    if (x > y) { return sortDir; }
    return a.order - b.order;
  }
  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) { td.className = cls; }
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }
  function select() {
    var needle = (filter.value || "").toLowerCase();
    list = rows.filter(function (f) { return !needle || f.text.indexOf(needle) !== -1; });
    list.sort(cmp);
    page = 0;
  }
  function render() {
    var pages = Math.max(1, Math.ceil(list.length / pageSize));
    page = Math.min(Math.max(page, 0), pages - 1);
    var first = page * pageSize;
    var slice = list.slice(first, first + pageSize);
    var frag = document.createDocumentFragment();
    slice.forEach(function (f) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-severity", f.severity);
      tr.setAttribute("data-status", f.status);
      cell(tr, f.severity, "sev-" + f.severity);
      cell(tr, f.status);
      cell(tr, f.control + (f.module !== f.control ? " / " + f.module : ""));
      cell(tr, f.host + (f.account ? " / " + f.account : ""));
      var idCell = cell(tr, "");
      if (f.url) {
        var a = document.createElement("a");
        a.href = f.url;
        a.rel = "noopener noreferrer";
        a.textContent = f.id;
        idCell.appendChild(a);
      } else {
        idCell.textContent = f.id;
      }
      cell(tr, f.title, "t");
      cell(tr, f.target, "t");
      cell(tr, f.where, "t");
      frag.appendChild(tr);
    });
    while (body.firstChild) { body.removeChild(body.firstChild); }
    body.appendChild(frag);
    var needle = filter.value ? " matching" : "";
    shown.textContent = (slice.length ? "showing " + (first + 1) + "-" + (first + slice.length) : "showing 0") +
      " of " + list.length + needle + " finding(s); page " + (page + 1) + " of " + pages;
    shown.setAttribute("data-rows", String(slice.length));
    shown.setAttribute("data-matching", String(list.length));
    shown.setAttribute("data-page", String(page + 1));
    shown.setAttribute("data-pages", String(pages));
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }
  rows.forEach(function (f) {
    f.text = KEYS.map(function (k) { return String(f[k] || ""); }).join(" ").toLowerCase() + " " +
      String(f.module || "").toLowerCase() + " " + String(f.account || "").toLowerCase();
  });
  Array.prototype.forEach.call(document.querySelectorAll("#findings th[data-key]"), function (th) {
    th.addEventListener("click", function () {
      var key = th.getAttribute("data-key");
      sortDir = key === sortKey ? -sortDir : (key === "severity" ? -1 : 1);
      sortKey = key;
      Array.prototype.forEach.call(th.parentNode.children, function (o) { o.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      select();
      render();
    });
  });
  filter.addEventListener("input", function () { select(); render(); });
  prev.addEventListener("click", function () { page -= 1; render(); });
  next.addEventListener("click", function () { page += 1; render(); });
  // Shareable views: index.html#sort=<column>[&desc]&filter=<text>&page=<n>
  var params = {};
  location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
    var kv = pair.split("=");
    if (kv[0]) { params[decodeURIComponent(kv[0])] = decodeURIComponent(kv.slice(1).join("=") || ""); }
  });
  if (KEYS.indexOf(params.sort) !== -1) {
    sortKey = params.sort;
    sortDir = ("desc" in params) ? -1 : 1;
    Array.prototype.forEach.call(document.querySelectorAll("#findings th[data-key]"), function (th) {
      th.removeAttribute("aria-sort");
      if (th.getAttribute("data-key") === sortKey) {
        th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      }
    });
  }
  if (params.filter) { filter.value = params.filter; }
  select();
  if (/^[0-9]+$/.test(params.page || "")) { page = Number(params.page) - 1; }
  render();

  // Server-rendered tables (controls, hosts, accounts): sort rows by data-sort or text.
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.querySelectorAll("th"), function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(th.parentNode.children, function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var tbody = table.tBodies[0];
        var list = Array.prototype.slice.call(tbody.rows);
        list.sort(function (a, b) {
          var x = a.cells[col].getAttribute("data-sort") || a.cells[col].textContent;
          var y = b.cells[col].getAttribute("data-sort") || b.cells[col].textContent;
          var nx = Number(x), ny = Number(y);
          var r = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
          return asc ? r : -r;
        });
        list.forEach(function (tr) { tbody.appendChild(tr); });
      });
    });
  });
  document.body.setAttribute("data-rendered", "true");
}());
"""


def _verdict_badge(verdict):
    return '<span class="verdict v-%s">%s</span>' % (_e(verdict or "none"), _e(verdict or "n/a"))


def _counts_table(table_id, title, first_col, entries, extra=None):
    extra = extra or []
    head = ["<th>%s</th>" % _e(first_col)] + ["<th>%s</th>" % _e(h) for h, dummy in extra]
    head += ['<th class="n">open</th>'] + ['<th class="n sev-%s">%s</th>' % (s, s) for s in SEVERITY_ORDER]
    head += ['<th class="n">ignored</th>', '<th class="n">total</th>']
    rows = []
    for name in sorted(entries, key=lambda n: (-entries[n]["open"], n)):
        entry = entries[name]
        cells = ["<td>%s</td>" % _e(name)]
        for dummy, render in extra:
            text, sort = render(entry)
            cells.append('<td data-sort="%s">%s</td>' % (_e(sort), text))
        cells.append('<td class="n" data-col="open">%d</td>' % entry["open"])
        cells += ['<td class="n" data-col="%s">%d</td>' % (s, entry["by_severity"][s]) for s in SEVERITY_ORDER]
        ignored = entry["by_status"]["ignored"] + entry["by_status"]["expired_ignore"]
        cells += ['<td class="n" data-col="ignored">%d</td>' % ignored,
                  '<td class="n" data-col="total">%d</td>' % entry["total"]]
        rows.append('<tr data-name="%s">%s</tr>' % (_e(name), "".join(cells)))
    if not rows:
        return ""
    return ('<section><h2>%s</h2><table class="sortable" id="%s"><thead><tr>%s</tr></thead><tbody>%s</tbody>'
            "</table></section>" % (_e(title), table_id, "".join(head), "".join(rows)))


def stream_html(out, findings, agg, summary, gate, verdict, coverage, title, generated_at=None, max_rows=1000):
    """Write the page to the binary file object ``out``: no external assets (CSP forbids them), all
    content escaped, the findings as a JSON block in batches. ``max_rows``: rows per page of the table.

    ``gate`` is the gate's public decision, ``coverage`` the aggregate's own coverage (a dict).
    """
    script = _SCRIPT
    style = _STYLE
    csp = ("default-src 'none'; img-src data:; style-src %s; script-src %s; base-uri 'none'; form-action 'none'"
           % (_csp_hash(style), _csp_hash(script)))
    cards = ['<div class="card"><b data-count-of="total">-</b><span>findings</span></div>',
             '<div class="card"><b data-count-of="open">-</b><span>open</span></div>']
    cards += ['<div class="card sev-%s"><b data-count-of="%s">-</b><span>%s</span></div>' % (s, s, s.lower())
              for s in SEVERITY_ORDER]

    def verdict_cell(entry):
        return _verdict_badge(entry["verdict"]), "%d %s" % (VERDICT_RANK.get(entry["verdict"], 1), entry["verdict"])

    def hosts_cell(entry):
        return _e(", ".join(entry["hosts"])), ", ".join(entry["hosts"])

    def coverage_cell(entry):
        lines = ["%s: %s" % (c["source"], coverage_text(c)) for c in entry["coverage"]]
        complete = all(c["complete"] is not False for c in entry["coverage"])
        items = "".join("<li>%s</li>" % _e(line) for line in lines)
        return ('<ul class="cov%s">%s</ul>' % ("" if complete else " gap", items),
                "%d %s" % (0 if complete else 1, "; ".join(lines)))

    by_control = agg["by_control"]
    notes = []
    for control in sorted(by_control):
        if by_control[control]["notes"]:
            notes.append("<li><b>%s</b><ul class=\"notes\">%s</ul></li>" % (
                _e(control), "".join("<li>%s</li>" % _e(n) for n in by_control[control]["notes"])))
    if gate["failed"]:
        gate_text = "gate failed%s: %s" % (" (report only)" if gate["report_only"] else "", gate["reason"])
    else:
        gate_text = "gate passed (fail_on %s): %s" % (gate["fail_on"], gate["reason"])
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="%s">' % _e(csp),
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        "<title>%s</title>" % _e(title),
        "<style>%s</style></head>" % style,
        '<body data-verdict="%s"><header><h1>%s</h1><p>%s %d control(s), %d host(s), %d account(s)%s. %s</p>'
        '<p id="coverage" data-complete="%s">Input reports: %s</p></header>'
        % (_e(verdict), _e(title), _verdict_badge(verdict), len(by_control), len(agg["by_host"]),
           len(agg["by_account"]), (", generated " + _e(generated_at)) if generated_at else "", _e(gate_text),
           "true" if coverage["complete"] else "false", _e(coverage_text(coverage))),
        "<main>",
        '<noscript><section>The findings table and the summary counts need JavaScript; the tables below and the '
        "JSON, SARIF and JUnit reports hold the same data.</section></noscript>",
        '<section><h2>Summary</h2><div class="cards" id="cards">%s</div></section>' % "".join(cards),
        "<section><h2>Open findings by control and severity</h2>%s</section>" % chart_svg(by_control),
        _counts_table("controls", "Controls", "control", by_control,
                      [("verdict", verdict_cell), ("coverage", coverage_cell), ("hosts", hosts_cell)]),
        _counts_table("hosts", "Hosts", "host", agg["by_host"]),
        _counts_table("accounts", "Cloud accounts", "account", agg["by_account"]),
        '<section id="findings"><h2>Findings</h2><p><input type="search" id="findings-filter" '
        'placeholder="filter: id, title, target, host, severity..." aria-label="filter findings"> '
        '<button type="button" id="findings-prev">previous</button> '
        '<button type="button" id="findings-next">next</button> '
        '<span class="muted" id="findings-shown"></span></p><table id="findings-table"><thead><tr>'
        '<th data-key="severity" aria-sort="descending">severity</th><th data-key="status">status</th>'
        '<th data-key="control">control</th><th data-key="host">host / account</th><th data-key="id">id</th>'
        '<th data-key="title">title</th><th data-key="target">target</th><th data-key="where">location</th>'
        '</tr></thead><tbody id="findings-body"></tbody></table></section>',
        ("<section><h2>Notes from the controls</h2><ul>%s</ul></section>" % "".join(notes)) if notes else "",
        "</main>",
    ]
    text = TextOut(out)
    text.write("\n".join(p for p in parts if p) + '\n<script type="application/json" id="report-data">')
    _write_data(text, findings, summary, max_rows)
    text.write("</script>\n<script>%s</script>\n</body></html>\n" % script)
    text.flush()
