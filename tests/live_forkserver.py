"""A fork server for the daemon processes of tests/test_live.py: `python -m alphatrade.live ARGV...` pays ~1.7 s of CPU in
imports (pandas, SQLAlchemy, exchange_calendars, alembic, aiohttp, alpaca-py, the package) before it does anything; the crash
run alone starts the daemon 8 times. Here each daemon is still a process of its own (killed with SIGKILL, stopped with SIGTERM,
its exit code read), forked from one server that has imported `alphatrade.apps.live_run` once.
The same server forks `alphatrade ARGV...` command lines that must run while the test talks to them (`sim serve`: the CLI's
remaining imports, ~0.9 s, are paid in the child) and `python -c CODE` lines (tests/test_simulator.py). One server per pytest
worker: conftest's `forked` fixture; `spawn(forked, ...)` starts a real process instead when it is None (ALPHATRADE_NB_FORK=0).

The child is made to look like the fresh process it replaces (tests/nb_forkserver.py's `_fresh`: the request's environment,
working directory, argv, stdio into files, a new `__main__`, fresh seeds) and runs `alphatrade.apps.live_run.main(argv)`, which
is all `python -m alphatrade.live` does (live.py's `__main__` block). What the package reads at import time is the server's
environment: start the server with the environment the daemons run with (settings are read when a daemon starts, not at import).
Nothing of a daemon reaches the server: the child exits. No threads in the server (children are reaped with WNOHANG between
requests), and no LightGBM, torch or thread pool imported before a fork.

Unlike nb_forkserver's synchronous protocol, the answer to a request comes at once, {"pid"}, and {"pid", "rc"} when that child
exits, so that the test can signal a daemon while it runs. `LiveServer(env, cwd).popen(argv, env=...)` gives a Popen-like
handle (pid, poll, wait, send_signal, kill, returncode, stdout/stderr text files). ALPHATRADE_NB_FORK=0: real processes instead.
"""
import json, os, select, sys

if __name__ == "__main__":  # the server: nb_forkserver's helpers, from the same folder
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _child(req: dict):
    import importlib, nb_forkserver as fs
    def run():
        if "code" in req:  # `python -c CODE`
            fs._fresh(req, ["-c"], "")
            exec(compile(req["code"], "<string>", "exec"), sys.modules["__main__"].__dict__); return 0
        # `python -m alphatrade.live ARGV...` (apps.live_run's main) or `python -m alphatrade.apps.cli ARGV...` (the `alphatrade` command)
        m = importlib.import_module(req.get("main", "alphatrade.apps.live_run"))  # (the CLI's own modules: ~0.9 s of CPU in the child)
        prog = importlib.import_module("alphatrade.live" if m.__name__.endswith("live_run") else m.__name__).__file__
        fs._fresh(req, [prog, *req["argv"]], req["cwd"])  # as `python -m` sets argv, the folder first
        return m.main(req["argv"])
    fs.exit_as_python(run)


PRELOAD = ("alphatrade.apps.live_run", "alembic.command", "alembic.runtime.migration", "sqlite3")  # the daemon, and what its
# database's migration imports (~1.5 s of CPU; not nb_forkserver's notebook libraries, ~1.5 s more, which no daemon imports)


def serve():
    for m in PRELOAD: __import__(m)
    from alphatrade.data.calendar import xnys  # the NYSE calendar (lru_cached, no settings read): built once here, not in every
    xnys()  # daemon that opens a session or replays stored bars (~0.2 s of CPU each)
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    live = set()
    def reap():
        while live:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0: return
            live.discard(pid); proto.write(json.dumps({"pid": pid, "rc": os.waitstatus_to_exitcode(status)}) + "\n")
    stdin, buf = sys.stdin.buffer.raw, b""
    while True:
        r, _, _ = select.select([stdin], [], [], 0.02)
        reap()
        if not r: continue
        chunk = os.read(stdin.fileno(), 65536)
        if not chunk: break  # EOF: the tests are done
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            req = json.loads(line)
            sys.stdout.flush(); sys.stderr.flush()
            pid = os.fork()
            if pid == 0: _child(req)
            live.add(pid); proto.write(json.dumps({"pid": pid}) + "\n")
    import signal
    for pid in live:  # still running when the tests are done (a test failed before stopping it): killed, as no one will
        try: os.kill(pid, signal.SIGKILL)
        except ProcessLookupError: pass
    while live:
        pid, _ = os.waitpid(-1, 0); live.discard(pid)


class ForkedDaemon:
    "A Popen-like handle on a daemon forked by the server: pid, poll(), wait(timeout), send_signal(sig), kill(), returncode, stdout, stderr (text files, readable at exit)."
    def __init__(self, server, pid, out, err):
        self.server, self.pid, self._out, self._err, self.returncode = server, pid, out, err, None
        self.stdout = self.stderr = None
    def _done(self, rc):
        self.returncode = rc
        self.stdout, self.stderr = open(self._out, errors="replace"), open(self._err, errors="replace")
    def poll(self):
        if self.returncode is None: self.server._pump(0)
        return self.returncode
    def wait(self, timeout=None):
        import time, subprocess
        t0 = time.monotonic()
        while self.poll() is None:
            if timeout is not None and time.monotonic() - t0 > timeout: raise subprocess.TimeoutExpired(["alphatrade.live"], timeout)
            self.server._pump(0.05)
        return self.returncode
    def communicate(self, timeout=None):
        self.wait(timeout); return self.stdout.read(), self.stderr.read()
    def send_signal(self, sig):
        if self.poll() is None: os.kill(self.pid, sig)
    def kill(self):
        import signal; self.send_signal(signal.SIGKILL)
    def first_line(self, timeout=90) -> str:
        "The first line the process printed on stdout ('' if it exited or `timeout` passed first)."
        import time
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            with open(self._out, errors="replace") as f: text = f.read()
            if "\n" in text: return text.split("\n", 1)[0] + "\n"
            if self.poll() is not None: return ""
            time.sleep(0.05)
        return ""


class LiveServer:
    "`python tests/live_forkserver.py` started with `env` in `cwd`; `popen(argv, env=None, cwd=None)` -> ForkedDaemon; `run(argv, ...)` -> CompletedProcess."
    def __init__(self, env: dict, cwd, tmp):
        import subprocess
        self.env, self.cwd, self.tmp, self.n, self.procs, self.rcs = dict(env), str(cwd), str(tmp), 0, {}, {}
        self.p = subprocess.Popen([sys.executable, os.path.abspath(__file__)], cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        os.set_blocking(self.p.stdout.fileno(), False); self._buf = b""

    def _pump(self, timeout):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r: return
        chunk = os.read(self.p.stdout.fileno(), 65536)
        assert chunk, f"the daemon fork server died (exit {self.p.poll()})"
        self._buf += chunk
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            msg = json.loads(line)
            if "rc" in msg and msg["pid"] in self.procs: self.procs.pop(msg["pid"])._done(msg["rc"])
            elif "rc" in msg: self.rcs[msg["pid"]] = msg["rc"]  # exited before popen() made its handle
            else: self._started = msg["pid"]

    def popen(self, argv=None, env=None, cwd=None, main=None, code=None) -> ForkedDaemon:
        "`python -m alphatrade.live ARGV...`; with main='alphatrade.apps.cli' `alphatrade ARGV...`; with code, `python -c CODE`."
        self.n += 1
        out, err = os.path.join(self.tmp, f"daemon{self.n}.out"), os.path.join(self.tmp, f"daemon{self.n}.err")
        for f in (out, err): open(f, "w").close()  # there before the child opens them: readable at once, even if it dies first
        req = {"out": out, "err": err, "env": dict(env or self.env), "cwd": str(cwd or self.cwd)}
        if code is not None: req["code"] = code
        else: req |= {"argv": [str(a) for a in argv], **({"main": main} if main else {})}
        self._started = None
        self.p.stdin.write((json.dumps(req) + "\n").encode()); self.p.stdin.flush()
        while self._started is None: self._pump(1)
        d = ForkedDaemon(self, self._started, out, err)
        if d.pid in self.rcs: d._done(self.rcs.pop(d.pid))
        else: self.procs[d.pid] = d
        return d

    def run(self, argv, env=None, cwd=None, timeout=900):
        import subprocess
        d = self.popen(argv, env, cwd)
        try: d.wait(timeout)
        except subprocess.TimeoutExpired: d.kill(); d.wait(); raise
        return subprocess.CompletedProcess(["alphatrade.live", *argv], d.returncode, d.stdout.read(), d.stderr.read())

    def close(self):
        self.p.stdin.close(); self.p.wait(120)


if __name__ == "__main__":
    serve()


def spawn(forked, argv=None, main=None, code=None, env=None, cwd=None):
    """A process of its own running `python -m MAIN ARGV...` (MAIN: alphatrade.live's command line by default, or 'alphatrade.apps.cli')
    or `python -c CODE`: forked from `forked` (a LiveServer, conftest's `forked` fixture), or started from scratch when it is None
    (ALPHATRADE_NB_FORK=0; stdout and stderr are pipes then). Popen-like either way; `first_line(p)` reads its first line of stdout."""
    if forked is not None: return forked.popen(argv, env=env, cwd=cwd, main=main, code=code)
    import subprocess
    cmd = [sys.executable, "-c", code] if code is not None else [sys.executable, "-m", main or "alphatrade.live", *map(str, argv)]
    return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def first_line(p, timeout=90) -> str:
    "The first line `p` (from `spawn`) printed on stdout; '' when it exited first."
    return p.first_line(timeout) if isinstance(p, ForkedDaemon) else p.stdout.readline()
