"""Operations end to end: the daemon in sim mode trades a replayed week of the real stocks while /metrics is scraped over
HTTP; the counters move as the ledger says, and a kill switch (the daily-loss limit set tight) sends its alert to a local
webhook receiver through the settings' alerts section, as the docker stack's alert-receiver would get it."""
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from alphatrade.apps.live_ops import orders_of
from alphatrade.infra.alerting import LocalReceiver
from alphatrade.infra.repository import Database

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def sample(text: str, name: str) -> float | None:
    m = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_metrics_follow_the_ledger_and_the_kill_switch_alerts(tmp_path):
    port, db_url = free_port(), f"sqlite:///{tmp_path}/ops.db"
    with LocalReceiver() as rx:
        env = {**os.environ, "ALPHATRADE_ALERTS__WEBHOOK_URL": rx.url, "ALPHATRADE_RISK__MAX_DAILY_LOSS_PCT": "0.002"}
        cmd = [sys.executable, "-m", "alphatrade.apps.cli", "live", "--mode", "sim", "--data", "sample", "--start", "2026-06-01",
               "--end", "2026-06-05", "--strategy", "momentum", "--run-id", "ops", "--db", db_url, "--health-port", str(port), "--quiet"]
        p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        scrapes = []
        try:
            while p.poll() is None:
                try: scrapes.append(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text)
                except requests.RequestException: pass
                time.sleep(0.2)
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None: p.kill()
        t0 = time.monotonic()
        while not rx.received and time.monotonic() - t0 < 10: time.sleep(0.1)
    assert p.returncode == 4, (p.returncode, err[-3000:])  # halted by the kill switch: exit 4
    steps = [sample(s, "alphatrade_steps_total") for s in scrapes if sample(s, "alphatrade_steps_total") is not None]
    assert len(steps) >= 2 and steps[-1] > steps[0], steps  # scraped while it traded, and the count moved
    last = scrapes[-1]
    db = Database(db_url); orders = orders_of(db, "ops"); db.dispose()
    assert 0 < sample(last, "alphatrade_orders_sent_total") <= len(orders), (sample(last, "alphatrade_orders_sent_total"), len(orders))
    assert sample(last, "alphatrade_fills_total") <= int((orders.filled_qty.astype(float) > 0).sum()) + 1e-9
    assert sample(last, "alphatrade_equity_dollars") > 0 and sample(last, "process_resident_memory_bytes") > 0
    assert any(sample(s, "alphatrade_kill_switch") == 1.0 for s in scrapes), "the kill switch gauge never showed the halt"
    alerts = [a for b in rx.received for a in b["alerts"]]
    assert [a["labels"]["alertname"] for a in alerts] == ["kill_switch_active"], alerts
    assert alerts[0]["labels"]["run_id"] == "ops" and "daily" in alerts[0]["annotations"]["summary"], alerts[0]
