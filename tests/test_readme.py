"""The README's command lines, run as written, in order, on a fresh project folder: the quickstart cannot drift (each line
through the console script's entry point in a process of its own, forked from a server that has imported it once:
conftest's `alphatrade_runner`; `--version` below starts the real command).

Also: every option of every command has a help text, and dates are YYYY-MM-DD only (one line naming the option)."""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = [sys.executable, "-m", "alphatrade.apps.cli"]  # the `alphatrade` command

# The README lines that a test cannot run, and why (matched by prefix). Every other `alphatrade` line is run.
BY_DESIGN = {
    "alphatrade data fetch": "needs Alpaca keys and the network (tests/test_alpaca_fetch.py runs the fetch against a local server)",
    "alphatrade sim serve": "a server that runs until stopped (the `live --mode sim --data real` line starts its own simulator)",
    "alphatrade live --mode sim --sim-url": "needs the URL of a running `sim serve` (PORT is a placeholder)",
    "alphatrade live --mode paper": "needs Alpaca paper keys and the network",
    "alphatrade live --mode live": "real money: needs keys and the network",
}


def readme_lines(text: str) -> list[str]:
    "The `alphatrade ...` lines of the README's ```sh blocks, comments stripped, in order."
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            cmd = re.split(r"\s+#", line, maxsplit=1)[0].strip()
            if cmd.startswith("alphatrade "): out.append(cmd)
    return out


def skipped(cmd: str) -> str | None:
    return next((why for p, why in BY_DESIGN.items() if cmd.startswith(p)), None)


LINES = readme_lines((ROOT / "README.md").read_text())


def test_readme_lines_are_runnable_as_written():
    "Each line is one command (no `a | b` alternatives, no `...`, no [optional] parts), and the skips are few and named."
    assert len(LINES) >= 20, LINES
    for cmd in LINES:
        assert not re.search(r"\s\|\s|\.\.\.|\[", cmd), f"not a command as written: {cmd}"
    skips = [c for c in LINES if skipped(c)]
    assert len(skips) == len(BY_DESIGN), (skips, list(BY_DESIGN))  # each skip reason matches exactly one line


def fresh_project(tmp: Path) -> Path:
    "A project folder as a fresh clone has it: settings and config, no data/, runs/, models/ and no ../shared."
    p = tmp / "project"
    (p / "nbs").mkdir(parents=True)
    shutil.copy(ROOT / "settings.ini", p / "settings.ini")
    shutil.copytree(ROOT / "config", p / "config")
    return p


def test_readme_command_lines_run_verbatim(tmp_path, alphatrade_runner):
    proj = fresh_project(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPHATRADE_", "APCA_"))}
    env.update(ALPHATRADE_SHARED_DATA=str(tmp_path / "no-shared-data"), MPLBACKEND="Agg",  # as on a fresh clone: the sample
               PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    ran = []
    with alphatrade_runner(env, proj, tmp_path) as run:
        for cmd in LINES:
            if skipped(cmd): continue
            rc, out, err = run(shlex.split(cmd)[1:])
            assert rc == 0, f"README line failed (exit {rc}): {cmd}\n{out[-3000:]}\n{err[-3000:]}"
            ran.append(cmd)
    assert (proj / "data" / "real").is_dir() and (proj / "data" / "synthetic").is_dir()  # the two stores of the data folder
    assert len(ran) == len(LINES) - len(BY_DESIGN)


def _actions(parser: argparse.ArgumentParser, path=("alphatrade",)):
    for a in parser._actions:  # argparse has no public walk over its subparsers
        if isinstance(a, argparse._SubParsersAction):
            for name, sp in a.choices.items(): yield from _actions(sp, (*path, name))
        else: yield path, a


def test_every_option_has_help():
    from alphatrade.apps.cli import build_parser
    missing = [f"{' '.join(p)} {'/'.join(a.option_strings) or a.dest}" for p, a in _actions(build_parser())
               if not a.help and not isinstance(a, argparse._HelpAction)]
    assert not missing, "options without help:\n" + "\n".join(missing)


def test_version():
    r = subprocess.run([*BIN, "--version"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and re.search(r"\d+\.\d+", r.stdout + r.stderr), (r.stdout, r.stderr)


@pytest.mark.parametrize("args,option", [
    (["backtest", "--strategy", "momentum", "--start", "01-08-2025", "--end", "2025-08-29"], "--start"),
    (["backtest", "--strategy", "momentum", "--start", "2025-08-01", "--end", "13-08-2025"], "--end"),
    (["train", "--model", "lightgbm", "--start", "2025/06/02", "--end", "2025-07-31"], "--start"),
])
def test_dates_are_yyyy_mm_dd_only(args, option, tmp_path, alphatrade_cli):
    r = alphatrade_cli(*args, cwd=tmp_path)
    assert r.returncode != 0
    err = (r.stderr.strip() or r.stdout.strip()).splitlines()
    assert len(err) == 1, r.stderr
    assert option in err[0] and "YYYY-MM-DD" in err[0] and args[args.index(option) + 1] in err[0], err[0]
