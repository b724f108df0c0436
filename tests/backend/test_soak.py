"""A short soak (25 s of load) through the documented command, ``python -m benchmarks.soak``:
sustained mixed load (sign-ins, task offers, signed submissions, reads of rewards, epochs and
manifests) against ``labelshare serve`` with its settlement worker on a throwaway anvil; no 5xx
and no unexpected status, no transport error, no server error logged, no failed settlement pass,
RSS growth under the limit after warm-up, every accepted annotation settled exactly once (token
supply == accepted rewards) and ``labelshare audit`` clean. The full run is
``python -m benchmarks.soak --minutes 5`` (README: Tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_soak_shortRun_noErrors_noMemoryGrowth_everythingSettledOnce_auditClean(tmp_path):
    out = tmp_path / "soak.json"
    run = subprocess.run([sys.executable, "-m", "benchmarks.soak", "--seconds", "25", "--out", str(out),
                          "--keep", str(tmp_path / "stack")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.exists(), run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert result["ok"] and run.returncode == 0, (result["problems"], result["unexpected"], run.stderr[-2000:])
    # What "ok" means, spelled out:
    assert result["submissions"] >= 100, result["submissions"]
    assert not any(status >= 500 for statuses in result["requests"].values() for status in map(int, statuses))
    assert result["transport_errors"] == {} and result["unexpected"] == []
    assert not result["memory"]["flagged"], result["memory"]
    settlement = result["settlement"]
    assert settlement["drained"] and settlement["unsettled_accepted"] == 0 and settlement["epochs"] >= 3
    assert settlement["token_supply"] == settlement["accepted_reward"] != "0"
    assert result["audit"]["clean"] and f"annotations {settlement['accepted']}," in result["audit"]["summary"]
    assert result["server_log"]["error_lines"] == result["server_log"]["tracebacks"] == 0
    assert result["server_log"]["failed_settlement_passes"] == 0
