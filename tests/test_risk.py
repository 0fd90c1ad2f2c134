"""The kill switch survives a process restart: one real process activates it and exits, another finds it active.
Each of those processes is forked from a multiprocessing forkserver that has imported the kill switch's modules once (they are
~1.5 s of CPU per `python -c`); none of them touched a store before the fork, so each starts from what the store holds."""
import contextlib, io, multiprocessing as mp

import pytest

ACTIVATE = """
from alphatrade.risk.limits import KillSwitch, FileKillSwitchStore
from alphatrade.infra.repository import Database, KillSwitchRepository
store = {store}
ks = KillSwitch(store)
assert not ks.active
ks.activate("daily loss 5.2% > 5%")
"""
READ = """
from alphatrade.risk.limits import KillSwitch, FileKillSwitchStore
from alphatrade.infra.repository import Database, KillSwitchRepository
ks = KillSwitch({store})
print("ACTIVE" if ks.active else "INACTIVE", ks.reason)
"""


def _exec(code: str, out):
    "In the child process: run `code` as `python -c` would (a fresh namespace), send back what it printed."
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf): exec(code, {"__name__": "__main__"})
    out.send(buf.getvalue())


@pytest.fixture(scope="module")
def ctx():
    c = mp.get_context("forkserver")
    c.set_forkserver_preload(["alphatrade.risk.limits", "alphatrade.infra.repository"])
    return c


def _py(ctx, code):
    "`code` in a process of its own (exit code 0 asserted); what it printed."
    recv, send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_exec, args=(code, send)); p.start(); send.close()
    out = recv.recv() if recv.poll(120) else None
    p.join(120)
    assert p.exitcode == 0 and out is not None, (p.exitcode, out)
    return out.strip()


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_kill_switch_survives_restart(tmp_path, kind, ctx):
    store = (f"FileKillSwitchStore({str(tmp_path / 'ks.json')!r})" if kind == "file"
             else f"KillSwitchRepository(Database('sqlite:///{tmp_path}/ks.db').migrate())")
    _py(ctx, ACTIVATE.format(store=store))
    assert _py(ctx, READ.format(store=store)) == "ACTIVE daily loss 5.2% > 5%"
    _py(ctx, READ.format(store=store).replace('print(', 'ks.reset("ops lead"); print('))
    assert _py(ctx, READ.format(store=store)).startswith("INACTIVE")
