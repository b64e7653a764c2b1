"""model_scan's format detection and pickle policy on real files the tests write (nothing is unpickled)."""

import os
import pickle
import random
import runpy
import socket
import struct
import subprocess

import pytest

from ansible_collections.ainative.security.plugins.module_utils.models import policy, scan
from lab import models


def _hits(path):
    fmt, hits, _facts = scan.inspect_file(str(path))
    return fmt, sorted((h.finding_id, h.severity, h.member) for h in hits)


@pytest.mark.parametrize("func, args, expected", [
    (os.system, ("id",), "os.system"),
    (subprocess.Popen, (["id"],), "subprocess.Popen"),
    (socket.create_connection, (("127.0.0.1", 9),), "socket.create_connection"),
    (runpy.run_path, ("/tmp/x.py",), "runpy.run_path"),
    (eval, ("1+1",), "builtins.eval"),
    (exec, ("x = 1",), "builtins.exec"),
])
@pytest.mark.parametrize("protocol", [2, 4])
def test_pickle_importing_code_is_critical(tmp_path, func, args, expected, protocol):
    path = tmp_path / "model.pkl"
    path.write_bytes(models.reduce_pickle(func, args, protocol=protocol))
    fmt, hits = _hits(path)
    assert fmt == "pickle"
    assert (expected, "CRITICAL", None) in hits


def test_clean_pickle_twin_is_not_flagged(tmp_path):
    for protocol in (2, 3, 4, 5):
        path = tmp_path / ("clean%d.pkl" % protocol)
        path.write_bytes(models.clean_pickle(protocol=protocol))
        assert _hits(path) == ("pickle", [])


def test_unknown_import_fails_closed_as_high(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(models.reduce_pickle(struct.pack, ("<I", 1)))
    assert _hits(path) == ("pickle", [("_struct.pack", "HIGH", None)])
    verdict = policy.classify_import("_struct", "pack")
    assert policy.UNVERIFIED_ID in verdict[3]


def test_posix_system_is_reported_as_os_system_with_alias():
    finding_id, severity, category, aliases = policy.classify_import("posix", "system")
    assert (finding_id, severity, category) == ("os.system", "CRITICAL", policy.UNSAFE_ID)
    assert "posix.system" in aliases
    assert policy.classify_import("collections", "OrderedDict") is None
    assert policy.classify_import("torch._utils", "_rebuild_tensor_v2") is None


def test_torch_zip_names_the_member(tmp_path):
    evil = models.torch_zip(str(tmp_path / "evil.pt"), models.evil_pickle())
    clean = models.torch_zip(str(tmp_path / "clean.pt"), models.clean_pickle())
    assert _hits(evil) == ("pytorch", [("os.system", "CRITICAL", "archive/data.pkl")])
    assert _hits(clean) == ("pytorch", [])


def test_legacy_torch_pickle_and_bin_named_pickle(tmp_path):
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(models.evil_pickle())
    assert _hits(path) == ("pytorch", [("os.system", "CRITICAL", None)])
    disguised = tmp_path / "notes.txt"
    disguised.write_bytes(models.evil_pickle())
    assert _hits(disguised)[1] == [("os.system", "CRITICAL", None)]


def test_keras_lambda_and_clean_twin(tmp_path):
    evil = models.keras_file(str(tmp_path / "evil.keras"), with_lambda=True)
    clean = models.keras_file(str(tmp_path / "clean.keras"), with_lambda=False)
    assert _hits(evil) == ("keras", [("keras-lambda-layer", "HIGH", "config.json")])
    assert _hits(clean) == ("keras", [])


def test_keras_object_from_a_module_outside_keras(tmp_path):
    import json
    import zipfile
    path = str(tmp_path / "custom.keras")
    config = {"module": "keras", "class_name": "Sequential", "config": {"layers": [
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d"}},
        {"module": "os", "class_name": "system", "config": {"name": "boom"}}]}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", "{}")
    assert _hits(path) == ("keras", [("keras-custom-module", "HIGH", "config.json")])


def test_savedmodel_file_ops_and_clean_twin(tmp_path):
    evil = models.saved_model(str(tmp_path / "evil"), ["Const", "ReadFile", "WriteFile"])
    clean = models.saved_model(str(tmp_path / "clean"), ["Const", "MatMul"])
    assert _hits(os.path.join(evil, "saved_model.pb"))[1] == [
        ("tf-op-ReadFile", "HIGH", None), ("tf-op-WriteFile", "HIGH", None)]
    assert _hits(os.path.join(clean, "saved_model.pb")) == ("savedmodel", [])


def test_safetensors_header_only(tmp_path, monkeypatch):
    path = models.safetensors_file(str(tmp_path / "model.safetensors"),
                                   {"a": (b"\0" * 24, [2, 3]), "b": (b"\0" * 8, [2])}, metadata={"format": "pt"})
    reads = []
    real_open = open

    class Counting(object):
        def __init__(self, handle):
            self.handle = handle

        def read(self, size=-1):
            data = self.handle.read(size)
            reads.append(len(data))
            return data

        def seek(self, *args):
            return self.handle.seek(*args)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(scan, "open", lambda p, m="r": Counting(real_open(p, m)), raising=False)
    fmt, hits, facts = scan.inspect_file(path)
    assert (fmt, hits, facts) == ("safetensors", [], {"tensors": 2})
    header = struct.unpack("<Q", real_open(path, "rb").read(8))[0]
    assert sum(reads) <= 8 + 2 + 8 + header  # magic, sniff, header: never the 32 tensor bytes


@pytest.mark.parametrize("content, reason", [
    (b"\x80\x02garbage", "fickling can decode"),
    (pickle.dumps([1.0], protocol=0), "fickling can decode"),
    (b"", "empty pickle"),
])
def test_unparsable_pickle_is_a_miss(tmp_path, content, reason):
    path = tmp_path / "model.pkl"
    path.write_bytes(content)
    with pytest.raises(scan.Unparsable, match=reason):
        scan.inspect_file(str(path))


def test_broken_safetensors_and_h5_are_misses(tmp_path):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(struct.pack("<Q", 10 ** 6) + b"{}")
    with pytest.raises(scan.Unparsable, match="does not fit"):
        scan.inspect_file(str(bad))
    lying = tmp_path / "lying.safetensors"
    lying.write_bytes(struct.pack("<Q", 62) + b'{"w":{"dtype":"F32","shape":[9],"data_offsets":[0,36]}}'.ljust(62))
    with pytest.raises(scan.Unparsable, match="outside the file"):
        scan.inspect_file(str(lying))
    h5 = tmp_path / "model.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(scan.Unparsable, match="HDF5"):
        scan.inspect_file(str(h5))


def test_gguf_onnx_and_other(tmp_path):
    (tmp_path / "m.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + b"\0" * 16)
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07\x12\x04test")
    (tmp_path / "config.json").write_bytes(b'{"a": 1}')
    assert [scan.inspect_file(str(tmp_path / n))[0] for n in ("m.gguf", "m.onnx", "config.json")] == [
        "gguf", "onnx", "other"]


def test_allowed_formats_are_checked():
    assert policy.check_allowed_formats(["SafeTensors", "gguf"]) == ["safetensors", "gguf"]
    with pytest.raises(policy.PolicyError, match="unknown format"):
        policy.check_allowed_formats(["safetensor"])


def test_torch_storage_bytes_are_not_taken_for_a_pickle(tmp_path):
    import zipfile
    path = str(tmp_path / "model.pt")
    models.torch_zip(path, models.clean_pickle())
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("archive/data/1", b"\x80\x02" + b"\xff" * 30)  # float data that looks like PROTO 2
    assert _hits(path) == ("pytorch", [])


def test_nested_archive_and_numpy_object_array(tmp_path):
    import zipfile
    inner = models.torch_zip(str(tmp_path / "inner.pt"), models.evil_pickle())
    outer = str(tmp_path / "bundle.zip")
    with zipfile.ZipFile(outer, "w") as archive:
        archive.write(inner, "inner.pt")
    with pytest.raises(scan.Unparsable, match="nested archive"):
        scan.inspect_file(outer)
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }".ljust(117) + "\n"
    npy = tmp_path / "objects.npy"
    npy.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + models.evil_pickle())
    assert _hits(npy) == ("numpy", [("os.system", "CRITICAL", None)])
    plain = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }".ljust(117) + "\n"
    floats = tmp_path / "floats.npy"
    floats.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(plain)) + plain.encode() + b"\0" * 8)
    assert _hits(floats) == ("numpy", [])


@pytest.mark.parametrize("protocol", [0, 1])
def test_protocol_0_and_1_pickle_in_a_bin_file_is_examined(tmp_path, protocol):
    # torch.load and pickle.load read any protocol; these have no PROTO header to be known by.
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(pickle.dumps({"hook": models._SystemCall("id")}, protocol=protocol))
    assert _hits(path) == ("pytorch", [("os.system", "CRITICAL", None)])
    if protocol == 0:  # FLOAT, which fickling cannot decode: a miss, not "other"
        path.write_bytes(models.evil_pickle(protocol=protocol))
        with pytest.raises(scan.Unparsable, match="FLOAT"):
            scan.inspect_file(str(path))
    path.write_bytes(pickle.dumps({"weights": [1, 2], "name": "w"}, protocol=protocol))
    assert _hits(path) == ("other", [])  # imports nothing, so nothing runs
    headerless = tmp_path / "headerless.bin"  # protocol 4 opcodes without the optional PROTO header
    headerless.write_bytes(pickle.dumps({"hook": models._SystemCall("id")}, protocol=4)[2:])
    assert _hits(headerless)[1] == [("os.system", "CRITICAL", None)]
    for index in range(128):  # the strict twin: raw weights stay data (0x80 is PROTO: examined as a pickle)
        raw = tmp_path / ("shard-%d.bin" % index)
        # Seeded, not os.urandom: about 1 random file in 20,000 decodes as a pickle up to an import and is
        # then (rightly) a miss, which made this twin fail now and then.
        raw.write_bytes(struct.pack("B", index) + random.Random(index).getrandbits(4096 * 8).to_bytes(4096, "little"))
        assert _hits(raw) == ("other", [])


def test_numpy_object_array_inside_an_npz_is_examined(tmp_path):
    import zipfile
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }".ljust(117) + "\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
    path = str(tmp_path / "arrays.npz")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("objects.npy", npy + models.evil_pickle())
    assert _hits(path) == ("zip", [("os.system", "CRITICAL", "objects.npy")])
    plain = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }".ljust(117) + "\n"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("floats.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(plain)) + plain.encode() + b"\0" * 8)
    assert _hits(path) == ("zip", [])


def test_numpy_structured_array_with_an_object_field_is_examined(tmp_path):
    # numpy.save writes such a field's type as '|O' inside a list; numpy.load unpickles it.
    header = "{'descr': [('w', '<f4'), ('hook', '|O')], 'fortran_order': False, 'shape': (1,), }".ljust(117) + "\n"
    path = tmp_path / "structured.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + models.evil_pickle())
    assert _hits(path) == ("numpy", [("os.system", "CRITICAL", None)])
    plain = "{'descr': [('w', '<f4'), ('Order', '<i8')], 'fortran_order': False, 'shape': (1,), }".ljust(117) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(plain)) + plain.encode() + b"\0" * 12)
    assert _hits(path) == ("numpy", [])
