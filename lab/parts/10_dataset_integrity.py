"""Dataset integrity in the lab: a sample training set is pinned and verified, a tampered copy is caught."""

import os

from lab import datasets

# Checked by lab/prereq.py before prepare(); when this part fails, its plays in site.yml get no hosts.
REQUIRES = ()
PLAY_HOSTS = ("dataset_integrity_hosts",)


def prepare(lab, work):
    base = os.path.join(work, "datasets")
    train = os.path.join(base, "train")
    tampered = os.path.join(base, "train-tampered")
    manifests = os.path.join(base, "manifests")
    os.makedirs(manifests, exist_ok=True)
    datasets.make_tree(train, files=300, min_size=1024, max_size=256 * 1024, per_dir=100, seed="lab-train")
    changes = datasets.tamper(train, tampered)
    print("[lab] dataset_integrity: tampered copy has %s flipped, %s removed, %s added"
          % (changes["flipped"], changes["removed"], changes["added"]))
    manifest = os.path.join(manifests, "train.json")
    return {
        "dataset_integrity_datasets": [
            {"name": "train (pin)", "path": train, "manifest": manifest, "pin": True},
            {"name": "train", "path": train, "manifest": manifest},
            {"name": "train-tampered", "path": tampered, "manifest": manifest,
             "fail_on_mismatch": False},
        ],
    }
