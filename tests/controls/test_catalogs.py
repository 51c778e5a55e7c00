"""Control catalogs: they load, match reference/frameworks.md §8 exactly, and refuse bad input.

The expected numbers and the cross-reference below are copied from frameworks.md §8; when a
catalog row changes, these tables change with it (and the reference should too).
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from auditpack.controls import (
    Catalog,
    CatalogError,
    EvidenceRegistry,
    LevelCounts,
    catalog_dir,
    check_policy_value,
    coverage_counts,
    coverage_matrix,
    coverage_total,
    load_catalog,
    load_catalogs,
    load_registry,
    parameter_floor,
    parse_duration,
)
from auditpack.errors import ConfigError, UsageError

FRAMEWORKS = ["soc2", "iso27001", "nis2", "eu-ai-act", "pci-dss"]

# §8 "Coverage counts": controls, then full / partial / none for analytics, compliance, both.
COUNTS: dict[str, tuple[int, LevelCounts, LevelCounts, LevelCounts]] = {
    "soc2": (18, LevelCounts(0, 11, 7), LevelCounts(6, 12, 0), LevelCounts(7, 11, 0)),
    "iso27001": (23, LevelCounts(0, 14, 9), LevelCounts(8, 15, 0), LevelCounts(9, 14, 0)),
    "nis2": (24, LevelCounts(0, 16, 8), LevelCounts(5, 19, 0), LevelCounts(7, 17, 0)),
    "eu-ai-act": (10, LevelCounts(0, 9, 1), LevelCounts(2, 8, 0), LevelCounts(2, 8, 0)),
    "pci-dss": (31, LevelCounts(1, 11, 19), LevelCounts(14, 17, 0), LevelCounts(15, 16, 0)),
}
TOTAL = (106, LevelCounts(1, 61, 44), LevelCounts(35, 71, 0), LevelCounts(40, 66, 0))

# §8 "Evidence item → controls it supports", by evidence key.
CROSS_REFERENCE: dict[str, dict[str, list[str]]] = {
    "seat_access_inventory": {
        "soc2": ["CC2.1", "CC6.1", "CC6.2"],
        "iso27001": ["A.5.9", "A.5.15", "A.5.16", "A.5.23", "A.8.2"],
        "nis2": ["Art. 21(2)(i)", "IR 3.2.3", "IR 11.2", "IR 11.5", "IR 12.4"],
        "eu-ai-act": ["Art. 26(2)"],
        "pci-dss": ["7.2.2", "7.2.4", "8.2.1", "8.2.2", "8.2.4", "8.2.7", "10.2.1.5"],
    },
    "access_review": {
        "soc2": ["CC4.1", "CC6.2", "CC6.3"],
        "iso27001": ["A.5.18", "A.8.2"],
        "nis2": ["Art. 20", "Art. 21(2)(f)", "Art. 21(2)(i)", "IR 2.2", "IR 11.2", "IR 11.3"],
        "pci-dss": ["7.2.4", "7.2.5.1"],
    },
    "dormant_accounts": {
        "soc2": ["CC6.2"],
        "iso27001": ["A.5.16", "A.5.18"],
        "nis2": ["Art. 21(2)(i)", "IR 11.5"],
        "pci-dss": ["7.2.4", "8.2.6"],
    },
    "offboarding_verification": {
        "soc2": ["CC6.2", "CC7.4"],
        "iso27001": ["A.5.16", "A.5.18"],
        "nis2": ["Art. 21(2)(i)", "IR 3.5", "IR 10.3", "IR 11.2", "IR 11.5"],
        "pci-dss": ["8.2.5"],
    },
    "role_change_log": {
        "soc2": ["CC6.3", "CC7.4"],
        "iso27001": ["A.5.15", "A.5.18", "A.8.2", "A.8.15"],
        "nis2": ["Art. 21(2)(i)", "IR 3.2.3", "IR 3.5", "IR 11.2", "IR 11.3"],
        "eu-ai-act": ["Art. 14", "Art. 26(2)"],
        "pci-dss": ["7.2.2", "7.2.3", "8.2.4", "10.2.1.2", "10.2.1.5", "10.4.1"],
    },
    "restricted_workspace_access": {
        "soc2": ["CC6.3"],
        "iso27001": ["A.5.15", "A.8.3"],
        "nis2": ["Art. 21(2)(i)", "IR 11.2"],
        "pci-dss": ["10.2.1.2", "10.2.1.7"],
    },
    "api_key_hygiene": {
        "soc2": ["CC6.1", "CC6.2"],
        "iso27001": ["A.5.17"],
        "nis2": ["IR 11.6"],
        "pci-dss": ["7.2.5.1", "8.2.4", "8.6.3", "10.2.1.5", "10.2.1.7"],
    },
    "authentication_events": {
        "soc2": ["CC6.1", "CC6.6", "CC7.2"],
        "iso27001": ["A.5.17", "A.5.25", "A.8.5", "A.8.15", "A.8.16"],
        "nis2": [
            "Art. 21(2)(b)", "Art. 21(2)(j)", "IR 3.2.3", "IR 3.2.4", "IR 11.3", "IR 11.6", "IR 11.7",
        ],
        "pci-dss": ["8.2.2", "8.2.7", "8.3.4", "8.4.2", "10.2.1.4", "10.4.1"],
    },
    "configuration_drift": {
        "soc2": ["CC3.4", "CC4.1", "CC6.6", "CC6.8", "CC7.1", "CC8.1"],
        "iso27001": ["A.5.22", "A.5.23", "A.8.5", "A.8.9", "A.8.32"],
        "nis2": [
            "Art. 21(2)(f)", "Art. 21(2)(j)", "IR 2.2", "IR 3.2.3", "IR 6.3", "IR 6.4", "IR 11.6", "IR 11.7",
        ],
        "eu-ai-act": ["Art. 26(1)"],
        "pci-dss": ["8.3.4", "8.4.2", "10.2.1.2", "10.2.1.7", "10.4.1"],
    },
    "file_operations": {
        "soc2": ["CC6.7", "CC7.2"],
        "iso27001": ["A.5.10", "A.5.25", "A.8.12", "A.8.15", "A.8.16"],
        "nis2": ["Art. 21(2)(b)", "IR 3.2.4"],
        "pci-dss": ["10.2.1.1", "10.4.1"],
    },
    "off_hours_access": {
        "soc2": ["CC7.2"],
        "iso27001": ["A.5.25", "A.8.16"],
        "nis2": ["Art. 21(2)(b)", "IR 3.2.4"],
        "pci-dss": ["8.2.2", "8.2.7", "10.4.1"],
    },
    "shadow_ai": {
        "soc2": ["CC3.4", "CC6.7", "CC6.8", "CC7.2", "CC9.2"],
        "iso27001": ["A.5.9", "A.5.10", "A.8.16"],
        "nis2": ["Art. 21(2)(d)", "IR 3.2.4", "IR 12.4"],
        "eu-ai-act": ["Art. 26(1)"],
        "pci-dss": ["12.2.1"],
    },
    "integration_audit": {
        "soc2": ["CC3.4", "CC6.1", "CC6.7", "CC6.8", "CC9.2"],
        "iso27001": ["A.5.9", "A.5.10", "A.5.22", "A.5.23", "A.8.12"],
        "nis2": ["Art. 21(2)(d)", "IR 5.2", "IR 12.4"],
        "eu-ai-act": ["Art. 26(1)"],
        "pci-dss": ["10.2.1.7", "12.8.1"],
    },
    "ai_adoption": {
        "soc2": ["CC1.4", "A1.1"],
        "iso27001": ["9.1", "A.6.3"],
        "nis2": ["Art. 20", "Art. 21(2)(g)", "IR 3.2.3"],
        "eu-ai-act": ["Art. 4", "Art. 14", "Art. 26(2)", "Art. 26(5)", "Art. 72"],
    },
    "cost_attribution": {
        "soc2": ["A1.1"],
    },
    "incident_timeline": {
        "soc2": ["CC7.3", "CC7.4"],
        "iso27001": ["A.5.28"],
        "nis2": ["Art. 21(2)(b)", "Art. 23", "IR 3.5"],
        "eu-ai-act": ["Art. 12", "Art. 26(5)", "Art. 72", "Art. 73"],
        "pci-dss": ["10.4.3", "10.7.3"],
    },
    "log_completeness": {
        "soc2": ["CC2.1", "CC4.1"],
        "iso27001": ["9.1", "A.5.23", "A.5.33", "A.8.15", "A.8.17"],
        "nis2": ["Art. 20", "Art. 21(2)(f)", "IR 2.2", "IR 3.2.3", "IR 3.2.5", "IR 3.2.6"],
        "eu-ai-act": ["Art. 12", "Art. 19", "Art. 26(6)"],
        "pci-dss": ["10.2.1", "10.2.1.6", "10.2.2", "10.3.3", "10.5.1", "10.7.2", "10.7.3"],
    },
    "log_access_integrity": {
        "iso27001": ["A.5.28", "A.5.33", "A.8.15"],
        "nis2": ["IR 3.2.5"],
        "eu-ai-act": ["Art. 26(6)"],
        "pci-dss": ["10.2.1.3", "10.2.1.6", "10.3.1", "10.3.3"],
    },
    "content_retention": {
        "soc2": ["C1.2"],
        "iso27001": ["A.8.10"],
    },
    "agent_activity": {
        "soc2": ["CC7.2"],
        "iso27001": ["A.8.16"],
        "eu-ai-act": ["Art. 12", "Art. 14", "Art. 26(5)", "Art. 72"],
        "pci-dss": ["10.2.1.1"],
    },
}


@pytest.fixture(scope="module")
def catalogs() -> dict[str, Catalog]:
    return load_catalogs(catalog_dir())


@pytest.fixture(scope="module")
def registry() -> EvidenceRegistry:
    return load_registry(catalog_dir() / "_evidence.yaml")


# --- the shipped catalogs -------------------------------------------------------------------


def test_catalog_dir_is_the_checkout_controls_folder() -> None:
    assert catalog_dir() == Path(__file__).resolve().parents[2] / "controls"


def test_all_five_catalogs_load(catalogs: dict[str, Catalog]) -> None:
    assert sorted(catalogs) == sorted(FRAMEWORKS)
    for key, catalog in catalogs.items():
        assert catalog.framework.key == key
        assert catalog.framework.catalog_version == 1
        assert str(catalog.framework.catalog_reviewed) == "2026-11-25"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_control_counts_and_coverage_counts_match_reference(
        catalogs: dict[str, Catalog], framework: str) -> None:
    (row,) = coverage_counts(catalogs, [framework])
    assert (row.controls, row.analytics, row.compliance, row.combined) == COUNTS[framework]
    assert len(catalogs[framework].controls) == COUNTS[framework][0]


def test_total_counts_match_reference(catalogs: dict[str, Catalog]) -> None:
    total = coverage_total(coverage_counts(catalogs))
    assert (total.controls, total.analytics, total.compliance, total.combined) == TOTAL


def test_full_only_when_combined(catalogs: dict[str, Catalog]) -> None:
    # §8: four rows reach full only when both sources are combined.
    rows = coverage_matrix(catalogs)
    combined_only = {(r.framework, r.control_id) for r in rows
                     if r.combined == "full" and "full" not in (r.analytics, r.compliance)}
    assert combined_only == {("soc2", "CC6.8"), ("iso27001", "A.5.9"),
                             ("nis2", "IR 3.2.3"), ("nis2", "IR 12.4")}
    analytics_full = {(r.framework, r.control_id) for r in rows if r.analytics == "full"}
    assert analytics_full == {("pci-dss", "12.2.1")}


def test_registry_has_twenty_items_all_used(catalogs: dict[str, Catalog],
                                           registry: EvidenceRegistry) -> None:
    assert [item.id for item in registry.items] == [f"EV{n:02d}" for n in range(1, 21)]
    used = {key for c in catalogs.values() for control in c.controls
            for key in control.evidence_keys}
    assert used <= set(registry.keys)
    assert used == set(registry.keys)  # every evidence item backs at least one control


def test_cross_reference_matches_reference(catalogs: dict[str, Catalog]) -> None:
    for key, per_framework in CROSS_REFERENCE.items():
        for framework in FRAMEWORKS:
            actual = [control.id for control in catalogs[framework].controls
                      if key in control.evidence_keys]
            assert actual == per_framework.get(framework, []), (key, framework)


def test_every_row_has_a_primary_item_listed_first(catalogs: dict[str, Catalog]) -> None:
    for catalog in catalogs.values():
        for control in catalog.controls:
            assert control.evidence[0].role == "primary", control.id


def test_related_links_point_at_existing_controls(catalogs: dict[str, Catalog]) -> None:
    links = 0
    for catalog in catalogs.values():
        for control in catalog.controls:
            for link in control.related:
                assert catalogs[link.framework].control(link.id) is not None
                links += 1
    assert links > 0


def test_applicability_as_documented(catalogs: dict[str, Catalog]) -> None:
    nis2 = catalogs["nis2"].controls
    assert {c.applicability for c in nis2 if c.id.startswith("IR ")} == {"reference"}
    assert {c.applicability for c in nis2 if c.id.startswith("Art.")} == {"inherit"}
    ai = {c.id: c for c in catalogs["eu-ai-act"].controls}
    assert ai["Art. 4"].applicability == "always"
    high_risk = [c for c in ai.values() if c.id != "Art. 4"]
    assert all(c.applicability == "conditional" and c.applicability_note for c in high_risk)
    assert {str(c.applies_from) for c in high_risk} == {"2027-12-02"}


def test_framework_parameters(catalogs: dict[str, Catalog]) -> None:
    pci, ai = catalogs["pci-dss"], catalogs["eu-ai-act"]
    expected = {"inactive_account_max_days": (90, "lte"), "log_retention_min_days": (365, "gte"),
                "access_review_max_interval_days": (183, "lte"),
                "termination_revocation_max_hours": (24, "lte")}
    for param_id, (value, operator) in expected.items():
        parameter = pci.parameter(param_id)
        assert parameter is not None and (parameter.value, parameter.operator) == (value, operator)
    retention = ai.parameter("log_retention_min_days")
    assert retention is not None and (retention.value, retention.operator) == (183, "gte")
    for key in ("soc2", "iso27001"):
        review = catalogs[key].parameter("access_review_max_interval_days")
        assert review is not None and (review.value, review.operator) == (92, "lte")


def test_durations_are_fixed_length(catalogs: dict[str, Catalog]) -> None:
    assert parse_duration("P7D") == timedelta(days=7)
    assert parse_duration("PT12H") == timedelta(hours=12)
    assert parse_duration("P1W2D") == timedelta(days=9)
    for bad in ("P", "PT", "P1M", "P1Y", "7D", "P1DT"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    for catalog in catalogs.values():
        for control in catalog.controls:
            assert parse_duration(control.cadence) <= parse_duration(control.evidence_max_age)


# --- policy values against framework floors -------------------------------------------------


def test_parameter_floor_takes_the_strictest(catalogs: dict[str, Catalog]) -> None:
    assert parameter_floor(catalogs, "inactive_account_max_days") == (90, "lte", "PCI DSS 8.2.6")
    assert parameter_floor(catalogs, "log_retention_min_days") == (365, "gte", "PCI DSS 10.5.1")
    assert parameter_floor(catalogs, "log_retention_min_days", ["eu-ai-act"]) == (
        183, "gte", "EU AI Act Art. 26(6)")
    assert parameter_floor(catalogs, "access_review_max_interval_days", ["pci-dss"]) == (
        183, "lte", "PCI DSS 7.2.4")
    # a tie between a framework's own number and practice cites the framework's own
    floor = parameter_floor(catalogs, "termination_revocation_max_hours")
    assert floor == (24, "lte", "PCI DSS 8.2.5")
    assert parameter_floor(catalogs, "system_credential_rotation_days") is None  # org-defined
    assert parameter_floor(catalogs, "no_such_parameter") is None


def test_looser_policy_is_refused(catalogs: dict[str, Catalog]) -> None:
    with pytest.raises(UsageError) as caught:
        check_policy_value(catalogs, "inactive_account_max_days", 120,
                           setting="policy.dormant_days")
    assert caught.value.message == (
        "policy.dormant_days = 120 is looser than PCI DSS 8.2.6 (at most 90)")
    assert "\n" not in caught.value.one_line()
    with pytest.raises(UsageError, match=r"= 200 is looser than PCI DSS 10\.5\.1 \(at least 365\)"):
        check_policy_value(catalogs, "log_retention_min_days", 200)
    with pytest.raises(UsageError, match=r"PCI DSS 7\.2\.4"):
        check_policy_value(catalogs, "access_review_max_interval_days", 200, frameworks=["pci-dss"])


def test_tighter_or_equal_policy_is_accepted(catalogs: dict[str, Catalog]) -> None:
    check_policy_value(catalogs, "inactive_account_max_days", 60)
    check_policy_value(catalogs, "inactive_account_max_days", 90)
    check_policy_value(catalogs, "log_retention_min_days", 400)
    check_policy_value(catalogs, "access_review_max_interval_days", 120, frameworks=["pci-dss"])
    check_policy_value(catalogs, "inactive_account_max_days", 120, frameworks=["soc2"])
    check_policy_value(catalogs, "system_credential_rotation_days", 365)  # org-defined


def test_policy_value_must_be_a_number(catalogs: dict[str, Catalog]) -> None:
    with pytest.raises(UsageError, match="must be a number"):
        check_policy_value(catalogs, "inactive_account_max_days", "90")
    with pytest.raises(UsageError, match="must be a number"):
        check_policy_value(catalogs, "inactive_account_max_days", True)


def test_unknown_framework_is_a_usage_error(catalogs: dict[str, Catalog]) -> None:
    with pytest.raises(UsageError, match="unknown framework 'hipaa'"):
        coverage_matrix(catalogs, ["hipaa"])


# --- refusals: each names the file and the line ---------------------------------------------

CATALOG = """\
schema: auditpack.controls/v1
framework:
  key: demo
  name: Demo framework
  short_name: Demo
  version: "1"
  publisher: Nobody
  source_url: https://example.org/demo
  text_license: public
  catalog_version: 1
  catalog_reviewed: "2026-11-25"
  applicability: {mode: always}
parameters:
  - {id: inactive_account_max_days, value: 90, unit: days, operator: lte, source: D.1}
controls:
  - id: D.1
    key: demo-d-1
    group: D
    title: First row
    summary: A short paraphrase of the first requirement.
    evidence:
      - {item: dormant_accounts, role: primary}
    coverage: {analytics: partial, compliance: full, combined: full}
    rationale: The feed holds every event.
    gaps: ["Analytics: 90-day window"]
    parameters: [inactive_account_max_days]
    method: test
    automation: automated
    cadence: P1D
    evidence_max_age: P2D
  - id: D.2
    key: demo-d-2
    group: D
    title: Second row
    summary: A short paraphrase of the second requirement.
    evidence:
      - {item: role_change_log, role: primary}
      - {item: seat_access_inventory, role: supporting}
    coverage: {analytics: none, compliance: partial, combined: partial}
    rationale: Approvals live elsewhere.
    manual_inputs: [approval_tickets]
    method: examine
    automation: hybrid
    cadence: P1D
    evidence_max_age: P7D
"""


def _line(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing `needle`."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def _write(directory: Path, text: str, name: str = "demo.yaml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def _refused(path: Path, registry: EvidenceRegistry) -> str:
    with pytest.raises(CatalogError) as caught:
        load_catalog(path, registry)
    assert isinstance(caught.value, ConfigError)
    message = caught.value.message
    assert "\n" not in message
    return message


def test_the_demo_catalog_itself_loads(tmp_path: Path, registry: EvidenceRegistry) -> None:
    catalog = load_catalog(_write(tmp_path, CATALOG), registry)
    assert [c.id for c in catalog.controls] == ["D.1", "D.2"]


# (description, old text, new text, marker on the offending line, occurrence, message part)
BROKEN = [
    ("schema major", "auditpack.controls/v1", "auditpack.controls/v2", "schema:", 1,
     "not supported"),
    ("unknown evidence key", "item: role_change_log", "item: role_changes", "role_changes", 1,
     "unknown evidence key 'role_changes'"),
    ("duplicate id", "  - id: D.2", "  - id: D.1", "id: D.1", 2, "duplicate control id 'D.1'"),
    ("duplicate key", "key: demo-d-2", "key: demo-d-1", "key: demo-d-1", 2,
     "duplicate control key 'demo-d-1'"),
    ("bad coverage", "{analytics: none, compliance: partial", "{analytics: some, compliance: "
     "partial", "analytics: some", 1, "coverage.analytics"),
    ("combined weaker", "compliance: full, combined: full", "compliance: full, combined: partial",
     "combined: partial}", 1, "combined 'partial' is weaker than compliance 'full'"),
    ("all none", "{analytics: none, compliance: partial, combined: partial}",
     "{analytics: none, compliance: none, combined: none}", "compliance: none", 1,
     "every coverage level is 'none'"),
    ("partial without gaps", "    manual_inputs: [approval_tickets]\n", "",
     "analytics: none", 1, "at least one gap or manual input"),
    ("summary too long", "A short paraphrase of the second requirement.", "word " * 70,
     "word word", 1, "at most 300 allowed"),
    ("conditional without note", "    title: Second row\n",
     "    title: Second row\n    applicability: conditional\n", "applicability: conditional", 1,
     "needs an applicability_note"),
    ("undefined parameter", "parameters: [inactive_account_max_days]",
     "parameters: [inactive_account_max_days, lockout_max_attempts]", "lockout_max_attempts", 1,
     "'lockout_max_attempts' is not defined"),
    ("unknown field", "    method: examine\n", "    method: examine\n    owner: me\n", "owner:", 1,
     "unknown field"),
    ("repeated yaml key", "    method: examine\n", "    method: examine\n    method: test\n",
     "method: test", 2, "key 'method' is repeated"),
    ("missing field", "    rationale: Approvals live elsewhere.\n", "", "id: D.2", 1,
     "rationale: required field is missing"),
    ("framework key", "  key: demo\n", "  key: other\n", "key: other", 1, "file name stem"),
    ("bad duration", "evidence_max_age: P7D", "evidence_max_age: 7 days", "7 days", 1,
     "ISO 8601 duration"),
    ("month duration", "cadence: P1D\n    evidence_max_age: P7D", "cadence: P1M\n    evidence_max_age: P7D",
     "cadence: P1M", 1, "ISO 8601 duration"),
    ("no primary", "{item: role_change_log, role: primary}",
     "{item: role_change_log, role: supporting}", "evidence:", 2, "must be primary"),
]


@pytest.mark.parametrize(("old", "new", "marker", "occurrence", "expected"),
                         [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_broken_catalog_is_refused_at_its_line(tmp_path: Path, registry: EvidenceRegistry,
                                               old: str, new: str, marker: str,
                                               occurrence: int, expected: str) -> None:
    assert old in CATALOG
    text = CATALOG.replace(old, new, 1)
    path = _write(tmp_path, text)
    message = _refused(path, registry)
    assert message.startswith(f"{path}:{_line(text, marker, occurrence)}: "), message
    assert expected in message


def test_refusal_names_the_control(tmp_path: Path, registry: EvidenceRegistry) -> None:
    text = CATALOG.replace("combined: full}", "combined: partial}")
    message = _refused(_write(tmp_path, text), registry)
    assert "control 'D.1' coverage.combined" in message


def test_bad_yaml_and_unsafe_tags_are_refused(tmp_path: Path, registry: EvidenceRegistry) -> None:
    path = _write(tmp_path, CATALOG.replace("    method: test\n", "    method: [test\n"))
    assert _refused(path, registry).startswith(f"{path}:")
    unsafe = CATALOG.replace("title: First row", "title: !!python/object/apply:os.getcwd []")
    path = _write(tmp_path, unsafe)
    assert _refused(path, registry).startswith(f"{path}:{_line(unsafe, 'python/object')}:")


def test_missing_file_is_refused(tmp_path: Path, registry: EvidenceRegistry) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "absent.yaml", registry)


def test_registry_refusals(tmp_path: Path) -> None:
    source = (catalog_dir() / "_evidence.yaml").read_text(encoding="utf-8")
    text = source.replace("key: access_review\n", "key: seat_access_inventory\n", 1)
    path = _write(tmp_path, text, "_evidence.yaml")
    with pytest.raises(CatalogError) as caught:
        load_registry(path)
    line = _line(text, "key: seat_access_inventory", 2)
    assert caught.value.message.startswith(f"{path}:{line}: ")
    assert "duplicate evidence key" in caught.value.message
    path = _write(tmp_path, source.replace("auditpack.evidence/v1", "auditpack.evidence/v3"),
                  "_evidence.yaml")
    with pytest.raises(CatalogError, match=r"_evidence\.yaml:\d+: schema .* not supported"):
        load_registry(path)


def test_load_catalogs_checks_related_links(tmp_path: Path) -> None:
    shutil.copy(catalog_dir() / "_evidence.yaml", tmp_path / "_evidence.yaml")
    shutil.copy(catalog_dir() / "soc2.yaml", tmp_path / "soc2.yaml")
    text = CATALOG.replace("    method: examine\n", "    method: examine\n    related:\n"
                           "      - {framework: soc2, id: CC9.9, relationship: intersect}\n")
    path = _write(tmp_path, text)
    with pytest.raises(CatalogError) as caught:
        load_catalogs(tmp_path)
    assert caught.value.message.startswith(f"{path}:{_line(text, 'CC9.9')}: ")
    # a link into a framework that is not loaded is fine: a folder may hold a subset
    _write(tmp_path, text.replace("framework: soc2", "framework: pci-dss"))
    assert sorted(load_catalogs(tmp_path)) == ["demo", "soc2"]


def test_empty_or_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalogs(tmp_path / "nowhere")
    shutil.copy(catalog_dir() / "_evidence.yaml", tmp_path / "_evidence.yaml")
    with pytest.raises(CatalogError, match="no framework catalogs"):
        load_catalogs(tmp_path)
