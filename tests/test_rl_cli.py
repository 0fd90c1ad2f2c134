"""The portfolio RL agent as a strategy of the commands: `alphatrade backtest --strategy rl --agent DIR` and the live daemon
(`alphatrade live --mode sim ... --strategy rl --agent DIR`) load an agent saved by `rl.agents.save_agent` (tensors and JSON
only, its checksum verified) and trade its target weights through the same engine; a wrong agent is refused in one line."""
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from alphatrade.apps.live_ops import orders_of
from alphatrade.data.panel import panel_from_bars
from alphatrade.data.preprocess import filter_regular_hours
from alphatrade.data.sample import real_bars
from alphatrade.infra.repository import Database
from alphatrade.rl.agents import AgentConfig, save_agent, train_agent
from alphatrade.rl.env import EnvConfig

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "alphatrade.apps.cli"]
SYMBOLS = ["AAPL", "AMD", "MSFT", "NVDA"]  # the order a panel sorts them in: the agent's universe
ENV = EnvConfig(features=("ret_1", "ret_4"), observe_weights=False, episode_bars=60)  # deployable: features only
AGENT = AgentConfig(algo="ppo", steps=512, n_steps=128, net_arch=(16,), log_std_init=0.0, seed=3)  # untrained, but a real saved policy


cli = None  # `alphatrade ARGS...` -> CompletedProcess: conftest's alphatrade_cli (a process of its own per command line, forked
# from a server that imported the command once), bound before each test


@pytest.fixture(autouse=True)
def _bind_cli(alphatrade_cli):
    global cli
    cli = lambda *args, timeout=None: alphatrade_cli(*args, cwd=ROOT)


@pytest.fixture(scope="module")
def agent_dir(tmp_path_factory):
    bars = filter_regular_hours(real_bars())
    bars = bars[bars.symbol.isin(SYMBOLS) & (bars.timestamp >= pd.Timestamp("2025-06-02", tz="UTC")) & (bars.timestamp < pd.Timestamp("2025-07-01", tz="UTC"))]
    p = panel_from_bars(bars)
    assert list(p.symbols) == SYMBOLS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        agent = train_agent(p, ENV, AGENT)
    return save_agent(agent, tmp_path_factory.mktemp("agent") / "ppo4")


def test_backtest_and_daemon_trade_a_saved_agent(agent_dir, tmp_path, forked):
    out = tmp_path / "bt"
    r = cli("backtest", "--strategy", "rl", "--agent", agent_dir, "--data", "sample", "--symbols", ",".join(SYMBOLS),
            "--start", "2025-07-01", "--end", "2025-07-03", "--out", out, "-q")
    assert r.returncode == 0, r.stderr[-3000:]
    fills = pd.read_parquet(out / "fills.parquet")
    assert len(fills) > 0 and set(fills.symbol) <= set(SYMBOLS), fills
    assert json.loads((out / "config.json").read_text())["strategy"] == "rl_ppo"

    db = tmp_path / "live.db"
    argv = ["--mode", "sim", "--data", "sample", "--symbols", ",".join(SYMBOLS), "--start", "2025-07-01", "--end", "2025-07-01",
            "--strategy", "rl", "--agent", str(agent_dir), "--run-id", "rl", "--db", f"sqlite:///{db}", "--health-port", "-1", "--grace", "0.5", "--quiet"]
    # `python -m alphatrade.live ARGV...`: a process of its own forked from conftest's `forked` server, which has imported the
    # daemon's modules once (~1.7 s of CPU a start otherwise); a fresh interpreter when it is None (ALPHATRADE_NB_FORK=0)
    r = (forked.run(argv, cwd=ROOT, timeout=600) if forked is not None else
         subprocess.run([sys.executable, "-m", "alphatrade.live", *argv], capture_output=True, text=True, cwd=ROOT, timeout=600))
    assert r.returncode == 0, r.stderr[-3000:]
    orders = orders_of(Database(f"sqlite:///{db}"), "rl")
    assert len(orders) > 0 and set(orders.symbol) <= set(SYMBOLS), orders
    assert (orders.status == "filled").any(), orders


def test_a_wrong_agent_is_refused_in_one_line(agent_dir, tmp_path):
    r = cli("backtest", "--strategy", "rl", "--data", "sample", "--symbols", ",".join(SYMBOLS), "--start", "2025-07-01", "--end", "2025-07-01")
    assert r.returncode == 2 and "--strategy rl needs --agent DIR" in r.stderr, r.stderr[-2000:]
    r = cli("backtest", "--strategy", "momentum", "--agent", agent_dir, "--data", "sample", "--start", "2025-07-01", "--end", "2025-07-01")
    assert r.returncode == 2 and "--agent: only for --strategy rl" in r.stderr, r.stderr[-2000:]
    r = cli("backtest", "--strategy", "rl", "--agent", tmp_path, "--data", "sample", "--symbols", ",".join(SYMBOLS), "--start", "2025-07-01", "--end", "2025-07-01")
    assert r.returncode == 2 and "no agent.json" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    bad = tmp_path / "changed"; bad.mkdir()
    for f in ("agent.json", "policy.safetensors"): (bad / f).write_bytes((agent_dir / f).read_bytes())
    blob = bytearray((bad / "policy.safetensors").read_bytes()); blob[-1] ^= 1; (bad / "policy.safetensors").write_bytes(bytes(blob))
    r = cli("backtest", "--strategy", "rl", "--agent", bad, "--data", "sample", "--symbols", ",".join(SYMBOLS), "--start", "2025-07-01", "--end", "2025-07-01")
    assert r.returncode == 2 and "checksum differs" in r.stderr, r.stderr[-2000:]
    r = cli("backtest", "--strategy", "rl", "--agent", agent_dir, "--data", "sample", "--symbols", "AAPL,MSFT", "--start", "2025-07-01", "--end", "2025-07-01")
    assert r.returncode == 2 and "agent trained on 4 symbols" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
