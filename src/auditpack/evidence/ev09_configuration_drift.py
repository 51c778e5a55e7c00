"""EV09 Configuration drift: effective settings against a baseline, and every setting change.

Two views of the same question, each with its own findings:

* drift: the effective settings (C7) of the snapshot nearest the period end against the approved
  baseline (`policy.settings_baseline`, else the earliest snapshot observed in or before the
  period);
* changes: every setting-change event of the period, with actor and time, mapped onto the C7
  setting it changes (IP restriction deleted → `ip_allowlist_enabled`, SSO toggled →
  `sso_enabled`, …).

How a change is judged is data (`SETTING_RULES`, `EVENT_RULES`, `UPDATE_NAMES`): security-relevant
settings (SSO, IP allowlist, retention, provisioning, connector policy, Compliance/Analytics API)
are high when they move the weak way or change at all; sharing and session limits are medium;
everything else (names, banners, UI features) is low. A weakening that is undone later in the
period is one change sequence: one finding that says when it was restored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from auditpack.evidence._common import feed_pages, insufficient, lineage
from auditpack.evidence._detect import (
    baseline_snapshot,
    closing_snapshot,
    feed_gap,
    iso,
    of_types,
    severity_counts,
    sort_findings,
    sql_list,
    status_of,
    utc,
)
from auditpack.evidence.interface import (
    Column,
    Coverage,
    EvidenceContext,
    EvidenceItem,
    EvidenceResult,
    Finding,
    Severity,
    Table,
    make_finding,
)

H, M, L = Severity.HIGH, Severity.MEDIUM, Severity.LOW
ANY = object()  # a rule whose every change counts, whatever the new value


@dataclass(frozen=True)
class Rule:
    """How a new value of one setting is judged: `severity` when it equals `weak` (or always,
    when `weak` is ANY), `otherwise` when it moves the other (safer) way."""

    severity: Severity
    weak: object = ANY
    otherwise: Severity = Severity.LOW

    def judge(self, value: Any) -> tuple[Severity, str]:
        """The severity of a change to `value` and its direction: weakening|strengthening|change."""
        if self.weak is ANY:
            return self.severity, "change"
        if value == self.weak:
            return self.severity, "weakening"
        return self.otherwise, "strengthening"


# C7 setting name (or, where C7 has none, the name the event implies) → how changes are judged.
SETTING_RULES: dict[str, Rule] = {
    "sso_enabled": Rule(H, False),
    "sso_claude_ai_enforced": Rule(H, False),
    "sso_console_enforced": Rule(H, False),
    "sso_provisioning_mode": Rule(H),
    "directory_sync_enabled": Rule(H, False),
    "ip_allowlist_enabled": Rule(H, False),
    "ip_allowlist_ip_ranges": Rule(M),
    "data_retention_periods": Rule(H),
    "content_redaction_enabled": Rule(H, False),
    "hipaa_compliance_enabled": Rule(H, False),
    "connector_tools_default_always_allow": Rule(H, True),
    "connector_tool_policy": Rule(H),
    "connector_domain_guard_enforced": Rule(H, False),
    "compliance_api_enabled": Rule(H),
    "analytics_api_enabled": Rule(H),
    "magic_link_second_factor_enabled": Rule(H, False),
    "data_residency": Rule(H),
    "external_key": Rule(M),
    "sso_group_role_mappings": Rule(M),
    "account_session_duration_seconds": Rule(M),
    "allowed_invite_domains": Rule(M),
    "code_execution_network_egress_enabled": Rule(M, True),
    "public_projects_enabled": Rule(M, True),
    "claude_ai_chat_sharing_enabled": Rule(M, True),
    "claude_ai_integration_sharing_enabled": Rule(M, True),
    "artifact_external_sharing_enabled": Rule(M, True),
    "frontier_data_use_enabled": Rule(M, True),
    "claude_code_data_sharing_enabled": Rule(M, True),
    "claude_code_desktop_bypass_permissions_enabled": Rule(M, True),
    "desktop_extension_allowlist_enabled": Rule(M, False),
    "claude_code_trusted_devices_required": Rule(M, False),
    "cowork_trusted_devices_required": Rule(M, False),
    "cowork_auto_mode_enabled": Rule(M, True),
    "cowork_act_without_asking_mode_enabled": Rule(M, True),
    "cowork_otlp_settings": Rule(M),
}
BENIGN = Rule(L)  # names, banners, limits, UI features: recorded, low


@dataclass(frozen=True)
class EventRule:
    """A setting-change activity type: the setting it changes and where the new value is.

    `field` names the event field holding the new value; without one, `value` is what the
    event itself means (an IP restriction deleted: the allowlist is no longer enforced).
    `rule` overrides the setting's rule for this event type.
    """

    setting: str
    field: str | None = None
    value: Any = None
    rule: Rule | None = None


EVENT_RULES: dict[str, EventRule] = {
    "org_sso_toggled": EventRule("sso_enabled", "enabled"),
    "org_sso_connection_activated": EventRule("sso_enabled", value=True, rule=Rule(M)),
    "org_sso_connection_deactivated": EventRule("sso_enabled", value=False),
    "org_sso_connection_deleted": EventRule("sso_enabled", value=False),
    "org_sso_add_initiated": EventRule("sso_enabled", value=True, rule=BENIGN),
    "org_sso_provisioning_mode_changed": EventRule("sso_provisioning_mode", "new_mode"),
    "org_sso_group_role_mappings_updated": EventRule("sso_group_role_mappings", value="updated"),
    "org_directory_sync_activated": EventRule("directory_sync_enabled", value=True),
    "org_directory_sync_deleted": EventRule("directory_sync_enabled", value=False),
    # created adds ranges (reviewed, low); updated may widen them; deleted lifts the restriction
    "org_ip_restriction_created": EventRule("ip_allowlist_ip_ranges", value="created",
                                            rule=BENIGN),
    "org_ip_restriction_updated": EventRule("ip_allowlist_ip_ranges", value="updated"),
    "org_ip_restriction_deleted": EventRule("ip_allowlist_enabled", value=False),
    "org_compliance_api_settings_updated": EventRule("compliance_api_enabled",
                                                     "compliance_api_enabled"),
    "org_analytics_api_capability_updated": EventRule("analytics_api_enabled", "current_value"),
    "org_magic_link_second_factor_toggled": EventRule("magic_link_second_factor_enabled",
                                                      "enabled"),
    "org_data_residency_updated": EventRule("data_residency", "updates"),
    "mcp_tool_policy_updated": EventRule("connector_tool_policy", "max_permission"),
    "org_connector_domain_guard_updated": EventRule("connector_domain_guard_enforced",
                                                    "enforced"),
    "org_cowork_mcp_always_allow_enabled": EventRule("connector_tools_default_always_allow",
                                                     value=True),
    "org_cowork_mcp_always_allow_disabled": EventRule("connector_tools_default_always_allow",
                                                      value=False),
    "org_claude_code_zero_data_retention_disabled": EventRule("data_retention_periods",
                                                              value="zero retention off"),
    "org_external_key_created": EventRule("external_key", value="created"),
    "org_external_key_updated": EventRule("external_key", value="updated"),
    "org_external_key_deleted": EventRule("external_key", value="deleted", rule=Rule(H)),
    "org_hipaa_self_serve_enabled": EventRule("hipaa_compliance_enabled", value=True),
    "org_claude_code_data_sharing_enabled": EventRule("claude_code_data_sharing_enabled",
                                                      value=True),
    "org_claude_code_data_sharing_disabled": EventRule("claude_code_data_sharing_enabled",
                                                       value=False),
    "org_cowork_auto_mode_enabled": EventRule("cowork_auto_mode_enabled", value=True),
    "org_cowork_auto_mode_disabled": EventRule("cowork_auto_mode_enabled", value=False),
    "org_cowork_act_without_asking_mode_enabled": EventRule(
        "cowork_act_without_asking_mode_enabled", value=True),
    "org_cowork_act_without_asking_mode_disabled": EventRule(
        "cowork_act_without_asking_mode_enabled", value=False),
    "org_cowork_otlp_settings_updated": EventRule("cowork_otlp_settings", value="updated"),
    "org_work_across_apps_enabled": EventRule("work_across_apps_enabled", value=True),
    "org_work_across_apps_disabled": EventRule("work_across_apps_enabled", value=False),
    "org_cowork_enabled": EventRule("cowork_enabled", value=True),
    "org_cowork_disabled": EventRule("cowork_enabled", value=False),
    "org_claude_code_desktop_enabled": EventRule("claude_code_desktop_enabled", value=True),
    "org_claude_code_desktop_disabled": EventRule("claude_code_desktop_enabled", value=False),
    "org_discoverability_enabled": EventRule("discoverability_enabled", value=True),
    "org_discoverability_disabled": EventRule("discoverability_enabled", value=False),
}
SETTINGS_UPDATED = "claude_organization_settings_updated"

# `updates[].type` of claude_organization_settings_updated → C7 name, where they differ.
UPDATE_NAMES: dict[str, str] = {
    "redact_content": "content_redaction_enabled",
    "claude_ai_skill_creation_enabled": "user_skill_creation_enabled",
    "claude_ai_skill_sharing_enabled": "skill_sharing_enabled",
    "claude_ai_skill_sharing_org_enabled": "org_wide_skill_sharing_enabled",
    "is_desktop_extension_allowlist_enabled": "desktop_extension_allowlist_enabled",
    "frontier_services_data_use_enabled": "frontier_data_use_enabled",
    "claude_ai_completion_feedback_enabled": "claude_ai_feedback_collection_enabled",
    "workbench_completion_feedback_enabled": "api_workbench_feedback_collection_enabled",
    "claude_ai_design_enabled": "claude_design_enabled",
    "geolocation_enabled": "location_metadata_enabled",
}


@dataclass
class Change:
    """One setting change of the period."""

    id: str
    at: datetime
    org_uuid: str
    setting: str
    event_type: str
    actor: str
    previous: Any
    current: Any
    severity: Severity
    direction: str
    restored_by: Change | None = None
    folded: bool = False  # a restoration reported with the change it undid


class ConfigurationDrift(EvidenceItem):
    """EV09: effective settings against the baseline, and every setting change."""

    id = "EV09"
    key = "configuration_drift"
    title = "Configuration drift"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """Drift of the closing snapshot from the baseline, and the period's setting changes."""
        gap = feed_gap(ctx)
        if gap is not None:
            return insufficient(self, gap)
        changes = _fold_restorations(_changes(ctx))
        current = closing_snapshot(ctx)
        notes: list[str] = []
        drift, baseline_label = _drift(ctx, current, changes, notes)
        findings = sort_findings([*(_change_finding(self.key, c) for c in changes
                                    if not c.folded),
                                  *(_drift_finding(self.key, d, current) for d in drift)])
        metrics: dict[str, int | float | str | None] = {
            "setting_changes": len(changes),
            "settings_changed": len({(c.org_uuid, c.setting) for c in changes}),
            "security_relevant_changes": sum(c.severity in (H, M) for c in changes),
            "drifted_settings": len(drift), "baseline": baseline_label,
            "snapshot_as_of": current[1].isoformat() if current else None,
            **severity_counts(findings)}
        pages = feed_pages(ctx, f"type IN {sql_list([*EVENT_RULES, SETTINGS_UPDATED])}")
        if current:
            pages += _settings_pages(ctx, current[0])
        return EvidenceResult(
            self.id, self.key, self.title, status_of(findings), Coverage.FULL, metrics=metrics,
            tables=[_changes_table(changes), _drift_table(drift), _effective_table(ctx, current)],
            charts={}, findings=findings, lineage=lineage(ctx, pages, ["compliance"]),
            method=("Every setting-change activity of the period is mapped onto the effective "
                    "setting (C7) it changes and judged by that setting's rule: SSO, IP "
                    "allowlist, retention, provisioning, connector policy and Compliance/"
                    "Analytics API changes are high when they weaken or change; sharing and "
                    "session limits medium; other settings low. The effective settings of the "
                    f"snapshot nearest the period end are compared with {baseline_label}."),
            limitations=[
                "Settings an organization cannot change are omitted by the API: a missing "
                "setting means 'not controllable', not 'off'.",
                "Activity types without a value field (IP restriction created/updated/deleted) "
                "are judged by their type; the snapshot shows the resulting state.",
                *notes])


def _changes(ctx: EvidenceContext) -> list[Change]:
    """The period's setting-change events, one Change per changed setting, in time order."""
    rows = ctx.con.execute(f"""
        SELECT id, created_at, type, coalesce(organization_uuid, ''),
               coalesce(actor_email, actor_user_id, actor_type, 'unknown'), raw::VARCHAR
        FROM {of_types(ctx, [*EVENT_RULES, SETTINGS_UPDATED])}
        WHERE created_at >= ? AND created_at < ?
        ORDER BY created_at, id""", [ctx.period.start_at, ctx.period.end_at]).fetchall()
    out: list[Change] = []
    for aid, at, type_, org, actor, raw in rows:
        event = json.loads(raw)
        if type_ == SETTINGS_UPDATED:
            out += [_update_change(aid, utc(at), org, actor, u)
                    for u in event.get("updates") or [] if isinstance(u, dict)]
        else:
            out.append(_event_change(aid, utc(at), type_, org, actor, event))
    return out


def _event_change(aid: str, at: datetime, type_: str, org: str, actor: str,
                  event: dict[str, Any]) -> Change:
    """A Change from a dedicated activity type (EVENT_RULES)."""
    spec = EVENT_RULES[type_]
    value = event.get(spec.field) if spec.field else spec.value
    previous = event.get("previous_value") if spec.field == "current_value" else None
    if type_ == "org_sso_provisioning_mode_changed":
        previous = event.get("previous_mode")
    elif isinstance(value, bool) and spec.field in ("enabled", "enforced"):
        previous = not value  # a toggle records only where it went
    rule = spec.rule or SETTING_RULES.get(spec.setting, BENIGN)
    severity, direction = rule.judge(value)
    return Change(aid, at, org, spec.setting, type_, actor, previous, value, severity, direction)


def _update_change(aid: str, at: datetime, org: str, actor: str,
                   update: dict[str, Any]) -> Change:
    """A Change from one `updates[]` item of claude_organization_settings_updated."""
    raw_name = str(update.get("type") or "unknown")
    setting = UPDATE_NAMES.get(raw_name, raw_name)
    current = update.get("current_value")
    severity, direction = SETTING_RULES.get(setting, BENIGN).judge(current)
    return Change(aid, at, org, setting, SETTINGS_UPDATED, actor, update.get("previous_value"),
                  current, severity, direction)


def _fold_restorations(changes: list[Change]) -> list[Change]:
    """Link each weakening to the next strengthening of the same setting (its restoration)."""
    for number, change in enumerate(changes):
        if change.direction != "weakening":
            continue
        for later in changes[number + 1:]:
            if (later.org_uuid, later.setting) != (change.org_uuid, change.setting):
                continue
            if later.direction == "strengthening" and not later.folded:
                change.restored_by, later.folded = later, True
            break
    return changes


def _change_finding(evidence: str, change: Change) -> Finding:
    """One finding per change sequence, at the change's severity."""
    verb = {"weakening": "weakened", "strengthening": "tightened"}.get(change.direction,
                                                                        "changed")
    title = f"{change.setting} {verb} by {change.actor}"
    detail = (f"{change.actor} changed {change.setting} at {iso(change.at)} "
              f"({change.event_type}): {_show(change.previous)} → {_show(change.current)}.")
    sources = [change.id]
    if change.restored_by is not None:
        back = change.restored_by
        hours = (back.at - change.at).total_seconds() / 3600
        detail += (f" Restored by {back.actor} at {iso(back.at)}, {hours:.1f} hours later; "
                   "the setting was weak in between.")
        sources.append(back.id)
    elif change.direction == "weakening":
        detail += " Not restored within the period."
    subject = {"setting": change.setting, "organization_uuid": change.org_uuid}
    return make_finding(evidence, "setting_changed", change.severity, title, subject, change.at,
                        detail, sources)


def _show(value: Any) -> str:
    """A setting value for a sentence."""
    if value is None:
        return "(not recorded)"
    return json.dumps(value, sort_keys=True) if not isinstance(value, str) else value


def _canonical(value: Any) -> str:
    """A comparable JSON text of a setting value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _snapshot_settings(ctx: EvidenceContext, snapshot_id: str) -> dict[tuple[str, str], Any]:
    """{(org_uuid, setting): value} of one snapshot."""
    rows = ctx.con.execute("SELECT org_uuid, name, value::VARCHAR FROM dir_settings "
                           "WHERE snapshot_id = ? AND name IS NOT NULL", [snapshot_id]).fetchall()
    return {(r[0], r[1]): json.loads(r[2]) if r[2] is not None else None for r in rows}


def _drift(ctx: EvidenceContext, current: tuple[str, datetime] | None, changes: list[Change],
           notes: list[str]) -> tuple[list[tuple[Any, ...]], str]:
    """Settings whose closing value differs from the baseline.

    Rows: org_uuid, setting, baseline, current, severity, change ids of the period.
    """
    if current is None:
        notes.append("No directory snapshot holds the effective settings: no drift comparison.")
        return [], "no baseline (no snapshot)"
    now = _snapshot_settings(ctx, current[0])
    if ctx.policy.settings_baseline:
        label = "the approved baseline of the policy"
        orgs = sorted({org for org, _ in now})
        base = {(org, name): value for org in orgs
                for name, value in ctx.policy.settings_baseline.items()}
        missing = sorted({n for (o, n) in base if (o, n) not in now})
        if missing:
            notes.append("Baseline settings the organizations do not report (not controllable): "
                         + ", ".join(missing))
        base = {k: v for k, v in base.items() if k in now}
    else:
        first = baseline_snapshot(ctx)
        if first is None or first[0] == current[0]:
            notes.append("Only one directory snapshot covers the period and no baseline is "
                         "configured: drift is judged from the change events alone.")
            return [], "no baseline (a single snapshot)"
        label = f"the earliest snapshot of the period (observed {iso(first[1])})"
        base = _snapshot_settings(ctx, first[0])
        notes.extend(f"{key[1]} of {key[0]} is no longer reported (not controllable)."
                     for key in sorted(set(base) - set(now)))
    by_setting: dict[tuple[str, str], list[str]] = {}
    for change in changes:
        by_setting.setdefault((change.org_uuid, change.setting), []).append(change.id)
    rows = []
    for key in sorted(base):
        if key not in now or _canonical(base[key]) == _canonical(now[key]):
            continue
        severity, _ = SETTING_RULES.get(key[1], BENIGN).judge(now[key])
        rows.append((key[0], key[1], _canonical(base[key]), _canonical(now[key]), severity,
                     by_setting.get(key, [])))
    return rows, label


def _drift_finding(evidence: str, row: tuple[Any, ...],
                   current: tuple[str, datetime] | None) -> Finding:
    """A setting whose closing value is not the baseline's."""
    org, setting, base, now, severity, change_ids = row
    at = current[1] if current else None
    explained = (f" {len(change_ids)} change event(s) of the period touch it." if change_ids
                 else " No change event of the period explains it.")
    return make_finding(
        evidence, "setting_drift", severity, f"{setting} differs from the baseline",
        {"setting": setting, "organization_uuid": org}, at,
        f"{setting} of organization {org} is {now} in the effective settings observed "
        f"{iso(at)}; the baseline is {base}." + explained, change_ids)


def _settings_pages(ctx: EvidenceContext, snapshot_id: str) -> list[str]:
    """The archived settings pages of a snapshot."""
    rows = ctx.con.execute("SELECT DISTINCT page_sha256 FROM dir_settings WHERE snapshot_id = ? "
                           "AND page_sha256 IS NOT NULL ORDER BY 1", [snapshot_id]).fetchall()
    return [r[0] for r in rows]


def _changes_table(changes: list[Change]) -> Table:
    """Every setting change of the period."""
    return Table("setting_changes", "Setting changes in the period",
                 [Column("at", "datetime"), Column("organization_uuid", "str"),
                  Column("setting", "str"), Column("event_type", "str"), Column("actor", "str"),
                  Column("previous", "str"), Column("current", "str"),
                  Column("severity", "str"), Column("activity_id", "str")],
                 [(c.at, c.org_uuid, c.setting, c.event_type, c.actor, _show(c.previous),
                   _show(c.current), c.severity.value, c.id) for c in changes])


def _drift_table(drift: list[tuple[Any, ...]]) -> Table:
    """Settings that differ from the baseline."""
    return Table("settings_drift", "Effective settings that differ from the baseline",
                 [Column("organization_uuid", "str"), Column("setting", "str"),
                  Column("baseline", "str"), Column("current", "str"),
                  Column("severity", "str"), Column("change_events", "int")],
                 [(r[0], r[1], r[2], r[3], r[4].value, len(r[5])) for r in drift])


def _effective_table(ctx: EvidenceContext, current: tuple[str, datetime] | None) -> Table:
    """The effective settings of the closing snapshot."""
    rows: list[tuple[Any, ...]] = []
    if current is not None:
        rows = [tuple(r) for r in ctx.con.execute(
            "SELECT org_uuid, name, type, value::VARCHAR FROM dir_settings WHERE snapshot_id = ? "
            "ORDER BY org_uuid, name", [current[0]]).fetchall()]
    return Table("effective_settings", "Effective settings at the period end",
                 [Column("organization_uuid", "str"), Column("setting", "str"),
                  Column("type", "str"), Column("value", "str")], rows)


ITEM = ConfigurationDrift()
