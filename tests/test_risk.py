"""The kill switch survives a process restart: one real process activates it and exits, another finds it active."""
import subprocess
import sys
import textwrap

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


def _py(code):
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_kill_switch_survives_restart(tmp_path, kind):
    store = (f"FileKillSwitchStore({str(tmp_path / 'ks.json')!r})" if kind == "file"
             else f"KillSwitchRepository(Database('sqlite:///{tmp_path}/ks.db').migrate())")
    _py(ACTIVATE.format(store=store))
    assert _py(READ.format(store=store)) == "ACTIVE daily loss 5.2% > 5%"
    _py(READ.format(store=store).replace('print(', 'ks.reset("ops lead"); print('))
    assert _py(READ.format(store=store)).startswith("INACTIVE")
