"""cloud_audit: s3_encryption_assert against the AWS CLI loop, cloudtrail_hunt against `zcat | jq`, one run.

Goals (issue 5):
* auditing 300 buckets >= 50x faster than the loop a user would write: ``aws s3api list-buckets`` then
  ``aws s3api get-bucket-encryption`` per bucket (``xargs -P2``), on the AWS emulator (moto) on loopback;
* hunting 2 million archived events (2,000 ``.json.gz`` files) >= 10x faster than ``zcat | jq`` with the
  seed's filter (console login without MFA, root usage, CloudTrail tampering).

Both sides run as processes (bench/_util.py: the module process as Ansible runs it, interleaved runs,
medians and spread). The hunt must find exactly what jq finds for the seed's three detections.
"""

import datetime
import json
import os
import shutil
import subprocess

import boto3

from bench import _util
from lab import cloudtrail_archive as ca
from lab.harness import Lab
from lab.services import moto as moto_service

AWS = os.path.join(_util.ROOT, ".venv", "bin", "aws")

JQ_FILTER = (
    '.Records[] | select('
    '(.eventName == "ConsoleLogin" and .responseElements.ConsoleLogin == "Success"'
    ' and ((.additionalEventData.MFAUsed // "") | ascii_downcase) != "yes" and .userIdentity.type != "AssumedRole")'
    ' or (.userIdentity.type == "Root" and .eventType != "AwsServiceEvent" and .userIdentity.invokedBy == null)'
    ' or (.eventSource == "cloudtrail.amazonaws.com" and (.eventName == "StopLogging" or .eventName == "UpdateTrail"'
    ' or .eventName == "DeleteTrail") and (.errorCode == null or .errorCode == "Success"))'
    ') | .eventID')
SEED_DETECTIONS = ("console_login_without_mfa", "root_account_usage", "cloudtrail_tampering")


MFA_FILTER = '.Records[] | select(.eventName == "ConsoleLogin" and .additionalEventData.MFAUsed == "No") | .eventID'
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": ""}


def bench_buckets(scale, rounds, warmup, data, tmp):
    """(rows, limits) of auditing ``300 * scale`` buckets on moto against the CLI loop."""
    count = max(int(300 * scale), 2)
    lab = Lab(state_dir=os.path.join(data, "cloud_audit-lab"))
    info = lab.up("moto")
    try:
        moto_service.reset(info)
        endpoint = info["endpoint_url"]
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
        for i in range(count):
            name = "bench-bucket-%04d" % i
            s3.create_bucket(Bucket=name)
            if i % 3 == 0:
                s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [{
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": True}]})
        conn = {"endpoint_url": endpoint, "access_key": "testing", "secret_key": "testing", "region": "us-east-1"}
        only_encryption = dict(conn, all_buckets=True, sse_algorithm="any_kms", bucket_key=False, secure_transport=False,
                               deny_unencrypted_uploads=False, block_sse_c=False, public_access_block=False)
        ours = _util.module_command("s3_encryption_assert", only_encryption, tmp, env=AWS_ENV,
                                    label="`s3_encryption_assert` (encryption only)")
        full = _util.module_command("s3_encryption_assert", dict(conn, all_buckets=True), tmp, env=AWS_ENV,
                                    label="`s3_encryption_assert` (all 7 requirements)")
        loop = (
            "{aws} s3api list-buckets --endpoint-url {ep} --query 'Buckets[].Name' --output text | tr '\\t' '\\n' | "
            "xargs -P2 -I{{}} sh -c '{aws} s3api get-bucket-encryption --endpoint-url {ep} --bucket {{}} "
            ">/dev/null 2>&1 || true'").format(aws=AWS, ep=endpoint)
        cli = _util.Command("`aws s3api list-buckets` + `get-bucket-encryption` per bucket, `xargs -P2`", loop,
                            shell=True, env=_util.process_env(AWS_ENV))
        one_call = _util.Command("one `aws s3api list-buckets`", [AWS, "s3api", "list-buckets", "--endpoint-url", endpoint],
                                 env=_util.process_env(AWS_ENV))
        ours_s, full_s, cli_s, call_s, startup = _util.interleave(
            [ours, full, cli, one_call, _util.startup_command("s3_encryption_assert")], rounds, warmup)
        for result in ours_s.values:
            assert result["counts"]["total"] == count and result["counts"]["compliant"] == len(range(0, count, 3)), \
                result["counts"]
    finally:
        lab.down("moto")
    rows = [("audit %d buckets, encryption only (2 API calls per bucket on the emulator)" % count, ours_s, cli_s,
             50.0),
            ("audit %d buckets, all 7 requirements (5 API calls per bucket)" % count, full_s, cli_s, None)]
    limits = ["one AWS CLI process (`aws s3api list-buckets`): %s median, so the loop's floor is %d of them on two "
              "cores: %s" % (_util.seconds(call_s.median), count + 1, _util.seconds(call_s.median * (count + 1) / 2)),
              "Python start-up and `s3_encryption_assert`'s imports (no work): %s median"
              % _util.seconds(startup.median)]
    return rows, limits


def _archive(data, count, per_file):
    dest = os.path.join(data, "cloudtrail-%dx%d" % (count, per_file))
    marker = os.path.join(dest, ".complete")
    if os.path.exists(marker):
        with open(marker) as handle:
            return dest, json.load(handle)
    shutil.rmtree(dest, ignore_errors=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    start = now - datetime.timedelta(hours=23)
    plants = ca.planted(start)
    plant_events = [e for det in SEED_DETECTIONS for e in plants[det]["fire"] + plants[det]["benign"]]
    plant_events += plants["unauthorized_api_burst"]["fire"] + plants["security_group_open_to_world"]["fire"]
    every = 100
    t0 = datetime.datetime.now()
    ca.write_archive(dest, count, per_file, start, span_seconds=22 * 3600, processes=2, plant_every=every,
                     plant_events=plant_events)
    meta = {"created": now.isoformat(), "files": count, "events": count * per_file + len(range(0, count, every)) * len(plant_events),
            "seconds": (datetime.datetime.now() - t0).total_seconds(),
            "expected": len(range(0, count, every)) * 3}
    with open(marker, "w") as handle:
        json.dump(meta, handle)
    return dest, meta


GOAL_MIB = 512


def bench_hunt(scale, rounds, warmup, data, tmp):
    """(rows, limits) of hunting ``2000 * scale`` archive files of 1,000 events against `zcat | jq`."""
    count = max(int(2000 * scale), 2)
    dest, meta = _archive(data, count, 1000)
    subprocess.run("find %s -name '*.json.gz' -print0 | xargs -0 cat > /dev/null" % dest, shell=True, check=True)
    age = (datetime.datetime.now(datetime.timezone.utc) - datetime.datetime.fromisoformat(meta["created"]))
    since = "%dh" % (24 + int(age.total_seconds() // 3600) + 1)
    args = {"source": "local", "paths": [dest], "since": since, "allowed_cidrs": ca.ALLOWED_CIDRS, "max_findings": 0}
    files = "find %s -name '*.json.gz' -print0 | sort -z" % dest
    jq_cmd = "%s | xargs -0 zcat | jq -r '%s'" % (files, JQ_FILTER)
    jq_found = subprocess.run(jq_cmd, shell=True, check=True, stdout=subprocess.PIPE).stdout.split()
    assert len(jq_found) == meta["expected"], (len(jq_found), meta["expected"])
    mfa_cmd = "%s | xargs -0 zcat | jq -r '%s'" % (files, MFA_FILTER)
    mfa_found = subprocess.run(mfa_cmd, shell=True, check=True, stdout=subprocess.PIPE).stdout.split()
    quote = "'\"'\"'"
    jq_p2 = ("find %s -name '*.json.gz' -print0 | xargs -0 -n 100 -P2 sh -c 'zcat \"$@\" | jq -r %s%s%s' _"
             % (dest, quote, JQ_FILTER, quote))
    sides = [
        _util.module_command("cloudtrail_hunt", dict(args, detections=list(SEED_DETECTIONS), allowed_cidrs=[]), tmp,
                             label="`cloudtrail_hunt`, the seed's 3 detections"),
        _util.module_command("cloudtrail_hunt", args, tmp, label="`cloudtrail_hunt`, every built-in detection"),
        _util.module_command("cloudtrail_hunt", dict(args, parser="json"), tmp,
                             label="`cloudtrail_hunt`, every built-in detection, standard-library parser"),
        _util.module_command("cloudtrail_hunt", dict(args, detections=["console_login_without_mfa"], allowed_cidrs=[]),
                             tmp, label="`cloudtrail_hunt`, console_login_without_mfa"),
        _util.Command("`zcat \\| jq` with the seed's 3-detection filter", jq_cmd, shell=True),
        _util.Command("the same, `xargs -n100 -P2`", jq_p2, shell=True),
        _util.Command("`zcat \\| jq` with the mission's MFA query", mfa_cmd, shell=True),
        _util.Command("`zcat` alone", "%s | xargs -0 zcat > /dev/null" % files, shell=True),
        _util.Command("`zcat` alone, `xargs -n100 -P2`", "%s | xargs -0 -n 100 -P2 zcat > /dev/null" % files,
                      shell=True),
        _util.startup_command("cloudtrail_hunt"),
    ]
    seed, every, stdlib, mfa, jq, jq2, jq_mfa, zcat, zcat2, startup = _util.interleave(sides, rounds, warmup)
    for result in seed.values:
        assert result["events_scanned"] == meta["events"], (result["events_scanned"], meta["events"])
        assert sum(result["counts"].values()) == len(jq_found), (result["counts"], len(jq_found))
    parser = every.values[0]["parser"]
    size = "%d events in %d gz files" % (meta["events"], meta["files"])
    rows = [("hunt %s, the seed's 3 detections (%s)" % (size, parser), seed, jq, 10.0 if meta["files"] < 1000 else 20.0),
            ("hunt %s, every built-in detection + allowed_cidrs" % size, every, jq, None),
            ("hunt %s, every built-in detection + allowed_cidrs" % size, every, jq2, None),
            ("same hunt, standard-library fallback (gzip + json)", stdlib, jq, None),
            ("hunt %s, console_login_without_mfa only (the mission's query; jq finds %d)"
             % (size, len(mfa_found)), mfa, jq_mfa, 10.0 if meta["files"] < 1000 else 20.0)]
    decompress = (seed.median / zcat2.median) if zcat2.median else 0
    limits = ["decompressing the %s archive alone: %s with one `zcat`, %s with `xargs -P2 zcat` (the seed's hunt "
              "takes %.2fx the two-core decompression; goal <= 1.5x)" % (size, zcat.cell(), zcat2.cell(), decompress),
              "Python start-up and `cloudtrail_hunt`'s imports (no work): %s median" % _util.seconds(startup.median)]
    return rows, limits


def run(scale=_util.SCALE, rounds=None, data=_util.DATA, warmup=True):
    if not shutil.which("jq"):
        raise RuntimeError("jq is missing: apt-get install jq (setup/apt.d/cloud_audit.txt)")
    if not os.path.exists(AWS):
        raise RuntimeError("the AWS CLI is missing: awscli is in setup/requirements.in; run make setup")
    os.makedirs(data, exist_ok=True)
    tmp = os.path.join(data, "cloud_audit-tmp")
    os.makedirs(tmp, exist_ok=True)
    load_before = _util.load()
    rows, limits = bench_buckets(scale, rounds, warmup, data, tmp)
    ok, buckets = _util.table(
        "cloud_audit: s3_encryption_assert", "The module process against the AWS CLI loop a user would write, both "
        "on the AWS emulator (moto) on loopback. Scale %s." % scale, rows, limits, load_before, notes=[
            "The emulator answers every call in about 1-3 ms, so against real AWS, where a call takes 20-100 ms, the "
            "per-bucket concurrency (16 by default) matters more than here. moto's ListBuckets has no `BucketRegion`, "
            "so each bucket costs one more call (GetBucketLocation) than on AWS."])
    load_before = _util.load()
    # two archive sizes, 10x apart (the 200k and 2M events at scale 1): the goals differ, and the
    # peak memory of the two shows whether it grows with the archive
    sizes = sorted(set([scale / 10.0, scale])) if scale >= 0.1 else [scale]
    rows, limits, peaks = [], [], []
    try:
        for size in sizes:
            size_rows, size_limits = bench_hunt(size, rounds, warmup, data, tmp)
            rows.extend(size_rows)
            limits.extend(size_limits)
            peaks.append((size_rows[0][0].split(",")[0][len("hunt "):], max(max(r[1].rss) for r in size_rows)))
    except RuntimeError as exc:  # the bucket table still stands
        return False, buckets + "\n\n### cloud_audit: cloudtrail_hunt\n\nNot measured in this run: %s" % exc
    flat = all(peak / 1024.0 < GOAL_MIB for _size, peak in peaks)
    limits.append("peak RSS of the hunts: %s (goal: under %d MiB at every size: %s)" % (
        "; ".join("%.0f MiB at %s" % (peak / 1024.0, size) for size, peak in peaks), GOAL_MIB,
        "met" if flat else "MISSED"))
    hunt_ok, hunt = _util.table(
        "cloud_audit: cloudtrail_hunt", "The module process against `zcat | jq` over a local archive of CloudTrail "
        "`.json.gz` files (warm page cache), at two archive sizes. Scale %s; the goal is 10x below 1,000 files, "
        "20x from 2,000." % scale, rows, limits, load_before)
    return ok and hunt_ok and flat, buckets + "\n\n" + hunt


def main():
    ok, text = run()
    _util.write_section("cloud_audit", text)
    return 0 if ok else 1
