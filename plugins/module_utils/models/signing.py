# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""model_sign and model_verify: OpenSSF model signing (a Sigstore bundle holding a DSSE envelope with an
in-toto statement of (path, digest) subjects), through the ``model-signing`` library, offline keys only.

The library builds, signs, reads and checks the bundle; the files are hashed by the collection's integrity
engine (the one dataset_hash_verify uses) and the digests handed to the library's manifest, so both sign
and verify hash at the engine's speed and the signed statement is the library's own. This module adds what
the library lacks: the tree is listed first and any symlink or special file is refused (the library follows
links when a signature says ``allow_symlinks``), the signature's names are checked before anything is
hashed (no absolute paths or ``..``), and every difference becomes one finding per file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import importlib.util
import json
import os
import pathlib
import shutil
import sys
import tempfile

from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import DependencyError, InputError
from ansible_collections.ainative.security.plugins.module_utils.core.fileio import read_regular_file, write_if_changed
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding
from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome
from ansible_collections.ainative.security.plugins.module_utils.integrity.digests import hasher
from ansible_collections.ainative.security.plugins.module_utils.integrity.engine import build_entries, verify_tree
from ansible_collections.ainative.security.plugins.module_utils.integrity.paths import check_relpath
from ansible_collections.ainative.security.plugins.module_utils.integrity.tree import hash_single_file
from ansible_collections.ainative.security.plugins.module_utils.models.tree import model_files, relative_paths

SIGN = "model_sign"
VERIFY = "model_verify"
SIGNATURE_LIMIT = 64 << 20
GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")
# model_sign's hashing_algorithm (the CLI's word) -> the digest name the library writes and the engine hashes
DIGEST_NAMES = {"sha256": "sha256", "blake2": "blake2b", "blake3": "blake3"}
# The pieces of model-signing that key signing and verification use (never its Sigstore signer); the
# certificate signer (pyOpenSSL, certifi) and the library's own hashing (for shard signatures) when needed.
_KEY_PIECES = ("manifest", "_hashing.hashing", "_signing.signing", "_signing.sign_sigstore_pb", "_signing.sign_ec_key")
CERTIFICATE = "_signing.sign_certificate"
HASHING = "hashing"
_LIB = {}


def _first_line(exc, limit):
    """The library's reason, without the multi-line detail cryptography and sigstore add."""
    return str(exc).split("\n", 1)[0][:limit]


def _library(*extra):
    """model-signing's manifest, bundle and key modules (and ``extra`` ones), imported on first use.

    The package's ``__init__`` imports its Sigstore signer (sigstore, tuf, boto3: about 1 s of CPU, most of a
    verify of 1 GiB) even for key signing. When nothing has imported the package yet, it is registered
    without running ``__init__``, and only the submodules named here are loaded: they are the library's own
    code, unchanged, and a later ``import model_signing.signing`` still works.
    """
    wanted = [name for name in _KEY_PIECES + extra if name not in _LIB]
    if not wanted:
        return _LIB
    hollow = None
    try:
        if "model_signing" not in sys.modules:
            spec = importlib.util.find_spec("model_signing")
            if spec is None:
                raise ImportError("No module named 'model_signing'")
            hollow = sys.modules["model_signing"] = importlib.util.module_from_spec(spec)
        for name in wanted:
            _LIB[name] = importlib.import_module("model_signing." + name)
    except Exception as exc:  # pylint: disable=broad-except  # ImportError, or pyOpenSSL missing underneath
        _LIB.clear()
        if hollow is not None and sys.modules.get("model_signing") is hollow:
            for name in [n for n in sys.modules if n == "model_signing" or n.startswith("model_signing.")]:
                del sys.modules[name]
        raise DependencyError("%s needs the Python packages model-signing and pyopenssl on the managed host "
                              "(pip install model-signing pyopenssl): %s" % (SIGN, exc))
    return _LIB


def _ignored(params):
    """Paths below the root the signature leaves out: ``ignore_paths``, the signature itself when it lies
    inside the root (as the model_signing CLI does), and git's files unless ``ignore_git_paths`` is false."""
    root = os.path.abspath(params["path"])
    ignored = relative_paths(params["ignore_paths"], "ignore_paths")
    signature = os.path.abspath(params["signature"])
    if signature.startswith(root.rstrip("/") + "/"):
        ignored.append(os.path.relpath(signature, root))
    skip = set(ignored)
    if params["ignore_git_paths"]:
        skip.update(GIT_PATHS)
    return ignored, lambda name: any(name == p or name.startswith(p + "/") for p in skip)


def _tree(params):
    """The files to sign or verify; a symlink or special file anywhere is refused before any hashing."""
    if os.path.isdir(params["path"]) is False and os.path.isfile(params["path"]) is False:
        raise InputError("path %s does not exist; give the model file or folder" % params["path"])
    ignored, skip = _ignored(params)
    files, refused = model_files(params["path"], skip)
    return ignored, skip, files, refused


def _file_digests(path, skip, digest_name):
    """{name: hex digest} of the files to sign, hashed by the integrity engine; a single file is named "."
    as the library names it."""
    if os.path.isfile(path):
        return {".": hash_single_file(path, digest_name)[0]}
    return dict((name, entry[0]) for name, entry in build_entries(path, skip, digest_name)[0].items())


def _model_name(path):
    """The statement's subject name, as the library's serializer names the model."""
    name = pathlib.Path(path).name
    return name if name and name != ".." else os.path.basename(pathlib.Path(path).resolve())


def _manifest(params, ignored, digests):
    """The library's manifest over the engine's digests, with the serialization its file hashing records."""
    lib = _library()
    manifest, hashing = lib["manifest"], lib["_hashing.hashing"]
    digest_name = DIGEST_NAMES[params["hashing_algorithm"]]
    recorded = set(ignored) | (set(GIT_PATHS) if params["ignore_git_paths"] else set())
    serialization = manifest._FileSerialization(digest_name, False, [pathlib.Path(p) for p in sorted(recorded)])
    items = [manifest.FileManifestItem(path=pathlib.PurePosixPath(name),
                                       digest=hashing.Digest(digest_name, bytes.fromhex(hexdigest)))
             for name, hexdigest in digests.items()]
    return manifest.Manifest(_model_name(params["path"]), items, serialization)


def read_statement(data):
    """The in-toto statement inside a bundle (not yet verified: used to refuse hostile names before any
    hashing and for the diff of model_sign, never trusted)."""
    try:
        bundle = json.loads(data.decode("utf-8"))
        statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]).decode("utf-8"))
        predicate = statement["predicate"]
        resources = predicate["resources"]
        serialization = predicate["serialization"]
        if not isinstance(resources, list) or not isinstance(serialization, dict):
            raise TypeError("resources or serialization has the wrong type")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError("the signature is not an OpenSSF model signing bundle (%s: %s)" % (type(exc).__name__, exc))
    return bundle, serialization, resources


def _subject_lines(resources):
    return "".join("%s:%s  %s\n" % (r.get("algorithm"), r.get("digest"), r.get("name"))
                   for r in sorted(resources, key=lambda r: str(r.get("name"))))


def _new_signer(params):
    lib = _library(CERTIFICATE) if params["signing_certificate"] else _library()
    if params["signing_certificate"]:
        return lib[CERTIFICATE].Signer(pathlib.Path(params["private_key"]), pathlib.Path(params["signing_certificate"]),
                                       [pathlib.Path(c) for c in params["certificate_chain"]])
    return lib["_signing.sign_ec_key"].Signer(pathlib.Path(params["private_key"]), _password(params))


def _verified_manifest(signature, public_key, certificate_chain):
    """The manifest a bundle signs, once its DSSE signature checks out with the key or the chain."""
    lib = _library() if public_key else _library(CERTIFICATE)
    if public_key:
        verifier = lib["_signing.sign_ec_key"].Verifier(pathlib.Path(public_key))
    else:
        verifier = lib[CERTIFICATE].Verifier([pathlib.Path(c) for c in certificate_chain or ()])
    return verifier.verify(lib["_signing.sign_sigstore_pb"].Signature.read(pathlib.Path(signature)))


def _leaf_der(bundle):
    try:
        return base64.b64decode(bundle["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def _signing_public_key(params, bundle):
    """The public half of the signing key; None when the bundle was not made with this certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
    if params["signing_certificate"]:
        pem = read_regular_file(params["signing_certificate"], "signing_certificate", limit=1 << 20)
        cert = x509.load_pem_x509_certificate(pem)
        return cert.public_key() if cert.public_bytes(Encoding.DER) == _leaf_der(bundle) else None
    data = read_regular_file(params["private_key"], "private_key", limit=1 << 20)
    try:
        return load_pem_private_key(data, password=_password(params)).public_key()
    except (ValueError, TypeError) as exc:
        raise InputError("cannot load private_key %s: %s" % (params["private_key"], _first_line(exc, 200)))


def _still_valid(params, existing, ignored, digests):
    """True when the signature on disk is by this key, over this exact tree and configuration: signing again
    would only change its timestamp and randomness, so nothing is written.

    Checked here rather than with the library's verifier, which in certificate mode needs the root of the
    chain, which a signer does not have: the DSSE signature (PAE of the DSSE spec) with the signing key's
    public half, then the signed (path, digest) pairs against the digests of the tree now.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    try:
        bundle, serialization, resources = read_statement(existing)
        envelope = bundle["dsseEnvelope"]
        payload = base64.b64decode(envelope["payload"])
        payload_type = envelope["payloadType"].encode("utf-8")
        signature = base64.b64decode(envelope["signatures"][0]["sig"])
        signed = sorted((r["name"], r["algorithm"], r["digest"]) for r in resources)
    except (InputError, KeyError, IndexError, TypeError, ValueError, AttributeError):
        return False
    digest_name = DIGEST_NAMES[params["hashing_algorithm"]]
    wanted = set(ignored) | (set(GIT_PATHS) if params["ignore_git_paths"] else set())
    if (serialization.get("method") != "files" or serialization.get("hash_type") != digest_name
            or serialization.get("allow_symlinks") or set(serialization.get("ignore_paths") or ()) != wanted):
        return False
    public = _signing_public_key(params, bundle)
    if public is None or not isinstance(public, ec.EllipticCurvePublicKey):
        return False
    pae = b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(payload), payload)
    try:
        public.verify(signature, pae, ec.ECDSA(hashes.SHA256() if public.curve.key_size <= 256 else hashes.SHA384()))
    except InvalidSignature:
        return False
    return sorted((name, digest_name, hexdigest) for name, hexdigest in digests.items()) == signed


def _password(params):
    # model-signing 1.1.1 hands the password to cryptography as text, which wants bytes.
    return params["password"].encode("utf-8") if params["password"] else None


def sign(ctl):
    lib = _library()
    params = ctl.params
    ignored, skip, files, refused = _tree(params)
    if refused:
        name, reason = refused[0]
        raise InputError("refusing to sign %s: %s: %s; remove it or list it in ignore_paths (%d such path(s))"
                         % (params["path"], name, reason, len(refused)))
    if not files:
        raise InputError("%s holds no files to sign (after ignore_paths); an empty signature proves nothing" % params["path"])
    cov = Coverage("files", asked=len(files))
    existing = None
    if os.path.lexists(params["signature"]):
        existing = read_regular_file(params["signature"], "signature", limit=SIGNATURE_LIMIT)
    digests = _file_digests(params["path"], skip, DIGEST_NAMES[params["hashing_algorithm"]])
    if existing is not None and _still_valid(params, existing, ignored, digests):
        cov.add(len(files))
        return Outcome(cov, [], changed=False, signature=params["signature"], files=len(files),
                       hashing_algorithm=params["hashing_algorithm"])
    work = tempfile.mkdtemp(prefix="model_sign.")
    try:
        fresh = os.path.join(work, "model.sig")
        try:
            signed = _new_signer(params).sign(lib["_signing.signing"].Payload(_manifest(params, ignored, digests)))
        except (ValueError, TypeError, OSError) as exc:
            raise InputError("cannot sign %s: %s" % (params["path"], _first_line(exc, 300)))
        signed.write(pathlib.Path(fresh))
        with open(fresh, "rb") as handle:
            data = handle.read()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cov.add(len(files))
    written = write_if_changed(params["signature"], data, mode=0o644, check_mode=ctl.check_mode)
    out = Outcome(cov, [], changed=written["changed"], signature=params["signature"], files=len(files),
                  hashing_algorithm=params["hashing_algorithm"])
    if ctl.diff_mode:
        before = ""
        if existing is not None:
            try:
                before = _subject_lines(read_statement(existing)[2])
            except InputError:
                before = "(not a model signing bundle)\n"
        out.diff = {"before_header": params["signature"], "after_header": params["signature"],
                    "before": before, "after": _subject_lines(read_statement(data)[2])}
    return out


def _diff(actual, expected):
    """The differences of two {name: hex digest} maps, in the shape of the engine's verify_tree result."""
    return {"mismatched": [{"path": name} for name in sorted(set(actual) & set(expected)) if actual[name] != expected[name]],
            "missing": sorted(set(expected) - set(actual)), "extra": sorted(set(actual) - set(expected)),
            "ignored": [], "unsafe": [], "unreadable": []}


def _compare(params, ignored, skip, signed):
    """The tree against the verified manifest: hashed by the engine for file signatures (as
    dataset_hash_verify hashes), by the library for shard signatures."""
    expected = dict((rd.identifier, rd.digest) for rd in signed.resource_descriptors())
    wanted = dict((name, digest.digest_hex) for name, digest in expected.items())
    serialization = signed.serialization_type
    hash_type = serialization.get("hash_type")
    root = params["path"]
    if (serialization.get("method") == "files" and hash_type in DIGEST_NAMES.values()
            and all(digest.algorithm == hash_type for digest in expected.values())):
        if os.path.isfile(root):
            return _diff({".": hash_single_file(root, hash_type)[0]}, wanted)
        return verify_tree(root, wanted, None, hash_type, skip)
    config = _library(HASHING)[HASHING].Config()
    algorithm = {"blake2b": "blake2"}.get(hash_type, hash_type)
    if serialization.get("method") == "shards":
        config.use_shard_serialization(hashing_algorithm=algorithm, shard_size=serialization.get("shard_size"),
                                       allow_symlinks=False)
    else:
        config.use_file_serialization(hashing_algorithm=algorithm, allow_symlinks=False)
    actual = config.set_ignored_paths(paths=ignored, ignore_git_paths=params["ignore_git_paths"]).hash(root)
    return _diff(dict((rd.identifier, rd.digest.digest_hex) for rd in actual.resource_descriptors()), wanted)


def _file_findings(root, diff, unsigned):
    """One finding per file that differs from the signature (modified, unsigned, missing)."""
    found = list(unsigned)
    named = set(f["location"]["path"] for f in unsigned)
    for finding_id, title, names in (
            ("model-file-modified", "%s differs from its signed digest", [m["path"] for m in diff["mismatched"]]),
            ("model-file-unsigned", "%s is not covered by the signature", [n for n in diff["extra"] if n not in named]),
            ("model-file-missing", "%s is signed but missing", diff["missing"]),
            ("model-file-missing", "%s is signed but ignore_paths leaves it out", diff["ignored"])):
        found.extend(make_finding(VERIFY, "integrity", finding_id, "HIGH", title % name, target=root,
                                  location={"path": name}) for name in names)
    return found


def _hostile(names, single_file):
    """The reason a signed name would lead outside the model, or None."""
    for name in names:
        if single_file and name == ".":  # how model_signing names the one file it signed
            continue
        try:
            check_relpath(name, "signature")
        except InputError as exc:
            return exc.msg
    return None


def verify(ctl):
    params = ctl.params
    root = params["path"]
    ignored, skip, files, refused = _tree(params)
    cov = Coverage("files", asked=len(files) + len(refused))
    result = dict(verified=False, signature=params["signature"], files=len(files))

    def refuse(finding_id, title, reason, path=None):
        cov.miss(path or params["signature"], reason)
        return Outcome(cov, [make_finding(VERIFY, "integrity", finding_id, "CRITICAL", title, target=root,
                                          location={"path": path}, details={"reason": reason})], **result)

    if refused:
        for name, reason in refused:
            cov.miss(name, reason)
        return Outcome(cov, [make_finding(VERIFY, "integrity", "model-file-refused", "CRITICAL",
                                          "%s refused (%s); model_verify does not follow such paths" % (name, reason),
                                          target=root, location={"path": name}) for name, reason in refused], **result)
    try:
        data = read_regular_file(params["signature"], "signature", limit=SIGNATURE_LIMIT)
    except InputError as exc:
        return refuse("model-signature-missing", "The model has no readable signature", exc.msg)
    try:
        bundle, serialization, resources = read_statement(data)
    except InputError as exc:
        return refuse("model-signature-invalid", "The signature is not an OpenSSF model signing bundle", exc.msg)
    single_file = os.path.isfile(root)
    hostile = _hostile([r.get("name") if isinstance(r, dict) else None for r in resources], single_file)
    if hostile:
        return refuse("model-signature-hostile-path", "The signature names a path outside the model", hostile)
    # Files under the signature's own ignore_paths are unsigned: the library would skip them unread.
    unsigned = [] if single_file else _unsigned_by_signature(root, files, serialization.get("ignore_paths"))
    result["hashing_algorithm"] = serialization.get("hash_type")
    result["signed_files"] = len(resources)
    result["signer"] = _signer_of(bundle)
    try:
        signed = _verified_manifest(params["signature"], params.get("public_key"), params.get("certificate_chain"))
    except DependencyError:
        raise
    except Exception as exc:  # pylint: disable=broad-except  # the library's crypto errors vary; all mean "not verified"
        return refuse("model-signature-invalid", "The signature does not verify with the given key or chain",
                      "%s: %s" % (type(exc).__name__, _first_line(exc, 300)))
    # The names that count are the verified ones (the file may have changed since it was read above).
    hostile = _hostile([rd.identifier for rd in signed.resource_descriptors()], single_file)
    if hostile:
        return refuse("model-signature-hostile-path", "The signature names a path outside the model", hostile)
    try:
        diff = _compare(params, ignored, skip, signed)
    except ValueError as exc:
        return refuse("model-signature-invalid", "The signature's serialization cannot be checked", _first_line(exc, 300))
    problems = [(item["path"], item["reason"]) for item in diff["unsafe"] + diff["unreadable"]]
    for name, reason in problems:
        cov.miss(name, reason)
    cov.add(max(len(files) - len(problems), 0))
    found = _file_findings(root, diff, unsigned)
    found.extend(make_finding(VERIFY, "integrity", "model-file-refused", "CRITICAL", "%s refused (%s)" % (name, reason),
                              target=root, location={"path": name}) for name, reason in problems)
    result["verified"] = not found
    return Outcome(cov, found, **result)


def verify_file_content(data, name, signature, public_key=None, certificate_chain=None):
    """Verify an OpenSSF model signing bundle over one file's content, read once by the caller, so what the
    caller parses is exactly what was verified (no swap between the check and the read).

    Returns the signer (certificate subject or key hint); raises InputError with the reason otherwise.
    """
    _library()
    bundle, resources = read_statement(read_regular_file(signature, "manifest_signature", limit=SIGNATURE_LIMIT))[0::2]
    if len(resources) != 1:
        raise InputError("manifest_signature %s signs %d files, not one manifest; sign the manifest file alone "
                         "(ainative.security.model_sign with path set to the manifest)" % (signature, len(resources)))
    try:
        signed = _verified_manifest(signature, public_key, certificate_chain)
        items = list(signed.resource_descriptors())
        method = signed.serialization_type.get("method")
        if method != "files" or len(items) != 1 or items[0].identifier != ".":
            raise ValueError("it does not sign one file (%s, %s)" % (method, ", ".join(rd.identifier for rd in items)))
        content = hasher(items[0].digest.algorithm)
        content.update(data)
        if content.hexdigest() != items[0].digest.digest_hex:
            raise ValueError("%s differs from its signed digest" % os.path.basename(name))
    except Exception as exc:  # pylint: disable=broad-except  # the library's crypto and hash errors vary; all mean "not verified"
        raise InputError("manifest_signature %s does not verify %s with the given key or chain (%s)"
                         % (signature, name, _first_line(exc, 300)))
    return _signer_of(bundle)


def _unsigned_by_signature(root, files, signed_ignore):
    """Findings for the files the signature's ignore_paths leave out but the verifier does not ignore."""
    # The library joins each to the root, so an absolute path inside the root counts too.
    prefixes = [os.path.relpath(os.path.join(os.path.abspath(root), str(p)), os.path.abspath(root))
                for p in signed_ignore or ()]
    if "." in prefixes:
        prefixes = [""]
    return [make_finding(VERIFY, "integrity", "model-file-unsigned", "HIGH",
                         "%s is not covered by the signature (its ignore_paths leave it out)" % name,
                         target=root, location={"path": name})
            for name, _full in files
            if any(not p or name == p or name.startswith(p + "/") for p in prefixes)]


def _signer_of(bundle):
    """Who signed: the leaf certificate's subject, or the public key's SHA-256 hint (never key material)."""
    der = _leaf_der(bundle)
    if der:
        from cryptography import x509
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    hint = (bundle.get("verificationMaterial") or {}).get("publicKey", {}).get("hint")
    return "key %s" % hint if hint else None
