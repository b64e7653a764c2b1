"""SARIF upload preparation: categories, truncation most severe first, splitting by run, encoding, idempotency."""

import base64
import gzip
import json
import os

import pytest

from ansible_collections.ainative.security.plugins.module_utils.codescanning import upload
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError


def make_run(tool, results, rules=None, automation=None):
    run = {"tool": {"driver": {"name": tool, "rules": rules or []}}, "results": results}
    if automation:
        run["automationDetails"] = {"id": automation}
    return run


def make_log(*runs):
    return {"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json", "runs": list(runs)}


def result(rule, level="warning", text="x"):
    return {"ruleId": rule, "level": level, "message": {"text": text}}


def test_one_run_gets_the_category_as_its_whole_automation_id():
    parts, notes = upload.prepare(make_log(make_run("trivy", [result("A")])), "image-scan/model-server")
    assert notes == [] and len(parts) == 1
    run = parts[0]["log"]["runs"][0]
    assert run["automationDetails"]["id"] == "image-scan/model-server/"
    assert parts[0]["runs"][0]["category"] == "image-scan/model-server"
    assert run["properties"][upload.DIGEST_PROPERTY] == parts[0]["runs"][0]["digest"]


def test_several_runs_get_the_tool_in_their_category_and_a_repeated_tool_its_index():
    log = make_log(make_run("trivy", []), make_run("grype", []), make_run("trivy", []))
    parts, dummy = upload.prepare(log, "scan")
    assert [r["category"] for r in parts[0]["runs"]] == ["scan/trivy", "scan/grype", "scan/trivy/run-2"]


def test_without_category_runs_keep_their_own_automation_id_or_use_the_tool():
    log = make_log(make_run("trivy", [], automation="nightly/trivy/2026-12-01"), make_run("grype", []))
    parts, dummy = upload.prepare(log, None)
    assert [r["category"] for r in parts[0]["runs"]] == ["nightly/trivy", "grype/run-1"]


def test_two_runs_with_one_category_and_no_category_option_is_one_clear_error():
    log = make_log(make_run("trivy", [], automation="x/"), make_run("trivy", [], automation="x/"))
    with pytest.raises(InputError, match="two runs of trivy have the category x"):
        upload.prepare(log, None)


def test_over_5000_results_keeps_the_most_severe_and_says_so():
    rules = [{"id": "CRIT", "properties": {"security-severity": "9.8"}}, {"id": "LOW", "properties": {"security-severity": "2.0"}}]
    results = [result("LOW", "note", "low %d" % i) for i in range(5100)] + [result("CRIT", "error", "crit %d" % i) for i in range(30)] \
        + [result("NOSCORE", "error", "err %d" % i) for i in range(20)]
    parts, notes = upload.prepare(make_log(make_run("trivy", results, rules)), "c")
    run = parts[0]["log"]["runs"][0]
    assert len(run["results"]) == 5000
    assert [r["ruleId"] for r in run["results"][:50]] == ["CRIT"] * 30 + ["LOW"] * 20
    assert not [r for r in run["results"] if r["ruleId"] == "NOSCORE"]  # scored LOW (2.0) beats unscored
    assert run["properties"][upload.TRUNCATED_PROPERTY]["dropped"] == 150
    assert notes == ["run 0 (trivy, category c) had 5150 results; kept the 5000 most severe, dropped 150 "
                     "(GitHub shows at most 5000 per run)"]


def test_without_scores_the_level_orders_results():
    results = [result("N", "note")] * 3 + [result("E", "error")] * 2 + [result("W")] * 2
    parts, dummy = upload.prepare(make_log(make_run("t", results)), "c", max_results=4)
    assert [r["ruleId"] for r in parts[0]["log"]["runs"][0]["results"]] == ["E", "E", "W", "W"]


def test_strict_twin_5000_results_are_sent_whole_without_a_note():
    results = [result("R", text="r %d" % i) for i in range(5000)]
    parts, notes = upload.prepare(make_log(make_run("trivy", results)), "c")
    assert notes == [] and len(parts[0]["log"]["runs"][0]["results"]) == 5000
    assert upload.TRUNCATED_PROPERTY not in parts[0]["log"]["runs"][0]["properties"]


def random_run(tool, count, size):
    return make_run(tool, [result("R", text=base64.b64encode(os.urandom(size)).decode()) for dummy in range(count)])


def test_runs_that_do_not_fit_one_upload_are_split_by_run_each_within_the_limit():
    log = make_log(random_run("a", 10, 3000), random_run("b", 10, 3000), random_run("c", 10, 3000))
    parts, notes = upload.prepare(log, "cat", max_gzip=70000)
    assert [[r["category"] for r in p["runs"]] for p in parts] == [["cat/a", "cat/b"], ["cat/c"]]
    assert all(p["gzip_bytes"] <= 70000 for p in parts)
    assert all(len(r["results"]) == 10 for p in parts for r in p["log"]["runs"])  # nothing dropped
    assert "sent in 2 uploads" in notes[-1]


def test_runs_per_upload_are_at_most_the_run_limit():
    log = make_log(*[make_run("t%d" % i, []) for i in range(25)])
    parts, dummy = upload.prepare(log, "c")
    assert [len(p["runs"]) for p in parts] == [20, 5]


def test_one_run_over_the_size_limit_is_halved_most_severe_first():
    run = random_run("a", 40, 3000)
    run["results"][7]["level"] = "error"
    parts, notes = upload.prepare(make_log(run), "c", max_gzip=50000)
    kept = parts[0]["log"]["runs"][0]["results"]
    assert parts[0]["gzip_bytes"] <= 50000 and 0 < len(kept) < 40
    assert kept[0]["level"] == "error"
    assert "over 0.05 MB gzipped; kept the %d most severe of 40 results" % len(kept) in notes[-1]


def test_payload_is_base64_of_gzip_of_the_log_and_stable():
    log = make_log(make_run("trivy", [result("A")]))
    first, dummy = upload.prepare(log, "c")
    again, dummy = upload.prepare(json.loads(json.dumps(log)), "c")
    assert first[0]["payload"] == again[0]["payload"]
    assert json.loads(gzip.decompress(base64.b64decode(first[0]["payload"]))) == first[0]["log"]
    assert len(base64.b64decode(first[0]["payload"])) == first[0]["gzip_bytes"]


def test_present_needs_commit_category_tool_and_results_count():
    run = {"category": "scan/trivy", "tool": "trivy", "results": 3}
    sha = "a" * 40
    match = {"commit_sha": sha, "category": "scan/trivy/", "tool": {"name": "trivy"}, "results_count": 3, "id": 7}
    assert upload.present([match], sha, run)["id"] == 7
    for change in ({"commit_sha": "b" * 40}, {"category": "scan/grype/"}, {"tool": {"name": "grype"}},
                   {"results_count": 4}):
        assert upload.present([dict(match, **change)], sha, run) is None, change


@pytest.mark.parametrize("change, message", [
    ({"repository": "acme"}, "repository must be owner/name"),
    ({"commit_sha": "abc"}, "commit_sha must be the full 40-hex"),
    ({"ref": "main"}, "ref must be refs/heads/BRANCH"),
    ({"ref": "refs/pull/12/nope"}, "ref must be"),
    ({"api_url": "ftp://x"}, "api_url must start with https://"),
    ({"token": None}, "no GitHub token"),
])
def test_parameter_errors(change, message):
    params = {"repository": "acme/models", "commit_sha": "0" * 40, "ref": "refs/heads/main",
              "api_url": "https://api.github.com", "token": "t", "wait_timeout": 10, "timeout": 5}
    upload._check_params(params)
    params.update(change)
    with pytest.raises(InputError, match=message):
        upload._check_params(params)


@pytest.mark.parametrize("text, message", [
    ("{", "is not JSON"),
    ('{"version": "2.0.0", "runs": []}', "no SARIF 2.1.0 log"),
    ('{"version": "2.1.0", "runs": [{"tool": {}}]}', "run 0 has no tool.driver.name"),
])
def test_sarif_file_errors(tmp_path, text, message):
    path = tmp_path / "x.sarif"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        upload.load_sarif(str(path))


def _paging_server(next_link):
    """A real HTTP server on loopback whose analyses list has one page and a ``next`` link."""
    import http.server
    import threading
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            body = b"[]"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if "page=2" not in self.path:
                self.send_header("Link", '<%s>; rel="next"' % next_link(self.server.server_port))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def test_a_next_page_on_another_host_is_refused_and_the_token_stays_home():
    server, seen = _paging_server(lambda port: "http://127.0.0.2:%d/repos/o/r/code-scanning/analyses?page=2" % port)
    try:
        github = upload.GitHub("http://127.0.0.1:%d" % server.server_port, "o/r", "ghp_secret", timeout=5)
        with pytest.raises(upload.UploadError, match="refusing to send the token there") as caught:
            github.analyses("refs/heads/main")
        assert "ghp_secret" not in str(caught.value)
        assert len(seen) == 1  # the other host was never called
    finally:
        server.shutdown()


def test_strict_twin_a_next_page_on_the_api_host_is_followed():
    server, seen = _paging_server(lambda port: "http://127.0.0.1:%d/repos/o/r/code-scanning/analyses?page=2" % port)
    try:
        github = upload.GitHub("http://127.0.0.1:%d" % server.server_port, "o/r", "ghp_secret", timeout=5)
        assert github.analyses("refs/heads/main") == []
        assert [path for path, dummy in seen][-1].endswith("page=2") and len(seen) == 2
    finally:
        server.shutdown()
