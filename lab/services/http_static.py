"""A static file server on loopback (the lab's stand-in backend and file host)."""

import sys

from lab.harness import Service, http_ready


def service(lab):
    return Service(
        lab, "http_static",
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", "{state}", "{port}"],
        ready=lambda svc: http_ready("http://127.0.0.1:%d/" % svc.port),
        timeout=20,
    )
