"""sarif_upload against a strict stand-in for GitHub's code-scanning API on loopback (lab/services/github_stub.py).

The stand-in checks the method, path, headers, JSON keys, commit and ref formats, and that ``sarif`` is the
base64 of a gzip of a SARIF 2.1.0 log valid against the official schema; it stores analyses, so the
idempotency check lists what was really uploaded.
"""

import base64
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(os.path.dirname(__file__), "playbooks", "sarif_upload", "upload.yml")
COMMIT = "3f786850e387550fdab836ed7e6dc881de23001b"
OTHER_COMMIT = "89e6c98d92887913cadf06b2adb97f26cde4849b"


@pytest.fixture(scope="module")
def gh(lab):
    return lab.up("github_stub")


def received(gh):
    """The uploads the stand-in accepted (it also records refusals)."""
    if not os.path.exists(gh["received"]):
        return []
    with open(gh["received"]) as handle:
        return [entry for entry in map(json.loads, handle) if "sarif_id" in entry]


def sarif_file(tmp_path, runs, name="scan.sarif"):
    path = tmp_path / name
    path.write_text(json.dumps({"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
                                "runs": runs}))
    return str(path)


def trivy_run(results, tool="trivy"):
    rules = [{"id": "CVE-2099-0001", "shortDescription": {"text": "planted"},
              "properties": {"security-severity": "9.8"}},
             {"id": "CVE-2099-0002", "shortDescription": {"text": "minor"}, "properties": {"security-severity": "3.1"}}]
    return {"tool": {"driver": {"name": tool, "version": "0.59.1", "informationUri": "https://trivy.dev", "rules": rules}},
            "results": results}


def vuln(rule, level, text):
    return {"ruleId": rule, "level": level, "message": {"text": text},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": "requirements.txt"},
                                                "region": {"startLine": 1}}}]}


@pytest.fixture
def module(gh, tmp_path):
    """The module in a subprocess, as Ansible runs it: (rc, result). The token comes from GITHUB_TOKEN."""
    def run(args, token=None, check=False):
        data = {"repository": gh["repository"], "commit_sha": COMMIT, "ref": "refs/heads/main",
                "api_url": gh["api_url"], "wait_timeout": 20, "_ansible_check_mode": check}
        data.update(args)
        path = tmp_path / "args.json"
        path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": data}))
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, ".build", "collections"),
                   GITHUB_TOKEN=token or gh["token"])
        proc = subprocess.run([sys.executable, "-m", "ansible_collections.ainative.security.plugins.modules.sarif_upload",
                               str(path)], capture_output=True, env=env, timeout=120, check=False)
        assert b"Traceback" not in proc.stderr + proc.stdout, proc.stderr
        return proc.returncode, json.loads(proc.stdout)
    return run


def test_upload_then_idempotent_then_a_new_commit_uploads_again(module, gh, tmp_path):
    sarif = sarif_file(tmp_path, [trivy_run([vuln("CVE-2099-0001", "error", "bash 5.2.15 is vulnerable")])])
    before = len(received(gh))
    rc, first = module({"sarif": sarif, "category": "image-scan/idem"})
    assert rc == 0 and first["changed"] is True, first
    (sent,) = first["uploads"]
    assert sent["processing_status"] == "complete" and sent["sarif_id"]
    assert sent["runs"][0]["category"] == "image-scan/idem" and sent["runs"][0]["results"] == 1
    got = received(gh)[before:]
    assert len(got) == 1 and got[0]["commit_sha"] == COMMIT and got[0]["ref"] == "refs/heads/main"
    assert got[0]["keys"] == ["commit_sha", "ref", "sarif", "validate"]
    assert got[0]["log"]["runs"][0]["automationDetails"]["id"] == "image-scan/idem/"
    assert got[0]["log"]["runs"][0]["results"][0]["ruleId"] == "CVE-2099-0001"

    rc, second = module({"sarif": sarif, "category": "image-scan/idem"})
    assert rc == 0 and second["changed"] is False and second["uploads"] == [], second
    assert second["already_uploaded"][0]["category"] == "image-scan/idem"
    assert len(received(gh)) == before + 1  # nothing sent

    rc, check = module({"sarif": sarif, "category": "image-scan/idem", "commit_sha": OTHER_COMMIT}, check=True)
    assert rc == 0 and check["changed"] is True and check["uploads"][0]["sarif_id"] is None
    assert len(received(gh)) == before + 1  # check mode sends nothing

    rc, third = module({"sarif": sarif, "category": "image-scan/idem", "commit_sha": OTHER_COMMIT})
    assert rc == 0 and third["changed"] is True and len(received(gh)) == before + 2
    assert received(gh)[-1]["commit_sha"] == OTHER_COMMIT

    # New results for the same commit and category are a different analysis: sent again.
    more = sarif_file(tmp_path, [trivy_run([vuln("CVE-2099-0001", "error", "a"), vuln("CVE-2099-0002", "note", "b")])],
                      "more.sarif")
    rc, fourth = module({"sarif": more, "category": "image-scan/idem"})
    assert rc == 0 and fourth["changed"] is True


def test_over_5000_results_truncated_most_severe_first_with_a_note(module, gh, tmp_path):
    # No locations: the stand-in's schema check of 5,000 results is what costs here.
    results = [{"ruleId": "CVE-2099-0002", "level": "note", "message": {"text": "minor %d" % i}} for i in range(5200)] + \
        [{"ruleId": "CVE-2099-0001", "level": "error", "message": {"text": "planted %d" % i}} for i in range(40)]
    rc, res = module({"sarif": sarif_file(tmp_path, [trivy_run(results)]), "category": "image-scan/many"})
    assert rc == 0 and res["changed"], res
    assert "had 5240 results; kept the 5000 most severe, dropped 240" in res["notes"][0]
    last = received(gh)[-1]
    assert last["runs"][0]["results"] == 5000
    assert last["runs"][0]["properties"]["ainative.security/truncated"]["dropped"] == 240
    rc, again = module({"sarif": sarif_file(tmp_path, [trivy_run(results)]), "category": "image-scan/many"})
    assert rc == 0 and again["changed"] is False, again


def test_sarif_over_10_mb_gzipped_is_split_by_run_and_every_part_accepted(module, gh, tmp_path):
    def big_run(tool):
        return trivy_run([vuln("CVE-2099-0001", "error", base64.b64encode(os.urandom(75000)).decode())
                          for dummy in range(72)], tool)
    sarif = sarif_file(tmp_path, [big_run("trivy"), big_run("grype")], "big.sarif")
    before = len(received(gh))
    rc, res = module({"sarif": sarif, "category": "image-scan/big"})
    assert rc == 0 and res["changed"], res["msg"]
    assert any("sent in 2 uploads" in note for note in res["notes"])
    got = received(gh)[before:]
    assert [r["runs"][0]["category"] for r in got] == ["image-scan/big/trivy/", "image-scan/big/grype/"]
    assert all(r["gzip_bytes"] <= 10 * 1000 * 1000 for r in got) and sum(r["gzip_bytes"] for r in got) > 10 * 1000 * 1000
    assert [r["runs"][0]["results"] for r in got] == [72, 72]


def test_the_stand_in_refuses_what_github_refuses(gh):
    import urllib.error
    import urllib.request

    def post(body, token=gh["token"], version="2022-11-28"):
        req = urllib.request.Request(gh["api_url"] + "/repos/acme/models/code-scanning/sarifs",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": "Bearer " + token, "X-GitHub-Api-Version": version,
                                              "Accept": "application/vnd.github+json", "Content-Type": "application/json"})
        try:
            return urllib.request.urlopen(req, timeout=10).status
        except urllib.error.HTTPError as exc:
            return exc.code
    good = {"commit_sha": COMMIT, "ref": "refs/heads/main",
            "sarif": base64.b64encode(__import__("gzip").compress(json.dumps(
                {"version": "2.1.0", "runs": [trivy_run([])]}).encode())).decode()}
    assert post(good) == 202
    assert post(good, token="ghp_wrong") == 401
    assert post(good, version="2021-01-01") == 400
    assert post(dict(good, sarif=base64.b64encode(json.dumps({"version": "2.1.0", "runs": []}).encode()).decode())) == 422
    assert post(dict(good, commit_sha="abc")) == 422
    assert post(dict(good, ref="main")) == 422
    assert post(dict(good, extra=1)) == 422
    bad_schema = base64.b64encode(__import__("gzip").compress(b'{"version": "2.1.0", "runs": [{"tool": {}}]}')).decode()
    assert post(dict(good, sarif=bad_schema)) == 422


def test_playbook_at_vvv_wrong_token_is_one_clear_line_and_no_token_shows(playbook, gh, tmp_path):
    sarif = sarif_file(tmp_path, [trivy_run([vuln("CVE-2099-0001", "error", "x")])])
    wrong = "ghp_" + "f00dfeed" * 4 + "beef"
    out = str(tmp_path / "result.json")
    log = tmp_path / "ansible.log"
    res = playbook(PLAYBOOK, verbosity=3, log_path=log, extra_vars={
        "repository": gh["repository"], "commit_sha": COMMIT, "git_ref": "refs/pull/7/merge", "sarif": sarif,
        "category": "vvv", "api_url": gh["api_url"], "token": gh["token"], "wrong_token": wrong, "result_file": out})
    assert res.rc == 0, res
    with open(out) as handle:
        result = json.load(handle)
    refused = result["refused"]
    assert refused["failed"] is True and "\n" not in refused["msg"]
    assert refused["msg"].startswith("GitHub answered 401 Bad credentials to GET "), refused["msg"]
    assert "the token is wrong or expired" in refused["msg"]
    uploaded = result["uploaded"]
    assert uploaded["changed"] is True and uploaded["uploads"][0]["processing_status"] == "complete"
    assert received(gh)[-1]["ref"] == "refs/pull/7/merge"
    for text in (res.stdout, log.read_text(), json.dumps(received(gh))):
        for token in (wrong, gh["token"]):
            assert token not in text and token[4:] not in text
    assert "Bad credentials" in res.stdout  # the -vvv output is really there


def test_a_sarif_log_without_runs_examined_nothing_and_fails(module, tmp_path):
    rc, res = module({"sarif": sarif_file(tmp_path, []), "category": "empty"})
    assert rc == 1 and res["verdict"] == "incomplete" and res["coverage"]["examined"] == 0, res


def test_an_unknown_repository_is_one_clear_line(module, tmp_path):
    rc, res = module({"sarif": sarif_file(tmp_path, [trivy_run([])]), "repository": "acme/nope"})
    assert rc == 1 and res["msg"].startswith("GitHub answered 404 Not Found to GET "), res
    assert res["msg"].endswith("no such repository, or the token cannot see it")
