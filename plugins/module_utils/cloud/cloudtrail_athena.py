# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``cloudtrail_hunt`` with ``source: athena``: the selected Sigma rules as one Trino query over the
CloudTrail table AWS documents for Athena, run with boto3's Athena client.

One query scans the window once: an inner SELECT computes each JSON field the rules walk (sigma_sql),
a middle one flags each rule per event, and the outer one keeps flagged events. Threshold rules keep only
groups whose total count reaches the threshold (a window count, so Athena returns few rows); the exact
sliding window, the untrusted-network test and the findings are the fast path's own code
(cloudtrail_scan.build_findings over a Partial), so ids, fingerprints and details are the same. The
file of each event is Athena's ``"$path"``, the ``s3://`` URL the fast path's s3 source names.

Coverage counts queries: a query that FAILED, was CANCELLED, outran ``max_wait``, matched more than
``max_rows`` rows or read no data (``DataScannedInBytes`` 0 or absent: an empty table, a LOCATION or a
partition projection that points at no log files) is a gap, and so is each selected rule the compiler refuses.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress
import json
import time

from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.cloud import cloudtrail_scan as scan
from ansible_collections.ainative.security.plugins.module_utils.cloud.aws import describe_error
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_detections import (
    BUILTIN_RULES, NETWORK_RULE, THRESHOLD_OPTIONS)
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_matchers import NetCheck, principal_key
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_window import iso
from ansible_collections.ainative.security.plugins.module_utils.cloud.sigma_sql import (
    Compiler, NotCompilable, ipv4_in, literal)

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # the module reports the missing boto3 before this runs
    BotoCoreError = ClientError = Exception

DEFAULT_MAX_ROWS = 100000
MAX_SQL_BYTES = 262144  # Athena's limit on a query string
PAGE_SIZE = 1000

# The record fields a finding's summary needs (cloudtrail_scan._summary), as Athena columns.
SUMMARY_COLUMNS = [
    ("eventID", "eventid"), ("eventTime", "eventtime"), ("eventName", "eventname"), ("eventSource", "eventsource"),
    ("sourceIPAddress", "sourceipaddress"), ("awsRegion", "awsregion"), ("recipientAccountId", "recipientaccountid"),
    ("userAgent", "useragent"), ("errorCode", "errorcode"), ("eventType", "eventtype")]
IDENTITY_COLUMNS = [("type", "type"), ("arn", "arn"), ("userName", "username"), ("principalId", "principalid"),
                    ("accountId", "accountid"), ("invokedBy", "invokedby")]


def _quoted(name):
    return '"%s"' % name.replace('"', '""')


class Query:
    """The SQL of one hunt and how to read its rows back (``flags``: one per rule run)."""

    def __init__(self, sql, flags, refused):
        self.sql = sql
        self.flags = flags        # [{"flag", "id", "kind", "feeds": [{"id", "columns": [(column, is_json)], "threshold"}]}]
        self.refused = refused    # [(rule id, reason)]


def _rule(det_id, extra):
    return extra.get(det_id) or BUILTIN_RULES.get(det_id)


def _flag_plan(spec, extra):
    """(rule id, kind) for every rule the fast path would run, as cloudtrail_scan._hit does."""
    plan = []
    runs = set(spec.ids) | set(spec.feeds)
    for det_id in sorted(runs):
        rule = _rule(det_id, extra)
        if rule is None:
            continue  # not a Sigma rule (a baseline of cloudtrail_history reads the matches of others)
        if rule["correlation"]:
            if det_id in THRESHOLD_OPTIONS:
                base = rule["correlation"]["rules"][0]
                plan.append((base, "brute" if det_id == "console_login_brute_force" else "unauthorized", det_id))
            continue
        if det_id == NETWORK_RULE:
            if spec.allowed_cidrs:
                plan.append((det_id, "network", det_id))
            continue
        if det_id == "root_account_usage":
            plan.append((det_id, "root", det_id))
            continue
        plan.append((det_id, "match", det_id))
    return plan


def build_query(table, spec, extra, start, end, partitions, thresholds, max_rows):
    """The hunt's SQL. ``extra``: a user's rules by id; ``partitions``: predicates on projected columns;
    ``thresholds``: {threshold rule id: count} (module options)."""
    comp = Compiler()
    flags, refused, middle = [], [], []
    for det_id, kind, owner in _flag_plan(spec, extra):
        rule = _rule(det_id, extra)
        try:
            cond = comp.condition(rule["condition"])
            groups = []
            for corr_id, group_by in spec.feeds.get(det_id, ()) if kind == "match" else ():
                groups.append((corr_id, [(comp.first_value(f), comp.resolve(f).scalar is None) for f in group_by]))
        except NotCompilable as exc:
            refused.append((owner, "rule not compilable to SQL: %s" % exc))
            continue
        if kind == "root":
            cond = ("(useridentity.type = 'Root' AND COALESCE(eventtype, '') <> 'AwsServiceEvent' "
                    "AND COALESCE(useridentity.invokedby, '') = '' AND %s)" % cond)
        elif kind == "brute":
            cond = "(eventname = 'ConsoleLogin' AND %s)" % cond
        elif kind == "unauthorized":
            cond = "((errorcode LIKE '%%UnauthorizedOperation' OR errorcode LIKE 'AccessDenied%%') AND %s)" % cond
        elif kind == "network":
            # IPv4 inside an allowed IPv4 network is trusted; the rest is decided by NetCheck on the rows
            nets = [c for c in spec.allowed_cidrs if ipaddress.ip_network(c, strict=False).version == 4]
            trusted = " OR ".join(ipv4_in("sourceipaddress", c) for c in nets) or "FALSE"
            cond = ("(COALESCE(sourceipaddress, '') <> '' AND COALESCE(useridentity.invokedby, '') = '' "
                    "AND NOT COALESCE(%s, FALSE) AND %s)" % (trusted, cond))
        flag = "m%d" % len(flags)
        entry = {"flag": flag, "id": det_id, "kind": kind, "feeds": []}
        middle.append("%s AS %s" % (cond, flag))
        if kind in ("brute", "unauthorized"):
            key = ("CASE WHEN useridentity.type = 'Root' THEN concat('root@', COALESCE(NULLIF(useridentity.accountid, ''), '?')) "
                   "ELSE COALESCE(NULLIF(useridentity.username, ''), NULLIF(useridentity.arn, ''), "
                   "NULLIF(useridentity.principalid, ''), 'unknown') END") if kind == "brute" else \
                "COALESCE(NULLIF(useridentity.arn, ''), NULLIF(useridentity.principalid, ''), 'unknown')"
            middle.append("%s AS %s_key" % (key, flag))
            entry["counts"] = [("%s_n" % flag, ["%s_key" % flag], thresholds[owner])]
        for n, (corr_id, cols) in enumerate(groups):
            names = []
            for m, (expr, is_json) in enumerate(cols):
                name = "%s_g%d_%d" % (flag, n, m)
                middle.append("%s AS %s" % (expr, name))
                names.append((name, is_json))
            corr = _rule(corr_id, extra)["correlation"]
            entry["feeds"].append({"id": corr_id, "columns": names,
                                   "threshold": corr["count"] + (1 if corr["op"] == "gt" else 0)})
        flags.append(entry)
    if not flags:
        return Query(None, flags, refused)
    identity = ", ".join("useridentity.%s AS ui_%s" % (col, col) for _key, col in IDENTITY_COLUMNS)
    summary = ", ".join(col for _key, col in SUMMARY_COLUMNS)
    window = "eventtime >= %s AND eventtime <= %s" % (literal(iso(start)), literal(iso(end)))
    where = " AND ".join([window] + list(partitions))
    derived = "".join(", %s AS %s" % (expr, alias) for alias, expr in comp.derived)
    inner = "SELECT *, \"$path\" AS source_path%s FROM %s WHERE %s" % (derived, table, where)
    outer_cols = [summary, ", ".join("ui_%s" % col for _key, col in IDENTITY_COLUMNS), "source_path"]
    windowed, keep = [], []
    for entry in flags:
        outer_cols.append(entry["flag"])
        counted = list(entry.get("counts", []))
        if counted:
            outer_cols.append("%s_key" % entry["flag"])
        for n, feed in enumerate(entry["feeds"]):
            outer_cols.extend(name for name, _is_json in feed["columns"])
            counted.append(("%s_c%d" % (entry["flag"], n), [c for c, _j in feed["columns"]], feed["threshold"]))
        if entry["kind"] == "match" and entry["id"] in spec.ids or entry["kind"] in ("network", "root"):
            keep.append(entry["flag"])
        for name, keys, threshold in counted:
            windowed.append("sum(CASE WHEN %s THEN 1 ELSE 0 END) OVER (PARTITION BY %s) AS %s"
                            % (entry["flag"], ", ".join(keys), name))
            keep.append("(%s AND %s >= %d)" % (entry["flag"], name, threshold))
    hits = "SELECT %s FROM (%s) ev" % (", ".join([summary, identity, "source_path"] + middle), inner)
    any_flag = " OR ".join(e["flag"] for e in flags)
    middle_sql = "SELECT %s FROM (%s) hits WHERE %s" % (", ".join(outer_cols + windowed), hits, any_flag)
    sql = "SELECT * FROM (%s) counted WHERE %s LIMIT %d" % (middle_sql, " OR ".join(keep), max_rows + 1)
    return Query(sql, flags, refused)


def _days(start, end):
    day = start.date()
    last = (end + datetime.timedelta(hours=1)).date()  # files are delivered after their events, as in s3 mode
    out = []
    while day <= last:
        out.append(day)
        day += datetime.timedelta(days=1)
    return out


def partition_predicates(start, end, regions=None, accounts=None, projection=True):
    """Predicates Athena prunes on: the projected ``timestamp`` (yyyy/MM/dd), ``region`` and ``account``
    columns of the documented table, or the record columns when the table has no projection."""
    out = []
    if projection:
        days = _days(start, end)
        out.append("\"timestamp\" BETWEEN %s AND %s" % (literal(days[0].strftime("%Y/%m/%d")),
                                                        literal(days[-1].strftime("%Y/%m/%d"))))
    for values, projected, column in ((regions, "region", "awsregion"), (accounts, "account", "recipientaccountid")):
        if values:
            out.append("%s IN (%s)" % (_quoted(projected) if projection else column,
                                       ", ".join(literal(v) for v in values)))
    return out


class QueryIncomplete(Exception):
    """The query did not give every row: why (the Athena state change reason, a timeout, the row bound)."""


def execute(client, sql, opts, sleep=time.sleep, clock=time.monotonic):
    """StartQueryExecution, poll GetQueryExecution (at most ``max_wait`` s), page GetQueryResults.

    Returns (execution id, rows as dicts, statistics); raises QueryIncomplete with the reason."""
    args = {"QueryString": sql, "WorkGroup": opts.get("workgroup") or "primary",
            "QueryExecutionContext": {"Database": opts["database"], "Catalog": opts.get("catalog") or "AwsDataCatalog"}}
    if opts.get("output_location"):
        args["ResultConfiguration"] = {"OutputLocation": opts["output_location"]}
    try:
        qid = client.start_query_execution(**args)["QueryExecutionId"]
    except (BotoCoreError, ClientError) as exc:
        raise QueryIncomplete(describe_error(exc, "athena:StartQueryExecution"))
    started = clock()
    max_wait = opts.get("max_wait") or 300
    while True:
        try:
            execution = client.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        except (BotoCoreError, ClientError) as exc:
            raise QueryIncomplete(describe_error(exc, "athena:GetQueryExecution %s" % qid))
        status = execution.get("Status") or {}
        state = status.get("State")
        if state == "SUCCEEDED":
            break
        if state in ("FAILED", "CANCELLED"):
            reason = status.get("StateChangeReason") or (status.get("AthenaError") or {}).get("ErrorMessage") or "no reason given"
            raise QueryIncomplete("Athena query %s %s: %s" % (qid, state, reason))
        if clock() - started >= max_wait:
            try:
                client.stop_query_execution(QueryExecutionId=qid)
            except (BotoCoreError, ClientError):
                pass  # the query is reported unfinished either way
            raise QueryIncomplete("Athena query %s did not finish within max_wait=%d s (state %s); it was stopped"
                                  % (qid, max_wait, state))
        sleep(opts.get("poll_interval") or 1.0)
    max_rows = opts.get("max_rows") or DEFAULT_MAX_ROWS
    rows, header, token = [], None, None
    while True:
        page_args = {"QueryExecutionId": qid, "MaxResults": PAGE_SIZE}
        if token:
            page_args["NextToken"] = token
        try:
            page = client.get_query_results(**page_args)
        except (BotoCoreError, ClientError) as exc:
            raise QueryIncomplete(describe_error(exc, "athena:GetQueryResults %s" % qid))
        result = page.get("ResultSet") or {}
        if header is None:
            header = [c["Name"] for c in (result.get("ResultSetMetadata") or {}).get("ColumnInfo") or []]
        for n, row in enumerate(result.get("Rows") or []):
            values = [d.get("VarCharValue") for d in row.get("Data") or []]
            if not rows and n == 0 and not token and values == header:
                continue  # the first row of a SELECT's results is its header
            rows.append(dict(zip(header, values)))
            if len(rows) > max_rows:
                raise QueryIncomplete("Athena query %s matched more than max_rows=%d rows; narrow the window or "
                                      "the rules, or raise max_rows" % (qid, max_rows))
        token = page.get("NextToken")
        if not token:
            break
    return qid, rows, (execution.get("Statistics") or {})


def _event(row):
    """The record fields the fast path's summary and group keys read, rebuilt from a result row."""
    event = dict((key, row.get(col)) for key, col in SUMMARY_COLUMNS)
    ident = dict((key, row.get("ui_" + col)) for key, col in IDENTITY_COLUMNS)
    event["userIdentity"] = ident if any(v is not None for v in ident.values()) else None
    return event


def _true(value):
    return value in (True, "true", "TRUE", "True")


def _group_value(text, is_json):
    if text is None:
        return "-"
    return str(json.loads(text)) if is_json else text


def rows_to_partial(rows, query, spec):
    """A Partial as the fast path's scan would fill it for these events."""
    partial = scan.Partial()
    net = NetCheck(spec.allowed_cidrs) if spec.allowed_cidrs else None
    for row in rows:
        event = _event(row)
        etime = event["eventTime"]
        summary = scan._summary(event, row.get("source_path"))
        for entry in query.flags:
            if not _true(row.get(entry["flag"])):
                continue
            kind = entry["kind"]
            if kind in ("match", "root"):
                partial.matches.append((entry["id"], summary))
                for feed in entry["feeds"]:
                    group = "|".join(_group_value(row.get(n), j) for n, j in feed["columns"]) or "all"
                    partial.correlated.append((feed["id"], group, etime, summary))
            elif kind == "brute":
                partial.failures.append((principal_key(event["userIdentity"]), etime, summary))
            elif kind == "unauthorized":
                ident = event["userIdentity"] or {}
                partial.unauthorized.append((ident.get("arn") or ident.get("principalId") or "unknown", etime, summary))
            elif kind == "network":
                ip = event["sourceIPAddress"]
                if not net.untrusted(ip):
                    continue
                partial.untrusted_call(summary["principal"], ip, 1, etime, etime, summary)
    return partial


def table_name(opts):
    return ".".join(_quoted(p) for p in (opts.get("catalog") or "AwsDataCatalog", opts["database"],
                                         opts.get("table") or "cloudtrail_logs"))


def validate(opts):
    if not opts or not opts.get("database"):
        raise InputError("athena.database is required with source: athena")
    location = opts.get("output_location")
    if location and not location.startswith("s3://"):
        raise InputError("athena.output_location must be an s3:// URI, got %r" % location)
    for name in ("max_wait", "max_rows"):
        if opts.get(name) is not None and opts[name] < 1:
            raise InputError("athena.%s must be at least 1" % name)
    if opts.get("poll_interval") is not None and opts["poll_interval"] <= 0:
        raise InputError("athena.poll_interval must be above 0")


def hunt_athena(client, params, spec, extra, start, end, sleep=time.sleep, clock=time.monotonic):
    """Run the hunt on Athena: (Coverage, Partial, coverage detail with the query's id and bytes scanned, notes)."""
    opts = dict(params.get("athena") or {})
    validate(opts)
    partitions = partition_predicates(start, end, params.get("regions"), params.get("accounts"),
                                      opts.get("partition_projection", True) is not False)
    thresholds = {"console_login_brute_force": params.get("brute_force_threshold") or 10,
                  "unauthorized_api_burst": params.get("unauthorized_threshold") or 10}
    max_rows = opts.get("max_rows") or DEFAULT_MAX_ROWS
    query = build_query(table_name(opts), spec, extra, start, end, partitions, thresholds, max_rows)
    cov = Coverage("queries", asked=1)
    notes = ["athena: event counts are not returned (events_scanned and events_in_window stay 0)"]
    info = {"query_execution_id": None, "data_scanned_bytes": None, "rows": 0}
    for det_id, reason in query.refused:
        cov.miss(det_id, reason)
    error = None
    partial = scan.Partial()
    if query.sql is None:
        error = "no selected rule could be compiled to SQL"
        cov.miss(table_name(opts), error)
    elif len(query.sql.encode("utf-8")) > MAX_SQL_BYTES:
        error = ("the query is %d bytes, above Athena's limit of %d; select fewer rules (detections, tags)"
                 % (len(query.sql.encode("utf-8")), MAX_SQL_BYTES))
        cov.miss(table_name(opts), error)
    else:
        try:
            qid, rows, stats = execute(client, query.sql, opts, sleep=sleep, clock=clock)
        except QueryIncomplete as exc:
            error = str(exc)
            cov.miss(table_name(opts), error)
        else:
            scanned = stats.get("DataScannedInBytes")
            info.update(query_execution_id=qid, data_scanned_bytes=scanned, rows=len(rows))
            partial = rows_to_partial(rows, query, spec)
            if scanned:
                cov.add()
            else:
                # no rows from no data is not a clean window: nothing was examined
                error = ("Athena query %s read %s bytes, so no log file was examined; check the table's LOCATION, "
                         "its partition projection (storage.location.template), regions and accounts"
                         % (qid, "0" if scanned == 0 else "an unknown number of"))
                cov.miss(table_name(opts), error)
    detail = [{"source": "athena", "account": None, "region": None, "table": table_name(opts),
               "complete": error is None and not query.refused, "error_count": int(error is not None) + len(query.refused),
               "errors": (([error] if error else []) + ["%s: %s" % r for r in query.refused])[:20]}]
    detail[0].update(info)
    return cov, partial, detail, notes
