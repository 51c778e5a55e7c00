"""Benchmark package verification against openssl and bagit-python.

Builds a bag of ~1 GiB of random files (16 x 64 MiB by default) under a temporary directory,
then times (warm page cache, best of N runs, all in one run):

* ``verify_package(bag_dir)``: files hashed by one thread per available CPU (the default)
* ``verify_package(bag_dir, workers=1)``: one thread, the like-for-like comparison with
* ``openssl dgst -sha256`` over the same payload files (one process, sequential)
* bagit-python's full ``Bag.validate()`` (processes=1, its default; and processes=<CPUs>)
* ``verify_package(bag.zip)`` whose members are STORED (named ``.gz``, as random data would be)

Ratios are throughput relative to openssl (>1: faster than openssl). Report ``uptime`` with
the figures: the numbers mean little on a busy machine.

Usage: ``.venv/bin/python benchmarks/verify_bench.py [--files 16] [--mib 64] [--runs 3]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import bagit
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditpack.package import build_bag, verify_package, write_public_key, zip_bag


def best_of(runs: int, jobs: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best wall time of each job over ``runs`` rounds, interleaved so that a burst of load
    from elsewhere does not fall on one job only."""
    best = dict.fromkeys(jobs, float("inf"))
    for _ in range(runs):
        for name, job in jobs.items():
            start = time.perf_counter()
            job()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory(prefix="auditpack-bench-") as tmp_name:
        tmp = Path(tmp_name)
        src = tmp / "src"
        src.mkdir()
        payload: dict[str, Path | bytes] = {}
        for i in range(args.files):
            path = src / f"chunk-{i:02d}.gz"
            with open(path, "wb") as out:
                for _ in range(args.mib):
                    out.write(os.urandom(1 << 20))
            payload[f"raw/{path.name}"] = path
        total = args.files * args.mib * (1 << 20)
        gen = datetime(2026, 1, 1, tzinfo=UTC)
        bag = build_bag(payload, tmp / "out", name="bench", info={}, signing_key=key,
                        generated_at=gen)
        for p in src.iterdir():
            p.unlink()  # keep only one copy on disk
        zpath = zip_bag(bag, tmp / "bench.zip", generated_at=gen)
        pub = tmp / "pub.pem"
        write_public_key(key, pub)
        files = sorted(str(p) for p in (bag / "data" / "raw").iterdir())

        def ours_dir(workers: int | None = None) -> None:
            assert verify_package(bag, trusted_key=pub, workers=workers).outcome == "verified"

        def ours_zip() -> None:
            assert verify_package(zpath, trusted_key=pub).outcome == "verified"

        def openssl() -> None:
            subprocess.run(["openssl", "dgst", "-sha256", *files], check=True,
                           stdout=subprocess.DEVNULL)

        def bagit_py(processes: int = 1) -> None:
            bagit.Bag(str(bag)).validate(processes=processes)

        cpus = len(os.sched_getaffinity(0))
        load_before = os.getloadavg()[0]
        results = best_of(args.runs, {
            f"verify_package(dir), {cpus} threads": ours_dir,
            "verify_package(dir), 1 thread": lambda: ours_dir(1),
            f"verify_package(zip, STORED), {cpus} threads": ours_zip,
            "openssl dgst -sha256": openssl,
            "bagit-python validate": bagit_py,
            f"bagit-python validate, {cpus} processes": lambda: bagit_py(cpus),
        })
        mib = total / (1 << 20)
        print(f"payload: {args.files} x {args.mib} MiB = {mib:.0f} MiB, cpus={cpus}")
        print(f"1-min load average before: {load_before:.2f}, after: {os.getloadavg()[0]:.2f}")
        base = results["openssl dgst -sha256"]
        for name, secs in results.items():
            print(f"{name:42s} {secs:7.3f} s  {mib / secs:8.0f} MiB/s  "
                  f"{base / secs:5.2f}x openssl")


if __name__ == "__main__":
    main()
