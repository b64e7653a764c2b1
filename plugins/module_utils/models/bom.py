# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""model_bom: a CycloneDX ML-BOM of an admitted model, its datasets, their digests and the signer.

The document is built with cyclonedx-python-lib. What the library does not model yet (the ``modelCard``
stub) is added to its JSON, and the whole document is checked against the library's strict CycloneDX JSON
schema before anything is written: an invalid BOM is never written.

Deterministic: no wall-clock time unless ``timestamp`` is given, fixed ``bom-ref`` values, and a
``serialNumber`` that is a UUID v5 of the rest of the document, so the same model and datasets give the
same bytes and a rerun changes nothing.

Digests: each file's SHA-256 is taken from a signature verified with ``public_key`` or
``certificate_chain`` (``ainative:digest-source`` ``signature``), else hashed here with the integrity
package (``computed``); dataset digests come from their manifests (``manifest``). A signature's subjects
must match the model's files either way, or the run fails: a signer is never recorded for files it did
not sign.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import json
import os
import uuid

from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import DependencyError, InputError, SourceError
from ansible_collections.ainative.security.plugins.module_utils.core.fileio import read_regular_file, write_if_changed
from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome
from ansible_collections.ainative.security.plugins.module_utils.integrity import manifest as manifests
from ansible_collections.ainative.security.plugins.module_utils.integrity.digests import constructor
from ansible_collections.ainative.security.plugins.module_utils.integrity.paths import NAME_IN_MESSAGE, display_name
from ansible_collections.ainative.security.plugins.module_utils.integrity.tree import hash_single_file
from ansible_collections.ainative.security.plugins.module_utils.models import signing
from ansible_collections.ainative.security.plugins.module_utils.models.tree import model_files

try:
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output import OutputFormat, make_outputter
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    CYCLONEDX_ERROR = None
except ImportError as exc:
    CYCLONEDX_ERROR = exc

CONTROL = "model_bom"
MANIFEST_LIMIT = 512 << 20
# Namespace of the serialNumber's UUID v5 (a fixed random UUID: the BOM's identity is its content).
SERIAL_NAMESPACE = uuid.UUID("6f1c3d52-8f0e-4b7a-9a51-2f7d0c1e6b3a")
PREFIX = "ainative:"
# model_signing's names of its digests -> the integrity package's and CycloneDX's.
SIGNED_ALGORITHMS = {"sha256": ("sha256", "SHA_256"), "blake2": ("blake2b", "BLAKE2B_512"),
                     "blake2b": ("blake2b", "BLAKE2B_512"), "blake3": ("blake3", "BLAKE3")}
KEY_ORDER = ("$schema", "bomFormat", "specVersion", "serialNumber", "version", "metadata", "components",
             "dependencies")


def _require():
    if CYCLONEDX_ERROR is not None:
        raise DependencyError("%s needs the Python package cyclonedx-python-lib on the managed host "
                              "(pip install cyclonedx-python-lib): %s" % (CONTROL, CYCLONEDX_ERROR))


def _shown(name):
    return display_name(name, NAME_IN_MESSAGE)


def _props(values):
    """CycloneDX properties from ``{name: value}`` (``ainative:`` names; None values left out)."""
    return [Property(name=PREFIX + key, value=str(value)) for key, value in sorted(values.items()) if value is not None]


def _inside(child, root):
    child, root = os.path.abspath(child), os.path.abspath(root)
    return child == root or child.startswith(root.rstrip("/") + "/")


# -- the model -----------------------------------------------------------------------------------------


def _list_model(params):
    """``[(name, full path)]`` of the model's files: git's files and the signature (when inside) left out,
    as model_signing does; a symlink or special file fails the run."""
    root = params["path"]
    if _inside(params["dest"], root):
        raise InputError("dest %s lies inside the model path %s; the BOM would change the model it describes"
                         % (params["dest"], root))
    skip = set(signing.GIT_PATHS)
    if params.get("signature") and _inside(params["signature"], root) and os.path.isdir(root):
        skip.add(os.path.relpath(os.path.abspath(params["signature"]), os.path.abspath(root)))
    files, refused = model_files(root, lambda name: any(name == p or name.startswith(p + "/") for p in skip))
    if refused:
        name, reason = refused[0]
        raise InputError("cannot describe %s: %s: %s (%d such path(s)); symlinks and special files are never "
                         "followed" % (root, _shown(name), reason, len(refused)))
    if not files:
        raise InputError("%s holds no model files; a BOM of nothing proves nothing" % root)
    return files


def _hash_files(files, algorithm):
    digests = {}
    for name, full in files:
        digests[name] = hash_single_file(full, algorithm)[0]
    return digests


def _read_signature(params):
    """``(bundle, serialization, {name: (algorithm, digest)}, sha256 of the bundle file)``."""
    path = params["signature"]
    data = read_regular_file(path, "signature", limit=signing.SIGNATURE_LIMIT)
    bundle, serialization, resources = signing.read_statement(data)
    subjects = {}
    single = os.path.isfile(params["path"])
    for resource in resources:
        if not isinstance(resource, dict) or not all(isinstance(resource.get(k), str) for k in ("name", "digest")):
            raise InputError("signature %s has a resource without a name and digest" % path)
        name = resource["name"]
        if single and name == ".":  # how model_signing names the one file it signed
            name = os.path.basename(params["path"])
        subjects[name] = (resource.get("algorithm") or serialization.get("hash_type"), resource["digest"].lower())
    return bundle, serialization, subjects, constructor("sha256")(data).hexdigest()


def _verify_with_key(params):
    """Verify the signature cryptographically and over the files with model_verify's own code."""

    class Context(object):
        check_mode = False
        diff_mode = False

    context = Context()
    context.params = dict(path=params["path"], signature=params["signature"], ignore_paths=[], ignore_git_paths=True,
                          public_key=params.get("public_key"), certificate_chain=params.get("certificate_chain") or [])
    outcome = signing.verify(context)
    if outcome.findings or not outcome.extra.get("verified"):
        first = outcome.findings[0]["title"] if outcome.findings else "the files are not all covered"
        raise InputError("signature %s does not verify %s (%d problem(s), first: %s); no BOM names a signer for "
                         "files it did not sign" % (params["signature"], params["path"], len(outcome.findings), first))


def _compare(params, subjects, computed):
    """Fail unless the signed subjects are exactly the model's files with the same digests."""
    modified = sorted(n for n in computed if n in subjects and subjects[n][1] != computed[n])
    unsigned = sorted(n for n in computed if n not in subjects)
    missing = sorted(n for n in subjects if n not in computed)
    if modified or unsigned or missing:
        parts = ["%d %s (first: %s)" % (len(names), what, _shown(names[0]))
                 for what, names in (("modified", modified), ("unsigned", unsigned), ("missing", missing)) if names]
        raise InputError("the files of %s do not match the signature %s: %s; no BOM names a signer for files it "
                         "did not sign" % (params["path"], params["signature"], ", ".join(parts)))


def _signer(bundle):
    """Signer properties: the leaf certificate's subject, issuer and fingerprint, or the public key's SHA-256
    fingerprint (model_signing's key hint: SHA-256 of the PEM public key). Never key material."""
    material = bundle.get("verificationMaterial") if isinstance(bundle.get("verificationMaterial"), dict) else {}
    chain = material.get("x509CertificateChain") or {}
    leaf = (chain.get("certificates") or [None])[0] if isinstance(chain, dict) else None
    leaf = leaf or material.get("certificate")  # Sigstore bundle 0.3 keeps one leaf here
    if isinstance(leaf, dict) and leaf.get("rawBytes"):
        from cryptography import x509
        try:
            der = base64.b64decode(leaf["rawBytes"])
            cert = x509.load_der_x509_certificate(der)
        except (TypeError, ValueError) as exc:
            raise InputError("the signature's certificate cannot be read: %s" % str(exc)[:200])
        return {"signer:subject": cert.subject.rfc4514_string(), "signer:issuer": cert.issuer.rfc4514_string(),
                "signer:certificate-sha256": constructor("sha256")(der).hexdigest()}
    hint = (material.get("publicKey") or {}).get("hint") if isinstance(material.get("publicKey"), dict) else None
    if not isinstance(hint, str) or not hint:
        raise InputError("the signature names neither a certificate nor a public key; it cannot say who signed")
    return {"signer:key-sha256": hint}


def describe_model(params):
    """``(files {name: {cyclonedx algorithm: hex}}, model properties, signer or None)``."""
    files = _list_model(params)
    props = {"path": params["path"], "digest-source": "computed"}
    signer = None
    signed_hashes = {}
    computed = {}
    if params.get("signature"):
        bundle, serialization, subjects, bundle_sha256 = _read_signature(params)
        method = serialization.get("method") or "files"
        keyed = bool(params.get("public_key") or params.get("certificate_chain"))
        if method != "files" and not keyed:
            raise InputError("signature %s is %s-serialized, whose subjects are not per file; give public_key or "
                             "certificate_chain to verify it" % (params["signature"], method))
        algorithms = set(a for a, _d in subjects.values())
        if len(algorithms) != 1 or next(iter(algorithms)) not in SIGNED_ALGORITHMS:
            raise InputError("signature %s uses digest(s) %s; this module reads sha256, blake2 and blake3"
                             % (params["signature"], ", ".join(sorted(str(a) for a in algorithms))))
        ours, cdx = SIGNED_ALGORITHMS[next(iter(algorithms))]
        if keyed:
            _verify_with_key(params)
            if _read_signature(params)[3] != bundle_sha256:
                raise InputError("signature %s changed while it was verified; run again" % params["signature"])
        if method == "files":
            if not keyed:
                computed[ours] = _hash_files(files, ours)
                _compare(params, subjects, computed[ours])
            signed_hashes = dict((name, {cdx: digest}) for name, (_a, digest) in subjects.items())
            if keyed and ours == "sha256":
                props["digest-source"] = "signature"
        signer = _signer(bundle)
        props.update(signer)
        props.update({"signature": params["signature"], "signature:sha256": bundle_sha256,
                      "signature:verified": "true" if keyed else "false",
                      "signature:hash-type": serialization.get("hash_type"), "signature:method": method})
    if props["digest-source"] == "signature":
        sha256 = dict((name, signed_hashes[name]["SHA_256"]) for name, _full in files)
    else:
        sha256 = computed.get("sha256") or _hash_files(files, "sha256")
    hashes = {}
    for name, _full in files:
        hashes[name] = dict(signed_hashes.get(name, {}), SHA_256=sha256[name])
    props["tree-digest"] = manifests.dataset_digest("sha256", sha256)
    props["files"] = len(files)
    return hashes, props, signer


# -- the datasets --------------------------------------------------------------------------------------


def describe_dataset(item):
    """Properties and digest of one dataset from its dataset_hash_verify manifest; InputError when unreadable."""
    path = item["manifest"]
    data = read_regular_file(path, "manifest", limit=MANIFEST_LIMIT)
    algorithm, digests, sizes = manifests.read_manifest(data, "auto", None, path)
    pinned = manifests.dataset_digest(algorithm, digests)
    total = sum(sizes.values()) if all(s is not None for s in sizes.values()) else None
    return pinned, {"path": item["path"], "manifest": path, "manifest:sha256": constructor("sha256")(data).hexdigest(),
                    "manifest-digest": pinned, "manifest:algorithm": algorithm, "files": len(digests),
                    "bytes": total, "digest-source": "manifest"}


def _datasets(params, cov):
    found, missed = [], []
    names = set()
    for item in params["datasets"]:
        name = item.get("name") or os.path.basename(os.path.normpath(item["path"]))
        if name in names:
            raise InputError("two datasets are named %s; give each a distinct name" % _shown(name))
        names.add(name)
        try:
            if not os.path.isdir(item["path"]) and not os.path.isfile(item["path"]):
                raise InputError("dataset path %s does not exist" % item["path"])
            pinned, props = describe_dataset(item)
        except InputError as exc:
            cov.miss(name, exc.msg)
            missed.append(name)
            continue
        cov.add()
        found.append((name, pinned, props))
    return found, missed


# -- the document --------------------------------------------------------------------------------------


def _timestamp(value):
    try:
        stamp = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError("timestamp %r is not an ISO 8601 date and time (for example 2026-12-01T10:00:00Z)" % value)
    if stamp.tzinfo is None:
        raise InputError("timestamp %r has no time zone; add Z or +00:00" % value)
    return stamp


def _hash_types(hashes):
    return [HashType(alg=getattr(HashAlgorithm, alg), content=hexdigest) for alg, hexdigest in sorted(hashes.items())]


def build_document(params, hashes, model_props, datasets, metadata_props):
    """The BOM as JSON text (validated against the strict CycloneDX schema)."""
    version = SchemaVersion.V1_5 if params["spec_version"] == "1.5" else SchemaVersion.V1_6
    single = os.path.isfile(params["path"])
    name = params["name"] or os.path.basename(os.path.normpath(params["path"]))
    files = [Component(type=ComponentType.FILE, name=fname, bom_ref="model-file:%s" % fname,
                       hashes=_hash_types(hashes[fname])) for fname in sorted(hashes)]
    model_hashes = next(iter(hashes.values())) if single else {"SHA_256": model_props["tree-digest"].split(":", 1)[1]}
    model_props = dict(model_props, **{"hash-subject": "file" if single else "tree-digest"})
    model = Component(type=ComponentType.MACHINE_LEARNING_MODEL, name=name, version=params.get("version"),
                      bom_ref="model", hashes=_hash_types(model_hashes), properties=_props(model_props),
                      components=[] if single else files)
    bom = Bom(serial_number=uuid.UUID(int=0))
    bom.metadata.component = model
    bom.metadata.tools.components.add(Component(type=ComponentType.APPLICATION, name="ainative.security.model_bom",
                                                group="ainative.security", bom_ref="tool:model_bom"))
    if params.get("timestamp"):
        bom.metadata.timestamp = _timestamp(params["timestamp"])
    bom.metadata.properties = _props(metadata_props)
    data_components = []
    for dname, pinned, props in datasets:
        component = Component(type=ComponentType.DATA, name=dname, bom_ref="dataset:%s" % dname,
                              hashes=_hash_types({"SHA_256": pinned.split(":", 1)[1]}),
                              properties=_props(dict(props, **{"hash-subject": "manifest-digest"})))
        bom.components.add(component)
        data_components.append(component)
    bom.register_dependency(model, data_components)
    doc = json.loads(make_outputter(bom, OutputFormat.JSON, version).output_as_string())
    if not params.get("timestamp"):
        doc["metadata"].pop("timestamp", None)
    card = {"bom-ref": "model-card", "properties": [{"name": PREFIX + "model-card", "value": "stub"}]}
    if datasets:
        card["modelParameters"] = {"datasets": [{"ref": "dataset:%s" % dname} for dname, _p, _props in datasets]}
    doc["metadata"]["component"]["modelCard"] = card
    doc.pop("serialNumber", None)
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    doc["serialNumber"] = "urn:uuid:%s" % uuid.uuid5(SERIAL_NAMESPACE, canonical)
    ordered = dict((key, doc[key]) for key in KEY_ORDER if key in doc)
    ordered.update((key, value) for key, value in sorted(doc.items()) if key not in ordered)
    text = json.dumps(ordered, indent=1, ensure_ascii=False) + "\n"
    error = JsonStrictValidator(version).validate_str(text)
    if error is not None:
        raise InputError("the BOM does not validate against the CycloneDX %s JSON schema (%s); nothing was written"
                         % (params["spec_version"], str(error).split("\n", 1)[0][:300]))
    return text, doc["serialNumber"]


def run(ctl):
    _require()
    params = ctl.params
    if not (os.path.isdir(params["path"]) or os.path.isfile(params["path"])):
        raise InputError("path %s does not exist; give the model file or folder" % params["path"])
    if (params.get("public_key") or params.get("certificate_chain")) and not params.get("signature"):
        raise InputError("public_key and certificate_chain verify a signature; give signature too")
    cov = Coverage("components", asked=1 + len(params["datasets"]))
    hashes, model_props, signer = describe_model(params)
    cov.add()
    datasets, missed = _datasets(params, cov)
    accepted = (params.get("accept_incomplete") or "").strip() or None
    metadata_props = {}
    if missed:
        metadata_props["incomplete"] = "datasets not described (manifest unreadable): %s; accepted: %s" % (
            ", ".join(sorted(missed)), accepted)
    text, serial = build_document(params, hashes, model_props, datasets, metadata_props)
    result = dict(dest=params["dest"], serial_number=serial, spec_version=params["spec_version"],
                  files=len(hashes), tree_digest=model_props["tree-digest"], digest_source=model_props["digest-source"],
                  signer=dict((k.split(":", 1)[1].replace("-", "_"), v) for k, v in signer.items()) if signer else None,
                  signature_verified=model_props.get("signature:verified") == "true",
                  datasets=[{"name": n, "manifest_digest": p} for n, p, _props in datasets], written=False)
    if missed and not accepted:
        # Fail closed: an incomplete BOM is not written unless the playbook accepts it.
        out = Outcome(cov, [], changed=False, **result)
        out.msg = "BOM not written: %d dataset manifest(s) could not be read" % len(missed)
        return out
    parent = os.path.dirname(os.path.abspath(params["dest"]))
    if not ctl.check_mode and not os.path.isdir(parent):
        raise InputError("cannot write %s: directory %s does not exist" % (params["dest"], parent))
    try:
        written = write_if_changed(params["dest"], text.encode("utf-8"), mode=0o644, check_mode=ctl.check_mode,
                                   diff=ctl.diff_mode)
    except (IOError, OSError) as exc:
        raise SourceError("cannot write %s: %s" % (params["dest"], exc.strerror or exc))
    changed = written["changed"]
    if not ctl.check_mode:
        file_args = ctl.module.load_file_common_arguments(params, path=params["dest"])
        changed = ctl.module.set_fs_attributes_if_different(file_args, changed)
    result["written"] = changed and not ctl.check_mode
    out = Outcome(cov, [], changed=changed, **result)
    out.diff = written.get("diff")
    out.msg = "BOM %s %s" % (params["dest"], "written" if changed else "unchanged")
    return out
