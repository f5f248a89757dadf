#!/usr/bin/env python3
"""Figures from the provider's log lines in Terraform logs (TF_LOG_PROVIDER=INFO), for scripts/rehearse.sh.

The provider logs one `rpc done` line per RPC (`rpc=<method> elapsed_ms=<ms>`, src/plugin/timing.rs) and one
`provider exiting` line per process (`peak_rss_kib=<VmHWM>`, src/main.rs). Terraform re-logs them with a
`timestamp=` field (the provider's own clock).

  provider-logs.py summary LOG_DIR WALL_SECONDS EMULATOR_TICKS CLK_TCK
      where the rehearsal's time went (union of RPC intervals) and each command's peak provider memory
  provider-logs.py bench LOG_DIR TIMES_FILE
      the plan benchmark: medians of the full and provider-only plans, their ratio, and the full plan's time by RPC
"""

import datetime
import glob
import os
import re
import statistics
import sys

FIELD = re.compile(r"(\w+)=(\S+)")


def parse(path):
    """(RPC spans [(start, end, method, seconds)], peak RSS in KiB of each provider process) of one log file."""
    spans, peaks = [], []
    for line in open(path, errors="replace"):
        if "rpc done" in line:
            f = dict(FIELD.findall(line.split("rpc done", 1)[1]))
            if "elapsed_ms" not in f or "timestamp" not in f or "rpc" not in f:
                continue
            end = datetime.datetime.fromisoformat(f["timestamp"].replace("Z", "+00:00")).timestamp()
            seconds = float(f["elapsed_ms"]) / 1000
            spans.append((end - seconds, end, f["rpc"], seconds))
        elif "provider exiting" in line:
            f = dict(FIELD.findall(line.split("provider exiting", 1)[1]))
            if "peak_rss_kib" in f:
                peaks.append(int(f["peak_rss_kib"]))
    return spans, peaks


def union(spans):
    busy, cur = 0.0, None
    for a, b, *_ in sorted(spans):
        if cur and a <= cur[1]:
            cur = (cur[0], max(cur[1], b))
        else:
            if cur:
                busy += cur[1] - cur[0]
            cur = (a, b)
    if cur:
        busy += cur[1] - cur[0]
    return busy


def by_rpc(spans):
    out = {}
    for _, _, rpc, seconds in spans:
        n, total = out.get(rpc, (0, 0.0))
        out[rpc] = (n + 1, total + seconds)
    return out


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def summary(log_dir, wall, ticks, hz):
    spans, peaks_by_command = [], {}
    for path in sorted(glob.glob(os.path.join(log_dir, "*.log"))):
        s, p = parse(path)
        spans += s
        if p:
            peaks_by_command[os.path.basename(path)[:-4]] = max(p)
    busy, emu = union(spans), ticks / hz
    print(f"time without the build and the Terraform install: {wall:.1f}s = provider RPCs {busy:.1f}s "
          f"(of which emulator CPU {emu:.1f}s) + Terraform core, process starts, kubectl and checks {wall - busy:.1f}s")
    rpcs = by_rpc(spans)
    print("provider time by RPC (count): " + ", ".join(
        f"{k} {t:.1f}s ({n})" for k, (n, t) in sorted(rpcs.items(), key=lambda kv: -kv[1][1])))
    if peaks_by_command:
        print("provider peak RSS (VmHWM, largest process of each command): " + ", ".join(
            f"{k} {mib(v)}" for k, v in peaks_by_command.items()))


def bench(log_dir, times_file):
    full, only, busy, rpc_runs, processes, peaks = [], [], [], [], [], []
    for i, line in enumerate(open(times_file), start=1):
        a, b, c = map(float, line.split())
        full.append(b - a)
        only.append(c - b)
        spans, p = parse(os.path.join(log_dir, f"bench-full-{i}.log"))
        busy.append(union(spans))
        rpc_runs.append(by_rpc(spans))
        processes.append(len(p))
        peaks += p
    f, o = statistics.median(full), statistics.median(only)
    print(f"no-change plan, full environment: median {f:.2f}s over {len(full)} runs "
          f"({', '.join(f'{x:.2f}' for x in full)})")
    print(f"plan of provider \"vixens\" {{}} alone: median {o:.2f}s ({', '.join(f'{x:.2f}' for x in only)})")
    print(f"ratio: {f / o:.2f}")
    rpcs = sorted({k for r in rpc_runs for k in r})
    med = {k: statistics.median(r.get(k, (0, 0.0))[1] for r in rpc_runs) for k in rpcs}
    count = {k: max(r.get(k, (0, 0.0))[0] for r in rpc_runs) for k in rpcs}
    b = statistics.median(busy)
    print(f"full plan: provider RPCs {b:.2f}s (union; {statistics.median(processes):.0f} provider processes), "
          f"Terraform core and process starts {f - b:.2f}s")
    print("full plan, provider time by RPC (median, count): " + ", ".join(
        f"{k} {med[k] * 1000:.0f}ms ({count[k]})" for k in sorted(rpcs, key=lambda k: -med[k])))
    if peaks:
        print(f"provider peak RSS in the plans: {mib(max(peaks))}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["summary"] and len(sys.argv) == 6:
        summary(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif sys.argv[1:2] == ["bench"] and len(sys.argv) == 4:
        bench(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
