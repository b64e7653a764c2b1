# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""model_sign and model_verify: OpenSSF model signing (a Sigstore bundle holding a DSSE envelope with an
in-toto statement of (path, digest) subjects), through the ``model-signing`` library, offline keys only.

The library does the cryptography and the hashing; this module adds what it lacks: the tree is listed
first and any symlink or special file is refused (the library follows links when a signature says
``allow_symlinks``), the signature's names are checked before anything is hashed (no absolute paths or
``..``), and the library's reasons become one finding per file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import base64
import json
import os
import re
import shutil
import tempfile

from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import DependencyError, InputError
from ansible_collections.ainative.security.plugins.module_utils.core.fileio import read_regular_file, write_if_changed
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding
from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome
from ansible_collections.ainative.security.plugins.module_utils.integrity.paths import check_relpath
from ansible_collections.ainative.security.plugins.module_utils.models.tree import model_files, relative_paths

try:
    from model_signing import hashing as ms_hashing
    from model_signing import signing as ms_signing
    from model_signing import verifying as ms_verifying
    MODEL_SIGNING_ERROR = None
except Exception as exc:  # pylint: disable=broad-except  # ImportError, or pyOpenSSL missing underneath
    MODEL_SIGNING_ERROR = exc

SIGN = "model_sign"
VERIFY = "model_verify"
SIGNATURE_LIMIT = 64 << 20
GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")
_MISMATCH = re.compile(r"^Hash mismatch for '(.*)': Expected", re.S)
_EXTRA = re.compile(r"^Extra files found in model '.*?': (.*)$", re.S)
_MISSING = re.compile(r"^Missing files in model '.*?': (.*)$", re.S)


def _first_line(exc, limit):
    """The library's reason, without the multi-line detail cryptography and sigstore add."""
    return str(exc).split("\n", 1)[0][:limit]


def _require():
    if MODEL_SIGNING_ERROR is not None:
        raise DependencyError("%s needs the Python packages model-signing and pyopenssl on the managed host "
                              "(pip install model-signing pyopenssl): %s" % (SIGN, MODEL_SIGNING_ERROR))


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
    return ignored, files, refused


def _hashing(params, ignored, algorithm, method="files", shard_size=None):
    config = ms_hashing.Config()
    if method == "shards":
        config.use_shard_serialization(hashing_algorithm=algorithm, shard_size=shard_size, allow_symlinks=False)
    else:
        config.use_file_serialization(hashing_algorithm=algorithm, allow_symlinks=False)
    return config.set_ignored_paths(paths=ignored, ignore_git_paths=params["ignore_git_paths"])


def read_statement(data):
    """The in-toto statement inside a bundle (not yet verified: used only to refuse hostile names)."""
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


def _signer_config(params):
    config = ms_signing.Config()
    if params["signing_certificate"]:
        return config.use_certificate_signer(private_key=params["private_key"],
                                             signing_certificate=params["signing_certificate"],
                                             certificate_chain=params["certificate_chain"])
    return config.use_elliptic_key_signer(private_key=params["private_key"], password=_password(params))


def _verifier(params):
    config = ms_verifying.Config()
    if params.get("public_key"):
        return config.use_elliptic_key_verifier(public_key=params["public_key"])
    return config.use_certificate_verifier(certificate_chain=params["certificate_chain"])


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


def _still_valid(params, existing, ignored):
    """True when the signature on disk is by this key, over this exact tree and configuration: signing again
    would only change its timestamp and randomness, so nothing is written.

    Checked here rather than with the library's verifier, which in certificate mode needs the root of the
    chain, which a signer does not have: the DSSE signature (PAE of the DSSE spec) with the signing key's
    public half, then the signed (path, digest) pairs against the tree hashed now.
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
    wanted = set(ignored) | (set(GIT_PATHS) if params["ignore_git_paths"] else set())
    if (serialization.get("method") != "files" or serialization.get("hash_type") != params["hashing_algorithm"]
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
    manifest = _hashing(params, ignored, params["hashing_algorithm"]).hash(params["path"])
    current = sorted((rd.identifier, params["hashing_algorithm"], rd.digest.digest_hex)
                     for rd in manifest.resource_descriptors())
    return current == signed


def _password(params):
    # model-signing 1.1.1 hands the password to cryptography as text, which wants bytes.
    return params["password"].encode("utf-8") if params["password"] else None


def sign(ctl):
    _require()
    params = ctl.params
    ignored, files, refused = _tree(params)
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
    if existing is not None and _still_valid(params, existing, ignored):
        cov.add(len(files))
        return Outcome(cov, [], changed=False, signature=params["signature"], files=len(files),
                       hashing_algorithm=params["hashing_algorithm"])
    work = tempfile.mkdtemp(prefix="model_sign.")
    try:
        fresh = os.path.join(work, "model.sig")
        try:
            _signer_config(params).set_hashing_config(
                _hashing(params, ignored, params["hashing_algorithm"])).sign(params["path"], fresh)
        except (ValueError, TypeError, OSError) as exc:
            raise InputError("cannot sign %s: %s" % (params["path"], _first_line(exc, 300)))
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


def _reason_findings(root, messages):
    """One finding per file the library names (modified, unsigned, missing)."""
    found = []
    for message in messages:
        for pattern, finding_id, title in ((_MISMATCH, "model-file-modified", "%s differs from its signed digest"),
                                           (_EXTRA, "model-file-unsigned", "%s is not covered by the signature"),
                                           (_MISSING, "model-file-missing", "%s is signed but missing")):
            match = pattern.match(message)
            if not match:
                continue
            names = [match.group(1)] if pattern is _MISMATCH else match.group(1).split(", ")
            for name in names:
                found.append(make_finding(VERIFY, "integrity", finding_id, "HIGH", title % name, target=root,
                                          location={"path": name}))
            break
    return found


def _library_reasons(text):
    """The list of reasons in the library's "Signature mismatch: [...]" message."""
    prefix = "Signature mismatch: "
    if not text.startswith(prefix):
        return None
    try:
        reasons = ast.literal_eval(text[len(prefix):])
    except (ValueError, SyntaxError):
        return None
    return [str(r) for r in reasons] if isinstance(reasons, list) else None


def verify(ctl):
    _require()
    params = ctl.params
    root = params["path"]
    ignored, files, refused = _tree(params)
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
    for resource in resources:
        name = resource.get("name") if isinstance(resource, dict) else None
        if single_file and name == ".":  # how model_signing names the one file it signed
            continue
        try:
            check_relpath(name, "signature")
        except InputError as exc:
            return refuse("model-signature-hostile-path", "The signature names a path outside the model", exc.msg)
    # The library adds the signature's own ignore_paths to the verifier's: files under them would pass unread.
    unsigned = [] if single_file else _unsigned_by_signature(root, files, serialization.get("ignore_paths"))
    result["hashing_algorithm"] = serialization.get("hash_type")
    result["signed_files"] = len(resources)
    result["signer"] = _signer(bundle)
    try:
        hashing_config = _hashing(params, ignored, serialization.get("hash_type") or "sha256",
                                  serialization.get("method") or "files", serialization.get("shard_size"))
        _verifier(params).set_hashing_config(hashing_config).verify(root, params["signature"])
    except ValueError as exc:
        reasons = _library_reasons(str(exc))
        if reasons is None:
            return refuse("model-signature-invalid", "The signature does not verify with the given key or chain",
                          _first_line(exc, 300))
        cov.add(len(files))
        return Outcome(cov, unsigned + _reason_findings(root, reasons), **result)
    except Exception as exc:  # pylint: disable=broad-except  # the library's crypto errors vary; all mean "not verified"
        return refuse("model-signature-invalid", "The signature does not verify with the given key or chain",
                      "%s: %s" % (type(exc).__name__, _first_line(exc, 300)))
    cov.add(len(files))
    result["verified"] = not unsigned
    return Outcome(cov, unsigned, **result)


def verify_file_content(data, name, signature, public_key=None, certificate_chain=None):
    """Verify an OpenSSF model signing bundle over one file's content, read once by the caller, so what the
    caller parses is exactly what was verified (no swap between the check and the read).

    Returns the signer (certificate subject or key hint); raises InputError with the reason otherwise.
    """
    _require()
    bundle_data = read_regular_file(signature, "manifest_signature", limit=SIGNATURE_LIMIT)
    bundle, serialization, resources = read_statement(bundle_data)
    if len(resources) != 1:
        raise InputError("manifest_signature %s signs %d files, not one manifest; sign the manifest file alone "
                         "(ainative.security.model_sign with path set to the manifest)" % (signature, len(resources)))
    work = tempfile.mkdtemp(prefix="ainative-signed-")
    try:
        copy = os.path.join(work, os.path.basename(name) or "manifest")
        bundle_copy = os.path.join(work, ".signature")
        for path, content in ((copy, data), (bundle_copy, bundle_data)):
            with open(path, "wb") as handle:
                handle.write(content)
        hashing = ms_hashing.Config().use_file_serialization(
            hashing_algorithm=serialization.get("hash_type") or "sha256", allow_symlinks=False)
        _verifier({"public_key": public_key, "certificate_chain": certificate_chain or []}).set_hashing_config(
            hashing.set_ignored_paths(paths=[], ignore_git_paths=False)).verify(copy, bundle_copy)
    except InputError:
        raise
    except Exception as exc:  # pylint: disable=broad-except  # the library's crypto and hash errors vary; all mean "not verified"
        raise InputError("manifest_signature %s does not verify %s with the given key or chain (%s)"
                         % (signature, name, _first_line(exc, 300)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _signer(bundle)


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


def _signer(bundle):
    """Who signed: the leaf certificate's subject, or the public key's SHA-256 hint (never key material)."""
    der = _leaf_der(bundle)
    if der:
        from cryptography import x509
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    hint = (bundle.get("verificationMaterial") or {}).get("publicKey", {}).get("hint")
    return "key %s" % hint if hint else None
