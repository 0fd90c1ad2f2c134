"""`make test` itself (issue 17's target: under 8 minutes on this 2-core machine, nothing tested less): the whole suite as a
developer runs it (`make test`: pytest on both cores with pytest-xdist), its wall time, the CPU its processes used, how many
tests passed, and its slowest tests. Run once per `make bench` (it takes minutes); a failing test fails the benchmark."""
import re, resource, subprocess, sys
from harness import ROOT, benchmark

TARGET_S = 480


@benchmark("suite.make_test", repeat=1)
def make_test(timer):
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with timer("make_test"):
        p = subprocess.run(["make", "-s", "test", "PYTEST_ARGS=-q -p no:cacheprovider"], cwd=ROOT, capture_output=True, text=True)
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = p.stdout + p.stderr
    summary = (re.findall(r"^=*\s*(\d+ (?:passed|failed).*?) in [\d.]+s", out, re.M) or ["?"])[-1]
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|errors?)", summary)}
    if p.returncode != 0: sys.stderr.write(out[-6000:]); raise SystemExit(f"make test failed: {summary}")
    slowest = [f"{s}s {kind} {node}" for s, kind, node in re.findall(r"^([\d.]+)s (call|setup|teardown)\s+(\S+)$", out, re.M)][:10]
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    wall = timer.phases["make_test"]
    return {"tests": counts, "cpu_s": round(cpu, 1), "cpu_per_wall": round(cpu / wall, 2), "target_s": TARGET_S,
            "ratio_to_target": round(wall / TARGET_S, 3), "slowest": slowest}
