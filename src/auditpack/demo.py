"""`auditpack demo`: the whole job on the bundled sample, through the mock API on loopback.

The only pipeline module that imports `mockapi`. It follows the sample's collection schedule
(two runs, mid-quarter and after quarter end) because the Analytics API keeps 90 days only: a
single run after the quarter would already have lost its first days.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import auditpack
from auditpack.errors import UsageError
from auditpack.pipeline import BuildOutcome, demo_settings, run_build, run_collect, run_status
from auditpack.store.status import StoreStatus

SAMPLE = "example-corp"


def bundled_sample() -> Path:
    """The sample organization shipped in the repository's `samples/` folder."""
    return Path(auditpack.__file__).resolve().parents[2] / "samples" / SAMPLE


@dataclass
class DemoResult:
    """What the demo produced."""

    store: Path
    status: StoreStatus
    build: BuildOutcome


def run_demo(workdir: Path, dataset: Path | None = None,
             say: Callable[[str], None] = print) -> DemoResult:
    """Serve the sample, collect on its schedule, and report what the store holds."""
    from auditpack.mockapi.server import MockApi

    dataset = dataset or bundled_sample()
    meta_path = dataset / "dataset.json"
    if not meta_path.exists():
        raise UsageError(f"no dataset at {dataset} (dataset.json missing)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    shutil.rmtree(workdir / "store", ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"demo: serving {meta.get('name', dataset.name)} from {dataset} on 127.0.0.1 "
        "(throwaway keys; rate limits lifted for a quick run)")
    settings = None
    clock = None
    for moment in meta["collection_schedule"]:
        clock = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        with MockApi(dataset, now=clock, rate_limit_analytics=0, rate_limit_compliance=0) as api:
            settings = demo_settings(workdir, api.url, meta["keys"])
            outcome = run_collect(settings, now=clock)
        tallies = outcome.result.tallies
        say(f"demo: collected as of {moment}: "
            + "; ".join(f"{name} {t.pages} pages, {t.records} records, {len(t.gaps)} gaps"
                        for name, t in tallies.items()))
    assert settings is not None and clock is not None
    (workdir / "auditpack.toml").write_text(
        '# Written by `auditpack demo`.\n[store]\npath = "store"\n', encoding="utf-8")
    # The sample ships the policy its customer would configure (approved lists, restricted
    # groups, working hours): detection runs on that policy, never on names in the data.
    settings.policy = {**meta.get("policy", {}), "time_zone": meta.get("time_zone", "UTC")}
    period = f"{meta['period']['start']}..{meta['period']['end']}"
    build = run_build(settings, period=period, out=workdir / "out", as_of=clock)
    say(f"demo: assessed {period} for {len(build.frameworks)} frameworks into {workdir / 'out'}")
    return DemoResult(settings.store_path, run_status(settings, now=clock), build)
