"""cloudtrail_hunt's Bedrock history through ansible-playbook, over planted CloudTrail log files: learn a week,
the strict twin finds nothing, the attack (stolen key from a new network, a new principal invoking Converse,
unusual volume) is found, check mode writes nothing, a deleted or damaged state fails closed."""

import json
import os
import stat

from lab import bedrock_history as bh

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks", "cloudtrail_history", "main.yml")


def test_history_over_planted_files(tmp_path, playbook):
    logs = {"history": bh.write_files(str(tmp_path / "history"), bh.history_events()),
            "twin": bh.write_files(str(tmp_path / "twin"), bh.twin_events()),
            "attack": bh.write_files(str(tmp_path / "attack"), bh.attack_events())}
    windows = {"history": bh.window(-bh.HISTORY_DAYS, bh.HISTORY_DAYS), "twin": bh.window(0), "attack": bh.window(0)}
    state = tmp_path / "state" / "bedrock-history.json"
    state.parent.mkdir()
    res = playbook(PLAYBOOK, extra_vars={"logs": logs, "windows": windows, "state": str(state)}, diff=True)
    assert res.rc == 0, res
    assert "failed=0" in res.stdout and "ignored=4" in res.stdout, res
    # the attack run kept the state it replaced, private like the state
    backup = json.loads((tmp_path / "state" / "bedrock-history.json.bak").read_text())
    assert bh.NEWCOMER not in backup["accounts"]["123456789012"]["principals"]
    assert stat.S_IMODE(os.stat(str(state) + ".bak").st_mode) == 0o600
    assert sorted(os.listdir(str(state.parent))) == ["bedrock-history.json", "bedrock-history.json.bak"]
