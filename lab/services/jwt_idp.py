"""A stand-in identity provider for the JWT lab: a JWKS served over TLS from a local CA.

``prepare`` makes a throw-away CA, a server certificate for 127.0.0.1, the RSA signing key the lab
mints tokens with (kid ``lab-k1``) and an "attacker" key whose JWKS and certificate are published too
(``/attacker/jwks.json``, ``/attacker/cert.pem``), so header-injection cases (``jku``, ``x5u``) point at
a URL that really answers: a gateway that followed them would accept the attacker's token.

Run directly, the module is the HTTPS file server: ``python jwt_idp.py PORT STATE_DIR``.
"""

import datetime
import ipaddress
import json
import os
import ssl
import sys

ISSUER = "https://idp.ainative.test"
AUDIENCE = "model-serving"
KID = "lab-k1"
ATTACKER_KID = "attacker-k1"


def _b64(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64(value):
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def rsa_jwk(private_key, kid):
    numbers = private_key.public_key().public_numbers()
    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}


def _write(path, data, mode=0o644):
    with open(path, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def _cert(subject_cn, public_key, issuer_cn, issuer_key, ca=False, san=None, days=30):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
               .public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               # Key identifiers (and key usage on the CA): Python 3.13 (Debian 13) verifies X.509 strictly.
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                              critical=False))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_material(state):
    """CA, TLS certificate, signing and attacker keys, JWKS documents (idempotent per state dir)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    nocrypt = serialization.NoEncryption()
    public = os.path.join(state, "public")
    os.makedirs(os.path.join(public, "attacker"), exist_ok=True)
    if os.path.exists(os.path.join(public, "jwks.json")):
        return
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_cert = _cert("ainative lab JWT CA", ca_key.public_key(), "ainative lab JWT CA", ca_key, ca=True)
    tls_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tls_cert = _cert("127.0.0.1", tls_key.public_key(), "ainative lab JWT CA", ca_key,
                     san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    signing = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attacker_cert = _cert("attacker", attacker.public_key(), "attacker", attacker)

    _write(os.path.join(state, "ca.crt"), ca_cert.public_bytes(pem))
    _write(os.path.join(state, "tls.crt"), tls_cert.public_bytes(pem))
    _write(os.path.join(state, "tls.key"), tls_key.private_bytes(pem, pkcs8, nocrypt), 0o600)
    _write(os.path.join(state, "signing.key"), signing.private_bytes(pem, pkcs8, nocrypt), 0o600)
    _write(os.path.join(state, "attacker.key"), attacker.private_bytes(pem, pkcs8, nocrypt), 0o600)
    _write(os.path.join(state, "signing.pub"), signing.public_key().public_bytes(
        pem, serialization.PublicFormat.SubjectPublicKeyInfo))
    _write(os.path.join(public, "jwks.json"),
           json.dumps({"keys": [rsa_jwk(signing, KID)]}, indent=2).encode())
    _write(os.path.join(public, "attacker", "jwks.json"),
           json.dumps({"keys": [rsa_jwk(attacker, ATTACKER_KID)]}, indent=2).encode())
    _write(os.path.join(public, "attacker", "cert.pem"), attacker_cert.public_bytes(pem))


def service(lab):
    from lab.harness import Service, http_ready

    def ready(svc):
        def check():
            ca = os.path.join(svc.dir, "ca.crt")
            if not os.path.exists(ca):
                return False
            return http_ready("https://127.0.0.1:%d/jwks.json" % svc.port, context=ssl.create_default_context(cafile=ca))()
        return check

    def prepare(svc):
        make_material(svc.dir)
        base = "https://127.0.0.1:%d" % svc.port
        svc.info.update({
            "url": base,
            "jwks_url": base + "/jwks.json",
            "ca_cert": os.path.join(svc.dir, "ca.crt"),
            "signing_key_path": os.path.join(svc.dir, "signing.key"),
            "public_key_path": os.path.join(svc.dir, "signing.pub"),
            "attacker_key_path": os.path.join(svc.dir, "attacker.key"),
            "attacker_jwks_url": base + "/attacker/jwks.json",
            "attacker_x5u_url": base + "/attacker/cert.pem",
            "kid": KID,
            "attacker_kid": ATTACKER_KID,
            "issuer": ISSUER,
            "audience": AUDIENCE,
        })

    return Service(lab, "jwt_idp", [sys.executable, os.path.abspath(__file__), "{port}", "{state}"],
                   ready=ready, prepare=prepare, timeout=30)


def serve(port, state):
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, fmt, *args):
            sys.stderr.write("jwt_idp %s\n" % (fmt % args))

    handler = functools.partial(Handler, directory=os.path.join(state, "public"))
    httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.path.join(state, "tls.crt"), os.path.join(state, "tls.key"))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
