# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""model_scan: find serialization that runs code when a model is loaded, and apply the format policy.

Each file's format comes from its content (magic bytes), then its name. Pickles (also inside PyTorch zips,
numpy object arrays and other zips) are disassembled by fickling, never unpickled; each import is judged by
:mod:`.policy`. Keras ``.keras`` files are read for Lambda layers (``config.json``), Keras 2 HDF5 files
(``.h5``) for the same in the root group's ``model_config`` attribute (h5py reads attributes only), TensorFlow
``saved_model.pb`` for ReadFile/WriteFile ops (protobuf field bytes, TensorFlow is not needed). Safetensors
are checked by their header only; the tensors are never read. A file that claims a format but cannot be
parsed is a coverage miss: the run fails closed.

fickling was chosen over picklescan: picklescan reports a file it cannot parse as clean and skips zip
members it cannot open (fail open), and classifies by a blocklist; fickling raises on what it cannot
decode, and its ML allowlist lets the policy treat every other import as unproven.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import os
import pickletools
import re
import struct
import zipfile

from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import DependencyError
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding
from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome
from ansible_collections.ainative.security.plugins.module_utils.integrity.paths import IgnoreRules
from ansible_collections.ainative.security.plugins.module_utils.models import policy
from ansible_collections.ainative.security.plugins.module_utils.models.tree import model_files

try:
    from fickling.fickle import Pickled
except ImportError:
    Pickled = None

CONTROL = "model_scan"
DEFAULT_GATE = "HIGH"
# A pickle is disassembled in memory; bigger ones are not examined (and so fail closed).
PICKLE_LIMIT = 256 << 20
HEADER_LIMIT = 100 << 20  # safetensors' own limit for the JSON header
PB_LIMIT = 1 << 30

PICKLE_EXTS = (".pkl", ".pickle", ".joblib", ".dill")
TORCH_EXTS = (".pt", ".pth", ".ckpt", ".bin")
# What pickle pushes an import's names with (then STACK_GLOBAL), and the "module name" of GLOBAL and INST.
_STRING_OPS = ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING", "SHORT_BINSTRING",
               "GET", "BINGET", "LONG_BINGET")
_IMPORT_ARG = re.compile(r"^[A-Za-z_][\w.]* [A-Za-z_][\w.]*$")
# An object type anywhere in a .npy header's descr, also a field of a structured type: [('hook', '|O')].
_NUMPY_OBJECT = re.compile(r"'[|<>=]?O\d*'")
TF_FILE_OPS = (b"ReadFile", b"WriteFile", b"MatchingFiles", b"SaveV2", b"MergeV2Checkpoints")
# NodeDef.op is field 2 (tag 0x12), so the op name is preceded by 0x12 and its length.
TF_OP_MARKERS = dict((b"\x12" + struct.pack("B", len(op)) + op, op.decode()) for op in (b"ReadFile", b"WriteFile"))


class Hit(object):
    """One unsafe thing in one file (``member``: the zip member it is in)."""

    def __init__(self, finding_id, severity, title, member=None, aliases=(), **details):
        self.finding_id = finding_id
        self.severity = severity
        self.title = title
        self.member = member
        self.details = dict(details, aliases=list(aliases)) if aliases else details


class Unparsable(Exception):
    """A file that claims a format but cannot be parsed (the run's coverage records it)."""


def _pickle_imports(data):
    """Every ``(module, name)`` the pickle stream(s) in ``data`` import; Unparsable when not decodable."""
    if Pickled is None:
        raise DependencyError("model_scan needs the Python package fickling on the managed host "
                              "(pip install fickling) to examine pickles")
    stream = io.BytesIO(data)
    found = []
    count = 0
    while stream.tell() < len(data):
        try:
            pickled = Pickled.load(stream)
            if pickled.has_invalid_opcode:
                raise ValueError("invalid opcode")
            imports = pickled.properties.imports
        except Exception as exc:  # pylint: disable=broad-except  # fickling raises many kinds; all fail closed
            raise Unparsable("not a pickle fickling can decode (pickle %d at offset %d): %s"
                             % (count + 1, stream.tell(), str(exc) or type(exc).__name__))
        count += 1
        for node in imports:
            module = getattr(node, "module", None) or ""
            for alias in node.names:
                if module:
                    found.append((module, alias.name))
                else:
                    head, dot, tail = alias.name.rpartition(".")
                    found.append((head, tail) if dot else (alias.name, ""))
    if not count:
        raise Unparsable("empty pickle")
    return found


def pickle_hits(data, member=None):
    hits = []
    seen = set()
    for module, name in _pickle_imports(data):
        verdict = policy.classify_import(module, name)
        if verdict is None or verdict[0] in seen:
            continue
        seen.add(verdict[0])
        finding_id, severity, category, aliases = verdict
        what = "runs code or reaches the system" if category == policy.UNSAFE_ID else "is not proven harmless"
        hits.append(Hit(finding_id, severity, "Pickle imports %s, which %s when the model is loaded" % (finding_id, what),
                        member=member, aliases=aliases, imported="%s.%s" % (module, name), category=category))
    return hits


def _keras_objects(node, found):
    """Lambda layers, and objects Keras would import from a module outside keras (custom code)."""
    if isinstance(node, dict):
        config = node.get("config") if isinstance(node.get("config"), dict) else {}
        module = node.get("module")
        if node.get("class_name") == "Lambda":
            found.append(("keras-lambda-layer", config.get("name"), None))
        elif ("class_name" in node and isinstance(module, str) and module != "keras"
              and not module.startswith(("keras.", "builtins"))):
            found.append(("keras-custom-module", config.get("name"), "%s.%s" % (module, node.get("class_name"))))
        for value in node.values():
            _keras_objects(value, found)
    elif isinstance(node, list):
        for value in node:
            _keras_objects(value, found)
    return found


def keras_hits(config_bytes, member):
    try:
        config = json.loads(config_bytes.decode("utf-8"))
    except ValueError as exc:
        raise Unparsable("%s is not JSON: %s" % (member, exc))
    hits = []
    for finding_id, name, imported in _keras_objects(config, []):
        if imported:
            title = "Keras object %s is imported from %s, code outside Keras, when the model is loaded" % (
                name or "(unnamed)", imported)
        else:
            title = "Keras Lambda layer %s holds Python bytecode that runs when the model is loaded" % (name or "(unnamed)")
        hits.append(Hit(finding_id, "HIGH", title, member=member, layer=name, imported=imported))
    return hits


def _attr_text(value):
    """An HDF5 attribute Keras wrote as text (str, or bytes in older Keras 2 versions); None otherwise."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def hdf5_hits(path):
    """A Keras 2 ``.h5`` model: its ``model_config`` (JSON in a root attribute) walked like ``.keras``'s
    config.json. Only attributes are read, never the weight datasets. Without ``model_config`` the file holds
    weights or data only (Keras' ``save_weights``), no code."""
    try:
        import h5py  # here, not at the top: it imports numpy (about 0.2 s), which only .h5 files need
    except ImportError:
        raise DependencyError("model_scan needs the Python package h5py on the managed host (pip install h5py) "
                              "to examine HDF5 (Keras .h5) files")
    try:
        with h5py.File(path, "r") as handle:
            attrs = dict((key, handle.attrs.get(key)) for key in ("model_config", "keras_version", "backend")
                         if key in handle.attrs)
    except Exception as exc:  # pylint: disable=broad-except  # h5py raises OSError, KeyError, ...; all fail closed
        raise Unparsable("not an HDF5 file h5py can read: %s" % (str(exc) or type(exc).__name__))
    facts = dict((key, _attr_text(attrs[key])) for key in ("keras_version", "backend") if key in attrs)
    if "model_config" not in attrs:
        return [], facts
    config = _attr_text(attrs["model_config"])
    if config is None:
        raise Unparsable("model_config attribute is not text")
    return keras_hits(config.encode("utf-8"), "model_config"), facts


def savedmodel_hits(data):
    hits = []
    for marker, op in TF_OP_MARKERS.items():
        if marker in data:
            hits.append(Hit("tf-op-%s" % op, "HIGH", "TensorFlow graph uses the %s op, which reads or writes files "
                            "on the serving host" % op, op=op))
    return hits


def _read(path, limit):
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise Unparsable("larger than the %d bytes this control examines" % limit)
    return data


def _safetensors_header(handle, size):
    """Validate the header (length, JSON, offsets within the file); the tensor bytes are never read."""
    head = handle.read(8)
    if len(head) < 8:
        raise Unparsable("too short for a safetensors header")
    length = struct.unpack("<Q", head)[0]
    if length > HEADER_LIMIT or 8 + length > size:
        raise Unparsable("safetensors header length %d does not fit the file" % length)
    try:
        header = json.loads(handle.read(length).decode("utf-8"))
    except ValueError as exc:
        raise Unparsable("safetensors header is not JSON: %s" % exc)
    if not isinstance(header, dict):
        raise Unparsable("safetensors header is not a JSON object")
    data_size = size - 8 - length
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(isinstance(o, int) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data_size):
            raise Unparsable("safetensors tensor %s has data offsets outside the file" % name[:100])
    return len(header) - (1 if "__metadata__" in header else 0)


def _zip_hits(path, ext):
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise Unparsable("not a readable zip: %s" % exc)
    hits = []
    with archive:
        names = archive.namelist()
        fmt = "keras" if ext == ".keras" or "config.json" in names and "metadata.json" in names else (
            "pytorch" if any(n.endswith("data.pkl") for n in names) else "zip")
        for info in archive.infolist():
            name = info.filename
            if info.is_dir():
                continue
            try:
                with archive.open(info) as member:
                    magic = member.read(2)
                # torch.load unpickles only the *.pkl members; its raw storages may start with any byte.
                is_pickle = name.endswith(PICKLE_EXTS) or (fmt == "zip" and _pickle_magic(magic))
                if magic == b"PK":
                    raise Unparsable("member %s is a nested archive, which is not examined" % name)
                if magic == b"\x93N":  # numpy.load unpickles an .npz member's object array
                    if info.file_size > PICKLE_LIMIT:
                        raise Unparsable("member %s is larger than %d bytes" % (name, PICKLE_LIMIT))
                    array = io.BytesIO(archive.read(info))
                    hits.extend(Hit(h.finding_id, h.severity, h.title, member=name, **h.details)
                                for h in _numpy_hits(array, array.read(8)))
                elif is_pickle:
                    if info.file_size > PICKLE_LIMIT:
                        raise Unparsable("member %s is larger than %d bytes" % (name, PICKLE_LIMIT))
                    hits.extend(pickle_hits(archive.read(info), member=name))
                elif fmt == "keras" and name == "config.json":
                    hits.extend(keras_hits(archive.read(info), name))
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError) as exc:
                raise Unparsable("zip member %s cannot be read: %s" % (name, exc))
            except Unparsable as exc:
                raise Unparsable("zip member %s: %s" % (name, exc))
    return fmt, hits


def inspect_file(path):
    """``(format, hits, facts)`` of one file; Unparsable when it claims a format it does not hold."""
    name = os.path.basename(path)
    ext = os.path.splitext(name)[1].lower()
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        magic = handle.read(8)
        if magic[:4] == b"GGUF":
            return "gguf", [], {}
        if magic[:4] == b"PK\x03\x04" or magic[:4] == b"PK\x05\x06":
            fmt, hits = _zip_hits(path, ext)
            return fmt, hits, {}
        if magic[:8] == b"\x89HDF\r\n\x1a\n":
            hits, facts = hdf5_hits(path)
            return "hdf5", hits, facts
        if magic[:6] == b"\x93NUMPY":
            return "numpy", _numpy_hits(handle, magic), {}
        if ext == ".safetensors" or (len(magic) == 8 and _looks_like_safetensors(handle, magic)):
            handle.seek(0)
            return "safetensors", [], {"tensors": _safetensors_header(handle, size)}
    if name == "saved_model.pb":
        return "savedmodel", savedmodel_hits(_read(path, PB_LIMIT)), {}
    if ext == ".onnx":
        return "onnx", [], {}
    if ext in PICKLE_EXTS + TORCH_EXTS or _pickle_magic(magic):
        if ext == ".bin" and magic[:1] != b"\x80" and not _imports_like_pickle(path):
            return "other", [], {}
        return ("pytorch" if ext in TORCH_EXTS else "pickle"), pickle_hits(_read(path, PICKLE_LIMIT)), {}
    if ext in (".h5", ".hdf5"):
        raise Unparsable("named like HDF5 but is not an HDF5 file")
    return "other", [], {}


def _pickle_magic(magic):
    """The PROTO opcode of protocols 2-5 (protocols 0 and 1 have no header and are known by their name)."""
    return magic[:1] == b"\x80" and magic[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")


def _imports_like_pickle(path):
    """True when a file without a PROTO header decodes as pickle(s) up to an import (protocols 0 and 1 have no
    header; later ones may omit it). Raw weight bytes fail to decode long before that (about 1 in 20,000
    random files does not, and is then examined and fails closed)."""
    pushed_string = False
    with open(path, "rb") as handle:
        try:
            while True:
                for opcode, arg, _pos in pickletools.genops(handle):
                    if opcode.name in ("GLOBAL", "INST") and _IMPORT_ARG.match(arg):
                        return True
                    if opcode.name == "STACK_GLOBAL" and pushed_string:
                        return True
                    pushed_string = pushed_string or opcode.name in _STRING_OPS
                if not handle.read(1):
                    return False
                handle.seek(-1, 1)
        except Exception:  # pylint: disable=broad-except  # genops raises several kinds on bytes that are no pickle
            return False


def _looks_like_safetensors(handle, magic):
    handle.seek(8)
    return struct.unpack("<Q", magic)[0] < HEADER_LIMIT and handle.read(2) == b'{"'


def _numpy_hits(handle, magic):
    """A .npy array of Python objects is a pickle after the header; other dtypes are plain data."""
    major = magic[6:7]
    handle.seek(8)
    raw = handle.read(2 if major == b"\x01" else 4)
    length = struct.unpack("<H" if major == b"\x01" else "<I", raw)[0]
    header = handle.read(length).decode("latin-1")
    if not _NUMPY_OBJECT.search(header):
        return []
    return pickle_hits(handle.read(PICKLE_LIMIT + 1)[:PICKLE_LIMIT])


def run(ctl):
    params = ctl.params
    root = params["path"]
    allowed = policy.check_allowed_formats(params["allowed_formats"])
    skip = IgnoreRules(params["exclude"])
    files, refused = model_files(root, skip if skip else None)
    cov = Coverage("files", asked=len(files) + len(refused))
    for name, reason in refused:
        cov.miss(name, reason)
    findings = []
    formats = {}
    scanned = []
    for name, full in files:
        try:
            fmt, hits, facts = inspect_file(full)
        except Unparsable as exc:
            cov.miss(name, str(exc))
            continue
        except (IOError, OSError) as exc:
            cov.miss(name, "cannot read: %s" % (exc.strerror or exc))
            continue
        cov.add()
        formats[fmt] = formats.get(fmt, 0) + 1
        scanned.append(dict(facts, path=name, format=fmt, findings=len(hits)))
        for hit in hits:
            findings.append(make_finding(
                CONTROL, "vulnerability", hit.finding_id, hit.severity, hit.title, target=root,
                location={"path": name, "resource": hit.member}, details=dict(hit.details, format=fmt)))
        if allowed and fmt != "other" and fmt not in allowed:
            findings.append(make_finding(
                CONTROL, "misconfiguration", "model-format-not-allowed", "HIGH",
                "%s is in format %s; the policy allows only %s" % (name, fmt, ", ".join(allowed)),
                target=root, location={"path": name}, details={"format": fmt, "allowed_formats": allowed}))
    return Outcome(cov, findings, formats=formats, files=scanned[:params["max_findings"] or None],
                   allowed_formats=allowed)
