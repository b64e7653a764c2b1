"""A small model-serving stand-in behind the lab's JWT gateways.

``GET|POST /v1/...`` answers 200 with a JSON prediction and the user the gateway forwarded
(``X-Remote-User``); it never echoes the Authorization header, so no token can leak through it.
``/healthz`` answers 200. Run directly: ``python jwt_backend.py PORT``.
"""

import json
import os
import sys


def service(lab):
    from lab.harness import Service, http_ready
    return Service(lab, "jwt_backend", [sys.executable, os.path.abspath(__file__), "{port}"],
                   ready=lambda svc: http_ready("http://127.0.0.1:%d/healthz" % svc.port), timeout=20)


def serve(port):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if self.path == "/healthz":
                body = {"status": "ok"}
            else:
                body = {"model": "lab-model", "prediction": [0.1, 0.9], "path": self.path.split("?", 1)[0],
                        "user": self.headers.get("X-Remote-User")}
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _answer
        do_POST = _answer

        def log_message(self, fmt, *args):
            # The request line may carry a token in the query string: log the path only.
            sys.stderr.write("jwt_backend %s %s\n" % (self.command, self.path.split("?", 1)[0]))

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
