"""model_scan on Keras 2 HDF5 (.h5) files the tests write with h5py in Keras' layout (nothing is loaded)."""

import json

import h5py
import numpy
import pytest

from ansible_collections.ainative.security.plugins.module_utils.models import scan

# What Keras 2 writes for Lambda(lambda x: os.system("id")): base64 of the marshalled bytecode, never decoded here.
LAMBDA_CODE = ("4wEAAAAAAAAAAAAAAAEAAAADAAAAQwAAAHMIAAAAdACgAWQBoQFTACkCTnoCaWQpAtoCb3PaBnN5c3RlbSkB2gF4qQByBAAAAPoBPNoI"
               "PGxhbWJkYT4BAAAA8wAAAAA=\n")


def keras_h5(path, with_lambda, as_bytes=False):
    """A Keras 2 ``model.save("x.h5")`` layout: root attributes model_config, keras_version, backend, and
    the weights under model_weights/."""
    layers = [{"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "name": "input_1"}},
              {"class_name": "Dense", "config": {"name": "dense", "units": 4, "activation": "relu"}}]
    if with_lambda:
        layers.append({"class_name": "Lambda", "config": {
            "name": "lambda", "trainable": True, "function": [LAMBDA_CODE, None, None],
            "function_type": "lambda", "module": "__main__", "output_shape": None, "arguments": {}}})
    config = json.dumps({"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}})
    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = config.encode("utf-8") if as_bytes else config
        handle.attrs["keras_version"] = "2.15.0"
        handle.attrs["backend"] = "tensorflow"
        weights = handle.create_group("model_weights/dense/dense")
        weights.create_dataset("kernel:0", data=numpy.ones((4, 4), dtype="float32"))
    return path


@pytest.mark.parametrize("as_bytes", [False, True])
def test_lambda_layer_in_h5_is_flagged_and_clean_twin_is_not(tmp_path, as_bytes):
    evil = keras_h5(str(tmp_path / "evil.h5"), True, as_bytes)
    clean = keras_h5(str(tmp_path / "clean.h5"), False, as_bytes)
    fmt, hits, facts = scan.inspect_file(evil)
    assert fmt == "hdf5"
    assert [(h.finding_id, h.severity, h.member, h.details["layer"]) for h in hits] == [
        ("keras-lambda-layer", "HIGH", "model_config", "lambda")]
    assert facts == {"keras_version": "2.15.0", "backend": "tensorflow"}
    assert scan.inspect_file(clean) == ("hdf5", [], {"keras_version": "2.15.0", "backend": "tensorflow"})


def test_weights_only_h5_holds_no_code(tmp_path):
    path = str(tmp_path / "model.weights.h5")
    with h5py.File(path, "w") as handle:
        handle.create_dataset("dense/kernel", data=numpy.zeros((2, 2)))
    assert scan.inspect_file(path) == ("hdf5", [], {})


def test_corrupt_and_unparsable_h5_fail_closed(tmp_path):
    real = keras_h5(str(tmp_path / "real.h5"), True)
    truncated = tmp_path / "truncated.h5"
    with open(real, "rb") as handle:
        truncated.write_bytes(handle.read(600))
    with pytest.raises(scan.Unparsable, match="not an HDF5 file h5py can read"):
        scan.inspect_file(str(truncated))
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\xff" * 200)
    with pytest.raises(scan.Unparsable, match="not an HDF5 file h5py can read"):
        scan.inspect_file(str(garbage))
    not_json = str(tmp_path / "notjson.h5")
    with h5py.File(not_json, "w") as handle:
        handle.attrs["model_config"] = "{not json"
    with pytest.raises(scan.Unparsable, match="model_config is not JSON"):
        scan.inspect_file(not_json)
    number = str(tmp_path / "number.h5")
    with h5py.File(number, "w") as handle:
        handle.attrs["model_config"] = 7
    with pytest.raises(scan.Unparsable, match="not text"):
        scan.inspect_file(number)


def test_run_counts_a_corrupt_h5_as_a_miss(tmp_path):
    keras_h5(str(tmp_path / "evil.h5"), True)
    (tmp_path / "broken.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)

    class Ctl(object):
        params = {"path": str(tmp_path), "allowed_formats": [], "exclude": [], "max_findings": 100}

    out = scan.run(Ctl())
    assert [f["id"] for f in out.findings] == ["keras-lambda-layer"]
    assert out.coverage.missed_count == 1 and out.coverage.missed[0]["item"] == "broken.h5"
    assert not out.coverage.complete
    assert out.extra["formats"] == {"hdf5": 1}
