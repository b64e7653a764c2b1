"""The lab harness starts a real process on a free loopback port and stops only what it started."""

import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from lab import harness


def test_up_reuse_and_down(tmp_path):
    lab = harness.Lab(state_dir=str(tmp_path))
    info = lab.up("http_static")
    body = urllib.request.urlopen("http://127.0.0.1:%d/" % info["port"], timeout=5).read()
    assert b"Directory listing" in body
    record = lab.running("http_static")
    assert record and record["info"]["port"] == info["port"]
    assert lab.up("http_static") == info  # reused, not restarted
    lab.down("http_static")
    assert lab.running("http_static") is None
    with pytest.raises(OSError):
        urllib.request.urlopen("http://127.0.0.1:%d/" % info["port"], timeout=2)


def test_down_never_kills_a_recycled_pid(tmp_path):
    lab = harness.Lab(state_dir=str(tmp_path))
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        # A stale record whose PID now belongs to another process (different start time).
        lab._write("ghost", {"name": "ghost", "pid": other.pid, "start_time": 1, "argv": [], "log": "", "info": {}})
        assert lab.running("ghost") is None
        lab.down("ghost")
        assert other.poll() is None, "the harness killed a process it did not start"
    finally:
        os.killpg(other.pid, signal.SIGKILL)
        other.wait()


def test_failed_start_reports_the_log_tail(tmp_path, monkeypatch):
    lab = harness.Lab(state_dir=str(tmp_path))

    def broken(name):
        return harness.Service(lab, name, [sys.executable, "-c", "print('boom: bad config'); raise SystemExit(3)"],
                               timeout=5)
    monkeypatch.setattr(lab, "definition", broken)
    with pytest.raises(harness.ServiceError, match="(?s)exited with 3.*boom: bad config"):
        lab.up("broken")
    assert lab.running("broken") is None


def test_unknown_service_is_a_clear_error(tmp_path):
    with pytest.raises(harness.ServiceError, match="no lab service 'nope'"):
        harness.Lab(state_dir=str(tmp_path)).up("nope")
