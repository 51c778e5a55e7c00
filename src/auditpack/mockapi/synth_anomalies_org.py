"""Planted anomalies about the organization: a stale Compliance key, an unapproved connector and
skill, a removed IP allowlist, SSO switched off for a few hours, and an addition to a restricted
group or workspace."""

from __future__ import annotations

import random

from auditpack.mockapi.synth_background import admin, at
from auditpack.mockapi.synth_base import MS_PER_DAY, MS_PER_HOUR, MS_PER_MIN, iso, tagged
from auditpack.mockapi.synth_cast import Cast
from auditpack.mockapi.synth_model import ApiKey, Json, Plan, User
from auditpack.mockapi.synth_org import COMPLIANCE_SCOPES, IP_RANGES
from auditpack.mockapi.synth_plant import PlantContext, days_within, record, subject_of, work_on

UNAPPROVED_CONNECTORS = {
    "airtable": "Airtable MCP server",
    "dropbox": "mcp-dropbox",
    "hubspot": "HubSpot",
    "zapier": "zapier_MCP",
}
UNAPPROVED_SKILLS = [
    "contract-autosigner",
    "crypto-price-feed",
    "resume-screener",
    "web-scraper-pro",
]


def plant_stale_key(plan: Plan, cast: Cast, context: PlantContext) -> None:
    rng = plan.rng
    created = plan.as_of_ms - rng.randint(400, 900) * MS_PER_DAY - rng.randrange(MS_PER_DAY)
    key = ApiKey(
        tagged("apikey_", rng),
        "Legacy eDiscovery export",
        list(COMPLIANCE_SCOPES),
        created,
        plan.users[0].id,
    )
    plan.keys.append(key)
    plan.keys.sort(key=lambda k: k.created_ms)
    ids = []
    week = -1
    for day in plan.working_days():  # the legacy job still runs on the first working day weekly
        iso_week = plan.dates[day].isocalendar()[1]
        if iso_week != week:
            week = iso_week
            when = at(plan, day, 10.0, 11.0)
            actor = {
                "type": "api_actor",
                "api_key_id": key.id,
                "ip_address": "192.0.2.50",
                "user_agent": "ediscovery-sync/2.4",
            }
            ids.append(
                plan.emit(
                    when,
                    "compliance_api_accessed",
                    None,
                    actor,
                    _api_call(rng, "/v1/compliance/apps/chats?limit=100"),
                )
            )
    age = (plan.as_of_ms - created) // MS_PER_DAY
    record(
        plan,
        "stale_api_key",
        1,
        {"api_key_id": key.id},
        created,
        ids,
        f"Compliance key '{key.name}' is {age} days old at as_of, active and never rotated",
        {"name": key.name, "created_at": iso(created), "age_days": age, "scopes": key.scopes},
    )


def _api_call(rng: random.Random, url: str) -> Json:
    return {
        "request_id": tagged("req_", rng),
        "request_method": "GET",
        "status_code": 200,
        "url": url,
        "request_body": None,
    }


def plant_connector(plan: Plan, cast: Cast, context: PlantContext) -> None:
    rng = plan.rng
    name = rng.choice(sorted(UNAPPROVED_CONNECTORS))
    display = UNAPPROVED_CONNECTORS[name]
    server = tagged("mcpsrv_", rng)
    user = plan.users[cast.connector]
    day = rng.choice(days_within(plan, 0.15, 0.55))
    work_on(user, day)
    when = at(plan, day, 11.0, 14.0)
    fields = {"mcp_server_id": server, "mcp_server_name": display}
    ids = [plan.emit(when, "mcp_server_created", "claude", user.actor(), fields, user.idx)]
    adopters = [user, *_followers(plan, day)]
    for number, person in enumerate(adopters):
        days = [d for d in range(day + 1, len(plan.dates)) if person.is_active(d)]
        if number and not days:
            continue
        connect = (
            when + rng.randint(5, 20) * MS_PER_MIN
            if number == 0
            else at(plan, rng.choice(days), 11.0, 16.0)
        )
        person.new_connectors.append((connect, name))
        person.new_connectors.sort()
        fields = {"integration_type": "mcp", "mcp_server_id": server, "mcp_server_name": display}
        ids.append(
            plan.emit(
                connect, "integration_user_connected", "claude", person.actor(), fields, person.idx
            )
        )
    users = sorted({p.id for p in adopters if any(n == name for _, n in p.new_connectors)})
    record(
        plan,
        "unapproved_connector",
        1,
        {"connector": name},
        when,
        ids,
        f"connector '{display}' ({name}) is not on the approved list; used by {len(users)} user(s)",
        {"display_name": display, "mcp_server_id": server, "user_ids": users},
    )


def _followers(plan: Plan, after: int) -> list[User]:
    """One or two ordinary people who adopt the unapproved tool after its first user."""
    people = [
        u
        for u in plan.users
        if not u.reserved
        and u.leave_ms is None
        and u.join_ms < plan.start_ms
        and u.role != "primary_owner"
        and any(u.is_active(d) for d in range(after + 1, len(plan.dates)))
    ]
    return plan.rng.sample(people, min(len(people), plan.rng.randint(1, 2)))


def plant_skill(plan: Plan, cast: Cast, context: PlantContext) -> None:
    rng = plan.rng
    name = rng.choice(UNAPPROVED_SKILLS)
    skill_id = tagged("skill_", rng)
    user = plan.users[cast.skill]
    day = rng.choice(days_within(plan, 0.15, 0.55))
    work_on(user, day)
    when = at(plan, day, 11.0, 14.0)
    fields = {"skill_id": skill_id, "skill_name": name}
    ids = [plan.emit(when, "claude_skill_created", "claude", user.actor(), fields, user.idx)]
    adopters = [user, *_followers(plan, day)]
    for number, person in enumerate(adopters):
        days = [d for d in range(day + 1, len(plan.dates)) if person.is_active(d)]
        if number and not days:
            continue
        enabled = (
            when + rng.randint(1, 5) * MS_PER_MIN
            if number == 0
            else at(plan, rng.choice(days), 11.0, 16.0)
        )
        person.new_skills.append((enabled, name))
        person.new_skills.sort()
        ids.append(
            plan.emit(
                enabled, "claude_skill_enabled", "claude", person.actor(), dict(fields), person.idx
            )
        )
    users = sorted({p.id for p in adopters if any(n == name for _, n in p.new_skills)})
    record(
        plan,
        "unapproved_skill",
        1,
        {"skill": name},
        when,
        ids,
        f"skill '{name}' is not on the approved list; enabled by {len(users)} user(s)",
        {"skill_id": skill_id, "user_ids": users},
    )


def plant_ip_removed(plan: Plan, cast: Cast, context: PlantContext) -> None:
    rng = plan.rng
    by = admin(plan, cast)
    when = at(plan, rng.choice(days_within(plan, 0.45, 0.85)), 11.0, 16.0)
    previous = list(IP_RANGES)
    for ms, key, name, value in plan.setting_changes:
        if ms < when and key == "claude" and name == "ip_allowlist_ip_ranges":
            previous = list(value)
    aid = plan.emit(when, "org_ip_restriction_deleted", "claude", by.actor(), {}, by.idx)
    plan.setting_changes.append((when, "claude", "ip_allowlist_ip_ranges", []))
    plan.setting_changes.append((when, "claude", "ip_allowlist_enabled", False))
    org = plan.orgs["claude"]
    record(
        plan,
        "ip_restriction_removed",
        1,
        {"setting": "ip_allowlist_enabled"},
        when,
        [aid],
        f"{by.email} deleted the IP allowlist of {org.name}; it stays off",
        {"organization_uuid": org.uuid, "previous_ranges": previous, "changed_by": by.id},
    )


def plant_sso(plan: Plan, cast: Cast, context: PlantContext) -> None:
    rng = plan.rng
    by = admin(plan, cast)
    off = at(plan, rng.choice(days_within(plan, 0.2, 0.9)), 10.0, 12.5)
    on = off + rng.randint(2 * 60, 5 * 60) * MS_PER_MIN
    ids = [
        plan.emit(off, "org_sso_toggled", "claude", by.actor(), {"enabled": False}, by.idx),
        plan.emit(on, "org_sso_toggled", "claude", by.actor(), {"enabled": True}, by.idx),
    ]
    plan.setting_changes.append((off, "claude", "sso_enabled", False))
    plan.setting_changes.append((on, "claude", "sso_enabled", True))
    hours = (on - off) / MS_PER_HOUR
    record(
        plan,
        "sso_toggled",
        1,
        {"setting": "sso_enabled"},
        off,
        ids,
        f"{by.email} turned SSO off for {hours:.1f} hours",
        {"disabled_at": iso(off), "enabled_at": iso(on), "changed_by": by.id},
    )


def plant_restricted(plan: Plan, cast: Cast, context: PlantContext) -> None:
    rng = plan.rng
    user = plan.users[cast.restricted]
    day = rng.choice(days_within(plan, 0.2, 0.85))
    when = at(plan, day, 10.0, 16.0)
    if cast.restricted_variant == "group":
        group = rng.choice([g for g in plan.groups if g.restricted])
        by = admin(plan, cast)
        fields: Json = {"group_id": group.id, "member_ids": [user.id]}
        aid = plan.emit(when, "group_member_added", "claude", by.actor(), fields, by.idx)
        group.changes.append((when, user.idx, True))
        subject = {"group_id": group.id, **subject_of(user)}
        where = f"restricted group {group.name}"
    else:
        space = next(w for w in plan.workspaces if w.restricted)
        by = next(plan.users[i] for i in cast.console if plan.users[i].console_role == "admin")
        fields = {"user_id": user.id, "workspace_id": space.id}
        aid = plan.emit(
            when, "platform_workspace_member_added", "console", by.actor(), fields, by.idx
        )
        subject = {"workspace_id": space.id, **subject_of(user)}
        where = f"restricted workspace {space.name}"
    record(
        plan,
        "restricted_workspace_addition",
        1,
        subject,
        when,
        [aid],
        f"{by.email} added {user.email} to {where}",
        {"added_by": by.id},
    )
