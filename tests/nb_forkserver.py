"""A fork server for tests/test_notebooks.py: each notebook still runs in a process of its own, but that process is forked
from one that has already imported what every notebook's run imports (nbdev's test runner, IPython, numpy, pandas,
matplotlib, SQLAlchemy, pydantic, torch), so ~1.5-2 s of CPU per notebook is paid once per pytest worker instead of 108 times.

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
An `alphatrade run` line's papermill kernel is forked as well, from the line's own child (`_KernelZygote`).
"""
import json, os, sys

PRELOAD = ("nbdev.test", "execnb.shell", "fastcore.test", "IPython", "numpy", "pandas", "matplotlib", "matplotlib.pyplot",
           "matplotlib_inline.backend_inline", "sqlalchemy", "pydantic", "pydantic_settings", "exchange_calendars", "yaml",
           "scipy.stats", "seaborn", "cvxpy", "pypfopt", "requests", "aiohttp", "alembic",
           "torch", "torch._dynamo")  # (libraries only: no threads started at import; not LightGBM or CatBoost. torch starts its
# thread pools at its first parallel operation, not at import: imported here, as CLI_PRELOAD does, with torch._dynamo, which its
# optimizers import at their first construction (~1.5 CPU-s); ~3-4 CPU-s per notebook that trains a network. skops' loader no
# longer imports torch: models.classical._skops_io keeps sklearn's array-API shims out of its import)


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


CLI_PRELOAD = ("alphatrade.apps.cli", "alphatrade.infra.db", "torch", "torch._dynamo", "gymnasium", "stable_baselines3.common.vec_env",  # the CLI, its database layer (db_errors), what its model
    # commands import (the policies' torch and SB3: imported only, no thread pool started); what `alphatrade run` imports (papermill:
    # ~1.6 s of CPU per run line, most of it jsonschema's rfc3987 grammar for nbformat) and its kernel (`_KernelZygote`)
    "papermill", "ipykernel.kernelapp", "ipykernel.ipkernel", "alphatrade.apps.report")


def _cli_child(req: dict) -> int:
    "In the forked child: become `python -m alphatrade.apps.cli ARGV...`, run the command, return its exit code."
    import alphatrade.apps.cli as cli
    _fresh(req, [cli.__file__, *req["argv"]], req["cwd"])  # as `python -m` sets argv, and the working directory first
    if req["argv"][:1] == ["run"]: _KernelZygote().install()  # a papermill run: its kernel forked too
    return cli.main(req["argv"])


class _KernelZygote:
    """`alphatrade run` executes a notebook with papermill, which starts a Jupyter kernel, `python -m ipykernel_launcher -f CONN`:
    ~2 s of CPU per run in a fresh interpreter's imports (ipykernel, pandas, matplotlib, the package) before the first cell.
    In a run line's child, before the command does anything (no thread, no event loop, no zmq context yet), a zygote is forked
    that waits; jupyter_client's launch of an ipykernel kernel (`jupyter_client.provisioning.local_provisioner.launch_kernel`)
    is handed to it, and it becomes that kernel: a process of its own and the command's child, as the real one is, in a
    session of its own (launch_kernel's start_new_session: interrupts go to its group), with the launch's environment
    (JPY_PARENT_PID: the command's pid) and folder, argv as `python -m` sets it, stdin from /dev/null (launch_kernel's closed
    pipe), the command's stdout and stderr, fresh seeds; then `ipykernel_launcher` runs as `python -m` runs it, with what the
    server imported already imported. Its kernel still talks to papermill over zmq, signals and exit code as before. Any other
    kernel command or launch option, or a second kernel, starts as usual; an unused zygote exits when the command ends."""
    def __init__(self):
        r, self.w = os.pipe(); self.ack, aw = os.pipe()
        self.pid, self.used = os.fork(), False
        if self.pid == 0:
            os.close(self.w); os.close(self.ack)
            data = b""
            while chunk := os.read(r, 65536): data += chunk
            if not data: os._exit(0)  # the command ended without a kernel
            self._become_kernel(json.loads(data), aw)
        os.close(r); os.close(aw)

    @staticmethod
    def _become_kernel(req: dict, aw: int):
        import random, runpy, types
        def become():
            os.setsid(); os.write(aw, b"1"); os.close(aw)  # in its own session before the launcher reads its process group
            null = os.open(os.devnull, os.O_RDONLY); os.dup2(null, 0); os.close(null)
            os.environ.clear(); os.environ.update(req["env"])
            os.chdir(req["cwd"])
            sys.argv = ["-m", *req["cmd"][3:]]
            sys.path[0] = os.getcwd()  # `python -m`: the working directory first (ipykernel_launcher takes it out while it imports)
            sys.modules["__main__"] = types.ModuleType("__main__")
            random.seed()
            import numpy as np; np.random.seed()
            runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)
        exit_as_python(become)

    def install(self):
        "Route jupyter_client's next ipykernel launch to the zygote; reap an unused zygote at exit."
        import atexit
        from jupyter_client.provisioning import local_provisioner as lp
        real = lp.launch_kernel
        def launch_kernel(cmd, stdin=None, stdout=None, stderr=None, env=None, independent=False, cwd=None, **kw):
            if (self.used or kw or independent or (stdin, stdout, stderr) != (None, None, None) or cmd[:1] != [sys.executable]
                    or list(cmd[1:3]) != ["-m", "ipykernel_launcher"]):
                return real(cmd, stdin=stdin, stdout=stdout, stderr=stderr, env=env, independent=independent, cwd=cwd, **kw)
            env = dict(os.environ if env is None else env); env["JPY_PARENT_PID"] = str(os.getpid())  # as launch_kernel sets it
            self.used = True
            os.write(self.w, json.dumps({"cmd": [os.path.expanduser(c) for c in cmd], "env": env, "cwd": str(cwd or os.getcwd())}).encode())
            os.close(self.w)
            assert os.read(self.ack, 1) == b"1", "the kernel zygote died before it started the kernel"
            os.close(self.ack)
            return _ForkedKernel(self.pid)
        lp.launch_kernel = launch_kernel
        atexit.register(self._close)

    def _close(self):
        if self.used: return
        os.close(self.w); os.close(self.ack); os.waitpid(self.pid, 0)


class _ForkedKernel:
    "What jupyter_client uses of the kernel's Popen (pid, poll, wait, send_signal, terminate, kill, returncode; no pipes), on the zygote become kernel (this process's child)."
    stdin = stdout = stderr = None
    def __init__(self, pid): self.pid, self.returncode = pid, None
    def _reaped(self, flags):
        pid, status = os.waitpid(self.pid, flags)
        if pid: self.returncode = os.waitstatus_to_exitcode(status)
    def poll(self):
        if self.returncode is None: self._reaped(os.WNOHANG)
        return self.returncode
    def wait(self, timeout=None):
        import subprocess, time
        if timeout is None:
            if self.returncode is None: self._reaped(0)
            return self.returncode
        end = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > end: raise subprocess.TimeoutExpired("ipykernel_launcher", timeout)
            time.sleep(0.01)
        return self.returncode
    def send_signal(self, sig):
        if self.poll() is None: os.kill(self.pid, sig)
    def terminate(self):
        import signal; self.send_signal(signal.SIGTERM)
    def kill(self):
        import signal; self.send_signal(signal.SIGKILL)


def exit_as_python(fn) -> None:
    "Run `fn()` in a forked child and end the process as the interpreter ends it: its return value, or SystemExit's code (a message printed), or 1 after a traceback; then non-daemon threads joined, atexit run, streams flushed, `os._exit`. (The notebook and CLI children here, the kernel zygote, and live_forkserver's daemons.)"
    code = 1
    try: code = fn(); code = 0 if code is None else code
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


def _run_child(req: dict):
    exit_as_python(lambda: _cli_child(req) if "argv" in req else _child(req))


def main():
    for m in PRELOAD + (CLI_PRELOAD if "--cli" in sys.argv[1:] else ()): __import__(m)
    if "--cli" in sys.argv[1:]:  # a command imports its group's module when it builds its parser: every group's (and what their
        import alphatrade.apps.cli as cli  # parsers import: train's model families) once here, not in every forked line
        cli.build_parser()
        from alphatrade.data.calendar import xnys  # the NYSE calendar (exchange_calendars, from 2000; lru_cached, no settings read):
        xnys()  # ~0.2 s of CPU in every line that validates, imports or backtests bars, built once here
    import gc; gc.freeze()  # what the server imported is never garbage: out of every child's collections (and their copy-on-write)
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
