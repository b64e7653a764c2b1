"""Event-Driven Ansible path for Falco alerts, on real parts: ansible-rulebook 1.3.2 (Java 17) runs
extensions/eda/rulebooks/falco_response.yml with the collection's falco_webhook source; alerts in Falco's JSON
format, posted the way Falco's http_output and falcosidekick's webhook post them, stop real Podman containers
through playbooks/runtime_response.yml (ainative.security.falco_response).

One ansible-rulebook for the module. Playbook runs are counted from its output (one PLAY RECAP per run).
Latency is from just before the POST to the container's own State.FinishedAt (Podman's clock, same host).
The numbers are printed (pytest -s) and kept in <tmp>/eda-falco-metrics.json.
"""

import asyncio
import datetime
import http.client
import importlib.util
import ipaddress
import json
import math
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import threading
import time

import pytest

from lab import falco_data
from lab.harness import free_port, http_ready

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULEBOOK = os.path.join(ROOT, "extensions", "eda", "rulebooks", "falco_response.yml")
PLUGIN = os.path.join(ROOT, "extensions", "eda", "plugins", "event_source", "falco_webhook.py")
NODE = "ml-node-1"  # the Falco hostname of the alerts = the inventory host the response runs on
# Alerts of the latency test, one container each: 10 in `make test` (the response is proven on each; the
# figures are recorded, not asserted); EDA_FALCO_ALERTS=20 for the issue's measurement.
VICTIMS = ["eda-it-victim-%02d" % i for i in range(int(os.environ.get("EDA_FALCO_ALERTS", "10")))]
OTHERS = ["eda-it-allowed", "eda-it-spared", "eda-it-dup"]
RULE = "Drop and execute new binary in container"


def _podman(*argv, **kwargs):
    return subprocess.run(["podman"] + list(argv), env=falco_data.podman_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=False, **kwargs)


def _remove(names):
    _podman("rm", "-f", "-t", "0", *names)


class Rulebook(object):
    def __init__(self, work, port, token):
        self.port = port
        self.token = token
        self.log = str(work / "ansible-rulebook.log")
        self.url = "http://127.0.0.1:%d/" % port

    def runs(self):
        with open(self.log, "rb") as handle:
            return handle.read().count(b"PLAY RECAP")

    def output(self):
        with open(self.log, "rb") as handle:
            return handle.read().decode("utf-8", "replace")

    def wait_runs(self, count, timeout=30):
        deadline = time.time() + timeout
        while self.runs() < count:
            assert time.time() < deadline, "expected %d playbook runs, saw %d:\n%s" % (count, self.runs(), self.output()[-4000:])
            time.sleep(0.1)

    def cpu_seconds(self):
        """CPU time of ansible-rulebook and every process it waited for (its playbook runs and their modules)."""
        with open("/proc/%d/stat" % self.proc.pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return sum(int(value) for value in fields[11:15]) / float(os.sysconf("SC_CLK_TCK"))

    def counters(self):
        status, body = post(self.port, None, self.token, method="GET")
        assert status == 200, body
        return body


@pytest.fixture(scope="module")
def rulebook_process(tmp_path_factory):
    """ansible-rulebook started (it takes a few seconds to listen: the containers start meanwhile)."""
    if not shutil.which("podman") or not shutil.which("java"):
        pytest.skip("podman and java are needed")
    work = tmp_path_factory.mktemp("eda-falco")
    port = free_port()
    token = "eda-it-" + os.urandom(12).hex()
    (work / "inventory.yml").write_text(json.dumps({"all": {"hosts": {NODE: {
        "ansible_connection": "local",
        "ansible_python_interpreter": os.path.join(ROOT, ".venv", "bin", "python"),
        "falco_response_runtime": "podman",
        "falco_response_allow_list": ["falco", "falcosidekick", "eda-it-allowed"],
    }}}}))
    (work / "vars.yml").write_text(json.dumps({"falco_webhook_host": "127.0.0.1", "falco_webhook_port": port}))
    env = dict(os.environ)
    env.update(falco_data.podman_env())
    env.update({"PATH": os.path.join(ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", ""),
                "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".build", "collections"),
                "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
                "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
                "FALCO_WEBHOOK_TOKEN": token})
    book = Rulebook(work, port, token)
    book.started = time.time()
    with open(book.log, "wb") as log:
        book.proc = subprocess.Popen([os.path.join(ROOT, ".venv", "bin", "ansible-rulebook"), "-r", RULEBOOK,
                                      "-i", str(work / "inventory.yml"), "--vars", str(work / "vars.yml")],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                     cwd=str(work), start_new_session=True)
    yield book
    os.killpg(book.proc.pid, signal.SIGTERM)
    try:
        book.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(book.proc.pid, signal.SIGKILL)
        book.proc.wait()


@pytest.fixture(scope="module")
def containers(rulebook_process):
    """{name: {id, name, image}} of running containers, started side by side (Podman takes ~0.6 s each)."""
    names = VICTIMS + OTHERS
    _remove(names)
    try:
        procs = {}
        for name in names:
            procs[name] = subprocess.Popen(
                ["podman", "run", "-d", "--name", name, "--label", falco_data.LABEL + "=falco", falco_data.IMAGE,
                 "/bin/sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"],
                env=falco_data.podman_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if len(procs) % 4 == 0:  # at most 4 podman runs at once on 2 cores
                for proc in procs.values():
                    proc.wait()
        started = {}
        for name, proc in procs.items():
            out, err = proc.communicate()
            assert proc.returncode == 0, err.decode()
            started[name] = {"id": out.decode().strip(), "name": name, "image": falco_data.IMAGE}
        yield started
    finally:
        _remove(names)


@pytest.fixture(scope="module")
def rulebook(rulebook_process, containers):
    """The rulebook, listening: it answers, and refuses a request without the token."""
    book = rulebook_process
    ready = http_ready(book.url, ok=(401,))
    while not ready():
        assert book.proc.poll() is None, "ansible-rulebook exited:\n" + book.output()[-4000:]
        assert time.time() - book.started < 90, "ansible-rulebook did not listen within 90 s"
        time.sleep(0.1)
    book.start_seconds = time.time() - book.started
    return book


@pytest.fixture(scope="module")
def metrics(tmp_path_factory):
    data = {}
    yield data
    path = tmp_path_factory.getbasetemp() / "eda-falco-metrics.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    print("\nEDA Falco metrics (%s):\n%s" % (path, json.dumps(data, indent=2, sort_keys=True)))


def post(port, alert, token, method="POST", connection=None, headers=None, context=None):
    """(status, JSON body) of one request; reuses ``connection`` (keep-alive) when given."""
    conn = connection or (http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context) if context
                          else http.client.HTTPConnection("127.0.0.1", port, timeout=10))
    sent = {"Content-Type": "application/json", "User-Agent": "falcosecurity/falco"}
    if token is not None:
        sent["Authorization"] = "Bearer " + token
    sent.update(headers or {})
    conn.request(method, "/", body=json.dumps(alert) if alert is not None else None, headers=sent)
    resp = conn.getresponse()
    body = json.loads(resp.read() or b"null")
    if connection is None:
        conn.close()
    return resp.status, body


def alert_for(container, rule=RULE, priority="critical"):
    return falco_data.alert(rule, priority, datetime.datetime.now(datetime.timezone.utc), container, hostname=NODE,
                            proc="xmrig", cmdline="/tmp/xmrig -o stratum+tcp://pool")


def finished_at(name):
    """Unix time at which the container stopped, or None while it runs."""
    out = _podman("container", "inspect", "--format", "{{.State.Running}} {{.State.FinishedAt.UnixNano}}", name)
    assert out.returncode == 0, out.stderr.decode()  # gone: something else removed the test's containers
    running, nanos = out.stdout.decode().split()
    return None if running == "true" else int(nanos) / 1e9


def wait_stopped(name, timeout=30):
    proc = _podman("wait", "--condition=stopped", name, timeout=timeout)
    assert proc.returncode == 0, proc.stderr.decode()
    return finished_at(name)


def percentile(values, pct):
    """Nearest-rank percentile: p95 of 20 values is the 19th smallest."""
    ordered = sorted(values)
    return ordered[max(0, int(math.ceil(pct / 100.0 * len(ordered))) - 1)]


def test_alerts_stop_their_containers_sequential_latency(rulebook, containers, metrics):
    """20 alerts, one after another (each once the previous container stopped), each for its own container:
    the latency of one alert when nothing is queued before it."""
    metrics["rulebook_start_s"] = round(rulebook.start_seconds, 2)  # includes starting the containers meanwhile
    metrics["loadavg_before"] = [round(x, 1) for x in os.getloadavg()]
    runs = rulebook.runs()
    cpu = rulebook.cpu_seconds()
    latencies = []
    for name in VICTIMS:
        alert = alert_for(containers[name])
        if name.endswith("1"):  # falcosidekick's webhook posts the same alert with a uuid
            alert["uuid"] = os.urandom(16).hex()
        sent = time.time()
        status, body = post(rulebook.port, alert, rulebook.token)
        assert (status, body["status"]) == (200, "queued")
        latencies.append(wait_stopped(name) - sent)
    rulebook.wait_runs(runs + len(VICTIMS))
    assert rulebook.output().count("'stopped'") >= len(VICTIMS)
    metrics["sequential"] = {"alerts": len(latencies), "p50_s": round(statistics.median(latencies), 2),
                             "p95_s": round(percentile(latencies, 95), 2), "max_s": round(max(latencies), 2),
                             "loadavg_after": [round(x, 1) for x in os.getloadavg()],
                             # load-independent: what one response costs (ansible-playbook + module + podman)
                             "cpu_s_per_response": round((rulebook.cpu_seconds() - cpu) / len(VICTIMS), 2)}
    # Latency is measured, not asserted (a benchmark is no timed test); wait_stopped bounds each response.


def test_thousand_duplicates_trigger_one_response(rulebook, containers, metrics):
    before = rulebook.counters()
    runs = rulebook.runs()
    alert = alert_for(containers["eda-it-dup"])
    conn = http.client.HTTPConnection("127.0.0.1", rulebook.port, timeout=10)
    started = time.time()
    statuses = [post(rulebook.port, alert, rulebook.token, connection=conn)[1]["status"] for _i in range(1000)]
    post_seconds = time.time() - started
    conn.close()
    assert statuses[0] == "queued" and set(statuses[1:]) == {"duplicate"}
    wait_stopped("eda-it-dup")
    rulebook.wait_runs(runs + 1)
    time.sleep(0.5)  # belt and braces: only forwarded alerts reach the queue, and the counters say one was
    after = rulebook.counters()
    assert rulebook.runs() == runs + 1
    assert after["forwarded"] - before["forwarded"] == 1
    assert after["duplicate"] - before["duplicate"] == 999
    metrics["duplicates"] = {"posted": 1000, "playbook_runs": rulebook.runs() - runs,
                             "post_1000_s": round(post_seconds, 2)}


def test_wrong_token_is_refused_and_allow_listed_container_spared(rulebook, containers):
    before = rulebook.counters()
    runs = rulebook.runs()
    spared = alert_for(containers["eda-it-spared"])
    assert post(rulebook.port, spared, "not-the-token")[0] == 401
    assert post(rulebook.port, spared, None)[0] == 401
    assert post(rulebook.port, spared, rulebook.token.upper())[0] == 401
    assert post(rulebook.port, spared, None, headers={"Authorization": "Basic " + rulebook.token})[0] == 401
    # An allow-listed container: the response runs and leaves it alone.
    status, body = post(rulebook.port, alert_for(containers["eda-it-allowed"]), rulebook.token)
    assert (status, body["status"]) == (200, "queued")
    rulebook.wait_runs(runs + 1)
    time.sleep(0.5)
    after = rulebook.counters()
    assert rulebook.runs() == runs + 1
    assert after["unauthorized"] - before["unauthorized"] == 4
    assert after["forwarded"] - before["forwarded"] == 1
    assert falco_data.container_running("eda-it-spared")
    assert falco_data.container_running("eda-it-allowed")
    assert "allow-listed" in rulebook.output().split("PLAY RECAP")[-2]
    assert rulebook.token not in rulebook.output()


def test_priorities_below_the_threshold_and_bad_bodies_are_not_forwarded(rulebook, containers):
    before = rulebook.counters()
    warning = alert_for(containers["eda-it-spared"], priority="warning")
    assert post(rulebook.port, warning, rulebook.token) == (200, {"status": "ignored"})
    assert post(rulebook.port, ["not", "an", "alert"], rulebook.token)[0] == 400
    after = rulebook.counters()
    assert after["forwarded"] == before["forwarded"]
    assert (after["ignored"] - before["ignored"], after["invalid"] - before["invalid"]) == (1, 1)
    assert falco_data.container_running("eda-it-spared")


# -- the source plugin in-process (no rulebook): rate limit and mTLS, on a real aiohttp server ---------------

def _load_plugin():
    spec = importlib.util.spec_from_file_location("falco_webhook", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class PluginServer(object):
    """The plugin's main() in a thread with its own event loop; ``events`` holds what reached the queue."""

    def __init__(self, args):
        self.events = []
        self.port = args["port"]
        self.loop = asyncio.new_event_loop()
        plugin = _load_plugin()
        collected = self.events

        class Queue(object):
            async def put(self, event):
                collected.append(event)

        self.task = None

        def serve():
            asyncio.set_event_loop(self.loop)
            self.task = self.loop.create_task(plugin.main(Queue(), args))
            try:
                self.loop.run_until_complete(self.task)
            except asyncio.CancelledError:
                pass

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                assert time.time() < deadline, "plugin did not listen"
                time.sleep(0.05)

    def stop(self):
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(10)


def test_rate_limit_drops_a_flood_of_distinct_alerts():
    server = PluginServer({"port": free_port(), "token": "t0ken", "rate": 0.01, "burst": 5, "dedupe_window": 60})
    try:
        statuses = []
        for index in range(50):
            container = {"id": "%012x" % index, "name": "flood-%d" % index, "image": falco_data.IMAGE}
            statuses.append(post(server.port, alert_for(container), "t0ken")[0])
        assert statuses.count(200) == 5 and statuses.count(429) == 45
        assert len(server.events) == 5
        event = server.events[0]
        assert event["meta"]["hosts"] == NODE and event["payload"]["rule"] == RULE
        assert "Authorization" not in json.dumps(event)
    finally:
        server.stop()


def test_dedupe_window_expires_and_keys_on_rule_and_container():
    server = PluginServer({"port": free_port(), "token": "t0ken", "dedupe_window": 0.5})
    try:
        container = {"id": "0123456789ab", "name": "window", "image": falco_data.IMAGE}
        other = {"id": "ba9876543210", "name": "other", "image": falco_data.IMAGE}
        statuses = [post(server.port, alert_for(container), "t0ken")[1]["status"],
                    post(server.port, alert_for(container), "t0ken")[1]["status"],  # same rule and container
                    post(server.port, alert_for(other), "t0ken")[1]["status"],  # another container
                    post(server.port, alert_for(container, rule="Terminal shell in container"), "t0ken")[1]["status"]]
        time.sleep(0.6)
        statuses.append(post(server.port, alert_for(container), "t0ken")[1]["status"])  # the window is over
        assert statuses == ["queued", "duplicate", "queued", "queued", "queued"]
        assert len(server.events) == 4
    finally:
        server.stop()


def test_dedupe_key_ignores_case_whitespace_and_uuid():
    server = PluginServer({"port": free_port(), "token": "t0ken", "dedupe_window": 60})
    try:
        first = alert_for({"id": "0123456789ab", "name": "variant", "image": falco_data.IMAGE})
        variant = json.loads(json.dumps(first))
        variant.update(rule="  " + first["rule"].upper().replace(" ", "  ") + " ", hostname=NODE.upper(),
                       uuid="6f1c9b0e-1111-4222-8333-444455556666")
        variant["output_fields"]["container.id"] = " 0123456789AB"
        assert [post(server.port, a, "t0ken")[1]["status"] for a in (first, variant)] == ["queued", "duplicate"]
        assert len(server.events) == 1
    finally:
        server.stop()


def test_a_token_that_is_not_utf8_is_refused_as_unauthorized():
    server = PluginServer({"port": free_port(), "token": "t0ken"})
    try:
        conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0k\xffen\r\nConnection: close\r\n\r\n")
        answer = conn.recv(4096)
        conn.close()
        assert answer.startswith(b"HTTP/1.1 401"), answer[:80]
        assert post(server.port, None, "t0ken", method="GET")[1]["unauthorized"] == 1
    finally:
        server.stop()


def test_a_deeply_nested_or_undecodable_body_is_invalid_not_a_server_error():
    server = PluginServer({"port": free_port(), "token": "t0ken"})
    try:
        for body in (b"[" * 200000 + b"]" * 200000, b"\xff\xfe{}"):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.request("POST", "/", body=body, headers={"Authorization": "Bearer t0ken", "Content-Type": "application/json"})
            assert conn.getresponse().status == 400
            conn.close()
        assert post(server.port, None, "t0ken", method="GET")[1]["invalid"] == 2 and not server.events
    finally:
        server.stop()


@pytest.mark.parametrize("hostname", ["all", "*", "web*", "node-a,node-b", "!node-a", "~.*", "node-a:&db", "", None])
def test_a_hostname_that_is_a_host_pattern_is_refused(hostname):
    server = PluginServer({"port": free_port(), "token": "t0ken"})
    try:
        alert = alert_for({"id": "0123456789ab", "name": "pattern", "image": falco_data.IMAGE})
        alert["hostname"] = hostname
        assert post(server.port, alert, "t0ken")[0] == 400
        alert["hostname"] = "node-a.example.com"
        assert post(server.port, alert, "t0ken")[1]["status"] == "queued"
        assert [e["meta"]["hosts"] for e in server.events] == ["node-a.example.com"]
    finally:
        server.stop()


def test_a_huge_body_is_refused_without_being_read():
    server = PluginServer({"port": free_port(), "token": "t0ken"})
    try:
        conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0ken\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % (1 << 30))
        answer, sent = b"", 0
        try:
            while b"\r\n\r\n" not in answer and sent < (64 << 20):
                conn.sendall(b" " * (1 << 20))
                sent += 1 << 20
                conn.setblocking(False)
                try:
                    answer += conn.recv(65536)
                except BlockingIOError:
                    pass
                conn.setblocking(True)
        except (BrokenPipeError, ConnectionResetError):
            answer += conn.recv(65536)
        conn.close()
        assert answer.startswith(b"HTTP/1.1 413") and sent <= (8 << 20), (answer[:80], sent)
        assert not server.events
    finally:
        server.stop()


def test_plugin_refuses_to_start_without_authentication(monkeypatch):
    monkeypatch.delenv("FALCO_WEBHOOK_TOKEN", raising=False)
    with pytest.raises(ValueError, match="refusing to accept unauthenticated alerts"):
        asyncio.run(_load_plugin().main(None, {"port": free_port()}))


def _pki(work):
    """A CA, a server certificate for 127.0.0.1 and two client certificates (one from another CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    now = datetime.datetime.now(datetime.timezone.utc)

    def name(common):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def issue(subject, issuer_name, issuer_key, ca=False, san=None):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(issuer_name or name(subject))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(san))]),
                                            critical=False)
        cert = builder.sign(issuer_key or key, hashes.SHA256())
        return key, cert

    def write(stem, key, cert):
        (work / (stem + ".key")).write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                               serialization.NoEncryption()))
        (work / (stem + ".pem")).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return str(work / (stem + ".pem")), str(work / (stem + ".key"))

    ca_key, ca_cert = issue("eda-it-ca", None, None, ca=True)
    other_key, other_cert = issue("eda-it-other-ca", None, None, ca=True)
    write("ca", ca_key, ca_cert)
    paths = {"ca": str(work / "ca.pem")}
    paths["server"] = write("server", *issue("127.0.0.1", ca_cert.subject, ca_key, san="127.0.0.1"))
    paths["falco"] = write("falco", *issue("falco", ca_cert.subject, ca_key))
    paths["stranger"] = write("stranger", *issue("stranger", other_cert.subject, other_key))
    return paths


def test_mtls_requires_a_client_certificate_from_the_ca(tmp_path):
    """Falco's own http_output cannot send headers (no token): mTLS alone authenticates it."""
    pki = _pki(tmp_path)
    server = PluginServer({"port": free_port(), "certfile": pki["server"][0], "keyfile": pki["server"][1],
                           "cafile": pki["ca"], "token_env": "EDA_IT_UNSET_TOKEN"})
    try:
        def client(cert=None):
            context = ssl.create_default_context(cafile=pki["ca"])
            if cert:
                context.load_cert_chain(*cert)
            return context
        alert = alert_for({"id": "0123456789ab", "name": "mtls", "image": falco_data.IMAGE})
        assert post(server.port, alert, None, context=client(pki["falco"])) == (200, {"status": "queued"})
        for refused in (client(), client(pki["stranger"])):
            with pytest.raises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)):
                post(server.port, alert, None, context=refused)
        assert len(server.events) == 1
    finally:
        server.stop()
