"""Collection benchmark (issue: collection).

Measures, against the mock API on loopback:
1. requests issued by a collection against the minimum the API allows (pages at the maximum
   size, no day fetched twice), computed from the dataset itself;
2. end-to-end ingest (fetch, archive, database) of a large organization with the rate limit
   lifted: events per second and the collector's peak memory;
3. wall time of a collection under the rate limit against its bound (requests / allowed rate).

The mock runs in its own process so its memory is not counted. Usage:

    .venv/bin/python benchmarks/collect_bench.py [--users 10000 --days 92 --events 5000000]
        [--workdir bench-out] [--skip-large] [--skip-limited]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

CHILD = r"""
import json, resource, sys, time
from datetime import datetime
from auditpack.config import load_settings
from auditpack.pipeline import run_collect
cfg, now = sys.argv[1], datetime.fromisoformat(sys.argv[2].replace("Z", "+00:00"))
since = __import__("datetime").date.fromisoformat(sys.argv[3])
settings = load_settings(__import__("pathlib").Path(cfg))
t0 = time.perf_counter()
outcome = run_collect(settings, now=now, since=since)
wall = time.perf_counter() - t0
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"wall": wall, "peak_mib": peak_kib / 1024, "requests": outcome.requests,
                  "retries": outcome.retries,
                  "records": {k: t.records for k, t in outcome.result.tallies.items()},
                  "pages": {k: t.pages for k, t in outcome.result.tallies.items()}}))
"""


def _generate(out: Path, users: int, days: int, events: int | None, seed: int) -> None:
    if (out / "ground_truth.json").exists():
        return
    args = [PY, "-m", "auditpack", "samples", "generate", "--out", str(out), "--users",
            str(users), "--days", str(days), "--seed", str(seed)]
    if events:
        args += ["--events", str(events)]
    t0 = time.perf_counter()
    subprocess.run(args, check=True)
    print(f"generated {out} in {time.perf_counter() - t0:.0f} s")


def _serve(dataset: Path, now: str, ra: int, rc: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [PY, "-m", "auditpack", "mock-api", "--dataset", str(dataset), "--port", "0", "--now", now,
         "--rate-limit-analytics", str(ra), "--rate-limit-compliance", str(rc)],
        stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = line.strip().rsplit(" ", 1)[-1]
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit(f"mock API did not start: {line!r}")
    return proc, url


def _collect(workdir: Path, url: str, meta: dict, now: str, ra: int, rc: int) -> dict:
    store = workdir / "store"
    subprocess.run(["rm", "-rf", str(store)], check=True)
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "auditpack.toml"
    cfg.write_text(f'[store]\npath = "store"\n[api]\nbase_url = "{url}"\n'
                   f"[analytics]\nrate_limit_per_minute = {ra}\n"
                   f"[compliance]\nrate_limit_per_minute = {rc}\n", encoding="utf-8")
    env = {**os.environ, "AUDITPACK_ANALYTICS_KEY": meta["keys"]["analytics"],
           "AUDITPACK_COMPLIANCE_KEY": meta["keys"]["compliance"]}
    since = meta["period"]["start"]
    done = subprocess.run([PY, "-c", CHILD, str(cfg), now, since], env=env,
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"collection failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _gz_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with gzip.open(path, "rb") as fh:
        return sum(1 for _ in fh)


def minimum_requests(dataset: Path, now: str) -> dict[str, int]:
    """The fewest requests the documented API allows for a first collection at `now`."""
    meta = json.loads((dataset / "dataset.json").read_text())
    clock = datetime.fromisoformat(now.replace("Z", "+00:00"))
    today = clock.date()
    a = meta["analytics"]
    first = max(date(2026, 1, 1), today - timedelta(days=a.get("lookback_days", 90)),
                date.fromisoformat(meta["period"]["start"]))
    analytics = 0
    engagement_days = [first + timedelta(days=i) for i in range((today - first).days)]
    available = [d for d in engagement_days if d <= today - timedelta(days=3)]
    for folder in ("users", "projects", "skills", "connectors"):
        for day in available:
            analytics += max(1, math.ceil(_gz_lines(dataset / "analytics" / folder /
                                                    f"{day}.jsonl.gz") / 1000))
    usage_first = max(date(2026, 1, 1), date.fromisoformat(meta["period"]["start"]))
    all_days = [usage_first + timedelta(days=i) for i in range((today - usage_first).days)]
    usage_days = [d for d in all_days
                  if datetime(d.year, d.month, d.day, tzinfo=clock.tzinfo) + timedelta(days=1)
                  <= clock - timedelta(hours=24)]
    for folder in ("user_usage", "user_cost"):
        for day in usage_days:
            analytics += max(1, math.ceil(_gz_lines(dataset / "analytics" / folder /
                                                    f"{day}.jsonl.gz") / 1000))
    analytics += math.ceil(len(available) / 31)
    events = sum(1 for _ in gzip.open(dataset / "compliance" / "activities.jsonl.gz", "rb"))
    compliance = max(1, math.ceil(events / 5000))
    snaps = sorted(p.name for p in (dataset / "compliance" / "directory").iterdir()
                   if p.name <= today.isoformat())
    snap = dataset / "compliance" / "directory" / snaps[-1]

    def pages(path: Path) -> int:
        return max(1, math.ceil(len(json.loads(path.read_text())) / 1000))

    compliance += pages(snap / "organizations.json")
    for org in json.loads((snap / "organizations.json").read_text()):
        compliance += pages(snap / "users" / f"{org['uuid']}.json")
        roles_file = snap / "roles" / f"{org['uuid']}.json"
        compliance += pages(roles_file) if roles_file.exists() else 1
        if roles_file.exists():
            for role in json.loads(roles_file.read_text()):
                perm = snap / "permissions" / f"{role['id']}.json"
                compliance += pages(perm) if perm.exists() else 1
        compliance += 1  # settings
    compliance += pages(snap / "groups.json")
    for group in json.loads((snap / "groups.json").read_text()):
        member_file = snap / "group_members" / f"{group['id']}.json"
        compliance += pages(member_file) if member_file.exists() else 1
    return {"analytics": analytics, "compliance": compliance, "events": events}


def run(dataset: Path, workdir: Path, ra: int, rc: int, label: str) -> dict:
    meta = json.loads((dataset / "dataset.json").read_text())
    now = meta["as_of"]
    proc, url = _serve(dataset, now, ra if ra else 0, rc if rc else 0)
    try:
        result = _collect(workdir, url, meta, now, ra, rc)
    finally:
        proc.terminate()
        proc.wait()
    minimum = minimum_requests(dataset, now)
    events = minimum["events"]
    print(f"[{label}] wall {result['wall']:.1f} s, peak RSS {result['peak_mib']:.0f} MiB, "
          f"{events} events → {events / result['wall']:,.0f} events/s end to end")
    for api in ("analytics", "compliance"):
        print(f"[{label}] {api}: issued {result['requests'][api]} requests "
              f"({result['retries'][api]} retries), minimum {minimum[api]}")
    if ra or rc:
        bound = max(minimum["analytics"] / ra * 60 if ra else 0,
                    minimum["compliance"] / rc * 60 if rc else 0)
        print(f"[{label}] rate-limited bound {bound:.1f} s; wall/bound = "
              f"{result['wall'] / bound:.3f}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--days", type=int, default=92)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench-out")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--skip-limited", action="store_true")
    parser.add_argument("--rebuild", action="store_true",
                        help="also time `store rebuild` of the large store")
    args = parser.parse_args()
    args.workdir.mkdir(exist_ok=True)
    if not args.skip_limited:
        small = args.workdir / "org-small"
        _generate(small, 60, 21, None, 11)
        run(small, args.workdir / "limited", 60, 600, "rate limit on (60/600 per min)")
    if not args.skip_large:
        big = args.workdir / f"org-{args.users}u-{args.days}d"
        _generate(big, args.users, args.days, args.events, 5)
        run(big, args.workdir / "large", 0, 0, "rate limit lifted")
        if args.rebuild:
            rebuild(args.workdir / "large")


def rebuild(workdir: Path) -> None:
    """`store rebuild` of a collected store: replay time, peak memory, identical or not."""
    t0 = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", PY, "-m", "auditpack", "store", "rebuild",
                           "--config", str(workdir / "auditpack.toml")],
                          cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"store rebuild failed: {done.stderr[-2000:]}")
    peak = int(done.stderr.strip().splitlines()[-1]) / 1024
    print(f"[store rebuild] wall {wall:.1f} s, peak RSS {peak:.0f} MiB: {done.stdout.strip()}")


if __name__ == "__main__":
    main()
