"""Every planted anomaly is reported by the right item with the right subject; nothing else high.

The same test runs on the bundled sample and on another organization (another seed, size and
anomaly mix): detection works by rule and baseline, never by names found in the sample.
"""

from __future__ import annotations

import pytest

from auditpack.evidence import Finding, Severity
from auditpack.mockapi.synth_truth import PlantedAnomaly
from tests.evidence.conftest import CollectedOrg

IDENTITY_KEYS = ("user_id", "api_key_id", "setting", "connector", "skill", "workspace_id",
                 "group_id")


def matches(finding: Finding, anomaly: PlantedAnomaly) -> bool:
    if finding.evidence != anomaly.evidence:
        return False
    wanted = {k: v for k, v in anomaly.subject.items() if k in IDENTITY_KEYS}
    return all(finding.subject.get(k) == v for k, v in wanted.items())


def check(org: CollectedOrg) -> None:
    findings = [f for r in org.results() for f in r.findings]
    missed = [a.id for a in org.truth.anomalies if not any(matches(f, a) for f in findings)]
    assert missed == [], f"planted anomalies not reported: {missed}"
    extra = [f"{f.evidence}: {f.title} {f.subject}" for f in findings
             if f.severity is Severity.HIGH
             and not any(matches(f, a) for a in org.truth.anomalies)]
    assert extra == [], f"high findings that were not planted: {extra}"


@pytest.mark.slow
def test_sample_anomalies_exactly(sample: CollectedOrg) -> None:
    check(sample)


@pytest.mark.slow
def test_other_organization_anomalies_exactly(other_org: CollectedOrg) -> None:
    check(other_org)
