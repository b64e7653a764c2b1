"""Model fixtures for the tests and benchmarks: signing keys and a certificate chain made offline, and small
real model files (pickles, a torch-style zip, safetensors, Keras, a SavedModel graph), each unsafe one next
to its clean twin. Nothing here loads a model."""

import datetime
import json
import os
import pickle
import struct
import zipfile


class _SystemCall(object):
    """Unpickling this runs os.system: the classic malicious-model payload (never unpickled here)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Reduce(object):
    """Unpickling this calls ``func(*args)``."""

    def __init__(self, func, args):
        self.func = func
        self.args = args

    def __reduce__(self):
        return (self.func, self.args)


def reduce_pickle(func, args, protocol=2):
    """A pickle that calls ``func(*args)`` when loaded (os.system, subprocess.Popen, eval, ...)."""
    return pickle.dumps([1.0, _Reduce(func, args)], protocol=protocol)


def evil_pickle(command="echo owned", protocol=2):
    return pickle.dumps({"weights": [0.5, 1.5], "hook": _SystemCall(command)}, protocol=protocol)


def clean_pickle(protocol=2):
    return pickle.dumps({"weights": [0.5, 1.5], "name": "clean", "layers": (1, 2)}, protocol=protocol)


def torch_zip(path, payload):
    """A PyTorch-style zip (torch.save's layout): ``archive/data.pkl`` plus the version and one storage."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/version", "3\n")
        archive.writestr("archive/data/0", b"\x00" * 64)
    return path


def keras_file(path, with_lambda):
    """A Keras 3 ``.keras`` zip: ``config.json`` (a Sequential model), ``metadata.json`` and the weights."""
    layers = [{"class_name": "Dense", "config": {"name": "dense", "units": 4}}]
    if with_lambda:
        # Shaped like what Keras writes for Lambda(lambda x: ...): base64 marshalled bytecode (a placeholder
        # here, never decoded), which Keras runs on load with safe_mode off.
        layers.append({"class_name": "Lambda", "config": {
            "name": "lambda", "function": {"class_name": "__lambda__", "config": {
                "code": "4wEAAAAAAAAAAAAAAAEAAAADAAAAQwAAAHMIAAAAdACgAWQBoQFTACkCTnoCaWQpAtoCb3PaBnN5c3RlbSkB2gF4qQByBAAAAPoBPNoIPGxhbWJkYT4BAAAA8wAAAAA=",
                "defaults": None, "closure": None}}}})
    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "seq", "layers": layers}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 56)
    return path


def _field(number, data):
    """One length-delimited protobuf field (wire type 2)."""
    key = (number << 3) | 2
    out = bytearray()
    for value in (key, len(data)):
        while value > 0x7F:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
    return bytes(out) + data


def saved_model(directory, ops):
    """``saved_model.pb`` by hand (TensorFlow is not installed): SavedModel{meta_graphs: MetaGraphDef{graph_def:
    GraphDef{node: NodeDef{name, op}}}}."""
    os.makedirs(os.path.join(directory, "variables"), exist_ok=True)
    nodes = b"".join(_field(1, _field(1, ("n%d" % i).encode()) + _field(2, op.encode())) for i, op in enumerate(ops))
    with open(os.path.join(directory, "saved_model.pb"), "wb") as handle:
        handle.write(b"\x08\x01" + _field(2, _field(2, nodes)))  # schema version 1, one meta graph
    return directory


def safetensors_file(path, tensors=None, metadata=None):
    """A real safetensors file written by the ``safetensors`` package (no numpy or torch needed)."""
    import ctypes

    from safetensors import TensorSpec, serialize_file
    tensors = tensors or {"weight": (b"\x00\x00\x80\x3f" * 6, [2, 3])}
    buffers = {}
    specs = {}
    for name, (data, shape) in tensors.items():
        buffers[name] = ctypes.create_string_buffer(data, len(data))
        specs[name] = TensorSpec(dtype="float32", shape=shape, data_ptr=ctypes.addressof(buffers[name]), data_len=len(data))
    serialize_file(specs, path, metadata=metadata)
    return path


def big_safetensors(path, size):
    """A safetensors file of about ``size`` bytes, written by hand (the header the package writes, sparse data)."""
    count = size // 4
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "weight": {"dtype": "F32", "shape": [count], "data_offsets": [0, count * 4]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(header)) + header)
        handle.truncate(8 + len(header) + count * 4)
    return path


def keys(directory, password=None):
    """An EC P-256 key pair and a chain root -> intermediate -> leaf (codeSigning) for offline signing.

    Returns paths: private_key, public_key, leaf_key, signing_certificate, intermediate, root.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    os.makedirs(directory, exist_ok=True)
    paths = {}

    def save(name, data):
        paths[name] = os.path.join(directory, name + ".pem")
        with open(paths[name], "wb") as handle:
            handle.write(data)

    def private_pem(key):
        crypt = (serialization.BestAvailableEncryption(password.encode()) if password
                 else serialization.NoEncryption())
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, crypt)

    signing_key = ec.generate_private_key(ec.SECP256R1())
    save("private_key", private_pem(signing_key))
    save("public_key", signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject, key, issuer, issuer_key, ca, eku=None):
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                  critical=False))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
                critical=True)
        else:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False),
                critical=True)
            builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    root_key = ec.generate_private_key(ec.SECP256R1())
    inter_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    save("root", cert("lab root", root_key, "lab root", root_key, True))
    save("intermediate", cert("lab intermediate", inter_key, "lab root", root_key, True))
    save("signing_certificate", cert("lab model signer", leaf_key, "lab intermediate", inter_key, False,
                                     [ExtendedKeyUsageOID.CODE_SIGNING]))
    save("leaf_key", private_pem(leaf_key))
    return paths


def model_tree(root, files=5, size=4096):
    """A small model folder: config, tokenizer and ``files`` weight shards of ``size`` bytes."""
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "config.json"), "w") as handle:
        json.dump({"model_type": "lab", "hidden": 8}, handle)
    os.makedirs(os.path.join(root, "tokenizer"), exist_ok=True)
    with open(os.path.join(root, "tokenizer", "vocab.txt"), "w") as handle:
        handle.write("a\nb\nc\n")
    for index in range(files):
        with open(os.path.join(root, "shard-%03d.bin" % index), "wb") as handle:
            handle.write(os.urandom(size))
    return root
