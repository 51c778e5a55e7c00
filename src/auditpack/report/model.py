"""The report model: every figure, label and list the PDF shows, computed before rendering.

`build_model()` turns evidence results and control assessments into plain, frozen values
(strings already formatted, tables already capped, charts as data). The Jinja2 template only
lays them out, so a figure in the PDF is computed in exactly one place and can be tested
without rendering.

The PDF carries summaries and the top findings only: every table is capped (`TABLE_ROWS`,
`TOP_FINDINGS`, ...) and says how many rows more sit in which workbook sheet, so the PDF of
a 10,000-seat organization stays as short as that of a 200-seat one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from auditpack.controls import (
    STATUSES,
    Catalog,
    ControlAssessment,
    EvidenceRegistry,
    FrameworkAssessment,
    catalog_dir,
    load_catalogs,
    load_registry,
)
from auditpack.controls.assess import MANAGEMENT
from auditpack.controls.catalog import REGISTRY_FILE
from auditpack.evidence.interface import (
    SEVERITY_ORDER,
    Coverage,
    EvidenceResult,
    Finding,
    Severity,
    Status,
    Table,
)
from auditpack.report.charts import ChartData, ChartKind, Series
from auditpack.report.jsonout import sorted_findings

# --- caps: what the PDF shows at most; the rest is in the workbook --------------------------

TOP_FINDINGS = 10  # per evidence item
CONTROL_FINDINGS = 3  # per control entry; the evidence section lists ten
TABLE_ROWS = 25  # a narrow table this short is shown whole; longer ones are listed
TABLE_MAX_COLUMNS = 6  # wider tables are listed (name, rows, sheet), not shown
CELL_CHARS = 80
ATTENTION_MAX = 5
LINEAGE_HASHES = 3
CHART_CATEGORIES = 15  # bars of a category chart (connectors, users)
FINDINGS_SHEET = "Findings"
SHEET_NAME_MAX = 31  # Excel's limit on a sheet name

NONE_TEXT = "—"

STATUS_LABELS = {
    "effective": "Effective",
    "exceptions": "Exceptions",
    "insufficient_data": "Insufficient data",
    "manual": "Manual",
    "not_applicable": "Not applicable",
}
SEVERITIES = (Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO)

SECTION_SUMMARY = "Executive summary"
SECTION_COVERAGE = "Coverage matrix"
SECTION_EVIDENCE = "Evidence items"
SECTION_APPENDIX = "Appendix"
APPENDIX_TITLES = ("Methodology", "Data completeness and gaps", "Glossary",
                   "How to verify this package")


# --- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportMeta:
    """What the report is about and how it was made (the cover page and the PDF metadata)."""

    organizations: tuple[str, ...]
    period_label: str  # "2026-Q3" or "2026-07-01..2026-09-30"
    period_start: date
    period_end: date
    frameworks: tuple[str, ...]  # framework keys, in report order
    package_id: str
    generated_at: datetime
    sources_collected: tuple[str, ...]  # "analytics", "compliance"
    generator_version: str
    signer_fingerprint: str | None = None
    completeness_notes: tuple[str, ...] = ()


# --- the model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One labelled, formatted value."""

    label: str
    value: str


@dataclass(frozen=True)
class Section:
    """A top-level section: its anchor (for links and the table of contents) and title."""

    anchor: str
    title: str


@dataclass(frozen=True)
class StatusCount:
    """How many controls of a framework sit at one status."""

    status: str
    label: str
    count: int


@dataclass(frozen=True)
class FrameworkSummary:
    """One framework's line of the executive summary."""

    key: str
    short_name: str
    name: str
    anchor: str
    controls: int
    statuses: tuple[StatusCount, ...]
    coverage: tuple[int, int, int]  # full, partial, none for the sources collected


@dataclass(frozen=True)
class AttentionItem:
    """One of the few things a reader should look at first."""

    severity: str  # high | medium | insufficient_data
    title: str
    detail: str
    anchor: str


@dataclass(frozen=True)
class EvidenceGlance:
    """One evidence item's line of the executive summary."""

    id: str
    title: str
    anchor: str
    status: str
    status_label: str
    coverage: str
    findings: tuple[int, int, int, int]  # high, medium, low, info


@dataclass(frozen=True)
class Summary:
    """The executive summary."""

    frameworks: tuple[FrameworkSummary, ...]
    findings_by_severity: tuple[tuple[str, int], ...]
    findings_total: int
    attention: tuple[AttentionItem, ...]
    evidence: tuple[EvidenceGlance, ...]


@dataclass(frozen=True)
class FindingRow:
    """A finding as the PDF lists it."""

    id: str
    evidence_id: str
    severity: str
    title: str
    detail: str
    occurred: str


@dataclass(frozen=True)
class TableView:
    """A table of an evidence result: a capped preview, or just its size and workbook sheet."""

    name: str
    title: str
    columns: tuple[str, ...]
    numeric: tuple[bool, ...]  # per column: right-aligned
    widths: tuple[int, ...]  # per column: percent of the table's width (sums to 100)
    rows: tuple[tuple[str, ...], ...]
    total_rows: int
    total_text: str  # "10,000"
    more: int
    sheet: str
    previewed: bool


@dataclass(frozen=True)
class EvidenceLink:
    """An evidence item as a control entry cites it, with its key figures."""

    id: str
    title: str
    anchor: str
    role: str
    status: str
    status_label: str
    figures: tuple[Figure, ...]


@dataclass(frozen=True)
class ControlEntry:
    """One control of a framework section."""

    control_id: str
    title: str
    summary: str
    anchor: str
    status: str
    status_label: str
    coverage: str
    evidence: tuple[EvidenceLink, ...]
    findings: tuple[FindingRow, ...]
    findings_more: int
    manual_inputs: tuple[str, ...]  # humanized names ("Training records")
    owed: str  # "Training records; Org chart: to be provided by management", or ""
    gaps: tuple[str, ...]
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ControlGroup:
    """A requirement family of a framework (CC6, Annex A.5, ...)."""

    id: str
    title: str
    controls: tuple[ControlEntry, ...]


@dataclass(frozen=True)
class FrameworkSection:
    """One framework: its counts and every control, grouped."""

    key: str
    name: str
    short_name: str
    version: str
    catalog_version: int
    anchor: str
    title: str
    statuses: tuple[StatusCount, ...]
    groups: tuple[ControlGroup, ...]


@dataclass(frozen=True)
class MatrixRow:
    """A control's coverage ceiling per source, and what the collected sources reach."""

    control_id: str
    title: str
    anchor: str
    analytics: str
    compliance: str
    combined: str
    assessed: str
    evidence: str  # "EV01, EV07"


@dataclass(frozen=True)
class MatrixFramework:
    """The coverage matrix rows of one framework."""

    short_name: str
    rows: tuple[MatrixRow, ...]


@dataclass(frozen=True)
class SourceNote:
    """What each API can prove for one evidence item (from the evidence registry)."""

    id: str
    title: str
    analytics: str
    analytics_note: str
    compliance: str
    compliance_note: str
    combined: str
    manual_inputs: str


@dataclass(frozen=True)
class CoverageSection:
    """The coverage section."""

    sources_collected: tuple[str, ...]
    frameworks: tuple[MatrixFramework, ...]
    sources: tuple[SourceNote, ...]


@dataclass(frozen=True)
class LineageView:
    """Which archived responses an item rests on."""

    responses: int
    first_hashes: tuple[str, ...]
    covered: str
    sources: str


@dataclass(frozen=True)
class EvidenceSection:
    """One evidence item."""

    id: str
    key: str
    title: str
    anchor: str
    status: str
    status_label: str
    coverage: str
    reason: str | None
    method: str
    figures: tuple[Figure, ...]
    charts: tuple[ChartData, ...]
    findings: tuple[FindingRow, ...]
    findings_total: int
    findings_more: int
    tables: tuple[TableView, ...]
    limitations: tuple[str, ...]
    lineage: LineageView
    controls: tuple[str, ...]  # "SOC 2 CC6.1", the controls that rest on this item


@dataclass(frozen=True)
class Completeness:
    """Appendix: what data was (not) there, from EV17 and the other items' reasons."""

    figures: tuple[Figure, ...]
    gaps: tuple[FindingRow, ...]
    gaps_more: int
    not_conclusive: tuple[Figure, ...]  # evidence id + title → reason
    notes: tuple[str, ...]
    anchor: str


@dataclass(frozen=True)
class VerifyStep:
    """One step of verifying the package by hand."""

    text: str
    command: str


@dataclass(frozen=True)
class Appendix:
    """Methodology, completeness, glossary and verification."""

    methodology: tuple[str, ...]
    completeness: Completeness
    glossary: tuple[Figure, ...]
    verify: tuple[VerifyStep, ...]


@dataclass(frozen=True)
class ReportModel:
    """Everything the PDF shows."""

    meta: ReportMeta
    title: str
    subject: str
    findings_sheet: str  # the workbook sheet listing every finding
    keywords: tuple[str, ...]
    header: str
    cover: tuple[Figure, ...]
    sections: tuple[Section, ...]
    summary: Summary
    coverage: CoverageSection
    frameworks: tuple[FrameworkSection, ...]
    evidence: tuple[EvidenceSection, ...]
    appendix: Appendix


# --- entry point ----------------------------------------------------------------------------


def build_model(*, results: list[EvidenceResult], frameworks: list[FrameworkAssessment],
                meta: ReportMeta, catalogs: Mapping[str, Catalog] | None = None,
                registry: EvidenceRegistry | None = None) -> ReportModel:
    """The report model for these results and assessments.

    `catalogs` and `registry` default to the shipped catalog folder; they supply the group
    titles, per-source coverage and what each API can prove, which assessments do not carry.
    """
    if catalogs is None:
        catalogs = load_catalogs(catalog_dir())
    if registry is None:
        registry = load_registry(catalog_dir() / REGISTRY_FILE)
    ordered = sorted(results, key=lambda r: r.id)
    index = _index(ordered, frameworks, registry)
    return ReportModel(
        meta=meta, title=_title(meta), subject=_subject(meta, frameworks),
        findings_sheet=FINDINGS_SHEET,
        keywords=_keywords(meta, frameworks), header=_header(meta),
        cover=_cover(meta, frameworks), sections=_sections(frameworks),
        summary=_summary(ordered, frameworks, index),
        coverage=_coverage(frameworks, catalogs, registry, meta.sources_collected),
        frameworks=_fw_sections(frameworks, catalogs, index),
        evidence=tuple(_evidence_section(r, index) for r in ordered),
        appendix=_appendix(ordered, meta, index))


@dataclass(frozen=True)
class _Index:
    """Lookups the builders of one model share, computed once."""

    by_key: Mapping[str, EvidenceResult]
    findings: Mapping[str, Finding]  # every finding by id, most severe first
    ids: Mapping[str, str]  # evidence key → id (EV01)
    titles: Mapping[str, str]  # evidence key → title
    affected: Mapping[str, tuple[str, ...]]  # finding id → controls citing it ("SOC 2 CC6.1")
    citing: Mapping[str, tuple[str, ...]]  # evidence key → controls resting on it


def _index(results: Sequence[EvidenceResult], frameworks: Sequence[FrameworkAssessment],
           registry: EvidenceRegistry) -> _Index:
    affected: dict[str, list[str]] = {}
    citing: dict[str, list[str]] = {}
    for fw in frameworks:
        for control in fw.controls:
            name = f"{fw.short_name} {control.control_id}"
            for finding_id in control.findings:
                affected.setdefault(finding_id, []).append(name)
            for key, _, _ in control.evidence:
                citing.setdefault(key, []).append(name)
    return _Index(
        by_key={r.key: r for r in results},
        findings={f.id: f for f in sorted_findings(list(results))},
        ids={item.key: item.id for item in registry.items} | {r.key: r.id for r in results},
        titles={item.key: item.title for item in registry.items}
        | {r.key: r.title for r in results},
        affected={k: tuple(dict.fromkeys(v)) for k, v in affected.items()},
        citing={k: tuple(dict.fromkeys(v)) for k, v in citing.items()})


def workbook_sheet(evidence_id: str, table_name: str) -> str:
    """The workbook sheet holding an evidence table in full (Excel caps names at 31)."""
    return f"{evidence_id} {table_name}"[:SHEET_NAME_MAX]


# --- identity of the document ---------------------------------------------------------------


def _org_text(meta: ReportMeta) -> str:
    return ", ".join(meta.organizations) or "unnamed organization"


def _isolated(text: str) -> str:
    """`text` as a bidi isolate (FSI … PDI), for names set inside a line of other text.

    Without it a right-to-left organization name pulls the neighbouring period label into
    its run and the header reads `2026 · <name>-Q3`.
    """
    return f"\u2068{text}\u2069"


def _org_line(meta: ReportMeta) -> str:
    """The organizations for running text, each isolated."""
    return ", ".join(_isolated(o) for o in meta.organizations) or "unnamed organization"


def _title(meta: ReportMeta) -> str:
    return f"Claude Enterprise audit evidence: {_org_text(meta)}, {meta.period_label}"


def _subject(meta: ReportMeta, frameworks: Sequence[FrameworkAssessment]) -> str:
    names = ", ".join(fw.short_name for fw in frameworks) or "no framework"
    return (f"Control assessments ({names}) and evidence for {meta.period_start.isoformat()} "
            f"to {meta.period_end.isoformat()}, package {meta.package_id}")


def _keywords(meta: ReportMeta, frameworks: Sequence[FrameworkAssessment]) -> tuple[str, ...]:
    return ("audit evidence", "Claude Enterprise", *(fw.short_name for fw in frameworks),
            meta.period_label, meta.package_id)


def _header(meta: ReportMeta) -> str:
    return f"{_org_line(meta)} · {meta.period_label} · {meta.package_id}"


def _cover(meta: ReportMeta, frameworks: Sequence[FrameworkAssessment]) -> tuple[Figure, ...]:
    return (
        Figure("Organization" if len(meta.organizations) == 1 else "Organizations",
               _org_line(meta)),
        Figure("Period", f"{meta.period_label} ({meta.period_start.isoformat()} to "
                         f"{meta.period_end.isoformat()}, UTC)"),
        Figure("Frameworks", "; ".join(f"{fw.short_name} ({fw.version}, catalog "
                                       f"v{fw.catalog_version})" for fw in frameworks)
               or NONE_TEXT),
        Figure("Package ID", meta.package_id),
        Figure("Generated", _when(meta.generated_at)),
        Figure("Data sources collected", _sources_text(meta.sources_collected)),
        Figure("Signer fingerprint", meta.signer_fingerprint or "not signed"),
        Figure("Generator", f"auditpack {meta.generator_version}"),
    )


def _sources_text(sources: Iterable[str]) -> str:
    names = {"analytics": "Analytics API", "compliance": "Compliance API"}
    return ", ".join(names.get(s, s) for s in sources) or "none"


def _sections(frameworks: Sequence[FrameworkAssessment]) -> tuple[Section, ...]:
    return (Section("summary", SECTION_SUMMARY), Section("coverage", SECTION_COVERAGE),
            *(Section(_fw_anchor(fw.framework), _fw_title(fw)) for fw in frameworks),
            Section("evidence", SECTION_EVIDENCE), Section("appendix", SECTION_APPENDIX))


def _fw_title(fw: FrameworkAssessment) -> str:
    return f"{fw.short_name} controls"


# --- anchors: ids for links, stable and free of characters HTML ids dislike ----------------


def _slug(text: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else "-" for c in text.lower()).strip("-")


def _fw_anchor(framework: str) -> str:
    return f"fw-{_slug(framework)}"


def _control_anchor(framework: str, control_id: str) -> str:
    return f"ctl-{_slug(framework)}-{_slug(control_id)}"


def _ev_anchor(evidence_id: str) -> str:
    return f"ev-{_slug(evidence_id)}"


# --- executive summary ----------------------------------------------------------------------


def _statuses(fw: FrameworkAssessment) -> tuple[StatusCount, ...]:
    counts = fw.counts()
    return tuple(StatusCount(s, STATUS_LABELS[s], counts[s]) for s in STATUSES)


def _summary(results: Sequence[EvidenceResult], frameworks: Sequence[FrameworkAssessment],
             index: _Index) -> Summary:
    tally = Counter(f.severity for f in index.findings.values())
    return Summary(
        frameworks=tuple(_fw_summary(fw) for fw in frameworks),
        findings_by_severity=tuple((s.value, tally[s]) for s in SEVERITIES),
        findings_total=len(index.findings),
        attention=_attention(frameworks, index),
        evidence=tuple(_glance(r) for r in results))


def _fw_summary(fw: FrameworkAssessment) -> FrameworkSummary:
    levels = Counter(c.coverage for c in fw.controls)
    return FrameworkSummary(
        key=fw.framework, short_name=fw.short_name, name=fw.name,
        anchor=_fw_anchor(fw.framework), controls=len(fw.controls), statuses=_statuses(fw),
        coverage=(levels["full"], levels["partial"], levels["none"]))


def _glance(result: EvidenceResult) -> EvidenceGlance:
    tally = Counter(f.severity for f in result.findings)
    return EvidenceGlance(
        id=result.id, title=result.title, anchor=_ev_anchor(result.id),
        status=result.status.value, status_label=STATUS_LABELS[result.status.value],
        coverage=result.coverage.value,
        findings=(tally[Severity.HIGH], tally[Severity.MEDIUM], tally[Severity.LOW],
                  tally[Severity.INFO]))


def _attention(frameworks: Sequence[FrameworkAssessment],
               index: _Index) -> tuple[AttentionItem, ...]:
    """Three to five things to look at first.

    High findings grouped by rule come first (up to three), then controls that cannot be
    assessed grouped by the evidence that holds them back (up to two), then whatever is left of
    either, then medium findings, until five are chosen.
    """
    high = _finding_groups(Severity.HIGH, index)
    blocked = _insufficient_groups(frameworks, index)
    medium = _finding_groups(Severity.MEDIUM, index)
    chosen = [*high[:3], *blocked[:2]]
    for item in [*high[3:], *blocked[2:], *medium]:
        if len(chosen) >= ATTENTION_MAX:
            break
        chosen.append(item)
    return tuple(chosen)


def _finding_groups(severity: Severity, index: _Index) -> list[AttentionItem]:
    """One item per (evidence, rule): the count, an example and the controls it touches."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for finding in index.findings.values():
        if finding.severity is severity:
            groups.setdefault((finding.evidence, finding.rule), []).append(finding)
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), index.ids.get(kv[0][0], ""),
                                                    kv[0][1]))
    return [_finding_group(members, severity, index) for _, members in ranked]


def _finding_group(members: Sequence[Finding], severity: Severity,
                   index: _Index) -> AttentionItem:
    example = members[0]  # findings arrive sorted: earliest first within a severity
    controls = list(dict.fromkeys(c for f in members for c in index.affected.get(f.id, ())))
    evidence_id = index.ids.get(example.evidence, example.evidence)
    if len(members) == 1:
        title, detail = example.title, example.detail
    else:
        title = f"{len(members)} {severity.value} findings: {example.title} and others"
        detail = f"For example: {example.detail}"
    if controls:
        detail = f"{detail} Affects {_list_text(controls, 6)}."
    return AttentionItem(severity=severity.value, title=f"{evidence_id}: {title}",
                         detail=detail, anchor=_ev_anchor(evidence_id))


def _insufficient_groups(frameworks: Sequence[FrameworkAssessment],
                         index: _Index) -> list[AttentionItem]:
    """Controls whose primary evidence has no data, grouped by that evidence.

    Counted whatever the control's own status: a high finding elsewhere may have put the
    control in exceptions, but the missing evidence still needs supplying.
    """
    groups: dict[str, list[str]] = {}
    for fw in frameworks:
        for control in fw.controls:
            for key in _blocking_keys(control):
                groups.setdefault(key, []).append(f"{fw.short_name} {control.control_id}")
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), index.ids.get(kv[0], kv[0])))
    return [_insufficient_group(key, controls, index) for key, controls in ranked]


def _insufficient_group(key: str, controls: Sequence[str], index: _Index) -> AttentionItem:
    result = index.by_key.get(key)
    evidence_id = index.ids.get(key, key)
    why = (result.reason if result is not None and result.reason
           else "not computed" if result is None else "no data for the period")
    n = len(controls)
    return AttentionItem(
        severity="insufficient_data",
        title=f"{evidence_id} {index.titles.get(key, key)} has no data: {n} "
              f"control{'s' if n != 1 else ''} rest{'' if n != 1 else 's'} on it",
        detail=f"{why[:1].upper()}{why[1:]}. Affects {_list_text(controls, 6)}.",
        anchor=_ev_anchor(evidence_id))


def _blocking_keys(control: ControlAssessment) -> list[str]:
    """The control's primary evidence at insufficient_data."""
    return [key for key, role, state in control.evidence
            if role == "primary" and state == Status.INSUFFICIENT_DATA.value]


def _list_text(items: Sequence[str], limit: int) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


# --- coverage matrix ------------------------------------------------------------------------


def _coverage(frameworks: Sequence[FrameworkAssessment], catalogs: Mapping[str, Catalog],
              registry: EvidenceRegistry, sources: tuple[str, ...]) -> CoverageSection:
    ids = {item.key: item.id for item in registry.items}
    matrix = tuple(MatrixFramework(fw.short_name, tuple(
        _matrix_row(fw.framework, control, catalogs.get(fw.framework), ids)
        for control in fw.controls)) for fw in frameworks)
    notes = tuple(SourceNote(
        id=item.id, title=item.title,
        analytics=item.sources.analytics.coverage,
        analytics_note=item.sources.analytics.note or _uses(item.sources.analytics.uses),
        compliance=item.sources.compliance.coverage,
        compliance_note=item.sources.compliance.note or _uses(item.sources.compliance.uses),
        combined=item.combined,
        manual_inputs=", ".join(_humanize(m) for m in item.manual_inputs) or NONE_TEXT)
        for item in registry.items)
    return CoverageSection(sources_collected=sources, frameworks=matrix, sources=notes)


def _matrix_row(framework: str, control: ControlAssessment, catalog: Catalog | None,
                ids: Mapping[str, str]) -> MatrixRow:
    entry = catalog.control(control.control_id) if catalog is not None else None
    return MatrixRow(
        control_id=control.control_id, title=control.title,
        anchor=_control_anchor(framework, control.control_id),
        analytics=entry.coverage.analytics if entry else NONE_TEXT,
        compliance=entry.coverage.compliance if entry else NONE_TEXT,
        combined=entry.coverage.combined if entry else NONE_TEXT,
        assessed=control.coverage,
        evidence=", ".join(ids.get(key, key) for key, _, _ in control.evidence))


def _uses(uses: Sequence[str]) -> str:
    return ("Reads " + ", ".join(uses)) if uses else "Nothing usable"


# --- framework sections ---------------------------------------------------------------------


def _fw_sections(frameworks: Sequence[FrameworkAssessment], catalogs: Mapping[str, Catalog],
                 index: _Index) -> tuple[FrameworkSection, ...]:
    out = []
    for fw in frameworks:
        catalog = catalogs.get(fw.framework)
        group_titles = {g.id: g.title for g in catalog.framework.groups} if catalog else {}
        grouped: dict[str, list[ControlEntry]] = {}
        for control in fw.controls:  # catalog order; groups appear in order of first use
            grouped.setdefault(control.group, []).append(
                _control_entry(fw.framework, control, index))
        out.append(FrameworkSection(
            key=fw.framework, name=fw.name, short_name=fw.short_name, version=fw.version,
            catalog_version=fw.catalog_version, anchor=_fw_anchor(fw.framework),
            title=_fw_title(fw), statuses=_statuses(fw),
            groups=tuple(ControlGroup(gid, group_titles.get(gid, gid), tuple(entries))
                         for gid, entries in grouped.items())))
    return tuple(out)


def _control_entry(framework: str, control: ControlAssessment, index: _Index) -> ControlEntry:
    links = tuple(_evidence_link(key, role, state, index)
                  for key, role, state in control.evidence)
    cited = sorted((index.findings[i] for i in control.findings if i in index.findings),
                   key=_finding_order)
    return ControlEntry(
        control_id=control.control_id, title=control.title, summary=control.summary,
        anchor=_control_anchor(framework, control.control_id), status=control.status,
        status_label=STATUS_LABELS.get(control.status, control.status),
        coverage=control.coverage, evidence=links,
        findings=tuple(_finding_row(f, index) for f in cited[:CONTROL_FINDINGS]),
        findings_more=max(0, len(cited) - CONTROL_FINDINGS),
        manual_inputs=tuple(_humanize(m) for m in control.manual_inputs),
        owed=_owed(control.manual_inputs), gaps=control.gaps, reasons=control.reasons)


def _owed(inputs: Sequence[str]) -> str:
    """One line for every manual input of a control: they are owed by the same party."""
    return f"{'; '.join(_humanize(i) for i in inputs)}: {MANAGEMENT}" if inputs else ""


def _evidence_link(key: str, role: str, state: str, index: _Index) -> EvidenceLink:
    result = index.by_key.get(key)
    evidence_id = index.ids.get(key, key)
    return EvidenceLink(
        id=evidence_id, title=index.titles.get(key, key), anchor=_ev_anchor(evidence_id),
        role=role, status=state, status_label=STATUS_LABELS.get(state, state),
        figures=_key_figures(result) if result is not None else ())


def _finding_order(finding: Finding) -> tuple[int, str, str]:
    return (SEVERITY_ORDER[finding.severity],
            finding.occurred_at.isoformat() if finding.occurred_at else "", finding.id)


# --- evidence sections ----------------------------------------------------------------------

# The figures a control entry quotes for an evidence item: the ones an auditor asks first.
HEADLINE_METRICS: dict[str, tuple[str, ...]] = {
    "seat_access_inventory": ("members", "privileged_members", "pending_invites"),
    "access_review": ("members_at_start", "review_campaigns", "left"),
    "dormant_accounts": ("dormant_members", "members_assessed", "dormant_days"),
    "offboarding_verification": ("leavers", "leavers_active_after_removal",
                                 "leavers_with_access_left"),
    "role_change_log": ("role_changes", "escalations", "privileged_members"),
    "restricted_workspace_access": ("restricted_targets", "additions", "current_members"),
    "api_key_hygiene": ("active_keys", "active_keys_over_rotation_limit",
                        "active_keys_of_leavers"),
    "authentication_events": ("sign_ins", "sign_in_failures", "failure_bursts"),
    "configuration_drift": ("setting_changes", "security_relevant_changes", "drifted_settings"),
    "file_operations": ("exports", "downloads", "egress_anomalies"),
    "off_hours_access": ("off_hours_events", "off_hours_clusters", "users_off_hours"),
    "shadow_ai": ("connectors_in_use", "unapproved_connectors", "unapproved_skills"),
    "integration_audit": ("integrations", "added_in_period", "without_enablement_record"),
    "ai_adoption": ("mau_latest", "seats_latest", "seat_utilization_pct"),
    "cost_attribution": ("total_cost_cents", "users_with_spend", "unassigned_users"),
    "incident_timeline": ("timeline_events", "timeline_types", "actors"),
    "log_completeness": ("analytics_missing_days", "feed_holes", "collection_log"),
    "log_access_integrity": ("audit_trail_readers", "archive_objects_altered",
                             "archive_objects_missing"),
    "content_retention": ("deletion_events", "unaudited_deletions", "retention_changes"),
    "agent_activity": ("claude_code_users", "cowork_users", "agent_events"),
}
_HEADLINE_COUNT = 3


def _key_figures(result: EvidenceResult) -> tuple[Figure, ...]:
    wanted = [k for k in HEADLINE_METRICS.get(result.key, ()) if k in result.metrics]
    if not wanted:  # an item this map does not know yet: its first figures held
        wanted = [k for k, v in result.metrics.items()
                  if v is not None and not k.startswith("findings_")][:_HEADLINE_COUNT]
    return tuple(_figure(k, result.metrics[k], result.metrics) for k in wanted)


def _evidence_section(result: EvidenceResult, index: _Index) -> EvidenceSection:
    ordered = sorted(result.findings, key=_finding_order)
    return EvidenceSection(
        id=result.id, key=result.key, title=result.title, anchor=_ev_anchor(result.id),
        status=result.status.value, status_label=STATUS_LABELS[result.status.value],
        coverage=result.coverage.value, reason=result.reason, method=result.method,
        figures=tuple(_figure(k, v, result.metrics) for k, v in result.metrics.items()
                      if not k.startswith("findings_")),  # findings are counted below
        charts=tuple(_charts(result)),
        findings=tuple(_finding_row(f, index) for f in ordered[:TOP_FINDINGS]),
        findings_total=len(ordered), findings_more=max(0, len(ordered) - TOP_FINDINGS),
        tables=tuple(_table_view(result.id, t) for t in result.tables),
        limitations=tuple(result.limitations), lineage=_lineage(result),
        controls=index.citing.get(result.key, ()))


def _finding_row(finding: Finding, index: _Index) -> FindingRow:
    return FindingRow(
        id=finding.id, evidence_id=index.ids.get(finding.evidence, finding.evidence),
        severity=finding.severity.value, title=finding.title, detail=finding.detail,
        occurred=_when(finding.occurred_at) if finding.occurred_at else NONE_TEXT)


def _table_view(evidence_id: str, table: Table) -> TableView:
    """Short, narrow tables (counts per type, settings) in full; others named with their size.

    A long table is a list (members, user-days) whose first rows say nothing in particular:
    the PDF names it, with its row count and workbook sheet, instead of printing an arbitrary
    slice. Identifier columns (`user_id`, `organization_uuid`) are left out of what is shown:
    the e-mail or name beside them reads better on paper, and the workbook keeps every one.
    """
    shown = [i for i, c in enumerate(table.columns) if not _is_identifier(c.name)]
    previewed = (0 < len(shown) <= TABLE_MAX_COLUMNS and 0 < len(table.rows) <= TABLE_ROWS)
    columns = tuple(_humanize(table.columns[i].name) for i in shown)
    cells = tuple(tuple(_cell(row[i]) for i in shown) for row in table.rows) if previewed \
        else ()
    return TableView(
        name=table.name, title=table.title, columns=columns,
        numeric=tuple(table.columns[i].type in ("int", "float") for i in shown),
        widths=column_shares(columns, cells), rows=cells,
        total_rows=len(table.rows), total_text=f"{len(table.rows):,}",
        more=len(table.rows) - len(cells),
        sheet=workbook_sheet(evidence_id, table.name), previewed=previewed)


_SHARE_MIN = 4  # characters: the narrowest a column is sized for
_WRAP_AT = 20  # characters: text with spaces (or too long to keep whole) wraps within this
_TOKEN_MAX = 32  # characters: an e-mail, address or name without spaces is kept whole to here
_HEADER_LINE = 12  # a longer header may wrap (at a space), onto two lines at most for short ones
_CELL_PADDING = 2  # characters' worth of a cell's padding, and bold headers run wider


def column_shares(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> tuple[int, ...]:
    """Each column's percent of a preview table's width, by the text it has to hold.

    Fixed table layout would give every column the same width: a yes/no column as much as an
    e-mail column, which then breaks mid-address. A column is sized for its widest cell
    (`_cell_room`: a value without spaces whole, wrapping text only so far, so one long JSON
    value cannot starve an e-mail beside it) and for its header (`_header_room`); the last
    column takes the remainder so the shares sum to 100.
    """
    if not columns:
        return ()
    weights = [_CELL_PADDING + max(_SHARE_MIN, _header_room(name),
                                   max((_cell_room(row[i]) for row in rows), default=0))
               for i, name in enumerate(columns)]
    total = sum(weights)
    shares = [100 * w // total for w in weights[:-1]]  # floored: the last share stays > 0
    return (*shares, 100 - sum(shares))


def _cell_room(text: str) -> int:
    if " " not in text and len(text) <= _TOKEN_MAX:
        return len(text)
    return min(len(text), _WRAP_AT)


def _header_room(name: str) -> int:
    """Characters a header needs: its longest word, and a short header on one line."""
    return max(max((len(word) for word in name.split()), default=0), min(len(name), _HEADER_LINE))


def _is_identifier(column: str) -> bool:
    return column == "id" or column.endswith(("_id", "_uuid", "_ids"))


def _lineage(result: EvidenceResult) -> LineageView:
    lineage = result.lineage
    covered = (f"{lineage.covered[0].isoformat()} to {lineage.covered[1].isoformat()}"
               if lineage.covered else "no data held for the period")
    return LineageView(responses=len(lineage.responses),
                       first_hashes=tuple(lineage.responses[:LINEAGE_HASHES]),
                       covered=covered, sources=_sources_text(lineage.sources))


# --- charts: from each item's chart data, or derived from its tables -----------------------


def _charts(result: EvidenceResult) -> list[ChartData]:
    """The charts worth a place in the PDF for this item; none when there is no data."""
    charts = [c for name, raw in sorted(result.charts.items())
              if (c := _from_raw(result, name, raw)) is not None]
    derived = _DERIVED.get(result.key)
    if derived is not None:
        chart = derived(result)
        if chart is not None:
            charts.append(chart)
    return [c for c in charts if c.x and any(v for s in c.series for v in s.values)]


_CHART_TITLES = {
    "adoption_series": "Daily, weekly and monthly active users against assigned seats",
    "failures_per_day": "Sign-in failures per day (bars) and successful sign-ins (line)",
    "file_operations_per_day": "File operations per day",
    "activity_by_local_hour": "Events per local hour of day",
    "cost_series": "Spend per day",
    "deletions_by_day": "Content deletions per day",
    "members_by_role": "Members by role",
}


def _from_raw(result: EvidenceResult, name: str, raw: Any) -> ChartData | None:
    """Both chart shapes items emit: `{type, x: [...], series}` and `{kind, x, y, rows}`."""
    title = _CHART_TITLES.get(name, _humanize(name))
    if isinstance(raw, list):
        return _from_records(name, title, raw)
    if not isinstance(raw, dict):
        return None
    kind = _KINDS.get(str(raw.get("type") or raw.get("kind")), "line")
    if isinstance(raw.get("series"), dict) and isinstance(raw.get("x"), list):
        x = tuple(_axis_label(v) for v in raw["x"])
        series = tuple(Series(_humanize(str(k)), _numbers(v)) for k, v in raw["series"].items()
                       if isinstance(v, list))
    elif isinstance(raw.get("rows"), list) and isinstance(raw.get("x"), str):
        rows = [row for row in raw["rows"] if isinstance(row, dict)]
        x = tuple(_axis_label(row.get(raw["x"])) for row in rows)
        series = tuple(Series(_humanize(str(col)), _numbers(row.get(col) for row in rows))
                       for col in raw.get("y") or ())
    else:
        return None
    # A series that does not match the axis is malformed data: leave it out, never guess.
    series = tuple(s for s in series if len(s.values) == len(x))
    return _tuned(result, ChartData(name=name, title=title, kind=kind, x=x, series=series))


def _tuned(result: EvidenceResult, chart: ChartData) -> ChartData:
    """Per-chart adjustments that make the picture honest to read."""
    if chart.name == "failures_per_day":
        # Failures are a hundredth of sign-ins: on one axis they would vanish.
        named = tuple(replace(s, name="Successful sign-ins") if s.name == "Sign ins" else s
                      for s in chart.series)
        return replace(chart, kind="bar", secondary=("Successful sign-ins",),
                       series=tuple(sorted(named, key=lambda s: s.name != "Failures")))
    if chart.name == "adoption_series":
        util = result.metrics.get("seat_utilization_pct")
        suffix = f" (seat utilization over the period: {_number(util)} %)" \
            if isinstance(util, int | float) else ""
        return replace(chart, kind="line", title=chart.title + suffix)
    if chart.name in ("file_operations_per_day", "activity_by_local_hour"):
        return replace(chart, kind="stacked")
    if chart.name == "cost_series":
        currency = result.metrics.get("currency")
        spend = tuple(Series(f"Spend ({currency})" if currency else "Spend",
                             tuple(v / 100 if v is not None else None for v in s.values))
                      for s in chart.series)
        return replace(chart, series=spend)
    return chart


def _from_records(name: str, title: str, records: list[Any]) -> ChartData | None:
    """EV01's `[{organization, role, members}]`: members per role, summed over orgs."""
    totals: Counter[str] = Counter()
    for record in records:
        if isinstance(record, dict) and isinstance(record.get("members"), int):
            totals[str(record.get("role", "unknown"))] += record["members"]
    if not totals:
        return None
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:CHART_CATEGORIES]
    return ChartData(name=name, title=title, kind="hbar", x=tuple(k for k, _ in ranked),
                     series=(Series("Members", tuple(float(v) for _, v in ranked)),))


_KINDS: dict[str, ChartKind] = {"line": "line", "bar": "bar", "stacked": "stacked",
                                "hbar": "hbar"}


def _axis_label(value: Any) -> str:
    """Dates shortened to MM-DD (the period is on every page); hours as 00–23."""
    text = str(value)
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        return text[5:]
    if isinstance(value, int) and 0 <= value <= 23:
        return f"{value:02d}"
    return text


def _numbers(values: Iterable[Any]) -> tuple[float | None, ...]:
    out: list[float | None] = []
    for value in values:
        try:
            out.append(None if value is None else float(value))
        except (TypeError, ValueError):
            out.append(None)
    return tuple(out)


def _column(table: Table, name: str) -> int | None:
    names = [c.name for c in table.columns]
    return names.index(name) if name in names else None


def _table(result: EvidenceResult, name: str) -> Table | None:
    return next((t for t in result.tables if t.name == name), None)


_AGE_BANDS = ((30, "0–30"), (90, "31–90"), (180, "91–180"), (365, "181–365"),
              (730, "366–730"), (None, "over 730"))


def _key_ages(result: EvidenceResult) -> ChartData | None:
    """EV07: active keys per age band, so keys past the rotation limit stand out."""
    table = _table(result, "api_keys")
    age = _column(table, "age_days") if table is not None else None
    if table is None or age is None:
        return None
    active = _column(table, "active")
    ages = [int(row[age]) for row in table.rows
            if row[age] is not None and (active is None or row[active])]
    counts = [0] * len(_AGE_BANDS)
    for value in ages:
        counts[next(i for i, (top, _) in enumerate(_AGE_BANDS) if top is None or value <= top)] += 1
    labels = tuple(label for _, label in _AGE_BANDS)
    limit = result.metrics.get("key_rotation_days")
    note = f" (rotation limit: {limit} days)" if isinstance(limit, int) else ""
    return ChartData(
        name="key_ages", title=f"Active API keys by age in days{note}", kind="bar", x=labels,
        series=(Series("Active keys", tuple(float(c) for c in counts)),),
        alt="Active API keys by age band in days: " + ", ".join(
            f"{label}: {count}" for label, count in zip(labels, counts, strict=True)) + ".")


def _egress_vs_baseline(result: EvidenceResult) -> ChartData | None:
    """EV10: the largest egress days against the user's own daily baseline."""
    table = _table(result, "egress_anomalies")
    if table is None or not table.rows:
        return None
    out, base = _column(table, "files_out"), _column(table, "baseline_per_day")
    if out is None or base is None:
        return None
    who = _column(table, "email") if _column(table, "email") is not None \
        else _column(table, "user_id")
    day = _column(table, "day")
    rows = sorted(table.rows, key=lambda r: -float(r[out] or 0))[:CHART_CATEGORIES]

    def label(row: tuple[Any, ...]) -> str:
        parts = [_cell(row[i]) for i in (who, day) if i is not None]
        return " ".join(parts) or "user"

    return ChartData(
        name="egress_vs_baseline",
        title="Files exported or downloaded on anomalous days against the user's own baseline",
        kind="hbar", x=tuple(label(r) for r in rows),
        series=(Series("Files out that day", _numbers(r[out] for r in rows)),
                Series("Baseline per day", _numbers(r[base] for r in rows))))


def _connector_usage(result: EvidenceResult) -> ChartData | None:
    """EV12/EV13: connectors by users, the most used first."""
    for name, users_col in (("integration_inventory", "users_connected"),
                            ("connectors_in_use", "feed_users")):
        table = _table(result, name)
        if table is None:
            continue
        label, users = _column(table, table.columns[0].name), _column(table, users_col)
        peak = _column(table, "analytics_peak_users")
        if label is None or users is None:
            continue
        ranked = sorted(table.rows, key=lambda r: (-_best(r, users, peak), str(r[label])))
        ranked = ranked[:CHART_CATEGORIES]
        if not ranked:
            return None
        series = [Series("Users (activity feed)", _numbers(r[users] for r in ranked))]
        if peak is not None:
            series.append(Series("Peak daily users (Analytics)",
                                 _numbers(r[peak] for r in ranked)))
        return ChartData(name="connector_usage", title="Connectors by users",
                         kind="hbar", x=tuple(str(r[label]) for r in ranked),
                         series=tuple(series))
    return None


def _best(row: tuple[Any, ...], first: int, second: int | None) -> float:
    values = [row[first], row[second] if second is not None else None]
    return max((float(v) for v in values if isinstance(v, int | float)), default=0.0)


_DERIVED = {
    "api_key_hygiene": _key_ages,
    "file_operations": _egress_vs_baseline,
    "shadow_ai": _connector_usage,
    "integration_audit": _connector_usage,
}


# --- appendix -------------------------------------------------------------------------------

METHODOLOGY = (
    "auditpack reads two Claude Enterprise APIs: the Analytics API (daily engagement, adoption "
    "and cost reports, aggregated per user and day) and the Compliance API (the directory, "
    "settings and the activity feed of individual events). Every response is archived "
    "verbatim and addressed by its SHA-256; the figures in this report are computed from that "
    "archive alone, and each evidence item names the responses it read (lineage).",
    "Twenty evidence items (EV01 to EV20) each measure one thing over the period, state how "
    "(method) and what they cannot see (limitations), and report findings with a severity. "
    "An item whose data was not collected, or whose period reaches outside what the store "
    "holds, says insufficient data with the reason: it is never counted as a pass.",
    "Each framework's controls are kept as data in a catalog that maps the Claude-related "
    "part of the control onto evidence items, with the coverage each API can reach. A control "
    "is in exceptions when its evidence holds a high finding or its primary evidence reports "
    "exceptions, insufficient data when primary evidence is missing, manual when it rests on "
    "records kept outside Claude, and effective otherwise. Requirement texts are auditpack's "
    "own paraphrases, not the publishers' wording.",
    "What the APIs cannot show is listed per control as gaps, and what management must supply "
    "(training records, reviewer decisions, tickets) is listed as manual input still owed. "
    "This report summarizes; the workbook (evidence.xlsx) holds every row and findings.jsonl "
    "every finding.",
)

GLOSSARY = (
    ("Analytics API", "Claude Enterprise reports of daily use, adoption and cost, per user "
                      "and day, available after about three days."),
    ("Compliance API", "Claude Enterprise directory, settings and activity feed: one record "
                       "per event, from the day the feed was enabled."),
    ("Evidence item", "One measured aspect of the tenant (EV01 to EV20) with its method, "
                      "figures, findings and lineage."),
    ("Control", "A framework requirement, as far as Claude Enterprise data can speak to it."),
    ("Effective", "The evidence shows the control operating, with no exception found."),
    ("Exceptions", "The evidence holds a high finding, or the primary evidence reports "
                   "exceptions: something needs follow-up."),
    ("Insufficient data", "The data needed was not collected or does not cover the period. "
                          "Never a pass."),
    ("Manual", "The control rests on records kept outside Claude, to be provided by "
               "management."),
    ("Not applicable", "The control's condition does not arise for this organization."),
    ("Coverage", "How much of a control the collected sources can prove: full, partial "
                 "(some of it, gaps listed) or none."),
    ("Finding", "A fact an auditor should look at, with a severity (high, medium, low, info), "
                "a stable ID and the activity IDs or response hashes that prove it."),
    ("Lineage", "The SHA-256 hashes of the archived API responses an item read, and the days "
                "its data actually covers."),
    ("DAU / WAU / MAU", "Distinct users active on a day, in the last 7 days and in the last "
                        "30 days."),
    ("Seat utilization", "Members active at least once in the period, as a share of assigned "
                         "seats."),
    ("Package ID", "The identifier of the signed evidence package this report belongs to."),
    ("Signer fingerprint", "SHA-256 of the signer's raw 32-byte Ed25519 public key; compare "
                           "it with the value the organization gave you through another "
                           "channel."),
    ("BagIt", "The package layout (RFC 8493): payload under data/, SHA-256 manifests beside "
              "it, and a detached Ed25519 signature over the tag manifest."),
)

# The same steps as the package's data/README.txt (auditpack.assemble.README), in the same
# order, so the auditor reads one procedure in both places.
VERIFY_STEPS = (
    ("Unpack the package and go to the bag's top folder, the one holding bagit.txt.",
     "unzip auditpack-<package>.zip && cd auditpack-<package>"),
    ("Check every payload byte against the manifest (each line must say OK).",
     "sha256sum -c manifest-sha256.txt"),
    ("Check the tag files, which include the payload manifest.",
     "sha256sum -c tagmanifest-sha256.txt"),
    ("Verify the Ed25519 signature over the tag manifest with the signer's public key, "
     "obtained from the organization out of band: never trust a key found inside the package.",
     "openssl pkeyutl -verify -pubin -inkey signer.pub.pem -rawin \\\n"
     "    -in tagmanifest-sha256.txt -sigfile tagmanifest-sha256.txt.sig"),
    ("Compare the key's fingerprint (SHA-256 of its raw 32 bytes) with the one you were "
     "given and with the one on the cover of this report.",
     "openssl pkey -pubin -in signer.pub.pem -outform DER | tail -c 32 | sha256sum"),
    ("Check that no extra file was slipped in: every file under data/ must appear in "
     "manifest-sha256.txt.",
     "find data -type f | sort > /tmp/files && cut -d' ' -f3- manifest-sha256.txt | sort | "
     "diff - /tmp/files"),
    ("Or, with auditpack installed, do all of the above in one step (report.pdf's PAdES "
     "signature is checked too).",
     "auditpack verify auditpack-<package>.zip --trusted-key signer.pub.pem"),
)

_COMPLETENESS_KEY = "log_completeness"


def _appendix(results: Sequence[EvidenceResult], meta: ReportMeta, index: _Index) -> Appendix:
    return Appendix(
        methodology=METHODOLOGY, completeness=_completeness(results, meta, index),
        glossary=tuple(Figure(term, text) for term, text in GLOSSARY),
        verify=tuple(VerifyStep(text, command) for text, command in VERIFY_STEPS))


def _completeness(results: Sequence[EvidenceResult], meta: ReportMeta,
                  index: _Index) -> Completeness:
    ev17 = next((r for r in results if r.key == _COMPLETENESS_KEY), None)
    gaps = sorted(ev17.findings, key=_finding_order) if ev17 else []
    figures = tuple(_figure(k, v, ev17.metrics) for k, v in ev17.metrics.items()
                    if not k.startswith("findings_")) if ev17 else ()
    not_conclusive = tuple(
        Figure(f"{r.id} {r.title}", f"{STATUS_LABELS[r.status.value]}: {r.reason}"
               if r.reason else f"coverage {r.coverage.value}")
        for r in results
        if r.status in (Status.INSUFFICIENT_DATA, Status.NOT_APPLICABLE)
        or r.coverage is not Coverage.FULL)
    notes = meta.completeness_notes + (() if ev17 else (
        "The log completeness item (EV17) was not computed: gaps in collection are unknown.",))
    return Completeness(
        figures=figures, gaps=tuple(_finding_row(f, index) for f in gaps[:TOP_FINDINGS]),
        gaps_more=max(0, len(gaps) - TOP_FINDINGS), not_conclusive=not_conclusive,
        notes=notes, anchor=_ev_anchor(ev17.id) if ev17 else "")


# --- value formatting: one place decides how a number reads ---------------------------------

_WORDS = {"pct": "%", "dau": "DAU", "wau": "WAU", "mau": "MAU", "ip": "IP", "ips": "IPs",
          "sso": "SSO", "api": "API", "ai": "AI", "idp": "IdP", "hr": "HR", "id": "ID",
          "ids": "IDs", "utc": "UTC", "mfa": "MFA", "sha256": "SHA-256", "pci": "PCI",
          "jit": "JIT", "scim": "SCIM", "url": "URL", "ref": "reference", "rbac": "RBAC",
          "uuid": "UUID", "dpa": "DPA"}


def _humanize(key: str, *, unit_in_value: bool = False) -> str:
    """`active_keys_over_rotation_limit` → `Active keys over rotation limit`.

    With `unit_in_value` (metrics, whose values `_format` writes as `99 %` or `12.50 USD`), a
    trailing `_pct` or `_cents` is dropped from the label instead of repeated.
    """
    words = [w for w in key.replace("-", "_").split("_") if w]
    if unit_in_value and len(words) > 1 and words[-1] in ("cents", "pct"):
        words = words[:-1]
    text = " ".join(_WORDS.get(w.lower(), w) for w in words)
    return text[:1].upper() + text[1:] if text else key


def _figure(key: str, value: Any, metrics: Mapping[str, Any]) -> Figure:
    return Figure(_humanize(key, unit_in_value=True), _format(key, value, metrics))


def _format(key: str, value: Any, metrics: Mapping[str, Any]) -> str:
    """A metric as a reader expects it: thousands separated, money in units, times in UTC."""
    if value is None:
        return NONE_TEXT
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key.endswith("_cents"):
        return _money(value, metrics.get("currency"))
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if key.endswith("_rate") and 0 <= value <= 1:
            return f"{value * 100:.2f} %"
        return _number(value) + (" %" if key.endswith("_pct") else "")
    return _text(str(value))


def _money(value: Any, currency: Any) -> str:
    try:
        units = Decimal(str(value)) / 100
    except InvalidOperation:
        return str(value)
    return f"{units:,.2f}" + (f" {currency}" if currency else "")


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0")


def _text(text: str) -> str:
    """ISO timestamps as `2026-10-05 06:00 UTC`; anything else unchanged."""
    if len(text) >= 19 and text[4] == "-" and text[10] == "T":
        try:
            return _when(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            return text
    return text


def _when(moment: datetime) -> str:
    if moment.tzinfo is not None:
        from datetime import UTC

        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _cell(value: Any) -> str:
    """A table cell: short, formatted, never longer than CELL_CHARS."""
    if value is None:
        text = NONE_TEXT
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, datetime):
        text = _when(value)
    elif isinstance(value, date):
        text = value.isoformat()
    elif isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, float | Decimal):
        text = _number(float(value))
    else:
        text = _text(str(value))
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"
