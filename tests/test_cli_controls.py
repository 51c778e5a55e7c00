"""`auditpack coverage`, `--period` parsing and policy refusals, through the command line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from auditpack.cli import main
from auditpack.errors import UsageError
from auditpack.evidence import parse_period

# frameworks.md §8: controls, then analytics / compliance / both as full/partial/none
EXPECTED_COUNTS = {
    "SOC 2": ("18", "0/11/7", "6/12/0", "7/11/0"),
    "ISO/IEC 27001": ("23", "0/14/9", "8/15/0", "9/14/0"),
    "NIS2": ("24", "0/16/8", "5/19/0", "7/17/0"),
    "EU AI Act": ("10", "0/9/1", "2/8/0", "2/8/0"),
    "PCI DSS": ("31", "1/11/19", "14/17/0", "15/16/0"),
}


def test_coverage_prints_every_control_and_the_reference_counts(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["coverage"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines]
    for name, expected in EXPECTED_COUNTS.items():
        matching = [r for r in rows if " ".join(r[:-4]).startswith(name) and r[-4:] == list(
            expected)]
        assert matching, f"{name}: counts {expected} not printed"
    from auditpack.controls import catalog_dir, load_catalogs

    catalogs = load_catalogs(catalog_dir())
    for key, catalog in catalogs.items():
        for control in catalog.controls:
            assert any(line.split()[:1] == [key] and f" {control.id} " in line
                       for line in lines), (key, control.id)


def test_coverage_for_one_framework(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["coverage", "--framework", "pci-dss"]) == 0
    out = capsys.readouterr().out
    assert "8.2.6" in out and "CC6.2" not in out
    assert main(["coverage", "--framework", "sox"]) == 2
    assert "unknown framework 'sox'" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "start", "end"), [
    ("2026-Q3", date(2026, 7, 1), date(2026, 9, 30)),
    ("2026-q4", date(2026, 10, 1), date(2026, 12, 31)),
    ("2026-02", date(2026, 2, 1), date(2026, 2, 28)),
    ("2026-09-01..2026-11-20", date(2026, 9, 1), date(2026, 11, 20)),
])
def test_period_forms(text: str, start: date, end: date) -> None:
    period = parse_period(text)
    assert (period.start, period.end) == (start, end)


@pytest.mark.parametrize("text", ["2026-Q5", "Q3", "2026-11-20..2026-09-01", "yesterday"])
def test_bad_periods_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        parse_period(text)


def _config(tmp_path: Path, policy: str) -> Path:
    cfg = tmp_path / "auditpack.toml"
    cfg.write_text(f'[store]\npath = "store"\n[policy]\n{policy}\n', encoding="utf-8")
    return cfg


@pytest.mark.parametrize(("policy", "frameworks", "message"), [
    ("dormant_days = 120", ["pci-dss"], "policy.dormant_days = 120 is looser than PCI DSS 8.2.6"),
    ("log_retention_min_days = 100", ["eu-ai-act"], "policy.log_retention_min_days = 100"),
    ("termination_revocation_max_hours = 72", ["pci-dss"], "termination_revocation_max_hours"),
    ("dormant_dayz = 30", [], "unknown setting 'dormant_dayz'"),
    ('time_zone = "Mars/Olympus"', [], "not a known IANA time zone"),
])
def test_looser_or_unknown_policy_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             policy: str, frameworks: list[str],
                                             message: str) -> None:
    args = ["build", "--period", "2026-Q3", "--config", str(_config(tmp_path, policy)),
            "--out", str(tmp_path / "out")]
    for fw in frameworks:
        args += ["--framework", fw]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_tighter_policy_is_accepted_up_to_the_store(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, "dormant_days = 60\nlog_retention_min_days = 400")
    assert main(["build", "--period", "2026-Q3", "--config", str(cfg), "--framework",
                 "pci-dss", "--out", str(tmp_path / "out"), "--no-package"]) == 3
    assert "no evidence store" in capsys.readouterr().err  # got past the policy checks
    assert main(["build", "--period", "2026-Q3", "--config", str(cfg), "--out",
                 str(tmp_path / "out")]) == 3
    assert "no signing key" in capsys.readouterr().err  # a package needs a key
