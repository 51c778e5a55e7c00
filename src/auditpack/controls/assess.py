"""Control assessments: catalog controls × evidence results → a status per control.

Roll-up (frameworks.md §9.2, design.md §4), in this order:
1. an applicable control whose evidence holds a HIGH finding → `exceptions` (a found exception
   stays visible even when other evidence is incomplete);
2. any primary evidence `insufficient_data` → `insufficient_data` (never shown as a pass);
3. a `manual` control, or primary evidence waiting on a human decision → `manual`;
4. primary evidence `not_applicable` only → `not_applicable`;
5. otherwise `effective`.
Manual inputs are listed as "to be provided by management" — never invented.
Coverage is the catalog's ceiling for the sources actually collected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditpack.controls.schema import Catalog, Control
from auditpack.evidence.interface import EvidenceResult, Severity, Status

MANAGEMENT = "to be provided by management"


@dataclass(frozen=True)
class ControlAssessment:
    """One control's verdict for the period."""

    framework: str
    control_id: str
    key: str
    title: str
    summary: str
    group: str
    status: str  # effective | exceptions | insufficient_data | manual | not_applicable
    coverage: str  # full | partial | none, for the sources collected
    evidence: tuple[tuple[str, str, str], ...]  # (key, role, evidence status)
    findings: tuple[str, ...]  # finding ids, high first
    manual_inputs: tuple[str, ...]
    gaps: tuple[str, ...]
    reasons: tuple[str, ...]  # why insufficient / not applicable, from the evidence

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "framework": self.framework, "id": self.control_id, "key": self.key,
            "title": self.title, "summary": self.summary, "group": self.group,
            "status": self.status, "coverage": self.coverage,
            "evidence": [{"key": k, "role": r, "status": s} for k, r, s in self.evidence],
            "findings": list(self.findings),
            "manual_inputs": [{"input": m, "state": MANAGEMENT} for m in self.manual_inputs],
            "gaps": list(self.gaps), "reasons": list(self.reasons),
        }


@dataclass
class FrameworkAssessment:
    """Every control of one framework, with counts by status."""

    framework: str
    name: str
    short_name: str
    version: str
    catalog_version: int
    controls: list[ControlAssessment] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Controls per status, every status present (zeros included)."""
        out = dict.fromkeys(STATUSES, 0)
        for control in self.controls:
            out[control.status] += 1
        return out


STATUSES = ("effective", "exceptions", "insufficient_data", "manual", "not_applicable")


def _coverage(control: Control, sources: set[str]) -> str:
    if {"analytics", "compliance"} <= sources:
        return control.coverage.combined
    if "compliance" in sources:
        return control.coverage.compliance
    if "analytics" in sources:
        return control.coverage.analytics
    return "none"


def assess_control(framework: str, control: Control, results: Mapping[str, EvidenceResult],
                   sources: set[str]) -> ControlAssessment:
    """Assess one control from the evidence results keyed by evidence key."""
    evidence = []
    high: list[str] = []
    others: list[str] = []
    reasons: list[str] = []
    primary_states: list[Status] = []
    for ref in control.evidence:
        result = results.get(ref.item)
        state = result.status if result else Status.INSUFFICIENT_DATA
        evidence.append((ref.item, ref.role, state.value))
        if result is None:
            reasons.append(f"{ref.item}: not computed")
        elif result.reason and state in (Status.INSUFFICIENT_DATA, Status.NOT_APPLICABLE):
            reasons.append(f"{ref.item}: {result.reason}")
        if ref.role == "primary":
            primary_states.append(state)
        for finding in result.findings if result else ():
            (high if finding.severity is Severity.HIGH else others).append(finding.id)
    coverage = _coverage(control, sources)
    if high:
        status = "exceptions"
    elif Status.INSUFFICIENT_DATA in primary_states or coverage == "none":
        status = "insufficient_data"
    elif control.automation == "manual":
        status = "manual"
    elif primary_states and all(s is Status.NOT_APPLICABLE for s in primary_states):
        status = "not_applicable"
    elif Status.EXCEPTIONS in primary_states:
        status = "exceptions"
    else:
        status = "effective"
    return ControlAssessment(
        framework=framework, control_id=control.id, key=control.key, title=control.title,
        summary=control.summary, group=control.group, status=status, coverage=coverage,
        evidence=tuple(evidence), findings=tuple(dict.fromkeys([*high, *others])),
        manual_inputs=control.manual_inputs, gaps=control.gaps, reasons=tuple(reasons))


def assess(catalogs: Mapping[str, Catalog], results: Sequence[EvidenceResult],
           sources: set[str], frameworks: Sequence[str] | None = None,
           ) -> list[FrameworkAssessment]:
    """Assess every control of the chosen frameworks (all by default), in catalog order."""
    by_key = {r.key: r for r in results}
    chosen = list(frameworks) if frameworks else sorted(catalogs)
    out = []
    for key in chosen:
        catalog = catalogs[key]
        fw = catalog.framework
        assessment = FrameworkAssessment(key, fw.name, fw.short_name, fw.version,
                                         fw.catalog_version)
        assessment.controls = [assess_control(key, c, by_key, sources) for c in catalog.controls]
        out.append(assessment)
    return out
