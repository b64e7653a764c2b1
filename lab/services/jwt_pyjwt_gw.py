"""A strict JWT gateway on PyJWT, and the same gateway with exactly one hole, to prove api_jwt_probe's cases.

The strict gateway verifies with one pinned RSA public key (it ignores ``kid``, as a gateway holding one
static PEM does), allows RS256 only, checks ``iss`` and ``aud`` exactly, requires ``exp`` and ``iat``,
checks ``nbf`` and ``iat``, bounds the lifetime (``exp - iat``) and reads the token from the
Authorization header only. Each entry of :data:`HOLES` weakens exactly one of those checks, the way
real gateways get it wrong. Without a token it answers 401 ``Bearer realm="lab"``; with a bad one 401
with ``error="invalid_token"`` (RFC 6750 3.1).

Run directly: ``python jwt_pyjwt_gw.py CONFIG_JSON`` where the config holds ``public_key_path``,
``issuer``, ``audience``, ``max_lifetime`` and ``gateways``: a list of ``{"port", "hole"}`` (hole null for
the strict one), all served by one process.
"""

import hashlib
import hmac
import json
import sys

HOLES = {
    "alg_none_spellings": "refuses alg 'none' but takes None, NONE, nOnE as unsigned tokens",
    "hs256_pem": "verifies HS256 with the public key PEM as the HMAC secret",
    "hs256_pem_stripped": "verifies HS256 with the public key PEM, stripped of its newline, as the HMAC secret",
    "hs256_der": "verifies HS256 with the public key DER as the HMAC secret",
    "audience_substring": "checks aud as a substring",
    "issuer_prefix": "checks iss as a prefix",
    "iat_unchecked": "does not check iat",
    "lifetime_unbounded": "does not bound exp - iat",
    "nbf_unchecked": "does not check nbf",
    "exp_optional": "accepts a token without exp",
    "query_token": "also reads the token from the access_token query parameter",
}
# The case each hole must make fail, and nothing else (kid is ignored by every variant: pinned key).
CASE_OF_HOLE = {
    "alg_none_spellings": ["alg_none_title", "alg_none_upper", "alg_none_mixed"],
    "hs256_pem": ["hs256_public_key"],
    "hs256_pem_stripped": ["hs256_public_key_no_newline"],
    "hs256_der": ["hs256_public_key_der"],
    "audience_substring": ["audience_substring"],
    "issuer_prefix": ["issuer_prefix"],
    "iat_unchecked": ["iat_future"],
    "lifetime_unbounded": ["lifetime_too_long"],
    "nbf_unchecked": ["nbf_future"],
    "exp_optional": ["no_exp"],
    "query_token": ["token_in_query"],
}
NO_TOKEN = (401, 'Bearer realm="lab"')
INVALID = (401, 'Bearer realm="lab", error="invalid_token"')


class Keys(object):
    """The pinned key in the forms the HMAC holes misuse."""

    def __init__(self, public_pem):
        from cryptography.hazmat.primitives import serialization
        self.pem = public_pem
        self.obj = serialization.load_pem_public_key(public_pem)
        self.der = self.obj.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    def hmac_secret(self, hole):
        return {"hs256_pem": self.pem, "hs256_pem_stripped": self.pem.strip(), "hs256_der": self.der}.get(hole)


def _hmac_ok(token, secret):
    import base64
    signing_input, _dot, signature = token.rpartition(".")
    expected = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(base64.urlsafe_b64encode(expected).rstrip(b"=").decode(), signature)


def judge(authorization, query_token, keys, issuer, audience, max_lifetime, hole=None):
    """(status, WWW-Authenticate) the gateway answers for one request."""
    import jwt

    token = None
    if authorization and authorization.startswith("Bearer "):
        token = authorization[7:].strip()
    elif hole == "query_token" and query_token:
        token = query_token
    if not token:
        return NO_TOKEN
    options = {"require": ["iat"] if hole == "exp_optional" else ["exp", "iat"],
               "verify_exp": True, "verify_nbf": hole != "nbf_unchecked", "verify_iat": hole != "iat_unchecked",
               "verify_aud": hole != "audience_substring", "verify_iss": hole != "issuer_prefix"}
    try:
        alg = jwt.get_unverified_header(token).get("alg")
        secret = keys.hmac_secret(hole)
        unsigned_spelling = hole == "alg_none_spellings" and isinstance(alg, str) and alg != "none" \
            and alg.lower() == "none"
        if unsigned_spelling or (secret is not None and alg == "HS256" and _hmac_ok(token, secret)):
            claims = jwt.decode(token, options=dict(options, verify_signature=False), audience=audience, issuer=issuer)
        else:
            claims = jwt.decode(token, keys.obj, algorithms=["RS256"], options=options, audience=audience,
                                issuer=issuer)
    except jwt.PyJWTError:
        return INVALID
    if hole == "audience_substring" and audience not in str(claims.get("aud")):
        return INVALID
    if hole == "issuer_prefix" and not str(claims.get("iss")).startswith(issuer):
        return INVALID
    if hole != "lifetime_unbounded" and "exp" in claims and claims["exp"] - claims["iat"] > max_lifetime:
        return INVALID
    return 200, None


def service(lab):
    """The strict gateway for the lab (pinned to jwt_idp's signing key)."""
    import os
    import tempfile

    from lab.harness import Service, http_ready

    config = os.path.join(tempfile.mkdtemp(prefix="ainative-jwt-pyjwt-"), "config.json")

    def prepare(svc):
        idp = lab.up("jwt_idp")
        with open(config, "w") as handle:
            json.dump({"public_key_path": idp["public_key_path"], "issuer": idp["issuer"],
                       "audience": idp["audience"], "max_lifetime": 86400,
                       "gateways": [{"port": svc.port, "hole": None}]}, handle)
        svc.info.update({"url": "http://127.0.0.1:%d/v1/predict" % svc.port, "issuer": idp["issuer"],
                         "audience": idp["audience"]})

    return Service(lab, "jwt_pyjwt_gw", [sys.executable, os.path.abspath(__file__), config], prepare=prepare,
                   timeout=20, ready=lambda svc: http_ready("http://127.0.0.1:%d/v1/predict" % svc.port, ok=(401,)))


def serve(config_path):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlsplit

    with open(config_path) as handle:
        config = json.load(handle)
    with open(config["public_key_path"], "rb") as handle:
        keys = Keys(handle.read())

    def handler_for(hole):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                query = parse_qs(urlsplit(self.path).query).get("access_token", [None])[0]
                status, www = judge(self.headers.get("Authorization"), query, keys, config["issuer"],
                                    config["audience"], config["max_lifetime"], hole)
                body = json.dumps({"ok": status == 200}).encode()
                self.send_response(status)
                if www:
                    self.send_header("WWW-Authenticate", www)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = _answer
            do_POST = _answer

            def log_message(self, fmt, *args):
                # The path only: a token sent in the query string never reaches the log.
                sys.stderr.write("jwt_pyjwt_gw[%s] %s %s\n" % (hole or "strict", self.command, self.path.split("?", 1)[0]))
        return Handler

    servers = [ThreadingHTTPServer(("127.0.0.1", gw["port"]), handler_for(gw["hole"])) for gw in config["gateways"]]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1])
