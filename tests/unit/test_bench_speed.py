"""Smoke tests of bench/bench_speed.py: the parts that need no database."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_speed.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_speed", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_speed"] = module
    spec.loader.exec_module(module)
    return module


def test_help_scenario_runs_and_prints_the_table(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--only", "help", "--repeat", "1", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    header = next(x for x in proc.stdout.splitlines() if x.startswith("scenario "))
    assert [c.strip() for c in header.split("|")] == [
        "scenario",
        "baseline (s)",
        "migrata (s)",
        "ratio",
        "goal",
        "met?",
    ]
    data = json.loads(out.read_text())
    assert [r["key"] for r in data["rows"]] == ["help"]
    assert data["rows"][0]["value"] > 0


def test_compare_prints_before_and_after(tmp_path: Path) -> None:
    row = {"key": "apply-100", "goal_kind": "ratio", "value": 2.0, "ratio": 2.0, "met": True}
    before = tmp_path / "b.json"
    after = tmp_path / "a.json"
    before.write_text(json.dumps({"rows": [row]}))
    after.write_text(json.dumps({"rows": [{**row, "ratio": 3.0, "met": False}]}))
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--compare", str(before), str(after)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("apply 100 migrations"))
    assert "2.00x" in line and "3.00x" in line and "yes -> NO" in line


def test_delay_link_keeps_order_delays_and_counts_round_trips() -> None:
    bench = load_bench()
    server = socket.create_server(("127.0.0.1", 0))

    def echo() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(1 << 16):
                conn.sendall(data)

    threading.Thread(target=echo, daemon=True).start()
    link = bench.DelayLink(server.getsockname())
    try:
        with socket.create_connection(("127.0.0.1", link.port)) as client:
            start = time.monotonic()
            for n in range(3):
                message = f"ping {n};".encode()
                client.sendall(message)
                got = b""
                while len(got) < len(message):
                    got += client.recv(1 << 16)
                assert got == message
            elapsed = time.monotonic() - start
            client.shutdown(socket.SHUT_WR)
            assert client.recv(1) == b""
        connections, round_trips = link.counts()
    finally:
        link.close()
        server.close()
    assert elapsed >= 3 * 2 * bench.LINK_DELAY
    assert (connections, round_trips) == (1, 2)  # the first send follows no reply
