"""Cloud audit in the lab: the AWS emulator (moto) with planted S3 gaps and a planted CloudTrail archive.

See lab/cloud_audit_seed.py for what is planted. The site playbook audits the ml-* buckets (mode audit,
so the gaps stay for the next run) and hunts the organization trail's archive of the last 24 hours.
"""

from lab import cloud_audit_seed
from lab.services import moto as moto_service

# Checked by lab/prereq.py before prepare(); when this part fails, its plays in site.yml get no hosts.
REQUIRES = ("moto_server",)
PLAY_HOSTS = ("cloud_audit_hosts",)


def prepare(lab, work):
    info = lab.up("moto")
    moto_service.reset(info)  # a fresh account each run: the same planted state every time
    buckets = cloud_audit_seed.seed_buckets(info["endpoint_url"])
    archive = cloud_audit_seed.seed_archive(info["endpoint_url"])
    print("[lab] cloud_audit: moto on %s, %d buckets, %d CloudTrail files in s3://%s"
          % (info["endpoint_url"], len(buckets["buckets"]), archive["files"], archive["bucket"]))
    return {
        "cloud_audit_aws": {"endpoint_url": info["endpoint_url"], "region": info["region"],
                            "access_key": info["access_key"], "secret_key": info["secret_key"]},
        "cloud_audit_s3_include": ["ml-*"],
        "cloud_audit_s3_kms_key_ids": [buckets["allowed_key_arn"], buckets["eu_key_arn"]],
        "cloud_audit_hunt_source": "s3",
        "cloud_audit_hunt_bucket": archive["bucket"],
        "cloud_audit_hunt_organization_id": archive["organization_id"],
        "cloud_audit_hunt_allowed_cidrs": archive["allowed_cidrs"],
        "cloud_audit_hunt_since": "24h",
    }
