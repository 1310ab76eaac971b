"""The benchmark harness in its smoke mode, so that it cannot rot: every scenario runs
against real servers on free ports, and the figures have their shape and add up. No
timing is asserted (this machine is shared); only that nothing was lost on the way."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
# The module's one harness run happens in the first test (a file runs whole on one worker:
# scripts/test's --dist loadfile).
pytestmark = pytest.mark.timeout(150)


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One ``bench.run all --quick`` (with charts), as a person runs it."""
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "all", "--quick", "--out", str(out / "r.json")]
        + (["--charts", str(out)] if _has_matplotlib() else []),
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result: dict[str, Any] = json.loads((out / "r.json").read_text())
    result["_stdout"] = proc.stdout
    result["_folder"] = str(out)
    return result


def installed_peers() -> set[str]:
    """The peers the harness runs on this machine (each when its Debian package is in)."""
    found = set()
    if Path("/usr/lib/nginx/modules/ngx_nchan_module.so").exists():
        found.add("nginx-nchan")
    if shutil.which("prosody"):
        found.add("prosody-mam")
    return found


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def test_every_scenario_runs_without_error(quick: dict[str, Any]) -> None:
    """Each scenario ran, printed its figures and wrote them, none with an error."""
    assert set(quick["scenarios"]) == {"relay", "idle", "storm", "surge", "widget"}
    for name, figures in quick["scenarios"].items():
        assert "error" not in figures, (name, figures.get("error"))
    assert quick["quick"] is True
    assert quick["machine"]["cores"] >= 1
    assert "wrote " in quick["_stdout"]


def test_relay_delivers_every_message_on_every_system(quick: dict[str, Any]) -> None:
    """Relay and store: both systems, both sizes, every round; nothing lost or unacked."""
    config = quick["config"]
    relay = quick["scenarios"]["relay"]
    assert set(relay["sizes"]) == {str(s) for s in config["sizes"]}
    for figures in relay["sizes"].values():
        assert set(figures["systems"]) == {"chatserver", "null-relay", *installed_peers()}
        for name, system in figures["systems"].items():
            assert system["steps"], name
            assert system["sent"] == system["delivered"] > 0, name
            assert system["lost"] == 0, name
            for step in system["steps"]:
                assert len(step["rounds"]) == config["rounds"]
                for rnd in step["rounds"]:
                    assert rnd["sent"] == rnd["delivered"] == rnd["latency"]["count"]
                    assert rnd["unacked"] == 0 and rnd["errors"] == 0 and rnd["strays"] == 0
                    if name == "chatserver":  # stored: every message acked after commit
                        assert rnd["ack_latency"]["count"] == rnd["sent"]
            assert system["highest_rate_p99_ok"] in [0, *config["rates"]]
        assert {r["rate"] for r in figures["ratios"]} <= set(config["rates"])


def test_idle_memory_is_a_slope_over_every_step(quick: dict[str, Any]) -> None:
    """Idle connections: PSS read at every step of every round, a slope per system."""
    config = quick["config"]
    idle = quick["scenarios"]["idle"]
    assert set(idle["systems"]) == {"chatserver", "null-relay", *installed_peers()}
    for system in idle["systems"].values():
        assert len(system["rounds"]) == config["idle_rounds"]
        for rnd in system["rounds"]:
            assert [p[0] for p in rnd["points"]] == config["idle_steps"]
            assert all(p[1] > 0 for p in rnd["points"])
        assert system["connections"] == config["idle_steps"][-1]


def test_storm_brings_every_client_back_with_every_message(quick: dict[str, Any]) -> None:
    """Reconnect storm: every dropped client resumed and got all its messages back."""
    storm = quick["scenarios"]["storm"]
    assert storm["clients"] == quick["config"]["storm_clients"]
    assert storm["caught_up"] == storm["clients"]
    assert storm["lost"] == 0
    assert storm["catch_up"]["count"] == storm["clients"]


def test_surge_accounts_for_every_start(quick: dict[str, Any]) -> None:
    """Queue surge: every start answered and seen by every console; accepted plus
    still waiting is every client; every accept reached every console."""
    surge = quick["scenarios"]["surge"]
    assert surge["started"] == surge["clients"] == quick["config"]["surge_clients"]
    assert surge["accepted"] + surge["still_waiting"] == surge["clients"]
    assert surge["accepted"] > 0
    assert surge["dropped_clients"] == surge["dropped_consoles"] == 0
    assert surge["every_console_saw_every_start"] is True
    assert surge["every_console_saw_every_accept"] is True
    assert surge["queued_latency"]["count"] == surge["clients"] * surge["counsellors"]
    assert surge["start_latency"]["count"] == surge["clients"]


def test_widget_weight_counts_loader_and_page(quick: dict[str, Any]) -> None:
    """Widget weight: the loader and every file the chat page loads, gzipped."""
    widget = quick["scenarios"]["widget"]
    assert list(widget["loader"]["files"]) == ["loader.js"]
    assert "frame.html" in widget["chat page"]["files"]
    for part in (widget["loader"], widget["chat page"]):
        assert part["gzipped"] == sum(part["files"].values()) > 0


def test_charts_are_drawn(quick: dict[str, Any]) -> None:
    """With matplotlib (the bench extra) the run draws its PNG charts."""
    if not _has_matplotlib():
        pytest.skip("matplotlib is in the bench extra, not installed here")
    folder = Path(quick["_folder"])
    names = sorted(p.name for p in folder.glob("*.png"))
    assert names == ["bench-idle.png", "bench-relay-2048.png", "bench-relay-256.png"]
    assert all((folder / n).read_bytes().startswith(b"\x89PNG") for n in names)


RELAY_AND_STORM = [sys.executable, "-m", "bench.run", "relay", "storm", "--quick", "--peers", ""]


def test_before_runs_another_checkout_beside_this_one(tmp_path: Path) -> None:
    """``--before DIR`` adds the chat server found in DIR to the relay (as a system of its
    own) and runs the storm once more with it; a folder without one is refused."""
    out = tmp_path / "r.json"

    def bench(before: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*RELAY_AND_STORM, "--before", str(before), "--out", str(out)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=120,
        )

    proc = bench(REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    for figures in result["scenarios"]["relay"]["sizes"].values():
        assert set(figures["systems"]) == {"chatserver", "chatserver-before"}
        before = figures["systems"]["chatserver-before"]
        assert before["sent"] == before["delivered"] > 0
    storm = result["scenarios"]["storm"]
    assert storm["before"]["caught_up"] == storm["caught_up"] == storm["clients"]
    assert storm["before"]["lost"] == 0
    assert "chatserver-before: " in proc.stdout

    refused = bench(tmp_path)
    assert refused.returncode != 0
    assert "no chatserver package there" in refused.stdout + refused.stderr
