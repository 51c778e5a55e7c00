"""Benchmark package verification against openssl and bagit-python.

Builds a bag of ~1 GiB of random files (16 x 64 MiB by default) under a temporary directory,
then times (warm page cache, best of N runs):

* ``verify_package(bag_dir)``
* ``openssl dgst -sha256`` over the same payload files (one process, sequential)
* bagit-python's full ``Bag.validate()`` (processes=1, its default)
* ``verify_package(bag.zip)`` whose members are STORED (named ``.gz``, as random data would be)

Usage: ``.venv/bin/python benchmarks/verify_bench.py [--files 16] [--mib 64] [--runs 2]``
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


def best_of(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--runs", type=int, default=2)
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

        def ours_dir() -> None:
            assert verify_package(bag, trusted_key=pub).outcome == "verified"

        def ours_zip() -> None:
            assert verify_package(zpath, trusted_key=pub).outcome == "verified"

        def openssl() -> None:
            subprocess.run(["openssl", "dgst", "-sha256", *files], check=True,
                           stdout=subprocess.DEVNULL)

        def bagit_py() -> None:
            bagit.Bag(str(bag)).validate()

        results = {
            "verify_package(dir)": best_of(args.runs, ours_dir),
            "verify_package(zip, STORED)": best_of(args.runs, ours_zip),
            "openssl dgst -sha256": best_of(args.runs, openssl),
            "bagit-python validate": best_of(args.runs, bagit_py),
        }
        mib = total / (1 << 20)
        print(f"payload: {args.files} x {args.mib} MiB = {mib:.0f} MiB, cpus={os.cpu_count()}")
        base = results["openssl dgst -sha256"]
        for name, secs in results.items():
            print(f"{name:30s} {secs:7.3f} s  {mib / secs:8.0f} MiB/s  "
                  f"{base / secs:5.2f}x openssl")


if __name__ == "__main__":
    main()
