"""A readable one-screen summary of the findings reports the site playbook wrote."""

import glob
import json
import os

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO", "UNKNOWN")


def load(report_dir):
    reports = []
    for path in sorted(glob.glob(os.path.join(report_dir, "*.json"))):
        with open(path) as handle:
            data = json.load(handle)
        # findings_report's aggregate (findings-report.json) repeats every control's findings: not a control
        if isinstance(data, dict) and "findings" in data and data.get("control") != "findings_report":
            reports.append((os.path.basename(path), data))
    return reports


def render(report_dir, not_run=()):
    """The summary; ``not_run`` lists the one-line reasons of the lab parts that did not run."""
    reports = load(report_dir)
    lines = ["", "=" * 78, "ainative.security lab summary   (reports in %s)" % report_dir, "=" * 78]
    html = os.path.join(report_dir, "index.html")
    footer = ["", "HTML report (all controls, hosts and accounts): file://%s" % html if os.path.exists(html)
              else "HTML report: not written (the report play did not run; see the playbook output)"]
    ocsf = os.path.join(report_dir, "findings.ocsf.jsonl")
    if os.path.exists(ocsf):
        with open(ocsf, "rb") as handle:
            footer.append("OCSF events for the security channel (findings_forward): %d in %s"
                          % (sum(1 for line in handle if line.strip()), ocsf))
    if not_run:
        footer += ["", "NOT RUN (%d lab part(s)):" % len(not_run)] + ["    " + reason for reason in not_run]
    if not reports:
        lines.append("no findings reports were written")
        return "\n".join(lines + footer)
    header = "%-24s %-9s %5s  " % ("control", "verdict", "open") + " ".join("%4s" % s[:4] for s in SEVERITIES)
    lines += [header, "-" * len(header)]
    for name, data in reports:
        findings = [f for f in data["findings"] if f.get("status") == "open"]
        counts = dict((s, 0) for s in SEVERITIES)
        for finding in findings:
            counts[finding.get("severity", "UNKNOWN")] = counts.get(finding.get("severity", "UNKNOWN"), 0) + 1
        verdict = data.get("verdict") or ("pass" if not findings else "findings")
        lines.append("%-24s %-9s %5d  " % (data.get("control", name[:-5]), verdict, len(findings))
                     + " ".join("%4d" % counts[s] for s in SEVERITIES))
        coverage = data.get("coverage") if isinstance(data.get("coverage"), dict) else {}
        if coverage.get("complete") is False:
            lines.append("    " + _cut("coverage incomplete: %s" % "; ".join(coverage.get("gaps") or [])))
        # One screen for every control: two notes and the two most severe findings each; the HTML report
        # and the JSON files have the rest.
        for note in data.get("notes", [])[:2]:
            lines.append("    " + _cut(note))
        for finding in sorted(findings, key=lambda f: SEVERITIES.index(f.get("severity", "UNKNOWN")))[:2]:
            lines.append("    " + _cut("[%s] %s: %s" % (finding.get("severity"), finding.get("id"), finding.get("title"))))
        if len(findings) > 2:
            lines.append("    ... and %d more open findings" % (len(findings) - 2))
    return "\n".join(lines + footer)


def _cut(text, width=110):
    return text if len(text) <= width else text[:width - 3] + "..."
