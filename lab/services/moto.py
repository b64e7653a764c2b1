"""moto in server mode on loopback: the lab's AWS emulator (S3, KMS, STS, EC2, CloudTrail, IAM).

What it does not do like AWS (see docs/s3_encryption_assert.md): new buckets have no default encryption,
``list_buckets`` ignores paging, ``BlockedEncryptionTypes`` is dropped, and CloudTrail ``LookupEvents`` is
not implemented (the tests cover that path with botocore's Stubber and hunt the log archive instead).
"""

import os
import sys

from lab.harness import Service, http_ready

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ACCESS_KEY = "testing"  # moto accepts any key; these are not secrets
SECRET_KEY = "testing"
ACCOUNT = "123456789012"


def _configure(svc):
    svc.info.update({
        "endpoint_url": "http://127.0.0.1:%d" % svc.port,
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "region": "us-east-1",
        "account": ACCOUNT,
    })


def service(lab):
    moto = os.path.join(os.path.dirname(sys.executable), "moto_server")
    if not os.path.exists(moto):
        moto = os.path.join(ROOT, ".venv", "bin", "moto_server")
    return Service(
        lab, "moto",
        [moto, "-H", "127.0.0.1", "-p", "{port}"],
        ready=lambda svc: http_ready("http://127.0.0.1:%d/moto-api/" % svc.port),
        env={"MOTO_ALLOW_NONEXISTENT_REGION": "false"},
        timeout=60,
        configure=_configure,
    )


def reset(info):
    """Clear all emulator state (between tests)."""
    import urllib.request
    req = urllib.request.Request(info["endpoint_url"] + "/moto-api/reset", method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status


def main(argv=None):
    """``python -m lab.services.moto up STATE_DIR SEED_JSON`` (start, reset, seed) | ``down STATE_DIR``."""
    import json
    from lab.harness import Lab
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2 or argv[0] not in ("up", "down"):
        print(main.__doc__)
        return 2
    lab = Lab(state_dir=argv[1])
    if argv[0] == "down":
        lab.down("moto")
        return 0
    from lab import cloud_audit_seed
    info = lab.up("moto")
    reset(info)
    seeded = cloud_audit_seed.seed_all(info["endpoint_url"])
    seeded["aws"] = dict((k, info[k]) for k in ("endpoint_url", "access_key", "secret_key", "region"))
    text = json.dumps(seeded, indent=2, sort_keys=True)
    if len(argv) > 2:
        with open(argv[2], "w") as handle:
            handle.write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.exit(main())
