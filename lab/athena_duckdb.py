"""CloudTrail records in DuckDB with the Athena table's columns, and a boto3-shaped Athena client over it.

The offline proof of ``cloudtrail_hunt``'s ``source: athena``: the Trino SQL the module generates is
transpiled by sqlglot (read trino, write duckdb) and run here over the same records the fast path reads.

* Columns follow AWS's "Creating the table for CloudTrail logs in Athena using partition projection":
  string columns, the ``useridentity`` and ``tlsdetails`` structs, ``resources`` an array of structs,
  ``requestparameters``/``responseelements``/``additionaleventdata``/``serviceeventdetails`` as JSON text
  (as the CloudTrail SerDe leaves them), the projected ``timestamp``/``region``/``account`` partitions
  and Athena's hidden ``"$path"`` (the file the record came from).
* One substitution: DuckDB's regular expressions are RE2, which has no lookahead (the built-in rules use
  ``^(?!Success$).``); Athena's Trino uses Joni, which has. ``regexp_like`` is therefore run by a Python
  function here (an AST rewrite of that one function, nothing else).
* ``DataScannedInBytes`` is what Athena bills: the size of every file in the partitions the query's
  partition predicates (``timestamp``, ``region``, ``account``) keep, or of every file without them. An
  empty table, or a projection that points at no files, scans 0 bytes, as on Athena.
"""

import gzip
import json
import os
import re
import tempfile

import duckdb
import sqlglot
from sqlglot import exp

from ansible_collections.ainative.security.plugins.module_utils.cloud import sigma_sql

_KEY_PATH = re.compile(r"/AWSLogs/(?:o-[a-z0-9]+/)?(\d{12})/CloudTrail/([a-z0-9-]+)/(\d{4}/\d{2}/\d{2})/")


def _struct_type(fields):
    parts = []
    for entry in fields.values():
        if isinstance(entry, tuple):
            parts.append("%s %s" % (entry[0], _struct_type(entry[1])))
        else:
            parts.append("%s VARCHAR" % entry)
    return "STRUCT(%s)" % ", ".join(parts)


def _struct_value(value, fields):
    if not isinstance(value, dict):
        return None
    out = {}
    for key, entry in fields.items():
        if isinstance(entry, tuple):
            out[entry[0]] = _struct_value(value.get(key), entry[1])
        else:
            out[entry] = _string(value.get(key))
    return out


def _string(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def columns():
    cols = dict((c, "VARCHAR") for c in sigma_sql.SCALAR_COLUMNS.values())
    cols.update((c, "VARCHAR") for c in sigma_sql.JSON_COLUMNS.values())
    for column, fields in sigma_sql.STRUCTS.values():
        cols[column] = _struct_type(fields)
    cols["resources"] = "STRUCT(arn VARCHAR, accountid VARCHAR, type VARCHAR)[]"
    cols.update({"$path": "VARCHAR", "timestamp": "VARCHAR", "region": "VARCHAR", "account": "VARCHAR"})
    return cols


def row(record, path):
    """One record as a row of the Athena table."""
    out = dict((col, _string(record.get(key))) for key, col in sigma_sql.SCALAR_COLUMNS.items())
    for key, col in sigma_sql.JSON_COLUMNS.items():
        value = record.get(key)
        out[col] = None if value is None else json.dumps(value)
    for key, (col, fields) in sigma_sql.STRUCTS.items():
        out[col] = _struct_value(record.get(key), fields)
    resources = record.get("resources")
    out["resources"] = [_struct_value(r, sigma_sql.RESOURCE_FIELDS) for r in resources] \
        if isinstance(resources, list) else None
    found = _KEY_PATH.search(path.replace(os.sep, "/"))
    account, region, day = found.groups() if found else (None, None, None)
    out.update({"$path": path, "timestamp": day, "region": region, "account": account})
    return out


def _records(path):
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return json.loads(data).get("Records") or []


def _py_regexp_like(text, pattern):
    return re.search(pattern, text) is not None


def load(paths, catalog="AwsDataCatalog", database="lab", table="cloudtrail_logs"):
    """A DuckDB connection holding every record of ``paths`` (log files) in ``catalog.database.table``."""
    con = duckdb.connect()
    con.create_function("py_regexp_like", _py_regexp_like, ["VARCHAR", "VARCHAR"], "BOOLEAN")
    con.execute('ATTACH \':memory:\' AS "%s"' % catalog)
    con.execute('CREATE SCHEMA "%s"."%s"' % (catalog, database))
    with tempfile.NamedTemporaryFile("w", suffix=".ndjson", delete=False) as handle:
        for path in paths:
            for record in _records(path):
                handle.write(json.dumps(row(record, path)) + "\n")
        ndjson = handle.name
    try:
        spec = "{%s}" % ", ".join("'%s': '%s'" % (k, v) for k, v in columns().items())
        con.execute('CREATE TABLE "%s"."%s"."%s" AS SELECT * FROM read_json(\'%s\', format=\'newline_delimited\', '
                    'columns=%s)' % (catalog, database, table, ndjson, spec))
    finally:
        os.unlink(ndjson)
    return con


def to_duckdb(sql):
    """Trino SQL as DuckDB SQL (sqlglot), with regexp_like run by Python's re (see the module docstring)."""
    tree = sqlglot.parse_one(sql, read="trino")
    tree = tree.transform(lambda node: exp.Anonymous(this="py_regexp_like", expressions=[node.this, node.expression])
                          if isinstance(node, exp.RegexpLike) else node)
    return tree.sql(dialect="duckdb")


PARTITION_COLUMNS = frozenset(("timestamp", "region", "account"))


def scanned_files_sql(sql):
    """DuckDB SQL listing the files Athena would read for ``sql``: the innermost SELECT over the table,
    with only its predicates on partition columns (Athena reads a kept partition's files whole)."""
    tree = sqlglot.parse_one(sql, read="trino")
    table = next(tree.find_all(exp.Table))
    where = table.parent_select.args.get("where")
    kept = [c for c in (where.this.flatten() if where is not None and isinstance(where.this, exp.And) else
                        ([where.this] if where is not None else []))
            if all(col.name in PARTITION_COLUMNS for col in c.find_all(exp.Column))]
    query = exp.select('"$path"').distinct().from_(table.copy())
    for cond in kept:
        query = query.where(cond.copy())
    return query.sql(dialect="duckdb")


class DuckDBAthena:
    """The Athena calls cloudtrail_athena makes, answered from DuckDB (results paged like GetQueryResults)."""

    def __init__(self, con, page_size=None):
        self.con = con
        self.page_size = page_size
        self.queries = {}
        self.scanned = {}
        self.calls = []

    def start_query_execution(self, **kwargs):
        self.calls.append(("StartQueryExecution", kwargs))
        cur = self.con.execute(to_duckdb(kwargs["QueryString"]))
        names = [d[0] for d in cur.description]
        qid = "q%d" % (len(self.queries) + 1)
        self.queries[qid] = (names, cur.fetchall())
        files = self.con.execute(scanned_files_sql(kwargs["QueryString"])).fetchall()
        self.scanned[qid] = sum(os.path.getsize(path) for (path,) in files if path and os.path.exists(path))
        return {"QueryExecutionId": qid}

    def get_query_execution(self, QueryExecutionId):
        self.calls.append(("GetQueryExecution", QueryExecutionId))
        return {"QueryExecution": {"QueryExecutionId": QueryExecutionId, "Status": {"State": "SUCCEEDED"},
                                   "Statistics": {"DataScannedInBytes": self.scanned[QueryExecutionId]}}}

    def get_query_results(self, QueryExecutionId, MaxResults=1000, NextToken=None):
        self.calls.append(("GetQueryResults", NextToken))
        names, rows = self.queries[QueryExecutionId]
        size = min(MaxResults, self.page_size or MaxResults)
        start = int(NextToken or 0)
        cells = [[_cell(v) for v in r] for r in rows[start:start + size]]
        if start == 0:
            cells.insert(0, [{"VarCharValue": n} for n in names])
        page = {"ResultSet": {"Rows": [{"Data": c} for c in cells],
                              "ResultSetMetadata": {"ColumnInfo": [{"Name": n} for n in names]}}}
        if start + size < len(rows):
            page["NextToken"] = str(start + size)
        return page

    def stop_query_execution(self, QueryExecutionId):
        self.calls.append(("StopQueryExecution", QueryExecutionId))


def _cell(value):
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"VarCharValue": "true" if value else "false"}
    return {"VarCharValue": str(value)}
