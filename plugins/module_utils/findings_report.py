# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One findings report across controls, hosts and accounts.

Inputs are the per-control report files every playbook of the collection writes
(``{"control", "verdict", "findings", "notes"}``, optionally ``"host"``/``"account"``) and/or findings
lists passed directly. :func:`build` checks each finding against the findings model, tags it with where
it came from (``details.origin``: report control, host, account, source), aggregates counts by control,
host, account and severity (every count is a sum over the inputs; nothing is de-duplicated), evaluates
the optional gate, and renders the normalized JSON, SARIF 2.1.0 and JUnit XML through ``reports`` plus
one self-contained HTML page (:func:`render_html`). Nothing here holds a timestamp unless the caller
passes ``generated_at``, so the same inputs give byte-identical outputs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import glob
import hashlib
import json
import os
import re

from html import escape as _html_escape

from ansible_collections.ainative.security.plugins.module_utils.core import reports
from ansible_collections.ainative.security.plugins.module_utils.core.findings import (
    LOCATION_KEYS,
    SEVERITIES,
    SEVERITY_RANK,
    STATUSES,
    FindingError,
    make_finding,
    normalize_severity,
    sort_findings,
    summarize,
)

CONTROL = "findings_report"
REPORT_SCHEMA = "ainative.security/findings-report/1"
FORMATS = ("json", "sarif", "junit", "html")
DEFAULT_NAMES = {"json": "{base}.json", "sarif": "{base}.sarif", "junit": "{base}.junit.xml", "html": "index.html"}
# Most severe first: the order of every table, chart and count in the page.
SEVERITY_ORDER = tuple(reversed(SEVERITIES))
# Worst first; a verdict a control invents ranks like "findings".
VERDICT_RANK = {"pass": 0, "findings": 1, "error": 2, "fail": 3}
SEVERITY_COLOURS = {"CRITICAL": "#7b1fa2", "HIGH": "#c62828", "MEDIUM": "#ef6c00", "LOW": "#f9a825",
                    "INFO": "#1565c0", "UNKNOWN": "#757575"}
_ARN_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:[^:]*:[^:]*:(\d{12}):")
_REQUIRED = ("id", "control", "kind", "severity", "title", "status")


class FindingsReportError(Exception):
    """An input cannot be read or is not in the findings model; the message says which and how to fix it."""


# ----------------------------------------------------------------------------------------------- inputs

def _text(value):
    return None if value is None else str(value)


def check_finding(finding, where):
    """Return the finding rebuilt through ``make_finding`` (its own fingerprint kept), or raise."""
    if not isinstance(finding, dict):
        raise FindingsReportError("%s is a %s, not a finding dict; pass findings built by "
                                  "ainative.security's findings model" % (where, type(finding).__name__))
    missing = [key for key in _REQUIRED if key not in finding]
    if missing:
        raise FindingsReportError("%s is not in the findings model: missing %s; every control builds findings with "
                                  "findings.make_finding" % (where, ", ".join(missing)))
    location = finding.get("location") or {}
    details = finding.get("details") or {}
    if not isinstance(location, dict) or not isinstance(details, dict):
        raise FindingsReportError("%s: location and details must be dicts" % where)
    location = dict((k, location.get(k)) for k in LOCATION_KEYS)
    try:
        rebuilt = make_finding(finding["control"], finding["kind"], finding["id"], finding["severity"],
                               finding["title"], target=finding.get("target"), location=location,
                               url=finding.get("url"), status=finding["status"], details=dict(details))
    except FindingError as exc:
        raise FindingsReportError("%s: %s" % (where, exc))
    if isinstance(finding.get("fingerprint"), str) and finding["fingerprint"]:
        rebuilt["fingerprint"] = finding["fingerprint"]
    return rebuilt


def source_from_document(doc, name):
    """A source dict from one control's report document, or None when it is not a findings report."""
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list):
        return None
    if doc.get("control") == CONTROL:
        return None  # our own output
    return {
        "source": name,
        "control": _text(doc.get("control")),
        "host": _text(doc.get("host")),
        "account": _text(doc.get("account")),
        "verdict": _text(doc.get("verdict")),
        "findings": doc["findings"],
        "notes": [str(n) for n in doc.get("notes") or [] if n is not None],
    }


def load_dir(path, exclude=()):
    """Sources from every ``*.json`` in ``path`` (sorted); returns (sources, skipped names)."""
    if not os.path.isdir(path):
        raise FindingsReportError("report directory %s does not exist; point src_dir at the directory the "
                                  "controls wrote (ainative_report_dir)" % path)
    excluded = set(os.path.abspath(p) for p in exclude if p)
    sources, skipped = [], []
    for file_path in sorted(glob.glob(os.path.join(path, "*.json"))):
        name = os.path.basename(file_path)
        if os.path.abspath(file_path) in excluded:
            continue
        try:
            with open(file_path, "rb") as handle:
                doc = json.loads(handle.read().decode("utf-8"))
        except (IOError, OSError) as exc:
            raise FindingsReportError("cannot read report %s: %s" % (file_path, exc))
        except ValueError as exc:
            raise FindingsReportError("report %s is not valid JSON (%s); rerun the control that wrote it or "
                                      "remove the file" % (file_path, exc))
        source = source_from_document(doc, name)
        if source is None:
            if not (isinstance(doc, dict) and doc.get("control") == CONTROL):
                skipped.append(name)
            continue
        sources.append(source)
    return sources, skipped


def source_from_param(item, index):
    """A source from the module's ``reports`` option: a report dict, or a bare list of findings."""
    if isinstance(item, list):
        item = {"findings": item}
    if not isinstance(item, dict) or not isinstance(item.get("findings"), list):
        raise FindingsReportError("reports[%d] must be a dict with a findings list (a control's report or a "
                                  "registered module result), or a list of findings" % index)
    source = source_from_document(dict(item, control=item.get("control")), "reports[%d]" % index)
    if source is None:  # control == findings_report passed in by hand: still count it
        source = source_from_document(dict(item, control=None), "reports[%d]" % index)
    return source


def _account(finding, source):
    details = finding["details"]
    for key in ("account", "account_id"):
        if details.get(key):
            return str(details[key])
    if source.get("account"):
        return source["account"]
    for value in (finding["location"].get("resource"), finding.get("target")):
        match = _ARN_ACCOUNT.match(str(value or ""))
        if match:
            return match.group(1)
    return None


def _host(finding, source, default_host):
    details = finding["details"]
    for key in ("host", "hostname"):
        if isinstance(details.get(key), str) and details[key]:
            return details[key]
    return source.get("host") or default_host


# ---------------------------------------------------------------------------------------- aggregation

def _counter():
    return {"total": 0, "open": 0, "by_severity": dict((s, 0) for s in SEVERITY_ORDER),
            "by_status": dict((s, 0) for s in STATUSES)}


def _count(counter, finding):
    counter["total"] += 1
    counter["by_status"][finding["status"]] += 1
    if finding["status"] == "open":
        counter["open"] += 1
        counter["by_severity"][finding["severity"]] += 1


def worst_verdict(verdicts):
    known = [v for v in verdicts if v]
    if not known:
        return None
    return max(known, key=lambda v: (VERDICT_RANK.get(v, 1), v))


def aggregate(sources, default_host="localhost"):
    """Flatten the sources into findings tagged with ``details.origin``; count by control, host, account."""
    findings = []
    by_control, by_host, by_account = {}, {}, {}
    inputs = []
    for source in sources:
        control_of_source = source.get("control")
        source_findings = []
        for index, raw in enumerate(source["findings"]):
            finding = check_finding(raw, "%s findings[%d]" % (source["source"], index))
            control = control_of_source or finding["control"]
            origin = {"control": control, "host": _host(finding, source, default_host),
                      "account": _account(finding, source), "source": source["source"]}
            finding["details"]["origin"] = origin
            source_findings.append(finding)
            entry = by_control.setdefault(control, dict(_counter(), verdicts=[], hosts=[], modules=[], sources=[],
                                                        notes=[]))
            _count(entry, finding)
            if origin["host"] not in entry["hosts"]:
                entry["hosts"].append(origin["host"])
            if finding["control"] not in entry["modules"]:
                entry["modules"].append(finding["control"])
            _count(by_host.setdefault(origin["host"], _counter()), finding)
            if origin["account"]:
                _count(by_account.setdefault(origin["account"], _counter()), finding)
        # A control that ran and found nothing is still listed (with its verdict).
        names = [control_of_source] if control_of_source else sorted(set(f["details"]["origin"]["control"]
                                                                         for f in source_findings))
        for name in names:
            entry = by_control.setdefault(name, dict(_counter(), verdicts=[], hosts=[], modules=[], sources=[],
                                                     notes=[]))
            entry["sources"].append(source["source"])
            if source.get("verdict"):
                entry["verdicts"].append(source["verdict"])
            entry["notes"].extend(source.get("notes") or [])
            host = source.get("host") or default_host
            if control_of_source and host not in entry["hosts"]:
                entry["hosts"].append(host)
        inputs.append({"source": source["source"], "control": control_of_source, "host": source.get("host"),
                       "verdict": source.get("verdict"), "findings": len(source_findings)})
        findings.extend(source_findings)
    for entry in by_control.values():
        entry["verdict"] = worst_verdict(entry.pop("verdicts")) or ("findings" if entry["open"] else "pass")
        entry["hosts"].sort()
        entry["modules"].sort()
    return findings, {"by_control": by_control, "by_host": by_host, "by_account": by_account, "inputs": inputs}


def evaluate_gate(findings, by_control, fail_on=None, fail_controls=None, fail_on_verdict=False):
    """What fails the job: open findings at or above ``fail_on`` and/or controls whose verdict is fail."""
    scope = set(fail_controls or [])

    def in_scope(control):
        return not scope or control in scope

    failing = []
    if fail_on:
        threshold = SEVERITY_RANK[normalize_severity(fail_on)]
        failing = [f for f in findings if f["status"] == "open" and SEVERITY_RANK[f["severity"]] >= threshold
                   and in_scope(f["details"]["origin"]["control"])]
    failed_controls = sorted(c for c, e in by_control.items() if fail_on_verdict and e["verdict"] == "fail"
                             and in_scope(c))
    reasons = []
    if failing:
        per_control = {}
        for finding in failing:
            control = finding["details"]["origin"]["control"]
            per_control[control] = per_control.get(control, 0) + 1
        reasons.append("%d open finding(s) at or above %s: %s" % (
            len(failing), normalize_severity(fail_on),
            ", ".join("%s %d" % (c, n) for c, n in sorted(per_control.items()))))
    if failed_controls:
        reasons.append("control verdict fail: %s" % ", ".join(failed_controls))
    return {"failed": bool(reasons), "reasons": reasons, "fail_on": normalize_severity(fail_on) if fail_on else None,
            "fail_controls": sorted(scope), "fail_on_verdict": bool(fail_on_verdict),
            "failing_count": len(failing), "failed_controls": failed_controls,
            "_failing": [f["fingerprint"] for f in failing]}


# ----------------------------------------------------------------------------------------------- HTML

def _e(value):
    return _html_escape("" if value is None else str(value), quote=True)


def _script_json(data):
    """JSON safe inside <script type=application/json>: no '<', '>', '&' and ASCII only."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
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
.v-fail,.v-error{background:#ffcdd2;color:#8e0000}.v-findings{background:#ffe0b2;color:#7a3b00}
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
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var SEV = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO", "UNKNOWN"];
  var RANK = {CRITICAL: 5, HIGH: 4, MEDIUM: 3, LOW: 2, INFO: 1, UNKNOWN: 0};
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var rows = data.findings;

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

  // Findings table: sorted and filtered in memory, rendered with textContent only.
  var body = document.getElementById("findings-body");
  var shown = document.getElementById("findings-shown");
  var filter = document.getElementById("findings-filter");
  var limit = data.max_rows;
  var sortKey = "severity", sortDir = -1;
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
  function render() {
    var needle = (filter.value || "").toLowerCase();
    var list = rows.filter(function (f) { return !needle || f.text.indexOf(needle) !== -1; });
    list.sort(cmp);
    var frag = document.createDocumentFragment();
    list.slice(0, limit).forEach(function (f) {
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
    shown.textContent = "showing " + Math.min(list.length, limit) + " of " + list.length +
      (needle ? " matching" : "") + " finding(s)" + (list.length > limit ? " (the JSON report has all)" : "");
    shown.setAttribute("data-rows", String(Math.min(list.length, limit)));
    shown.setAttribute("data-matching", String(list.length));
  }
  rows.forEach(function (f, i) {
    f.order = i;
    f.text = KEYS.map(function (k) { return String(f[k] || ""); }).join(" ").toLowerCase() + " " +
      String(f.module || "") .toLowerCase() + " " + String(f.account || "").toLowerCase();
  });
  Array.prototype.forEach.call(document.querySelectorAll("#findings th[data-key]"), function (th) {
    th.addEventListener("click", function () {
      var key = th.getAttribute("data-key");
      sortDir = key === sortKey ? -sortDir : (key === "severity" ? -1 : 1);
      sortKey = key;
      Array.prototype.forEach.call(th.parentNode.children, function (o) { o.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      render();
    });
  });
  filter.addEventListener("input", render);
  // Shareable views: index.html#sort=<column>[&desc]&filter=<text>
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


def render_html(findings, agg, summary, gate, verdict, title, generated_at=None, max_rows=1000):
    """One self-contained page: no external assets (CSP forbids them), all content escaped."""
    slim = []
    for finding in sort_findings(findings):
        origin = finding["details"]["origin"]
        slim.append({"severity": finding["severity"], "status": finding["status"], "control": origin["control"],
                     "module": finding["control"], "host": origin["host"], "account": origin["account"],
                     "id": finding["id"], "title": finding["title"] or finding["id"],
                     "target": _text(finding["target"]) or "", "where": _where(finding),
                     "url": _safe_url(finding.get("url"))})
    data = {"summary": {"total": summary["total"], "open": summary["open"]}, "findings": slim,
            "max_rows": int(max_rows)}
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

    by_control = agg["by_control"]
    notes = []
    for control in sorted(by_control):
        if by_control[control]["notes"]:
            notes.append("<li><b>%s</b><ul class=\"notes\">%s</ul></li>" % (
                _e(control), "".join("<li>%s</li>" % _e(n) for n in by_control[control]["notes"])))
    gate_text = ("; ".join(gate["reasons"]) if gate["failed"] else
                 ("gate passed (fail_on %s)" % gate["fail_on"] if gate["fail_on"] or gate["fail_on_verdict"]
                  else "no gate asked (report only)"))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="%s">' % _e(csp),
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        "<title>%s</title>" % _e(title),
        "<style>%s</style></head>" % style,
        '<body data-verdict="%s"><header><h1>%s</h1><p>%s %d control(s), %d host(s), %d account(s)%s. %s</p></header>'
        % (_e(verdict), _e(title), _verdict_badge(verdict), len(by_control), len(agg["by_host"]),
           len(agg["by_account"]), (", generated " + _e(generated_at)) if generated_at else "", _e(gate_text)),
        "<main>",
        '<noscript><section>The findings table and the summary counts need JavaScript; the tables below and the '
        "JSON, SARIF and JUnit reports hold the same data.</section></noscript>",
        '<section><h2>Summary</h2><div class="cards" id="cards">%s</div></section>' % "".join(cards),
        "<section><h2>Open findings by control and severity</h2>%s</section>" % chart_svg(by_control),
        _counts_table("controls", "Controls", "control", by_control,
                      [("verdict", verdict_cell), ("hosts", hosts_cell)]),
        _counts_table("hosts", "Hosts", "host", agg["by_host"]),
        _counts_table("accounts", "Cloud accounts", "account", agg["by_account"]),
        '<section id="findings"><h2>Findings</h2><p><input type="search" id="findings-filter" '
        'placeholder="filter: id, title, target, host, severity..." aria-label="filter findings"> '
        '<span class="muted" id="findings-shown"></span></p><table id="findings-table"><thead><tr>'
        '<th data-key="severity" aria-sort="descending">severity</th><th data-key="status">status</th>'
        '<th data-key="control">control</th><th data-key="host">host / account</th><th data-key="id">id</th>'
        '<th data-key="title">title</th><th data-key="target">target</th><th data-key="where">location</th>'
        '</tr></thead><tbody id="findings-body"></tbody></table></section>',
        ("<section><h2>Notes from the controls</h2><ul>%s</ul></section>" % "".join(notes)) if notes else "",
        "</main>",
        '<script type="application/json" id="report-data">%s</script>' % _script_json(data),
        "<script>%s</script>" % script,
        "</body></html>",
    ]
    return ("\n".join(p for p in parts if p) + "\n").encode("utf-8")


# --------------------------------------------------------------------------------------------- build

def output_paths(dest, formats, basename="findings-report", html_name="index.html"):
    names = dict(DEFAULT_NAMES, html=html_name)
    return dict((fmt, os.path.join(dest, names[fmt].format(base=basename))) for fmt in formats)


def build(sources, formats=FORMATS, default_host="localhost", fail_on=None, fail_controls=None,
          fail_on_verdict=False, generated_at=None, title="ainative.security findings report", max_rows=1000,
          skipped=None):
    """Aggregate ``sources`` and render each format; returns a dict with documents and summaries."""
    findings, agg = aggregate(sources, default_host)
    summary = summarize(findings)
    gate = evaluate_gate(findings, agg["by_control"], fail_on, fail_controls, fail_on_verdict)
    failing = gate.pop("_failing")
    verdict = reports.verdict(findings, failing or gate["failed"])
    notes = ["%d finding(s) from %d report(s): %s" % (len(findings), len(sources),
                                                      ", ".join(s["source"] for s in sources) or "none")]
    if skipped:
        notes.append("not findings reports, left out: %s" % ", ".join(skipped))
    notes.extend(gate["reasons"])
    meta = {"report": REPORT_SCHEMA, "title": title, "gate": gate,
            "by_control": agg["by_control"], "by_host": agg["by_host"], "by_account": agg["by_account"],
            "inputs": agg["inputs"]}
    if generated_at:
        meta["generated_at"] = generated_at
    junit_threshold = SEVERITY_RANK[normalize_severity(fail_on or "HIGH")]
    junit_failing = failing if fail_on else [
        f["fingerprint"] for f in findings if f["status"] == "open" and SEVERITY_RANK[f["severity"]] >= junit_threshold]
    documents = {}
    for fmt in formats:
        if fmt == "json":
            documents[fmt] = reports.render_json(findings, CONTROL, verdict, notes, meta)
        elif fmt == "sarif":
            documents[fmt] = reports.render_sarif(findings)
        elif fmt == "junit":
            documents[fmt] = reports.render_junit(findings, failing=junit_failing, name="ainative.security findings")
        elif fmt == "html":
            documents[fmt] = render_html(findings, agg, summary, gate, verdict, title, generated_at, max_rows)
        else:
            raise FindingsReportError("unknown format %r; use %s" % (fmt, ", ".join(FORMATS)))
    controls = dict((c, {"verdict": e["verdict"], "open": e["open"], "total": e["total"],
                         "by_severity": e["by_severity"], "hosts": e["hosts"]})
                    for c, e in agg["by_control"].items())
    stats = {"verdict": verdict, "failed": gate["failed"], "total": summary["total"], "open": summary["open"],
             "by_severity": summary["by_severity"],
             "controls": dict((c, {"verdict": e["verdict"], "open": e["open"]}) for c, e in controls.items()),
             "hosts": dict((h, e["open"]) for h, e in agg["by_host"].items()),
             "accounts": dict((a, e["open"]) for a, e in agg["by_account"].items())}
    return {"documents": documents, "findings": findings, "summary": summary, "verdict": verdict, "gate": gate,
            "controls": controls, "hosts": agg["by_host"], "accounts": agg["by_account"], "stats": stats,
            "notes": notes, "inputs": agg["inputs"]}


def write(outputs, documents, check_mode=False):
    """Write each rendered document (atomically, only when different); ``{fmt: {"path", "changed"}}``."""
    written = {}
    for fmt in FORMATS:
        if fmt not in documents:
            continue
        try:
            changed = reports.write_report(outputs[fmt], documents[fmt], check_mode)
        except reports.ReportError as exc:
            raise FindingsReportError(str(exc))
        written[fmt] = {"path": outputs[fmt], "changed": changed}
    return written


def summary_diff(path, document):
    """Before/after of the JSON report's summary and per-control counts (small, for --diff)."""
    def brief(raw):
        if raw is None:
            return ""
        try:
            doc = json.loads(raw.decode("utf-8"))
            meta = doc.get("meta") or {}
            view = {"verdict": doc.get("verdict"), "summary": doc.get("summary"),
                    "controls": dict((c, {"verdict": e.get("verdict"), "open": e.get("open"), "total": e.get("total")})
                                     for c, e in (meta.get("by_control") or {}).items())}
        except (ValueError, AttributeError):
            return "(not a findings report)\n"
        return json.dumps(view, indent=2, sort_keys=True) + "\n"
    try:
        with open(path, "rb") as handle:
            before = handle.read()
    except (IOError, OSError):
        before = None
    return {"before_header": path, "after_header": path, "before": brief(before), "after": brief(document)}


__all__ = ["FindingsReportError", "build", "load_dir", "source_from_param", "output_paths", "write",
           "render_html", "aggregate", "evaluate_gate", "summary_diff"]
