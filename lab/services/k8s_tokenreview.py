"""A stand-in for the Kubernetes API's TokenReview endpoint, for OpenBao's kubernetes auth method.

It answers ``POST /apis/authentication.k8s.io/v1/tokenreviews`` like the API server would for a valid
service-account token: authenticated, with the user ``system:serviceaccount:<ns>:<name>`` and the uid
taken from the token's ``kubernetes.io`` claim. It does not check the signature: OpenBao asks it because
it trusts the API server to. Tokens without the claim are reported as not authenticated.
"""

import base64
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from lab.harness import ROOT, Service, tcp_ready


class TokenReview(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        try:
            token = json.loads(self.rfile.read(length) or b"{}").get("spec", {}).get("token", "")
            payload = token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (ValueError, IndexError, AttributeError):
            claims = {}
        k8s = claims.get("kubernetes.io") if isinstance(claims, dict) else None
        status = {"authenticated": False, "error": "token has no kubernetes.io claim"}
        if isinstance(k8s, dict) and k8s.get("namespace") and (k8s.get("serviceaccount") or {}).get("name"):
            status = {"authenticated": True,
                      "user": {"username": "system:serviceaccount:%s:%s" % (k8s["namespace"],
                                                                             k8s["serviceaccount"]["name"]),
                               "uid": k8s["serviceaccount"].get("uid", ""),
                               "groups": ["system:serviceaccounts", "system:serviceaccounts:" + k8s["namespace"]]}}
        body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):  # one line per review in the service log
        sys.stderr.write("tokenreview %s\n" % (fmt % args))


def service(lab):
    def configure(svc):
        svc.info["url"] = "http://127.0.0.1:%d" % svc.port

    return Service(lab, "k8s_tokenreview", [sys.executable, "-m", "lab.services.k8s_tokenreview", "{port}"],
                   ready=lambda svc: tcp_ready(svc.port), configure=configure, timeout=20, cwd=ROOT)


if __name__ == "__main__":
    HTTPServer(("127.0.0.1", int(sys.argv[1])), TokenReview).serve_forever()
