"""cloudtrail_hunt on an organization trail's archive in the emulator's S3 and on local copies of it.

Every detection must fire on its planted event and stay quiet on its benign twin
(lab/cloudtrail_archive.py). LookupEvents is not implemented by the emulator: its paging, rate limit
and throttling are covered with botocore's Stubber in tests/unit/plugins/module_utils/test_cloudtrail.py;
here the module must report the emulator's error as incomplete coverage.
"""

import collections
import datetime
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from lab import cloud_audit_seed
from lab import cloudtrail_archive as ca
from lab.services import fault_proxy
from lab.services import moto as moto_service

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks", "cloudtrail_hunt")
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
MEMORY_FILES = 80        # of 2,000 events (about 130 kB compressed) each: about 10 MB, and 4x that
MEMORY_MARGIN_MIB = 6.0  # holding the archive would add its 30 MB of extra compressed bytes, and more


@pytest.fixture(scope="module")
def archive(lab, tmp_path_factory):
    info = lab.up("moto")
    moto_service.reset(info)
    seeded = cloud_audit_seed.seed_archive(info["endpoint_url"])
    local = tmp_path_factory.mktemp("cloudtrail-local")
    s3 = boto3.client("s3", endpoint_url=info["endpoint_url"], region_name="us-east-1",
                      aws_access_key_id=info["access_key"], aws_secret_access_key=info["secret_key"])
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=seeded["bucket"]):
        for obj in page.get("Contents", []):
            path = local / obj["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=seeded["bucket"], Key=obj["Key"])["Body"].read())
    aws = dict((k, info[k]) for k in ("endpoint_url", "access_key", "secret_key", "region"))
    return aws, seeded, str(local)


def test_every_detection_fires_on_planted_event_not_on_benign_twin(archive, playbook):
    aws, seeded, local = archive
    res = playbook(os.path.join(TARGETS, "main.yml"),
                   extra_vars={"aws": aws, "archive": seeded, "local_dir": local})
    assert res.rc == 0, res
    assert "failed=0" in res.stdout
    for detection in seeded["manifest"]:
        assert "(item=%s)" % detection in res.stdout, detection


# --- throttling, the deadline and memory in S3 mode (issue 13 cases 16 and 16a) -------------------

def run_module(tmp_path, args):
    """The module in its own process, as Ansible runs it (args file): (result, seconds, peak RSS in MiB).

    The peak is wait4's ru_maxrss of the module process: the largest of it and its parse workers.
    """
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    out, err = tmp_path / "stdout.json", tmp_path / "stderr.txt"
    env = dict(os.environ, PYTHONPATH=COLLECTIONS, AWS_EC2_METADATA_DISABLED="true")
    started = time.monotonic()
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "ansible_collections.ainative.security.plugins.modules.cloudtrail_hunt",
                                 str(path)], stdout=stdout, stderr=stderr, env=env, cwd=str(tmp_path))
        _pid, _status, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0  # reaped above: Popen must not wait for it again
    seconds = time.monotonic() - started
    assert out.read_text().strip().startswith("{"), err.read_text()[-2000:]
    return json.loads(out.read_text()), seconds, usage.ru_maxrss / 1024.0


def _s3_args(endpoint, bucket, **extra):
    args = {"source": "s3", "bucket": bucket, "since": "24h", "max_findings": 0, "endpoint_url": endpoint["endpoint_url"],
            "access_key": endpoint["access_key"], "secret_key": endpoint["secret_key"], "region": endpoint["region"]}
    args.update(extra)
    return args


@pytest.fixture(scope="module")
def proxy(lab, archive):
    """The fault-injecting proxy in front of the emulator holding the seeded archive."""
    info = lab.up("fault_proxy")
    yield info
    fault_proxy.configure(info)


def _target(url):
    return re.search(r"/(\d{12})/CloudTrail/([a-z0-9-]+)/", url).groups()


def test_heavy_throttling_every_unread_file_is_a_gap_of_its_account_and_region(archive, proxy, tmp_path):
    _aws, seeded, _local = archive
    fault_proxy.configure(proxy, refuse=0.9, seed=16)
    res, seconds, _rss = run_module(tmp_path, _s3_args(proxy, seeded["bucket"]))
    stats = fault_proxy.stats(proxy)
    cov = res["coverage"]
    assert res["failed"] and res["verdict"] == "incomplete" and res["gate"]["failed"]
    assert not res["coverage_complete"] and cov["asked"] == seeded["files"]
    assert 0 < cov["examined"] == res["files_scanned"] < cov["asked"]
    # a file counts as read only when it was: one GetObject answered per file read
    assert stats["passed"] == res["files_scanned"] and stats["refused"] > 0
    unread = cov["asked"] - cov["examined"]
    assert cov["missed_count"] == unread and len(cov["missed"]) == min(unread, 50)  # the list is bounded
    assert all("SlowDown" in m["reason"] for m in cov["missed"])
    # bounded retries: at most 4 attempts per file, and the run does not stall
    assert stats["get_object"] <= 4 * cov["asked"]
    assert seconds < 60
    # every unread file is a gap of its own account and region, none in an entry without them
    detail = dict(((d["account"], d["region"]), d) for d in res["coverage_detail"])
    assert set(detail) == {("123456789012", "us-east-1"), ("210987654321", "eu-west-1")}
    assert sum(d["files_failed"] for d in detail.values()) == unread
    per_target = collections.Counter(_target(m["item"]) for m in cov["missed"])
    for target, entry in detail.items():
        assert entry["files_failed"] == entry["error_count"] >= per_target.get(target, 0)
        assert entry["files_failed"] == per_target.get(target, 0) or cov["missed_truncated"]
        assert all(_target(error) == target and "SlowDown" in error for error in entry["errors"])
        assert entry["files_read"] + entry["files_failed"] == entry["files_listed"]
        assert entry["complete"] == (entry["files_failed"] == 0)
    assert sum(d["files_read"] for d in detail.values()) == res["files_scanned"]
    print("throttled 90%%: %d of %d files read, %d GetObject calls, %.1f s" % (
        res["files_scanned"], cov["asked"], stats["get_object"], seconds))


def test_the_deadline_stops_downloads_and_names_every_unread_file(archive, proxy, tmp_path):
    _aws, seeded, _local = archive
    fault_proxy.configure(proxy, delay=4.0)
    _refused, startup, _rss = run_module(tmp_path, _s3_args(proxy, seeded["bucket"], deadline=0))
    res, seconds, _rss = run_module(tmp_path, _s3_args(proxy, seeded["bucket"], deadline=6, concurrency=3))
    stats = fault_proxy.stats(proxy)
    cov = res["coverage"]
    assert res["failed"] and res["verdict"] == "incomplete"
    assert 0 < cov["examined"] == res["files_scanned"] < cov["asked"]
    late = [m["item"] for m in cov["missed"] if m["reason"] == "deadline reached (6 s) before it was read"]
    assert cov["missed_count"] == cov["asked"] - cov["examined"] and len(late) == len(cov["missed"]) == min(
        cov["missed_count"], 50)
    assert "deadline reached (6 s): %d of %d files not read" % (cov["missed_count"], cov["asked"]) in res["notes"]
    # no download starts after the deadline, and those in flight then were abandoned: the module exited
    # while the proxy still held them
    assert stats["get_object"] <= cov["examined"] + 3
    assert stats["answered"] < stats["get_object"]
    assert seconds - startup < 6 + 3
    print("deadline 6 s: %d of %d files read, module process %.1f s (%.1f s of it start-up)" % (
        cov["examined"], cov["asked"], seconds, startup))


def test_without_faults_the_proxied_hunt_is_complete_with_the_usual_findings(archive, proxy, tmp_path):
    _aws, seeded, _local = archive
    fault_proxy.configure(proxy)
    res, _seconds, _rss = run_module(tmp_path, _s3_args(proxy, seeded["bucket"], allowed_cidrs=seeded["allowed_cidrs"]))
    stats = fault_proxy.stats(proxy)
    assert not res.get("failed") and res["verdict"] == "findings", res.get("msg")
    assert res["coverage"]["complete"] and res["coverage"]["missed_count"] == 0
    assert res["coverage"]["examined"] == res["files_scanned"] == seeded["files"] == stats["passed"]
    assert stats["refused"] == 0
    for detection in seeded["manifest"]:
        assert res["counts"][detection] >= 1, detection


@pytest.fixture(scope="module")
def sized_archives(lab, archive, tmp_path_factory):
    """Two archives in the emulator, the second 4x the first (the same log files under 4 keys each):
    bucket -> compressed bytes."""
    info = lab.up("moto")
    s3 = boto3.client("s3", endpoint_url=info["endpoint_url"], region_name="us-east-1",
                      aws_access_key_id=info["access_key"], aws_secret_access_key=info["secret_key"])
    dest = str(tmp_path_factory.mktemp("sized-archive"))
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=6)
    keys = [key for key, _planted in ca.write_archive(dest, MEMORY_FILES, 2000, start, span_seconds=4 * 3600,
                                                      processes=2)]
    uploads = [("hunt-mem-small", key, key) for key in keys]
    uploads += [("hunt-mem-large", key.replace(".json.gz", "%d.json.gz" % copy), key) for key in keys for copy in range(4)]

    def put(upload):
        bucket, key, path = upload
        with open(os.path.join(dest, path), "rb") as handle:
            data = handle.read()
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        return bucket, len(data)
    sizes = {"hunt-mem-small": 0, "hunt-mem-large": 0}
    for bucket in sizes:
        s3.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(8) as pool:
        for bucket, size in pool.map(put, uploads):
            sizes[bucket] += size
    return info, sizes


def test_peak_memory_in_s3_mode_does_not_grow_with_the_archive(sized_archives, tmp_path):
    info, sizes = sized_archives
    peaks = {}
    for bucket in sizes:
        # one detection keeps the run short (downloads and buffering are the same); two parse workers
        # whatever the machine, as the bound of what is buffered grows with them
        args = _s3_args(info, bucket, since="12h", workers=2, detections=["cloudtrail_tampering"])
        res, seconds, peak = run_module(tmp_path, args)
        assert res["coverage"]["complete"] and res["files_scanned"] == res["coverage"]["asked"], res.get("msg")
        peaks[bucket] = peak
        print("%s: %.1f MB compressed, %d events, peak RSS %.1f MiB, %.1f s" % (
            bucket, sizes[bucket] / 1e6, res["events_scanned"], peak, seconds))
    small, large = sizes["hunt-mem-small"], sizes["hunt-mem-large"]
    assert large == 4 * small
    # not proportional: 29 MiB more archive may add at most 6 MiB (under a quarter of it) to the peak
    assert peaks["hunt-mem-large"] - peaks["hunt-mem-small"] < MEMORY_MARGIN_MIB < (large - small) / 2 ** 20 / 4
