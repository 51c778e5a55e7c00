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
from typing import Any

import auditpack
from auditpack.config import Settings
from auditpack.errors import UsageError
from auditpack.pipeline import (
    BuildOutcome,
    demo_settings,
    run_build,
    run_collect,
    run_status,
    run_verify,
)
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
    verify_exit: int


def run_demo(workdir: Path, dataset: Path | None = None,
             say: Callable[[str], None] = print) -> DemoResult:
    """Serve the sample, collect on its schedule, build and verify a package for the quarter."""
    settings, clock, meta = collect_on_schedule(workdir, dataset, say)
    return _build_and_verify(workdir, settings, clock, meta, say)


def collect_on_schedule(workdir: Path, dataset: Path | None = None,
                        say: Callable[[str], None] = print,
                        ) -> tuple[Settings, datetime, dict[str, Any]]:
    """Serve a dataset and collect it at each clock of its schedule into `workdir/store`."""
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
    return settings, clock, meta


def _build_and_verify(workdir: Path, settings: Settings, clock: datetime, meta: dict[str, Any],
                      say: Callable[[str], None]) -> DemoResult:
    # The sample ships the policy its customer would configure (approved lists, restricted
    # groups, working hours): detection runs on that policy, never on names in the data.
    settings.policy = {**meta.get("policy", {}), "time_zone": meta.get("time_zone", "UTC")}
    period = f"{meta['period']['start']}..{meta['period']['end']}"
    settings.organization.name = meta.get("name", settings.organization.name)
    settings.signing.key, settings.signing.certificate = _demo_key(workdir, say)
    shutil.rmtree(workdir / "out", ignore_errors=True)
    # A fixed generation time: running the demo twice gives byte-identical packages.
    build = run_build(settings, period=period, out=workdir / "out", as_of=clock,
                      generated_at=clock)
    assert build.package is not None
    public = workdir / "keys" / "DEMO-signer.pub.pem"
    verified = run_verify(build.package, trusted_key=public)
    say(f"demo: package {build.package}")
    say(f"demo: verify with the pinned DEMO key: {verified.summary()}")
    return DemoResult(settings.store_path, run_status(settings, now=clock), build,
                      verified.exit_code)


def _demo_key(workdir: Path, say: Callable[[str], None]) -> tuple[Path, Path | None]:
    """A throwaway, unencrypted signing key, labelled DEMO everywhere it appears."""
    from auditpack.package import fingerprint, generate_key, write_public_key

    keys = workdir / "keys"
    key_path = keys / "DEMO-ONLY-signing-key.pem"
    if not key_path.exists():
        keys.mkdir(parents=True, exist_ok=True)
        key = generate_key(key_path, None, insecure_no_passphrase=True)
        write_public_key(key, keys / "DEMO-signer.pub.pem")
    else:
        from auditpack.package import load_private_key

        key = load_private_key(key_path, None)
    say(f"demo: signing with a throwaway DEMO key (not for real evidence), fingerprint "
        f"{fingerprint(key)}")
    return key_path, None
