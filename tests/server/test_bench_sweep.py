"""``bench/sweep.py`` in a smoke run: tiny numbers, the JSON it writes has its shape and
the sweep deleted every due row with its storage key (never a timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench" / "sweep.py"


def test_the_sweep_benchmark_runs_and_deletes_what_is_due(tmp_path: Path) -> None:
    """12 conversations of 6 messages, swept by the server's scheduler in batches of 10
    messages while a live chat runs."""
    out = tmp_path / "sweep.json"
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--conversations=12",
            "--per=6",
            "--rate=10",
            "--warmup=0.2",
            "--idle=0.5",
            "--settle=0",
            "--settings=10:0",
            f"--json={out}",
            f"--dir={tmp_path / 'work'}",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert (figures["conversations"], figures["messages"]) == (12, 72)
    assert set(figures["setup"]) == {"load_seconds", "database_mib"}
    (run,) = figures["runs"]
    assert set(run) == {
        "settings",
        "sweep_in",
        "code",
        "sweep",
        "before",
        "after",
        "live",
        "goals",
    }
    assert run["sweep_in"] == "server"  # the server's own scheduler, as installed
    assert run["settings"] == {"retention_batch": 10, "retention_pause_ms": 0}
    sweep = run["sweep"]
    assert set(sweep) == {"seconds", "batches", "rows_deleted", "keys_destroyed", "errors"}
    assert sweep["rows_deleted"]["messages"] == 72
    assert sweep["rows_deleted"]["conversations_emptied"] == 12
    assert sweep["keys_destroyed"] == 12 and sweep["errors"] == []
    assert sweep["batches"] >= 72 // 10
    assert run["before"]["due_messages"] == 72 and run["before"]["storage_keys"] == 12
    # Only the live conversation's messages and storage key remain; no page left free.
    assert run["after"]["due_messages"] == 0
    assert run["after"]["storage_keys"] == 1
    assert run["after"]["free_pages"] == 0
    live = run["live"]
    assert set(live) == {
        "rate_per_side",
        "idle",
        "idle_before",
        "idle_after",
        "during_sweep",
        "p99_ratio",
        "unacked",
        "errors",
        "slowest",
    }
    for window in ("idle", "idle_before", "idle_after", "during_sweep"):
        assert set(live[window]) == {"n", "p50_ms", "p99_ms", "max_ms"}
    assert live["idle"]["n"] > 0 and live["unacked"] == 0 and live["errors"] == 0
    assert set(run["goals"]) == {"sweep_under_60_s", "p99_at_most_twice_idle"}
    assert "live p99" in result.stdout
