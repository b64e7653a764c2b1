# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The findings report's one self-contained HTML page.

At the top a verdict banner naming the gate rule that decided it, then the scope (hosts, time, collection,
scanners and their DB, commit), the counts, the trend since a previous report, a chart, the controls
(each with its status under this report's gate, the verdict it reported itself, its coverage, notes and
its most severe open findings, expandable), hosts and accounts, and a filterable, paged findings table
that the page's script renders from an embedded JSON block (one array per finding), so 100,000 findings
make one data block and one page of rows in the DOM. Each control's status comes from the same gate
decision as the verdict (``aggregate.control_verdicts``), so the rows never contradict the banner.
Everything is escaped; the page loads nothing from anywhere and its Content-Security-Policy forbids it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json
import re

from html import escape as _html_escape
from urllib.parse import quote

from ansible_collections.ainative.security.plugins.module_utils.core.findings import sort_findings
from ansible_collections.ainative.security.plugins.module_utils.core.module import COLLECTION_VERSION
from ansible_collections.ainative.security.plugins.module_utils.core.reports import TextOut, compact_json
from ansible_collections.ainative.security.plugins.module_utils.reporting.aggregate import (
    SEVERITY_ORDER,
    VERDICT_RANK,
    control_verdicts,
    coverage_text,
)
from ansible_collections.ainative.security.plugins.module_utils.reporting.trend import SAMPLE as TREND_SAMPLE

# Each meets WCAG AA (4.5:1) as text on the page's light backgrounds and behind white text (unit-tested on
# the emitted CSS). Red, orange, dark gold, blue: four hues a reader tells apart.
SEVERITY_COLOURS = {"CRITICAL": "#b3001b", "HIGH": "#b54200", "MEDIUM": "#7a5c00", "LOW": "#1f5fa8",
                    "INFO": "#00695c", "UNKNOWN": "#595959"}
# Severities shown even when no finding has them (a lead reads "0 critical"); the others only when present.
ALWAYS_SHOWN = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
CONTROL_SAMPLE = 10  # open findings shown in each control's section (all are in the findings table)
_TEXT_LIMIT = 600
_EVIDENCE_LIMIT = 10
_EVIDENCE_ORDER = ("event_ids", "evidence", "event_id", "evidence_id", "rule")
_EVIDENCE_KEYS = frozenset(_EVIDENCE_ORDER)
_TEXT_KEYS = frozenset(("resolution", "remediation", "fix", "message", "expected", "expected_size", "actual",
                        "actual_size"))


def _e(value):
    return _html_escape("" if value is None else str(value), quote=True)


_ASCII_ROWS = json.JSONEncoder(sort_keys=True, ensure_ascii=True, separators=(",", ":"))
# The order of the values in each finding's array in the data block (the page's script reads "columns").
# "trend" is "new" for an open finding the previous report did not have open; "more" is the finding's
# details for its expandable row (see _more), or null.
COLUMNS = ("severity", "status", "control", "module", "host", "account", "id", "title", "target", "where", "url",
           "trend", "more")
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


def _text(value):
    if value is None or value == "" or isinstance(value, (dict, list)):
        return None
    text = str(value)
    return text if len(text) <= _TEXT_LIMIT else text[:_TEXT_LIMIT] + "..."


def _risk(risk):
    """The risk facts a lead weighs: CVSS score and the vector of that score, EPSS, KEV (only those known)."""
    if not isinstance(risk, dict):
        return None
    out = {}
    if isinstance(risk.get("cvss_score"), (int, float)):
        out["cvss"] = risk["cvss_score"]
        vectors = [c for c in risk.get("cvss") or () if isinstance(c, dict) and c.get("score") == risk["cvss_score"]]
        if vectors and vectors[0].get("vector"):
            out["vector"] = _text(vectors[0]["vector"])
    epss = risk.get("epss") if isinstance(risk.get("epss"), dict) else {}
    if isinstance(epss.get("score"), (int, float)):
        out["epss"] = epss["score"]
        if isinstance(epss.get("percentile"), (int, float)):
            out["epss_percentile"] = epss["percentile"]
    if risk.get("kev") in (True, False):
        out["kev"] = risk["kev"]
    return out or None


def _evidence(details):
    ids = []
    for key in _EVIDENCE_ORDER:
        value = details.get(key)
        if value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            text = _text(item)
            if text and text not in ids:
                ids.append(text)
    return ids[:_EVIDENCE_LIMIT] or None


def _more(finding):
    """What an expanded finding shows (only what it has; None when nothing): remediation, message, fixed
    version, expected and actual values, evidence ids, risk. The installed version is in the row's location."""
    details = finding["details"]
    more = {}
    fixed = finding["location"]["fixed_version"]
    if fixed:
        more["fixed"] = _text(fixed)
    if not details:
        return more or None
    # Most findings carry none of these: two set tests instead of a dozen lookups (100,000 rows).
    if not _TEXT_KEYS.isdisjoint(details):
        get = details.get
        remediation = get("resolution") or get("remediation") or get("fix")
        pairs = (("remediation", remediation), ("message", get("message")),
                 ("expected", get("expected") if get("expected") is not None else get("expected_size")),
                 ("actual", get("actual") if get("actual") is not None else get("actual_size")))
        for key, value in pairs:
            text = _text(value)
            if text:
                more[key] = text
    if not _EVIDENCE_KEYS.isdisjoint(details):
        evidence = _evidence(details)
        if evidence:
            more["evidence"] = evidence
    risk = details.get("risk")
    if risk:
        risk = _risk(risk)
        if risk:
            more["risk"] = risk
    return more or None


def _row(finding, new):
    origin = finding["details"]["origin"]
    return [finding["severity"], finding["status"], origin["control"], finding["control"], origin["host"],
            origin["account"], finding["id"], finding["title"] or finding["id"],
            "" if finding["target"] is None else str(finding["target"]), _where(finding), _safe_url(finding.get("url")),
            "new" if new is not None and finding["status"] == "open" and finding["fingerprint"] in new else "",
            _more(finding)]


def _write_data(text, ordered, summary, max_rows, new):
    """The data block's JSON, written in batches of rows: ``{"columns", "findings": [[...]], ...}``."""
    head = {"columns": list(COLUMNS), "max_rows": int(max_rows),
            "summary": {"total": summary["total"], "open": summary["open"]}}
    text.write(_script_json(head)[:-1] + ',"findings":[')
    for start in range(0, len(ordered), _ROW_BATCH):
        rows = [_row(f, new) for f in ordered[start:start + _ROW_BATCH]]
        batch = compact_json(rows)[1:-1]
        if not batch.isascii():  # the data block stays ASCII; the rare non-ASCII batch goes the slow way
            batch = _ASCII_ROWS.encode(rows)[1:-1]
        text.write(("," if start else "") + _script_safe(batch))
    text.write("]}")


def report_scope(sources, agg, params, version=COLLECTION_VERSION):
    """What the report covers: hosts, accounts, time, collection, commit, each input's scanner and DB."""
    tools = []
    for source in sources:
        scanner = source.get("scanner")
        if isinstance(scanner, dict) and scanner.get("name"):
            db = scanner.get("db") if isinstance(scanner.get("db"), dict) else {}
            tool = {"control": source.get("control"), "source": source["source"], "name": _text(scanner["name"]),
                    "version": _text(scanner.get("version")), "db_version": _text(db.get("version")),
                    "db_updated_at": _text(db.get("updated_at"))}
            if tool not in tools:
                tools.append(tool)
    return {"hosts": sorted(agg["by_host"]), "accounts": sorted(agg["by_account"]),
            "controls": sorted(agg["by_control"]), "generated_at": params.get("generated_at"),
            "collection": {"name": "ainative.security", "version": version}, "commit": params.get("commit"),
            "tools": tools}


def chart_svg(by_control, shown=SEVERITY_ORDER):
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
    for severity in shown:
        legend = (x, y - 10, SEVERITY_COLOURS[severity], x + 16, y, severity)
        out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"></rect>'
                   '<text x="%d" y="%d" class="leg">%s</text>' % legend)
        x += 16 + 8 * len(severity) + 14
    out.append("</svg>")
    return "".join(out)


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:14px 28px}
header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c9cfdb;background:#1d2330}
main{padding:18px 28px;max-width:1400px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:14px 18px;margin:0 0 18px}
h2{font-size:16px;margin:0 0 10px}
h3{font-size:15px;margin:0 0 6px}
.banner{display:flex;flex-wrap:wrap;align-items:center;gap:8px 24px;border:0;padding:18px 24px}
.banner .word{font-size:44px;font-weight:800;letter-spacing:2px;line-height:1}
.banner p{margin:2px 0;font-size:15px}.banner ul{margin:4px 0 0 18px;padding:0;font-size:13px}
.b-fail{color:#fff;background:#b3001b}.b-incomplete{color:#fff;background:#5b3a8f}
.b-findings{color:#3d2b00;background:#ffd970}.b-pass{color:#fff;background:#1b6e2f}
dl.scope{display:grid;grid-template-columns:max-content 1fr;gap:3px 16px;margin:0}
dl.scope dt{color:#4a5263;background:#fff}dl.scope dd{margin:0}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #dde1e8;border-radius:6px;padding:8px 14px;min-width:92px;background:#fafbfc}
.card b{display:block;font-size:22px}
.card span{font-size:12px;color:#4a5263;background:#fafbfc;text-transform:uppercase}
.sev-CRITICAL b,.sev-CRITICAL{color:#b3001b}.sev-HIGH b,.sev-HIGH{color:#b54200}
.sev-MEDIUM b,.sev-MEDIUM{color:#7a5c00}.sev-LOW b,.sev-LOW{color:#1f5fa8}
.sev-INFO b,.sev-INFO{color:#00695c}.sev-UNKNOWN b,.sev-UNKNOWN{color:#595959}
.pill{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;font-weight:700}
.sp-CRITICAL{color:#fff;background:#b3001b}.sp-HIGH{color:#fff;background:#b54200}
.sp-MEDIUM{color:#fff;background:#7a5c00}.sp-LOW{color:#fff;background:#1f5fa8}
.sp-INFO{color:#fff;background:#00695c}.sp-UNKNOWN{color:#fff;background:#595959}
.verdict{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:700;color:#1d2330;background:#e0e3e8}
.v-fail{color:#fff;background:#b3001b}.v-error,.v-incomplete{color:#fff;background:#5b3a8f}
.v-findings{color:#3d2b00;background:#ffd970}.v-pass{color:#fff;background:#1b6e2f}
.tr-new{color:#fff;background:#1d2330}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #e6e9ef;padding:5px 8px;text-align:left;vertical-align:top}
th{color:#1d2330;background:#f0f2f5;cursor:pointer;user-select:none;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.t{max-width:520px;overflow-wrap:anywhere}
.muted{color:#4a5263}
details summary{cursor:pointer}
details dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0 4px;font-size:12px}
details dt{color:#4a5263;background:#fff}details dd{margin:0;overflow-wrap:anywhere;font-family:ui-monospace,monospace}
.control{border-left:4px solid #c3c9d5}.control.c-fail{border-left-color:#b3001b}
.control.c-incomplete{border-left-color:#5b3a8f}.control.c-findings{border-left-color:#d9a400}
.control.c-pass{border-left-color:#1b6e2f}
.control ul.top{list-style:none;margin:8px 0 0;padding:0}.control ul.top li{margin:0 0 4px}
svg text.lbl{font-size:12px;fill:#1d2330}svg text.num{font-size:12px;fill:#4a5263}
svg text.leg{font-size:11px;fill:#1d2330}
input[type=search]{padding:5px 8px;width:300px;border:1px solid #8a93a6;border-radius:4px}
select,button{padding:4px 6px}
.controls-bar{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:0 0 8px}
ul.notes{margin:4px 0 0 18px;padding:0;color:#4a5263;font-size:12px}
ul.cov{margin:0;padding:0;list-style:none;font-size:12px;color:#4a5263}ul.cov.gap{color:#8e0000}
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

  var counts = {total: 0, open: 0, "trend-new": 0};
  SEV.forEach(function (s) { counts[s] = 0; });
  rows.forEach(function (f) {
    counts.total += 1;
    if (f.status === "open") { counts.open += 1; counts[f.severity] += 1; }
    if (f.trend === "new") { counts["trend-new"] += 1; }
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
  var FILTERS = {severity: document.getElementById("findings-severity"),
                 status: document.getElementById("findings-status"),
                 control: document.getElementById("findings-control"),
                 trend: document.getElementById("findings-trend")};
  var prev = document.getElementById("findings-prev");
  var next = document.getElementById("findings-next");
  var pageSize = data.max_rows;
  var sortKey = "severity", sortDir = -1, page = 0, list = rows, expandAll = false;
  var KEYS = ["severity", "status", "control", "host", "id", "title", "target", "where"];
  var LABELS = [["remediation", "remediation"], ["message", "message"], ["fixed", "fixed version"],
                ["expected", "expected"], ["actual", "actual"], ["evidence", "evidence"]];

  var controls = {};
  rows.forEach(function (f) { controls[f.control] = true; });
  Object.keys(controls).sort().forEach(function (c) {
    var o = document.createElement("option");
    o.value = c;
    o.textContent = c;
    FILTERS.control.appendChild(o);
  });

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
  function pill(parent, text, cls) {
    var s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    parent.appendChild(s);
  }
  function entry(dl, label, text) {
    var dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = label;
    dd.textContent = text;
    dl.appendChild(dt);
    dl.appendChild(dd);
    return dd;
  }
  function percent(x) { return (Math.round(x * 10000) / 100) + "%"; }
  // A row's details are built when it is first opened (a page of 1,000 rows stays light).
  function fill(d, f) {
    var dl = document.createElement("dl");
    var more = f.more || {};
    LABELS.forEach(function (pair) {
      var v = more[pair[0]];
      if (v !== undefined && v !== null) { entry(dl, pair[1], Array.isArray(v) ? v.join(", ") : String(v)); }
    });
    var risk = more.risk;
    if (risk) {
      if (risk.cvss !== undefined) {
        entry(dl, "CVSS", String(risk.cvss) + (risk.vector ? " " + risk.vector : ""));
      }
      if (risk.epss !== undefined) {
        entry(dl, "EPSS", percent(risk.epss) + (risk.epss_percentile !== undefined ?
          " (percentile " + percent(risk.epss_percentile) + ")" : ""));
      }
      if (risk.kev !== undefined) { entry(dl, "known exploited (KEV)", risk.kev ? "yes" : "no"); }
    }
    if (f.url) {
      var dd = entry(dl, "link", ""), a = document.createElement("a");
      a.href = f.url;
      a.rel = "noopener noreferrer";
      a.textContent = f.url;
      dd.appendChild(a);
    }
    entry(dl, "location", f.where || "-");
    d.appendChild(dl);
    d.filled = true;
  }
  function details(f) {
    var d = document.createElement("details"), s = document.createElement("summary");
    s.textContent = f.title;
    d.appendChild(s);
    d.addEventListener("toggle", function () { if (d.open && !d.filled) { fill(d, f); } });
    if (expandAll) {
      fill(d, f);
      d.open = true;
    }
    return d;
  }
  function select() {
    var needle = (filter.value || "").toLowerCase();
    var want = {};
    Object.keys(FILTERS).forEach(function (k) { want[k] = FILTERS[k].value; });
    list = rows.filter(function (f) {
      return (!needle || f.text.indexOf(needle) !== -1) && (!want.severity || f.severity === want.severity) &&
        (!want.status || f.status === want.status) && (!want.control || f.control === want.control) &&
        (!want.trend || f.trend === want.trend);
    });
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
      pill(cell(tr, "", "sev-" + f.severity), f.severity, "pill sp-" + f.severity);
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
      cell(tr, "", "t").appendChild(details(f));
      cell(tr, f.target, "t");
      cell(tr, f.where, "t");
      var trend = cell(tr, "", "trend");
      if (f.trend) { pill(trend, f.trend, "pill tr-" + f.trend); }
      frag.appendChild(tr);
    });
    while (body.firstChild) { body.removeChild(body.firstChild); }
    body.appendChild(frag);
    var narrowed = filter.value || Object.keys(FILTERS).some(function (k) { return FILTERS[k].value; });
    shown.textContent = (slice.length ? "showing " + (first + 1) + "-" + (first + slice.length) : "showing 0") +
      " of " + list.length + (narrowed ? " matching" : "") + " finding(s); page " + (page + 1) + " of " + pages;
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
  function markSort() {
    Array.prototype.forEach.call(document.querySelectorAll("#findings th[data-key]"), function (th) {
      th.removeAttribute("aria-sort");
      if (th.getAttribute("data-key") === sortKey) {
        th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      }
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("#findings th[data-key]"), function (th) {
    th.addEventListener("click", function () {
      var key = th.getAttribute("data-key");
      sortDir = key === sortKey ? -sortDir : (key === "severity" ? -1 : 1);
      sortKey = key;
      markSort();
      select();
      render();
    });
  });
  filter.addEventListener("input", function () { select(); render(); });
  Object.keys(FILTERS).forEach(function (k) {
    FILTERS[k].addEventListener("change", function () { select(); render(); });
  });
  prev.addEventListener("click", function () { page -= 1; render(); });
  document.getElementById("findings-expand").addEventListener("click", function () {
    expandAll = !expandAll;
    render();
  });
  next.addEventListener("click", function () { page += 1; render(); });
  // Shareable views: index.html#sort=<column>[&desc]&filter=<text>&severity=HIGH&status=open&control=<name>
  // &trend=new&page=<n>&expand (every row of the page opened, for print); the control sections link to #control=<name>.
  function fromHash() {
    var params = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
      var kv = pair.split("=");
      if (kv[0]) { params[decodeURIComponent(kv[0])] = decodeURIComponent(kv.slice(1).join("=") || ""); }
    });
    if (KEYS.indexOf(params.sort) !== -1) {
      sortKey = params.sort;
      sortDir = ("desc" in params) ? -1 : 1;
    }
    markSort();
    filter.value = params.filter || "";
    expandAll = "expand" in params;
    Object.keys(FILTERS).forEach(function (k) {
      var el = FILTERS[k], v = params[k] || "";
      var known = Array.prototype.some.call(el.options, function (o) { return o.value === v; });
      el.value = known ? v : "";
    });
    select();
    if (/^[0-9]+$/.test(params.page || "")) { page = Number(params.page) - 1; }
    render();
    return params;
  }
  fromHash();
  window.addEventListener("hashchange", function () {
    if (fromHash().control) { document.getElementById("findings").scrollIntoView(); }
  });

  // Server-rendered tables (controls, hosts, accounts): sort rows by data-sort or text.
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.querySelectorAll("th"), function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(th.parentNode.children, function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var tbody = table.tBodies[0];
        var items = Array.prototype.slice.call(tbody.rows);
        items.sort(function (a, b) {
          var x = a.cells[col].getAttribute("data-sort") || a.cells[col].textContent;
          var y = b.cells[col].getAttribute("data-sort") || b.cells[col].textContent;
          var nx = Number(x), ny = Number(y);
          var r = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
          return asc ? r : -r;
        });
        items.forEach(function (tr) { tbody.appendChild(tr); });
      });
    });
  });
  document.body.setAttribute("data-rendered", "true");
}());
"""


def _verdict_badge(verdict):
    return '<span class="verdict v-%s">%s</span>' % (_e(verdict or "none"), _e(verdict or "n/a"))


def _reported_badge(verdict):
    """The verdict a control's own report gave (under its own gate): neutral, so it never reads as this gate's."""
    return '<span class="verdict" data-reported="%s">%s</span>' % (_e(verdict or "none"), _e(verdict or "n/a"))


def _pill(severity):
    return '<span class="pill sp-%s">%s</span>' % (_e(severity), _e(severity))


def _counts_table(table_id, title, first_col, entries, shown, extra=None):
    extra = extra or []
    head = ["<th>%s</th>" % _e(first_col)] + ["<th>%s</th>" % _e(h) for h, dummy in extra]
    head += ['<th class="n">open</th>'] + ['<th class="n sev-%s">%s</th>' % (s, s) for s in shown]
    head += ['<th class="n">ignored</th>', '<th class="n">total</th>']
    rows = []
    for name in sorted(entries, key=lambda n: (-entries[n]["open"], n)):
        entry = entries[name]
        cells = ["<td>%s</td>" % _e(name)]
        for dummy, render in extra:
            text, sort = render(name, entry)
            cells.append('<td data-sort="%s">%s</td>' % (_e(sort), text))
        cells.append('<td class="n" data-col="open">%d</td>' % entry["open"])
        cells += ['<td class="n" data-col="%s">%d</td>' % (s, entry["by_severity"][s]) for s in shown]
        ignored = entry["by_status"]["ignored"] + entry["by_status"]["expired_ignore"]
        cells += ['<td class="n" data-col="ignored">%d</td>' % ignored,
                  '<td class="n" data-col="total">%d</td>' % entry["total"]]
        rows.append('<tr data-name="%s">%s</tr>' % (_e(name), "".join(cells)))
    if not rows:
        return ""
    return ('<section><h2>%s</h2><table class="sortable" id="%s"><thead><tr>%s</tr></thead><tbody>%s</tbody>'
            "</table></section>" % (_e(title), table_id, "".join(head), "".join(rows)))


def _rules(gate):
    """The gate rules in force, each ``(option, text)``."""
    rules = []
    if gate.get("fail_on") not in (None, "none"):
        rules.append(("fail_on", "fail_on %s: an open finding of this severity or higher fails" % gate["fail_on"]))
    if gate.get("fail_on_ids"):
        rules.append(("fail_on_ids", "fail_on_ids: %s" % ", ".join(gate["fail_on_ids"])))
    if gate.get("fail_on_kev"):
        rules.append(("fail_on_kev", "fail_on_kev: a finding in CISA's known exploited list fails"))
    if gate.get("fail_on_epss") is not None:
        rules.append(("fail_on_epss", "fail_on_epss %s: an EPSS score at or above it fails" % gate["fail_on_epss"]))
    if gate.get("fail_on_cvss") is not None:
        rules.append(("fail_on_cvss", "fail_on_cvss %s: a CVSS score at or above it fails" % gate["fail_on_cvss"]))
    if gate.get("fail_on_verdict"):
        rules.append(("fail_on_verdict", "fail_on_verdict: a control that reported fail fails"))
    return rules


def _banner(gate, verdict, summary, coverage):
    rules = _rules(gate)
    word = str(verdict).upper()
    if verdict in ("fail", "incomplete"):
        decided = gate["reason"]
    elif verdict == "findings":
        decided = "%d open finding(s), none of them fails the gate (%s)" % (
            summary["open"], "; ".join(r[0] for r in rules) if rules else "no gate rule is set: fail_on is none")
    else:
        decided = "no open finding; every input report was read and is complete"
    items = ['<li data-rule="%s">%s</li>' % (_e(key), _e(text)) for key, text in rules]
    if gate.get("fail_controls"):
        items.append('<li data-rule="fail_controls">only these controls are gated: %s</li>'
                     % _e(", ".join(gate["fail_controls"])))
    if gate.get("failing"):
        items.append('<li data-rule="failing">%d open finding(s) fail the gate: %s%s</li>' % (
            gate["failing"], _e(", ".join(gate.get("failing_ids") or [])),
            " ..." if gate["failing"] > len(gate.get("failing_ids") or []) else ""))
    if gate.get("failed_controls"):
        items.append('<li data-rule="failed_controls">controls whose own verdict failed: %s</li>'
                     % _e(", ".join(gate["failed_controls"])))
    if gate.get("accepted_incomplete"):
        items.append('<li data-rule="accept_incomplete">incomplete coverage accepted: %s</li>'
                     % _e(gate["accepted_incomplete"]))
    elif not coverage.get("complete"):
        items.append('<li data-rule="coverage">coverage incomplete: %s</li>' % _e(coverage_text(coverage)))
    if gate.get("report_only") and gate.get("failed"):
        items.append('<li data-rule="report_only">report_only: the gate failed but the task does not</li>')
    return ('<section class="banner b-%s" id="verdict" data-verdict="%s" data-failed="%s"><div class="word">%s</div>'
            '<div><p id="verdict-reason"><b>%s</b></p><ul>%s</ul></div></section>'
            % (_e(verdict), _e(verdict), "true" if gate.get("failed") else "false", _e(word), _e(decided),
               "".join(items)))


def _scope_html(scope, coverage):
    def listed(items, limit=30):
        text = ", ".join(items[:limit]) + (" and %d more" % (len(items) - limit) if len(items) > limit else "")
        return "%d: %s" % (len(items), text) if items else "none"
    rows = [("hosts", _e(listed(scope["hosts"]))), ("cloud accounts", _e(listed(scope["accounts"]))),
            ("controls", _e(listed(scope["controls"]))),
            ("generated", _e(scope["generated_at"]) if scope["generated_at"] else
             '<span class="muted">no time recorded (set generated_at)</span>'),
            ("collection", _e("%s %s" % (scope["collection"]["name"], scope["collection"]["version"])))]
    if scope.get("commit"):
        rows.append(("commit", '<span id="scope-commit">%s</span>' % _e(scope["commit"])))
    tools = []
    for tool in scope["tools"]:
        db = ""
        if tool["db_version"] or tool["db_updated_at"]:
            db = ", DB %s%s" % (tool["db_version"] or "?", " updated %s" % tool["db_updated_at"]
                                if tool["db_updated_at"] else "")
        tools.append("<li>%s %s%s (%s, %s)</li>" % (_e(tool["name"]), _e(tool["version"] or "version unknown"),
                                                    _e(db), _e(tool["control"] or "-"), _e(tool["source"])))
    rows.append(("scanners", '<ul class="cov" id="scope-tools">%s</ul>' % "".join(tools) if tools else
                 '<span class="muted">no input report named its scanner</span>'))
    rows.append(("input reports", '<span id="coverage" data-complete="%s">%s</span>' % (
        "true" if coverage["complete"] else "false", _e(coverage_text(coverage)))))
    return '<section id="scope"><h2>Scope</h2><dl class="scope">%s</dl></section>' % "".join(
        "<dt>%s</dt><dd>%s</dd>" % (_e(k), v) for k, v in rows)


def _more_html(finding):
    """A control section's expanded finding: what the table's row shows, and its kind and fingerprint."""
    more = _more(finding) or {}
    url = _safe_url(finding.get("url"))
    items = [("remediation", "remediation"), ("message", "message"), ("fixed", "fixed version"),
             ("expected", "expected"), ("actual", "actual"), ("evidence", "evidence")]
    out = []
    for key, label in items:
        if key in more:
            value = more[key]
            out.append((label, _e(", ".join(value) if isinstance(value, list) else value)))
    risk = more.get("risk") or {}
    if "cvss" in risk:
        out.append(("CVSS", _e("%s %s" % (risk["cvss"], risk.get("vector") or ""))))
    if "epss" in risk:
        out.append(("EPSS", _e("%.2f%%%s" % (risk["epss"] * 100, " (percentile %.2f%%)" % (
            risk["epss_percentile"] * 100) if "epss_percentile" in risk else ""))))
    if "kev" in risk:
        out.append(("known exploited (KEV)", "yes" if risk["kev"] else "no"))
    if url:
        out.append(("link", '<a href="%s" rel="noopener noreferrer">%s</a>' % (_e(url), _e(url))))
    out += [("where", _e(_where(finding))), ("kind", _e(finding["kind"])), ("fingerprint", _e(finding["fingerprint"]))]
    return "<dl>%s</dl>" % "".join("<dt>%s</dt><dd>%s</dd>" % (_e(k), v) for k, v in out)


def _control_sections(by_control, verdicts, top):
    order = sorted(by_control, key=lambda c: (-VERDICT_RANK.get(verdicts[c]["verdict"], 1), -by_control[c]["open"], c))
    out = []
    for control in order:
        entry = by_control[control]
        status = verdicts[control]
        lines = ["%s: %s" % (c["source"], coverage_text(c)) for c in entry["coverage"]]
        complete = all(c["complete"] is not False for c in entry["coverage"])
        found = []
        for finding in top.get(control, ()):
            found.append("<li><details><summary>%s %s - %s</summary>%s</details></li>" % (
                _pill(finding["severity"]), _e(finding["id"]), _e(finding["title"] or finding["id"]),
                _more_html(finding)))
        more = ""
        if entry["total"]:
            more = '<p><a href="#control=%s">all %d finding(s) of %s in the findings table</a></p>' % (
                _e(quote(control, safe="")), entry["total"], _e(control))
        out.append(
            '<section class="control c-%s" data-control="%s" data-verdict="%s"><h3>%s %s '
            '<span class="muted">under this gate; its own report said</span> %s</h3>'
            '<p class="muted">%d open of %d; %d fail this report\'s gate; hosts %s; modules %s</p>'
            '<ul class="cov%s">%s</ul>%s%s%s</section>' % (
                _e(status["verdict"]), _e(control), _e(status["verdict"]), _e(control),
                _verdict_badge(status["verdict"]), _reported_badge(entry["verdict"]), entry["open"], entry["total"],
                status["failing"], _e(", ".join(entry["hosts"]) or "-"), _e(", ".join(entry["modules"]) or "-"),
                "" if complete else " gap", "".join("<li>%s</li>" % _e(line) for line in lines),
                ('<ul class="notes">%s</ul>' % "".join("<li>%s</li>" % _e(n) for n in entry["notes"][:20]))
                if entry["notes"] else "",
                ('<ul class="top">%s</ul>' % "".join(found)) if found else "", more))
    return "".join(out)


def _trend_html(trend):
    if not trend:
        return ""
    counts = trend["counts"]
    cards = "".join('<div class="card"><b data-trend-count="%s">%d</b><span>%s</span></div>' % (name, counts[name], label)
                    for name, label in (("new", "new"), ("fixed", "fixed"), ("waived", "now ignored"),
                                        ("still_open", "still open")))
    tables = []
    for name, label in (("new", "New since the previous report"), ("fixed", "Fixed (open then, gone now)"),
                        ("waived", "Open then, ignored now")):
        items = trend["lists"][name]
        if not items:
            continue
        shown = items[:TREND_SAMPLE]
        rows = "".join("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
            _pill(b["severity"]), _e(b["control"]), _e(b["id"]), _e(b["title"]), _e(b["target"])) for b in shown)
        tables.append('<details%s data-trend-list="%s"><summary>%s: %d%s</summary><table><thead><tr><th>severity</th>'
                      '<th>module</th><th>id</th><th>title</th><th>target</th></tr></thead><tbody>%s</tbody></table>'
                      '</details>' % (" open" if name == "new" else "", name, _e(label), len(items),
                                      " (the %d most severe)" % len(shown) if len(items) > len(shown) else "", rows))
    return ('<section id="trend" data-previous="%s"><h2>Trend since the previous report</h2><p class="muted">Previous: '
            '%s%s, verdict %s. Matched by stable fingerprint; for information only (the gate never reads it). '
            '<a href="#trend=new">show the new ones in the findings table</a></p><div class="cards">%s</div>%s</section>'
            % (_e(trend["previous"]), _e(trend["previous"]), (", generated " + _e(trend["previous_generated_at"]))
               if trend["previous_generated_at"] else "", _e(trend["previous_verdict"] or "unknown"), cards,
               "".join(tables)))


def stream_html(out, findings, agg, summary, gate, verdict, coverage, title, generated_at=None, max_rows=1000,
                controls=None, scope=None, trend=None):
    """Write the page to the binary file object ``out``: no external assets (CSP forbids them), all
    content escaped, the findings as a JSON block in batches. ``max_rows``: rows per page of the table.

    ``gate`` is the gate's decision, ``coverage`` the aggregate's own coverage (a dict), ``controls``
    ``aggregate.control_verdicts`` (computed from ``gate`` when None, which then must be the full decision, with
    ``failing_fingerprints``), ``scope`` :func:`report_scope` and ``trend`` the trend's ``compare``, or None.
    """
    script = _SCRIPT
    style = _STYLE
    csp = ("default-src 'none'; img-src data:; style-src %s; script-src %s; base-uri 'none'; form-action 'none'"
           % (_csp_hash(style), _csp_hash(script)))
    by_control = agg["by_control"]
    if controls is None:
        controls = control_verdicts(by_control, findings, gate, gate.get("fail_controls"))
    if scope is None:
        scope = report_scope([], agg, {"generated_at": generated_at})
    # Severity columns without a single open finding say nothing: left out (cards keep CRITICAL..LOW).
    shown = [s for s in SEVERITY_ORDER if summary["by_severity"].get(s)]
    cards = ['<div class="card"><b data-count-of="total">-</b><span>findings</span></div>',
             '<div class="card"><b data-count-of="open">-</b><span>open</span></div>']
    cards += ['<div class="card sev-%s"><b data-count-of="%s">-</b><span>%s</span></div>' % (s, s, s.lower())
              for s in SEVERITY_ORDER if s in ALWAYS_SHOWN or s in shown]
    if trend:
        cards.append('<div class="card"><b data-count-of="trend-new">-</b><span>new</span></div>')

    ordered = sort_findings(findings)
    top = {}
    for finding in ordered:
        if finding["status"] == "open":
            picked = top.setdefault(finding["details"]["origin"]["control"], [])
            if len(picked) < CONTROL_SAMPLE:
                picked.append(finding)

    def status_cell(name, entry):
        status = controls[name]["verdict"]
        return _verdict_badge(status), "%d %s" % (VERDICT_RANK.get(status, 1), status)

    def reported_cell(name, entry):
        return _reported_badge(entry["verdict"]), "%d %s" % (VERDICT_RANK.get(entry["verdict"], 1), entry["verdict"])

    def coverage_cell(name, entry):
        lines = ["%s: %s" % (c["source"], coverage_text(c)) for c in entry["coverage"]]
        complete = all(c["complete"] is not False for c in entry["coverage"])
        items = "".join("<li>%s</li>" % _e(line) for line in lines)
        return ('<ul class="cov%s">%s</ul>' % ("" if complete else " gap", items),
                "%d %s" % (0 if complete else 1, "; ".join(lines)))

    def hosts_cell(name, entry):
        return _e(", ".join(entry["hosts"])), ", ".join(entry["hosts"])

    new = set(b["fingerprint"] for b in trend["lists"]["new"]) if trend else None
    severity_options = "".join('<option value="%s">%s</option>' % (s, s) for s in SEVERITY_ORDER)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="%s">' % _e(csp),
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        "<title>%s</title>" % _e(title),
        "<style>%s</style></head>" % style,
        '<body data-verdict="%s"><header><h1>%s</h1><p>%d control(s), %d host(s), %d account(s)%s</p></header>'
        % (_e(verdict), _e(title), len(by_control), len(agg["by_host"]), len(agg["by_account"]),
           (", generated " + _e(generated_at)) if generated_at else ""),
        "<main>",
        _banner(gate, verdict, summary, coverage),
        '<noscript><section>The findings table and the summary counts need JavaScript; the sections below and the '
        "JSON, SARIF and JUnit reports hold the same data.</section></noscript>",
        _scope_html(scope, coverage),
        '<section><h2>Summary</h2><div class="cards" id="cards">%s</div></section>' % "".join(cards),
        _trend_html(trend),
        "<section><h2>Open findings by control and severity</h2>%s</section>" % chart_svg(by_control, shown),
        _counts_table("controls", "Controls", "control", by_control, shown,
                      [("status", status_cell), ("reported", reported_cell), ("coverage", coverage_cell),
                       ("hosts", hosts_cell)]),
        _control_sections(by_control, controls, top),
        _counts_table("hosts", "Hosts", "host", agg["by_host"], shown),
        _counts_table("accounts", "Cloud accounts", "account", agg["by_account"], shown),
        '<section id="findings"><h2>Findings</h2><div class="controls-bar"><input type="search" id="findings-filter" '
        'placeholder="search: id, title, target, host, location..." aria-label="search findings">'
        '<select id="findings-severity" aria-label="severity"><option value="">every severity</option>%s</select>'
        '<select id="findings-status" aria-label="status"><option value="">every status</option>%s</select>'
        '<select id="findings-control" aria-label="control"><option value="">every control</option></select>'
        '<select id="findings-trend" aria-label="trend"><option value="">new or not</option>'
        '<option value="new">new only</option></select>'
        '<button type="button" id="findings-prev">previous</button>'
        '<button type="button" id="findings-next">next</button>'
        '<button type="button" id="findings-expand">open or close every row</button>'
        '<span class="muted" id="findings-shown"></span></div><table id="findings-table"><thead><tr>'
        '<th data-key="severity" aria-sort="descending">severity</th><th data-key="status">status</th>'
        '<th data-key="control">control</th><th data-key="host">host / account</th><th data-key="id">id</th>'
        '<th data-key="title">title (click for details)</th><th data-key="target">target</th>'
        '<th data-key="where">location</th><th>trend</th>'
        '</tr></thead><tbody id="findings-body"></tbody></table></section>'
        % (severity_options, "".join('<option value="%s">%s</option>' % (s, s) for s in
                                     ("open", "ignored", "expired_ignore", "fixed"))),
        "</main>",
    ]
    text = TextOut(out)
    text.write("\n".join(p for p in parts if p) + '\n<script type="application/json" id="report-data">')
    _write_data(text, ordered, summary, max_rows, new)
    text.write("</script>\n<script>%s</script>\n</body></html>\n" % script)
    text.flush()
