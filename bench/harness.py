"""A small benchmark harness: named benchmarks, each timed in a fresh subprocess, results in bench/results.json.

A benchmark is a function decorated with `@benchmark("name")` in a `bench/bench_*.py` module. It may do setup
first and must call `timer()` around the measured work (as a context manager, several times if it measures
several phases); it returns a dict of extra numbers (rows, rows_per_sec, ...). Each benchmark runs in its own
Python process, so its peak memory (ru_maxrss) is its own, and the best of `--repeat` runs is kept.
"""
from __future__ import annotations
import contextlib, importlib.util, json, os, platform, resource, subprocess, sys, time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
REGISTRY: dict = {}
MAX_REPEAT: dict = {}  # name -> most runs worth making (a benchmark of minutes, such as the test suite: 1)


def benchmark(name: str, repeat: int | None = None):
    def deco(f):
        REGISTRY[name] = f
        if repeat is not None: MAX_REPEAT[name] = repeat
        return f
    return deco


class Timer:
    def __init__(self): self.phases = {}
    @contextlib.contextmanager
    def __call__(self, phase: str = "total"):
        t0 = time.perf_counter()
        yield
        self.phases[phase] = self.phases.get(phase, 0.0) + time.perf_counter() - t0


def discover():
    for p in sorted(BENCH.glob("bench_*.py")):
        spec = importlib.util.spec_from_file_location(p.stem, p)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[p.stem] = mod
        spec.loader.exec_module(mod)
    return REGISTRY


def run_one(name: str) -> dict:
    f = discover()[name]
    t = Timer()
    extra = f(t) or {}
    return {"phases_s": t.phases, "seconds": sum(t.phases.values()),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **extra}


def _git(*args):
    try: return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception: return ""


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description="Run alphatrade benchmarks and write bench/results.json")
    ap.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per benchmark; the fastest is kept")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(BENCH / "results.json"))
    a = ap.parse_args(argv)
    if a.one:
        print(json.dumps(run_one(a.one)))
        return
    names = a.names or sorted(discover())
    out_path = Path(a.out)
    results = json.loads(out_path.read_text()) if out_path.exists() else {}
    results.setdefault("benchmarks", {})
    commit = _git("rev-parse", "HEAD") + ("-dirty" if _git("status", "--porcelain", "--untracked-files=no") else "")
    for n in names:
        runs = []
        for i in range(min(a.repeat, MAX_REPEAT.get(n, a.repeat))):
            p = subprocess.run([sys.executable, str(BENCH / "run.py"), "--one", n], capture_output=True, text=True, cwd=ROOT)
            if p.returncode != 0:
                sys.stderr.write(p.stderr); raise SystemExit(f"benchmark {n} failed")
            runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
        best = min(runs, key=lambda r: r["seconds"])
        best["runs_s"] = [round(r["seconds"], 4) for r in runs]
        best["git_commit"], best["measured_at"] = commit, time.strftime("%Y-%m-%dT%H:%M:%S%z")  # each row its own: a run of some names keeps the others' as they were
        results["benchmarks"][n] = best
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in best.items() if k not in ("phases_s",)}
        print(f"{n}: {shown}  phases={ {k: round(v, 3) for k, v in best['phases_s'].items()} }")
    results["machine"] = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                          "processor": platform.processor()}
    results["git_commit"] = commit  # of the last run; each row says its own
    results["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    out_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
