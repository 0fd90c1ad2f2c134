"""A fork server for tests/test_notebooks.py: each notebook still runs in a process of its own, but that process is forked
from one that has already imported what every notebook's run imports (nbdev's test runner, IPython, numpy, pandas,
matplotlib, SQLAlchemy, pydantic), so ~1.5-2 s of CPU per notebook is paid once per pytest worker instead of 108 times.

The child is made to look like the fresh `python -c` process it replaces: the caller's current environment and working
directory, a new empty `__main__`, `sys.argv` and `sys.path[0]` as `python -c` sets them, fresh random seeds, stdin from
/dev/null, stdout and stderr into files the caller reads, and at the end what interpreter shutdown does (non-daemon
threads joined, atexit handlers run, streams flushed). Nothing of the alphatrade package is imported before the fork, so
its import-time state (settings, registries) is the notebook's own. Nothing a notebook does reaches the server or the
next notebook: the child exits.

Protocol: one JSON line per request on stdin {"nb", "flags", "root", "out", "err", "env", "cwd"}, one JSON line per
answer on stdout {"rc"}. EOF on stdin stops the server. Used by tests/test_notebooks.py; not a library feature.

`nb_forkserver.py --cli`: the same for `alphatrade` command lines (tests/test_readme.py). A request {"argv", "out", "err",
"env", "cwd"} runs `alphatrade ARGV...` in a forked child as `python -m alphatrade.apps.cli ARGV...` would (the console
script's entry point `alphatrade.apps.cli:main`, sys.argv, exit code), from a server that has imported the command's
modules once (~3-4 s of CPU per command line otherwise). Start this server with the environment and working directory the
command lines run with: what the package reads at import time is then what a fresh process would read. No command runs
in the server; each child exits. (Tests of the console script itself, e.g. `--version`, still start real processes.)
"""
import json, os, sys

PRELOAD = ("nbdev.test", "execnb.shell", "fastcore.test", "IPython", "numpy", "pandas", "matplotlib", "matplotlib.pyplot",
           "matplotlib_inline.backend_inline", "sqlalchemy", "pydantic", "pydantic_settings", "exchange_calendars", "yaml",
           "scipy.stats", "seaborn", "cvxpy", "pypfopt", "requests", "aiohttp", "alembic")  # (libraries only: no threads started at
# import; not torch, LightGBM or CatBoost, whose thread pools must not be forked)


def _fresh(req: dict, argv: list, path0: str):
    "In a forked child: stdin from /dev/null, stdout and stderr to the request's files, its environment, folder, argv and sys.path[0], a new __main__ and fresh random seeds."
    import random, types
    null = os.open(os.devnull, os.O_RDONLY); os.dup2(null, 0); os.close(null)
    for fd, path in ((1, req["out"]), (2, req["err"])):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644); os.dup2(f, fd); os.close(f)
    os.environ.clear(); os.environ.update(req["env"])
    os.chdir(req["cwd"])
    sys.argv = argv
    sys.path[0] = path0
    sys.modules["__main__"] = types.ModuleType("__main__")
    random.seed()
    import numpy as np; np.random.seed()


def _child(req: dict) -> int:
    "In the forked child: become a fresh `python -c` process, run the notebook's tests as RUN_ONE does, return the exit code."
    import pathlib
    _fresh(req, ["-c", req["nb"], req["flags"], req["root"]], "")  # `python -c`: the working directory first (the server had tests/ there)
    from IPython.core.interactiveshell import InteractiveShell
    def _atexit_once(self):  # at exit, the notebook's shell closes its history but does not reset its namespace first: that reset is a
        # full garbage collection of the notebook's heap (~0.26 s of CPU per notebook) in a process about to end (weakref finalizers,
        # e.g. temporary folders, still run from atexit below)
        if self.history_manager is not None: self.history_manager.end_session(); self.history_manager.close(); self.history_manager = None
    InteractiveShell._atexit_once = _atexit_once
    import nbdev.test as t
    ok, _ = t.test_nb(pathlib.Path(req["nb"]), skip_flags=["slow"], force_flags=req["flags"].split(), basepath=req["root"])
    return 0 if ok else 1


CLI_PRELOAD = ("alphatrade.apps.cli", "torch", "gymnasium", "stable_baselines3.common.vec_env")  # the CLI, and what its model
# commands import (the policies' torch and SB3: imported only, no thread pool started)


def _cli_child(req: dict) -> int:
    "In the forked child: become `python -m alphatrade.apps.cli ARGV...`, run the command, return its exit code."
    import alphatrade.apps.cli as cli
    _fresh(req, [cli.__file__, *req["argv"]], req["cwd"])  # as `python -m` sets argv, and the working directory first
    return cli.main(req["argv"])


def _run_child(req: dict):
    code = 1
    try: code = _cli_child(req) if "argv" in req else _child(req); code = 0 if code is None else code
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if e.code is not None and not isinstance(e.code, int): print(e.code, file=sys.stderr)  # as the interpreter does
    except BaseException:
        import traceback; traceback.print_exc()
    finally:
        try:
            import atexit, threading
            threading._shutdown()  # as the interpreter does at exit: wait for non-daemon threads
            atexit._run_exitfuncs()
            sys.stdout.flush(); sys.stderr.flush()
        finally: os._exit(code)


def main():
    for m in PRELOAD + (CLI_PRELOAD if "--cli" in sys.argv[1:] else ()): __import__(m)
    proto_out = os.fdopen(os.dup(1), "w", buffering=1)
    for line in sys.stdin:
        req = json.loads(line)
        sys.stdout.flush(); sys.stderr.flush()
        pid = os.fork()
        if pid == 0: _run_child(req)
        _, status = os.waitpid(pid, 0)
        proto_out.write(json.dumps({"rc": os.waitstatus_to_exitcode(status)}) + "\n")


if __name__ == "__main__":
    main()
