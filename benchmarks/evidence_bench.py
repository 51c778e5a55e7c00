"""Evidence benchmark (issue: evidence engine).

Runs all twenty evidence items over a collected store, for periods holding about 1 M … 5 M
activities (growing slices of the same organization), and prints wall time per item, the
total, and peak memory. Each slice runs in a fresh process so peak RSS is its own.

    .venv/bin/python benchmarks/evidence_bench.py --store bench-out/large/store \
        --dataset bench-out/org-10000u-92d [--steps 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from datetime import date, datetime
import duckdb
from auditpack.evidence import Period, all_items, build_context, policy_from_config
store, start, end, policy, as_of = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), sys.argv[5]
con = duckdb.connect(store + "/auditpack.duckdb", read_only=True)
con.execute("SET TimeZone='UTC'")
con.execute("SET enable_progress_bar=false")
period = Period(date.fromisoformat(start), date.fromisoformat(end))
events = con.execute("SELECT count(*) FROM activities WHERE created_at >= ? AND created_at < ?",
                     [period.start_at, period.end_at]).fetchone()[0]
ctx = build_context(con, period, policy_from_config(policy),
                    as_of=datetime.fromisoformat(as_of.replace("Z", "+00:00")))
times = {}
t0 = time.perf_counter()
for item in all_items():
    t = time.perf_counter()
    item.compute(ctx)
    times[item.id] = round(time.perf_counter() - t, 2)
total = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"events": events, "total": total, "peak_mib": peak, "items": times}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    meta = json.loads((args.dataset / "dataset.json").read_text())
    policy = {**meta.get("policy", {}), "time_zone": meta.get("time_zone", "UTC")}
    start = date.fromisoformat(meta["period"]["start"])
    end = date.fromisoformat(meta["period"]["end"])
    days = (end - start).days + 1
    for step in range(1, args.steps + 1):
        last = start + timedelta(days=round(days * step / args.steps) - 1)
        done = subprocess.run([sys.executable, "-c", CHILD, str(args.store), start.isoformat(),
                               last.isoformat(), json.dumps(policy), meta["as_of"]],
                              check=True, capture_output=True, text=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        slowest = sorted(result["items"].items(), key=lambda kv: -kv[1])[:4]
        print(f"{start}..{last}: {result['events']:>9,} events: all 20 items "
              f"{result['total']:.1f} s, peak RSS {result['peak_mib']:.0f} MiB; slowest "
              + ", ".join(f"{k} {v}s" for k, v in slowest))


if __name__ == "__main__":
    main()
