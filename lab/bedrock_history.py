"""Bedrock invocations for cloudtrail_hunt's history detections (option ``history``), as CloudTrail log files.

A week and a day of normal use by two principals (an IAM user and an assumed role whose session name changes
every day), then one more day in two versions: the benign twin (the same principals, addresses and volume) and
the attack (the user's stolen key from a new network, a principal never seen invoking Converse, and the role at
twenty times its usual volume).
"""

import datetime
import gzip
import json
import os
import random

from lab import cloudtrail_archive as ca

BASE = datetime.datetime(2026, 11, 10, tzinfo=datetime.timezone.utc)  # the day after the history
HISTORY_DAYS = 8
ALICE_IPS = ["10.1.2.3", "10.1.2.4"]
PIPELINE_IP = "10.1.3.7"
STOLEN_KEY_IP = "203.0.113.50"
NEW_PRINCIPAL_IP = "198.51.100.23"
ALICE = "arn:aws:iam::%s:user/alice" % ca.ACCOUNT
PIPELINE_ROLE = "arn:aws:iam::%s:role/MLPipelineRole" % ca.ACCOUNT
NEWCOMER = "arn:aws:iam::%s:user/svc-legacy" % ca.ACCOUNT
MODEL = {"modelId": "anthropic.claude-3-5-sonnet-20240620-v1:0"}


def _invoke(name, ident, when, ip):
    return ca.event(name, "bedrock.amazonaws.com", ident, when, ip=ip, request=MODEL,
                    agent="Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux#6.1 lang/python#3.11.8")


def normal_day(day, pipeline_calls=30):
    """One day of normal use: alice 20 calls from her two addresses, the pipeline role ``pipeline_calls``."""
    alice = ca._user("alice")
    role = ca._role("MLPipelineRole", "pipeline-%s" % day.strftime("%m%d"))
    events = [_invoke(("InvokeModel", "InvokeModelWithResponseStream")[i % 2], alice,
                      day + datetime.timedelta(hours=8, minutes=20 * i), ALICE_IPS[i % 2]) for i in range(20)]
    step = 20 * 3600.0 / max(pipeline_calls, 1)
    events += [_invoke("Converse", role, day + datetime.timedelta(hours=2, seconds=int(step * i)), PIPELINE_IP)
               for i in range(pipeline_calls)]
    return events


def history_events():
    return [e for n in range(HISTORY_DAYS, 0, -1) for e in normal_day(BASE - datetime.timedelta(days=n))]


def twin_events():
    return normal_day(BASE)


def attack_events():
    """The attack day: every event of it is also in the twin's shape except the three attacks."""
    stolen = [_invoke("InvokeModel", ca._user("alice"), BASE + datetime.timedelta(hours=3, minutes=i), STOLEN_KEY_IP)
              for i in range(5)]
    newcomer = [_invoke("Converse", ca._user("svc-legacy"), BASE + datetime.timedelta(hours=4, minutes=i), NEW_PRINCIPAL_IP)
                for i in range(3)]
    return normal_day(BASE, pipeline_calls=600) + stolen + newcomer


def write_files(dest, events, region="us-east-1"):
    """``events`` as CloudTrail delivers them: one gzipped file per hour under ``dest``; the folder."""
    rng = random.Random(11)
    hours = {}
    for rec in events:
        hours.setdefault(rec["eventTime"][:13], []).append(rec)
    for hour, records in sorted(hours.items()):
        delivered = datetime.datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=datetime.timezone.utc)
        key = ca.key_for(ca.ACCOUNT, region, delivered + datetime.timedelta(minutes=65), rng=rng)
        path = os.path.join(dest, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(gzip.compress(json.dumps({"Records": records}).encode()))
    return dest


def window(day_offset=0, days=1):
    """(start_time, end_time) of ``days`` UTC days starting ``day_offset`` days after BASE."""
    start = BASE + datetime.timedelta(days=day_offset)
    end = start + datetime.timedelta(days=days) - datetime.timedelta(seconds=1)
    return start.strftime("%Y-%m-%dT%H:%M:%SZ"), end.strftime("%Y-%m-%dT%H:%M:%SZ")
