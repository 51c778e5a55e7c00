"""Collected stores of generated organizations, shared by every evidence test."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from auditpack.cli import main
from auditpack.demo import bundled_sample, collect_on_schedule
from auditpack.evidence import (
    EvidenceContext,
    EvidenceResult,
    Period,
    Policy,
    build_context,
    compute_all,
    policy_from_config,
)
from auditpack.mockapi.synth import generate
from auditpack.mockapi.synth_truth import GroundTruth, load_ground_truth

GENERATED = "2026-10-05T07:00:00Z"  # --generated-at of the packaged sample


@dataclass
class CollectedOrg:
    """A dataset, its ground truth, and a store collected from it on its schedule."""

    dataset: Path
    store: Path
    meta: dict[str, Any]
    truth: GroundTruth

    @property
    def period(self) -> Period:
        from datetime import date

        p = self.meta["period"]
        return Period(date.fromisoformat(p["start"]), date.fromisoformat(p["end"]))

    @property
    def policy(self) -> Policy:
        return policy_from_config({**self.meta["policy"], "time_zone": self.meta["time_zone"]})

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.store / "auditpack.duckdb"), read_only=True)

    def context(self, con: duckdb.DuckDBPyConnection, period: Period | None = None,
                policy: Policy | None = None) -> EvidenceContext:
        return build_context(con, period or self.period, policy or self.policy,
                             as_of=self.as_of)

    @property
    def as_of(self) -> datetime:
        """The clock of the last scheduled collection."""
        return datetime.fromisoformat(self.meta["collection_schedule"][-1].replace("Z", "+00:00"))

    def results(self, keys: list[str] | None = None, **kwargs: Any) -> list[EvidenceResult]:
        con = self.connect()
        try:
            return compute_all(self.context(con, **kwargs), keys)
        finally:
            con.close()


def _collect(dataset: Path, workdir: Path) -> CollectedOrg:
    collect_on_schedule(workdir, dataset, say=lambda _: None)
    meta = json.loads((dataset / "dataset.json").read_text())
    return CollectedOrg(dataset, workdir / "store", meta, load_ground_truth(dataset))


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> CollectedOrg:
    """The bundled sample organization (200 users, 2026-Q3), collected on its schedule."""
    return _collect(bundled_sample(), tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="session")
def other_org(tmp_path_factory: pytest.TempPathFactory) -> CollectedOrg:
    """Another seed, size and anomaly mix: detection must not depend on the sample."""
    dataset = tmp_path_factory.mktemp("other-dataset") / "org"
    generate(dataset, users=90, days=92, seed=4242,
             anomalies=["privilege_escalation", "export_burst", "dormant_seat",
                        "leaver_activity", "failed_login_burst", "sso_toggled",
                        "unapproved_connector", "off_hours_activity",
                        "restricted_workspace_addition", "stale_api_key"])
    return _collect(dataset, tmp_path_factory.mktemp("other"))


@pytest.fixture()
def sample_con(sample: CollectedOrg) -> Iterator[duckdb.DuckDBPyConnection]:
    con = sample.connect()
    yield con
    con.close()


def sample_config(org: CollectedOrg, work: Path, store: Path | None = None) -> Path:
    """An auditpack.toml in `work` for `org`'s store (or a copy of it) with its policy and a
    key location under `work/keys` (not generated)."""
    policy = {**org.meta["policy"], "time_zone": org.meta["time_zone"]}
    hours = policy.pop("working_hours")
    lines = ['[organization]\nname = "Example Corp"', f'[store]\npath = "{store or org.store}"',
             '[signing]\nkey = "keys/key.pem"\ncertificate = "keys/cert.pem"', "[policy]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in policy.items()]
    lines.append("[policy.working_hours]\n" + "\n".join(f"{k} = {json.dumps(v)}"
                                                         for k, v in hours.items()))
    cfg = work / "auditpack.toml"
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return cfg


@pytest.fixture(scope="session")
def packaged(sample: CollectedOrg, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sample built into a signed package twice (same inputs), its first copy unpacked,
    the signer's public key and another key. Shared: building takes most of a minute."""
    work = tmp_path_factory.mktemp("pkg")
    cfg = sample_config(sample, work)
    assert main(["keys", "generate", "--config", str(cfg), "--insecure-no-passphrase"]) == 0
    assert main(["keys", "export-public", "--config", str(cfg), "--out",
                 str(work / "signer.pub.pem")]) == 0
    zips = []
    for name in ("out1", "out2"):
        assert main(["build", "--config", str(cfg), "--period", "2026-Q3", "--out",
                     str(work / name), "--generated-at", GENERATED, "--as-of",
                     sample.meta["collection_schedule"][-1]]) == 0
        (zip_path,) = (work / name).glob("*.zip")
        zips.append(zip_path)
    bag = work / "unpacked"
    with zipfile.ZipFile(zips[0]) as zf:
        zf.extractall(bag)  # our own package, just built
    (bag_dir,) = bag.iterdir()
    other = work / "other.pem"
    assert main(["keys", "generate", "--config", str(cfg), "--insecure-no-passphrase"]) != 0
    from auditpack.package import generate_key, write_public_key

    write_public_key(generate_key(work / "other-key.pem", None, insecure_no_passphrase=True),
                     other)
    return {"zip": zips[0], "zip2": zips[1], "bag": bag_dir, "pub": work / "signer.pub.pem",
            "other": other, "other_key": work / "other-key.pem", "cert": work / "keys" / "cert.pem"}
