"""`kill -9` at any moment, then a rerun: the store ends exactly as an uninterrupted run's."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditpack.mockapi.server import MockApi
from auditpack.store import Store
from tests.conftest import Org


def _config(workdir: Path, url: str) -> Path:
    # Paced so a run lasts a few seconds and kills land mid-collection.
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "auditpack.toml"
    cfg.write_text(f'[store]\npath = "store"\n[api]\nbase_url = "{url}"\n'
                   "[analytics]\nrate_limit_per_minute = 3000\n"
                   "[compliance]\nrate_limit_per_minute = 400\n", encoding="utf-8")
    return cfg


def _start(cfg: Path, org: Org) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AUDITPACK_ANALYTICS_KEY": org.keys["analytics"],
           "AUDITPACK_COMPLIANCE_KEY": org.keys["compliance"]}
    clock = org.meta["collection_schedule"][-1]
    return subprocess.Popen(
        [sys.executable, "-m", "auditpack", "collect", "--config", str(cfg), "--now", clock,
         "--since", org.meta["period"]["start"]],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_kill_at_random_points_then_rerun(paged_org: Org, tmp_path: Path) -> None:
    clock = paged_org.schedule[-1]
    with MockApi(paged_org.path, now=clock, rate_limit_analytics=0,
                 rate_limit_compliance=0) as api:
        reference = tmp_path / "reference"
        started = time.monotonic()
        proc = _start(_config(reference, api.url), paged_org)
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
        duration = time.monotonic() - started
        expected = Store(reference / "store").fingerprint()
        assert expected["index"] and expected["tables"]["activities"]

        rng = random.Random(20261125)
        interrupted = 0
        for point in range(4):
            workdir = tmp_path / f"killed-{point}"
            cfg = _config(workdir, api.url)
            proc = _start(cfg, paged_org)
            time.sleep(duration * rng.uniform(0.25, 0.9))
            proc.kill()  # SIGKILL: no cleanup runs
            proc.wait()
            log = workdir / "store" / "collection-log.jsonl"
            if log.exists() and b"run_finished" not in log.read_bytes():
                interrupted += 1
            rerun = _start(cfg, paged_org)
            assert rerun.wait(timeout=120) == 0, rerun.stderr.read() if rerun.stderr else ""
            assert Store(workdir / "store").fingerprint() == expected, f"kill point {point}"
        assert interrupted >= 3  # the kills really landed mid-collection
