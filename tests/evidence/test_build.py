"""`auditpack build` on a collected store: outputs, their shape, and the catalog ↔ items contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditpack.cli import main
from auditpack.controls import catalog_dir, load_catalogs, load_registry
from auditpack.evidence import all_items
from tests.evidence.conftest import CollectedOrg

FINDING_FIELDS = {"id", "evidence", "severity", "title", "subject", "occurred_at", "detail",
                  "sources"}


def test_every_catalog_item_is_implemented_and_used() -> None:
    registry = load_registry(catalog_dir() / "_evidence.yaml")
    implemented = {(item.id, item.key) for item in all_items()}
    assert implemented == {(item.id, item.key) for item in registry.items}
    used = {ref.item for c in load_catalogs(catalog_dir()).values() for ctl in c.controls
            for ref in ctl.evidence}
    assert used == {key for _, key in implemented}


@pytest.mark.slow
def test_build_writes_findings_evidence_and_controls(sample: CollectedOrg, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "auditpack.toml"
    policy = {**sample.meta["policy"], "time_zone": sample.meta["time_zone"]}
    lines = [f'[store]\npath = "{sample.store}"', "[policy]"]
    for key, value in policy.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {json.dumps(value)}")
    hours = policy["working_hours"]
    lines.append(f"[policy.working_hours]\nstart = {json.dumps(hours['start'])}\n"
                 f"end = {json.dumps(hours['end'])}\ndays = {json.dumps(hours['days'])}")
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    period = f"{sample.period.start}..{sample.period.end}"
    assert main(["build", "--config", str(cfg), "--period", period, "--out", str(out),
                 "--as-of", sample.meta["collection_schedule"][-1], "--no-package"]) == 0
    printed = capsys.readouterr().out
    assert "PCI DSS" in printed and "Findings:" in printed
    findings = [json.loads(line) for line in (out / "findings.jsonl").read_text().splitlines()]
    assert findings and all(FINDING_FIELDS <= set(f) for f in findings)
    assert len({f["id"] for f in findings}) == len(findings)
    severities = [f["severity"] for f in findings]
    assert severities == sorted(severities, key=["high", "medium", "low", "info"].index)
    assert sorted(p.name for p in (out / "evidence").iterdir()) == sorted(
        f"{item.id}-{item.key}.json" for item in all_items())
    catalogs = load_catalogs(catalog_dir())
    for key, catalog in catalogs.items():
        doc = json.loads((out / "controls" / f"{key}.json").read_text())
        assert [c["id"] for c in doc["controls"]] == [c.id for c in catalog.controls]
        assert sum(doc["counts"].values()) == len(catalog.controls)
        high = {f["id"] for f in findings if f["severity"] == "high"}
        for control in doc["controls"]:
            if set(control["findings"]) & high:
                assert control["status"] == "exceptions"
            if control["manual_inputs"]:
                assert all(m["state"] == "to be provided by management"
                           for m in control["manual_inputs"])
    # byte-identical on a second build of the same store and clock
    again = tmp_path / "again"
    assert main(["build", "--config", str(cfg), "--period", period, "--out", str(again),
                 "--as-of", sample.meta["collection_schedule"][-1], "--no-package"]) == 0
    for path in out.rglob("*.json*"):
        assert path.read_bytes() == (again / path.relative_to(out)).read_bytes(), path


def test_build_period_outside_the_store_is_insufficient(sample: CollectedOrg,
                                                        tmp_path: Path) -> None:
    from auditpack.evidence import Period, Status

    results = sample.results(period=Period(sample.period.start.replace(year=2025),
                                           sample.period.end.replace(year=2025)))
    assert {r.status for r in results} <= {Status.INSUFFICIENT_DATA, Status.NOT_APPLICABLE}
    assert all(r.reason for r in results)
