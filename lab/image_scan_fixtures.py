"""Sample data for the image_scan control, shared by `make lab` and the integration tests.

Everything is made here, offline, in a few seconds:

* ``cache/``       a tiny Trivy DB (lab/trivydb.py): Debian 12 bash and pip requests advisories
* ``probe.tar``    a FROM-scratch image (podman build + save, docker-archive) with a Debian package DB
                   listing bash 5.2.15-2+b13, requests 2.31.0 installed, and a planted AWS key in /app/.env
* ``probe-oci.tar`` the same image as an OCI archive
* ``pyproj/``      a directory with requirements.txt (requests==2.31.0, flask==3.0.0)
* ``iac-bad/``     Terraform with an unencrypted S3 bucket and a GCP disk without a customer-managed key
* ``iac-good/``    the same infrastructure encrypted with KMS keys (no findings)

The planted key is synthetic (it matches Trivy's AWS access key rule, and no AWS account has it).
"""

import os
import shutil
import subprocess

from lab import trivydb
from lab.prereq import podman_env

PLANTED_KEY_ID = "AKIAZ3MPLE7Q2EXAMPL5"
PLANTED_SECRET = "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"
IMAGE = "localhost/ainative-image-scan-probe:lab"

OS_RELEASE = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
"""

DPKG_STATUS = """Package: bash
Status: install ok installed
Priority: required
Section: shells
Architecture: amd64
Version: 5.2.15-2+b13
Description: GNU Bourne Again SHell

Package: zlib1g
Status: install ok installed
Priority: optional
Section: libs
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1
Description: compression library - runtime

"""

CONTAINERFILE = """FROM scratch
COPY rootfs/ /
ENV APP_HOME=/app
USER 1000
"""

TF_BAD = """resource "aws_s3_bucket" "data" {
  bucket = "ml-training-data"
}

resource "google_compute_disk" "disk" {
  name = "training-scratch"
  zone = "europe-west1-b"
  size = 100
}
"""

TF_GOOD = """resource "aws_kms_key" "data" {
  description         = "training data"
  enable_key_rotation = true
}

resource "aws_s3_bucket" "data" {
  bucket = "ml-training-data"
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  bucket = aws_s3_bucket.data.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
  }
}

resource "aws_s3_bucket_public_access_block" "data" {
  bucket                  = aws_s3_bucket.data.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "data" {
  bucket = aws_s3_bucket.data.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_logging" "data" {
  bucket        = aws_s3_bucket.data.id
  target_bucket = "ml-access-logs"
  target_prefix = "data/"
}

resource "google_kms_crypto_key" "disk" {
  name     = "training-disk"
  key_ring = "projects/p/locations/europe-west1/keyRings/ml"
}

resource "google_compute_disk" "disk" {
  name = "training-scratch"
  zone = "europe-west1-b"
  size = 100
  disk_encryption_key {
    kms_key_self_link = google_kms_crypto_key.disk.id
  }
}
"""


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


def podman(*args):
    return subprocess.run(["podman"] + list(args), env=podman_env(), check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)


def build_image(work, image=IMAGE):
    """podman build (FROM scratch + files) and save as docker-archive and OCI archive."""
    ctx = os.path.join(work, "image-context")
    shutil.rmtree(ctx, ignore_errors=True)
    rootfs = os.path.join(ctx, "rootfs")
    _write(os.path.join(rootfs, "etc", "os-release"), OS_RELEASE)
    _write(os.path.join(rootfs, "etc", "debian_version"), "12.8\n")
    _write(os.path.join(rootfs, "var", "lib", "dpkg", "status"), DPKG_STATUS)
    _write(os.path.join(rootfs, "usr", "lib", "python3", "dist-packages", "requests-2.31.0.dist-info", "METADATA"),
           "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n")
    _write(os.path.join(rootfs, "app", "serve.py"), "print('model server')\n")
    _write(os.path.join(rootfs, "app", ".env"),
           "AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n" % (PLANTED_KEY_ID, PLANTED_SECRET))
    _write(os.path.join(ctx, "Containerfile"), CONTAINERFILE)
    podman("build", "-q", "-t", image, "-f", os.path.join(ctx, "Containerfile"), ctx)
    docker_tar = os.path.join(work, "probe.tar")
    oci_tar = os.path.join(work, "probe-oci.tar")
    for path in (docker_tar, oci_tar):
        if os.path.exists(path):
            os.unlink(path)
    podman("save", "-q", "--format", "docker-archive", "-o", docker_tar, image)
    podman("save", "-q", "--format", "oci-archive", "-o", oci_tar, image)
    return docker_tar, oci_tar


def prepare(work, with_image=True):
    """Lay out every fixture under ``work``; return their paths."""
    os.makedirs(work, exist_ok=True)
    cache = os.path.join(work, "cache")
    trivydb.build(cache)
    pyproj = os.path.join(work, "pyproj")
    _write(os.path.join(pyproj, "requirements.txt"), "requests==2.31.0\nflask==3.0.0\n")
    _write(os.path.join(pyproj, "train.py"), "import requests\n")
    bad = os.path.join(work, "iac-bad")
    good = os.path.join(work, "iac-good")
    _write(os.path.join(bad, "main.tf"), TF_BAD)
    _write(os.path.join(good, "main.tf"), TF_GOOD)
    paths = {"cache_dir": cache, "pyproj": pyproj, "iac_bad": bad, "iac_good": good,
             "planted_key_id": PLANTED_KEY_ID}
    if with_image:
        paths["archive"], paths["oci_archive"] = build_image(work)
    return paths
