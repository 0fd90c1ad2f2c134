"""The docker/ stack, validated with the tools this machine has (there is no Docker engine here).

- `promtool check config` and `check rules` (Debian's `prometheus` package) on the Prometheus files;
- `amtool check-config` (Debian's `prometheus-alertmanager`) on Alertmanager's;
- the compose file against the Compose Specification's JSON schema (tests/data/compose_spec.json, from docker-compose
  1.29.2's package, Apache-2.0);
- every metric a dashboard panel or an alert rule queries exists in the daemon's registry (`infra.metrics`);
- every `alphatrade` command line in the Dockerfile and the compose file parses with the real command-line parser, so the
  stack cannot start a command that no longer exists or pass an option that was renamed.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
COMPOSE = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"): pytest.fail(f"{name} is not installed (.ci/run installs Debian's prometheus packages)")
        pytest.skip(f"{name} is not installed here (apt-get install prometheus prometheus-alertmanager)")
    return path


def test_promtool_accepts_config_and_rules():
    p = subprocess.run([tool("promtool"), "check", "config", str(DOCKER / "prometheus/prometheus.yml")], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    r = subprocess.run([tool("promtool"), "check", "rules", str(DOCKER / "prometheus/alerts.yml")], capture_output=True, text=True)
    assert r.returncode == 0 and "SUCCESS: 7 rules found" in r.stdout, r.stdout + r.stderr


def test_promtool_refuses_a_broken_rule(tmp_path):
    "The check can fail: a rule with a PromQL syntax error is refused."
    bad = yaml.safe_load((DOCKER / "prometheus/alerts.yml").read_text())
    bad["groups"][0]["rules"][0]["expr"] = "up{job= == 0"
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(bad))
    r = subprocess.run([tool("promtool"), "check", "rules", str(tmp_path / "alerts.yml")], capture_output=True, text=True)
    assert r.returncode != 0


def test_amtool_accepts_alertmanager_config():
    p = subprocess.run([tool("amtool"), "check-config", str(DOCKER / "alertmanager/alertmanager.yml")], capture_output=True, text=True)
    assert p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout + p.stderr


def test_compose_file_follows_the_compose_specification():
    import jsonschema
    schema = json.loads((ROOT / "tests/data/compose_spec.json").read_text())
    v = jsonschema.Draft201909Validator(schema)
    v.validate(COMPOSE)
    broken = {**COMPOSE, "services": {**COMPOSE["services"], "daemon": {**COMPOSE["services"]["daemon"], "restart_policy": "always"}}}
    with pytest.raises(jsonschema.ValidationError):  # an unknown service key is refused
        v.validate(broken)


def test_compose_stack_has_every_service_and_its_config():
    s = COMPOSE["services"]
    assert {"daemon", "simulator", "migrate", "postgres", "redis", "prometheus", "grafana", "alertmanager"} <= set(s)
    assert s["postgres"]["image"].startswith("timescale/timescaledb")
    assert s["daemon"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    for svc in s.values():  # every file a service mounts is in the repository
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("."): assert (DOCKER / src).exists(), f"{src} is mounted but missing"


def queried_metrics(expr: str) -> set[str]:
    names = set(re.findall(r"\b((?:alphatrade|process|python)_[a-z0-9_]+)", expr))
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}


def registry_names() -> set[str]:
    from alphatrade.infra.metrics import TradingMetrics
    out = set()
    for mf in TradingMetrics().registry.collect():
        out.add(mf.name); out.update(s.name for s in mf.samples)
        if mf.type == "counter": out.add(mf.name + "_total")
        if mf.type == "info": out.add(mf.name + "_info")
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in out}


def test_every_dashboard_and_alert_metric_exists():
    dash = json.loads((DOCKER / "grafana/dashboards/alphatrade.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    rules = yaml.safe_load((DOCKER / "prometheus/alerts.yml").read_text())
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    used = set().union(*map(queried_metrics, exprs))
    missing = used - registry_names()
    assert not missing, f"queried but not exported: {sorted(missing)}"
    assert len(used) >= 20, sorted(used)
    titles = {p["title"] for p in dash["panels"]}
    for want in ("Equity", "P&L", "Drawdown", "Orders by status", "Fills and slippage", "Rejections by reason", "Step latency", "Feed lag", "Kill switch",
                 "Stream", "Model", "Feature cache", "Reconciliation", "Execution algorithms"):
        assert want in titles, titles
    fed_by_observers = {"alphatrade_stream_reconnects_total", "alphatrade_model_prediction_seconds", "alphatrade_feature_seconds",
                        "alphatrade_feature_cache_requests_total", "alphatrade_reconciliation_repairs", "alphatrade_algo_progress_ratio"}
    assert fed_by_observers <= used, sorted(fed_by_observers - used)  # each has a panel (tests/test_ops.py checks they move)


def alphatrade_commands():
    out = []
    df = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    cmd = re.search(r"^CMD (\[.*\])\s*$", df, re.M)
    out.append(("Dockerfile CMD", json.loads(cmd.group(1))))
    for name, svc in COMPOSE["services"].items():
        c = svc.get("command")
        if c and c[0] == "alphatrade": out.append((f"compose {name}", c))
    return out


@pytest.mark.parametrize("where,argv", alphatrade_commands(), ids=lambda x: x if isinstance(x, str) else "")
def test_stack_commands_parse(where, argv):
    from alphatrade.apps import live_run
    from alphatrade.apps.cli import build_parser
    parser, args = (live_run.build_parser(), argv[2:]) if argv[1] == "live" else (build_parser(), argv[1:])  # `live` parses its own flags
    try: parser.parse_args(args)
    except SystemExit as e: pytest.fail(f"{where}: `{shlex.join(argv)}` does not parse (exit {e.code})")


def test_dockerfile_is_multistage_nonroot_with_healthcheck():
    df = (DOCKER / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", df, re.M)) >= 2
    user = re.findall(r"^USER (\S+)", df, re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/health", df, re.M)
    assert "torch==2.13.0" in df and "download.pytorch.org/whl/cpu" in df


def _expand(v: str) -> str:
    "Compose's ${VAR:-default} interpolation, with the environment of this test (defaults when unset)."
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: os.environ.get(m.group(1), m.group(2)), str(v))


def _free_port() -> int:
    import socket
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def test_stack_services_run_as_compose_starts_them(tmp_path, forked):
    """The migrate, alert-receiver, simulator and daemon services' own commands and environment, run here as processes:
    service names become 127.0.0.1 and each port a free one; the one other change is the database (a SQLite file: there is
    no TimescaleDB here). Each must start and answer as the stack expects: migrate exits 0, the receiver listens, the
    simulator and the daemon answer /health and /metrics, and SIGTERM stops the daemon cleanly. Each `python -m MODULE ARGS`
    (`alphatrade` is `python -m alphatrade.apps.cli`) is a process of its own forked from conftest's `forked` server, which
    imported the package once (a fresh interpreter with ALPHATRADE_NB_FORK=0)."""
    import requests, signal, time
    from live_forkserver import first_line, spawn
    svc = COMPOSE["services"]
    ports = {"simulator:8765": _free_port(), "alert-receiver:9095": _free_port(), "9108": _free_port()}
    def local(a: str) -> str:
        a = _expand(a)
        for k, p in ports.items():
            a = a.replace(f"http://{k}", f"http://127.0.0.1:{p}") if ":" in k else a
        return a.replace("redis://redis:6379", "redis://127.0.0.1:6379")  # the stack's Redis is this machine's
    def argv(name: str) -> list[str]:
        out = [local(a) for a in svc[name]["command"]]
        if "--port" in out: out[out.index("--port") + 1] = str(ports[f"{name}:{out[out.index('--port') + 1]}"])
        if "--health-port" in out: out[out.index("--health-port") + 1] = str(ports[out[out.index("--health-port") + 1]])
        return [sys.executable, "-m", "alphatrade.apps.cli", *out[1:]] if out[0] == "alphatrade" else [sys.executable if out[0] == "python" else out[0], *out[1:]]
    env = {**os.environ, **{k: local(v) for k, v in svc["daemon"]["environment"].items()},
           "ALPHATRADE_DATABASE__URL": f"sqlite:///{tmp_path}/stack.db"}
    assert env["ALPHATRADE_FEATURE_CACHE"] == "redis://127.0.0.1:6379/0"  # the daemon's feature cache: the stack's Redis
    def start(name: str):
        a = argv(name)
        assert a[:2] == [sys.executable, "-m"], a  # every service here is a Python module's command line
        return spawn(forked, a[3:], main=a[2], env=env, cwd=ROOT)
    m = start("migrate")
    assert m.wait(120) == 0, m.stderr.read()[-3000:]
    procs = {}
    def wait(url, secs=90):
        t0 = time.monotonic()
        while time.monotonic() - t0 < secs:
            for n, p in procs.items():
                if p.poll() is not None: pytest.fail(f"{n} exited ({p.returncode}): {p.stderr.read()[-2000:]}")
            try: return requests.get(url, timeout=2)
            except requests.RequestException: time.sleep(0.3)
        pytest.fail(f"nothing answered at {url}")
    try:
        for name in ("alert-receiver", "simulator", "daemon"):
            procs[name] = start(name)
            if name == "alert-receiver": assert json.loads(first_line(procs[name]))["receiving"].endswith(f":{ports['alert-receiver:9095']}/")
            if name == "simulator":
                h = wait(f"http://127.0.0.1:{ports['simulator:8765']}/health").json()
                assert h["status"] == "serving", h
        d = f"http://127.0.0.1:{ports['9108']}"
        t0 = time.monotonic()
        while (wait(f"{d}/health").json()["status"] != "running") and time.monotonic() - t0 < 90: time.sleep(0.5)
        health = wait(f"{d}/health").json()
        assert health["status"] == "running" and health["run_id"] == "compose", health
        assert "alphatrade_equity_dollars" in wait(f"{d}/metrics").text
        assert "alphatrade_sim_orders" in wait(f"http://127.0.0.1:{ports['simulator:8765']}/metrics").text
        procs["daemon"].send_signal(signal.SIGTERM)
        assert procs["daemon"].wait(30) == 0, procs["daemon"].stderr.read()[-3000:]
    finally:
        for p in procs.values():
            if p.poll() is None: p.send_signal(signal.SIGTERM)
            try: p.wait(10)
            except subprocess.TimeoutExpired: p.kill()
