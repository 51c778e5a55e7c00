"""Rare background activity, planned up front: joiners and their invites, clean leavers, benign
role changes and setting updates, a key rotation, new projects, connectors and skills, workspace
additions, and a few activities of types the reference does not list.

None of it may look like a planted anomaly: role changes stay among user/developer/
claude_code_user, only approved connectors and skills appear, leavers leave every group and stop,
nobody is added to a restricted group or workspace, and everything happens on working days
inside working hours.
"""

from __future__ import annotations

from auditpack.mockapi.synth_base import MS_PER_MIN, local_ms, tagged
from auditpack.mockapi.synth_cast import Cast
from auditpack.mockapi.synth_model import ORDINARY_ROLES, ApiKey, Invite, Plan, Project, User
from auditpack.mockapi.synth_org import (
    APPROVED_CONNECTORS,
    APPROVED_SKILLS,
    EMAIL_DOMAIN,
    IP_RANGES,
)
from auditpack.mockapi.synth_truth import UnknownActivityType, UnknownField

# How connectors show in the feed; Analytics reports the normalized name (the dict key).
CONNECTOR_DISPLAY = {
    "asana": "Asana",
    "atlassian": "Atlassian MCP server",
    "github": "GitHub",
    "linear": "Linear",
    "notion": "mcp-notion",
    "slack": "Slack",
}
EXTRA_IP_RANGE = "198.51.100.128/25"
# Plausible names that are not in the reference enumeration (checked against activity_types.tsv).
UNKNOWN_TYPES = {
    "claude_chat_branch_created": ("claude_chat_id", "branch_id"),
    "claude_project_template_applied": ("claude_project_id", "template_id"),
}
UNKNOWN_ACTIVITY_FIELD = "sharing_scope"
UNKNOWN_A1_FIELD = "voice_metrics"
_BENIGN_SETTINGS = [
    "member_usage_dashboard_visible",
    "inline_visualizations_enabled",
    "claude_code_routines_enabled",
]


def normalize_connector_name(name: str) -> str:
    """The normalized connector name Analytics reports ("Atlassian MCP server" → "atlassian")."""
    text = name.lower().replace("mcp server", " ").replace("mcp-", " ").replace("_mcp", " ")
    return "_".join(text.replace("-", " ").replace("_", " ").split())


def plan_background(plan: Plan, cast: Cast) -> None:
    rng = plan.rng
    plan.mcp_servers = {name: tagged("mcpsrv_", rng) for name in APPROVED_CONNECTORS}
    plan.skill_ids = {name: tagged("skill_", rng) for name in APPROVED_SKILLS}
    _joiners(plan, cast)
    _pending_invites(plan, cast)
    _leavers(plan, cast)
    _role_changes(plan, cast)
    _setting_updates(plan, cast)
    _ip_range_added(plan, cast)
    _key_rotation(plan, cast)
    _new_projects(plan)
    _new_connectors(plan, cast)
    _skill_enables(plan)
    _workspace_additions(plan, cast)
    _unknown_types(plan)
    _unknown_analytics_fields(plan)


def admin(plan: Plan, cast: Cast) -> User:
    """An owner or admin to act; they work every working day, so they are always at work."""
    return plan.users[plan.rng.choice(cast.admins)]


def at(plan: Plan, day: int, low: float, high: float) -> int:
    """A random instant on ``day`` between local hours ``low`` and ``high``."""
    return local_ms(plan.dates[day], plan.rng.uniform(low, high), plan.tz)


def active_days(plan: Plan, user: User, low: float = 0.0, high: float = 1.0) -> list[int]:
    """The user's planned working days within a fraction [low, high] of the period."""
    days = len(plan.dates)
    return [d for d in range(days) if user.is_active(d) and days * low <= d <= days * high]


def background_people(plan: Plan) -> list[User]:
    """People who may appear in background events: not reserved, not leaving, not joining."""
    return [
        u for u in plan.users if not u.reserved and u.leave_ms is None and u.join_ms < plan.start_ms
    ]


def _joiners(plan: Plan, cast: Cast) -> None:
    rng = plan.rng
    champions = next(g for g in plan.groups if g.source_type == "direct" and not g.restricted)
    for idx, invite in zip(cast.joiners, plan.invites, strict=True):
        user = plan.users[idx]
        sender = admin(plan, cast)
        group = plan.groups[user.dept]
        fields = {
            "invited_email": user.email,
            "invited_rbac_group_ids": [group.id],
            "invited_role": user.role,
            "invited_seat_tier": "standard",
        }
        plan.emit(
            invite.sent_ms, "org_user_invite_sent", "claude", sender.actor(), fields, sender.idx
        )
        accepted = user.join_ms
        fields = {"invite_id": tagged("invite_", rng)}
        plan.emit(accepted, "org_user_invite_accepted", "claude", user.actor(), fields, idx)
        added = accepted + rng.randint(2, 10) * MS_PER_MIN
        fields = {"group_id": group.id, "member_ids": [user.id]}
        plan.emit(added, "group_member_added", "claude", plan.scim_actor(), fields)
        group.changes.append((added, idx, True))
        if rng.random() < 0.3:
            by = admin(plan, cast)
            later = accepted + rng.randint(30, 180) * MS_PER_MIN
            fields = {"group_id": champions.id, "member_ids": [user.id]}
            plan.emit(later, "group_member_added", "claude", by.actor(), fields, by.idx)
            champions.changes.append((later, idx, True))


def _pending_invites(plan: Plan, cast: Cast) -> None:
    """Invites nobody accepts during the period: they keep ``pending_invite_count`` above 0."""
    rng = plan.rng
    days = [d for d in plan.working_days() if d <= len(plan.dates) * 0.8]
    for number in range(2 + min(18, len(plan.users) // 1000)):
        sender = admin(plan, cast)
        sent = at(plan, rng.choice(days), 10.0, 16.0)
        email = f"candidate.{number + 1:03d}@{EMAIL_DOMAIN}"
        fields = {
            "invited_email": email,
            "invited_rbac_group_ids": [],
            "invited_role": "user",
            "invited_seat_tier": "standard",
        }
        plan.emit(sent, "org_user_invite_sent", "claude", sender.actor(), fields, sender.idx)
        plan.invites.append(Invite(email, sent, None))


def _leavers(plan: Plan, cast: Cast) -> None:
    """Clean offboarding: removed from every group minutes before the account is deleted."""
    rng = plan.rng
    for idx in cast.leavers:
        user = plan.users[idx]
        assert user.leave_ms is not None
        by = admin(plan, cast)
        for group in plan.groups:
            if any(member == idx for _, member in group.members):
                removed = user.leave_ms - rng.randint(1, 5) * MS_PER_MIN
                fields = {"group_id": group.id, "member_ids": [user.id]}
                if group.source_type == "scim":
                    plan.emit(removed, "group_member_removed", "claude", plan.scim_actor(), fields)
                else:
                    plan.emit(removed, "group_member_removed", "claude", by.actor(), fields, by.idx)
                group.changes.append((removed, idx, False))
        fields = {"deleted_user_email": user.email, "deleted_user_id": user.id}
        plan.emit(user.leave_ms, "org_user_deleted", "claude", by.actor(), fields, by.idx)


def _role_changes(plan: Plan, cast: Cast) -> None:
    """Benign moves between the ordinary roles, approved by an admin."""
    rng = plan.rng
    people = [u for u in background_people(plan) if u.role in ORDINARY_ROLES]
    count = max(1, round(len(plan.users) / 150 * len(plan.dates) / 92))
    for user in rng.sample(people, min(count, len(people))):
        days = active_days(plan, user, 0.05, 0.95)
        if not days:
            continue
        when = at(plan, rng.choice(days), 11.0, 16.0)
        previous = user.role_at(when)
        current = rng.choice([r for r in ORDINARY_ROLES if r != previous])
        user.role_changes.append((when, current))
        user.role_changes.sort()
        by = admin(plan, cast)
        fields = {
            "current_role": current,
            "previous_role": previous,
            "user_email": user.email,
            "user_id": user.id,
        }
        plan.emit(when, "claude_user_role_updated", "claude", by.actor(), fields, by.idx)


def _setting_updates(plan: Plan, cast: Cast) -> None:
    rng = plan.rng
    days = [d for d in plan.working_days() if 0.1 <= d / len(plan.dates) <= 0.9]
    for name in rng.sample(_BENIGN_SETTINGS, 2):
        by = admin(plan, cast)
        when = at(plan, rng.choice(days), 11.0, 16.0)
        update = {"type": name, "previous_value": False, "current_value": True}
        plan.emit(
            when,
            "claude_organization_settings_updated",
            "claude",
            by.actor(),
            {"updates": [update]},
            by.idx,
        )
        plan.setting_changes.append((when, "claude", name, True))


def _ip_range_added(plan: Plan, cast: Cast) -> None:
    """Early in the period an admin adds a VPN range to the allowlist (benign)."""
    days = [d for d in plan.working_days() if d <= len(plan.dates) * 0.35]
    by = admin(plan, cast)
    when = at(plan, plan.rng.choice(days), 11.0, 16.0)
    plan.emit(when, "org_ip_restriction_created", "claude", by.actor(), {}, by.idx)
    plan.setting_changes.append(
        (when, "claude", "ip_allowlist_ip_ranges", [*IP_RANGES, EXTRA_IP_RANGE])
    )


def _key_rotation(plan: Plan, cast: Cast) -> None:
    """The SIEM key is replaced late in the period, so the active key is < 60 days old at as_of."""
    rng = plan.rng
    days = len(plan.dates)
    choices = [d for d in plan.working_days() if max(days * 0.55, days - 50) <= d <= days * 0.85]
    owner = plan.users[0]
    when = at(plan, rng.choice(choices), 11.0, 15.0)
    old = plan.keys[-1]
    new = ApiKey(tagged("apikey_", rng), "SIEM export (rotated)", list(old.scopes), when, owner.id)
    plan.keys.append(new)
    plan.siem_keys.append((when, new.id))
    fields = {"api_key_id": new.id, "scopes": new.scopes, "restricted_to_organization": None}
    plan.emit(when, "api_key_created", "claude", owner.actor(), fields, owner.idx)
    old.deactivated_ms = when + rng.randint(20, 40) * MS_PER_MIN
    fields = {"api_key_id": old.id, "api_key_name": old.name, "scopes": old.scopes}
    plan.emit(
        old.deactivated_ms, "scoped_api_key_deleted", "claude", owner.actor(), fields, owner.idx
    )


def _new_projects(plan: Plan) -> None:
    rng = plan.rng
    people = background_people(plan)
    count = max(3, round(len(plan.users) * 0.15 * len(plan.dates) / 92))
    marked: list[str] = []
    for number in range(count):
        user = rng.choice(people)
        days = active_days(plan, user)
        if not days:
            continue
        when = at(plan, rng.choice(days), 11.0, 16.0)
        project = Project(tagged("claude_proj_", rng), f"Project {number + 1:04d}", when, user.idx)
        plan.projects[project.id] = project
        user.new_projects.append((when, project.id))
        user.new_projects.sort()
        fields: dict[str, object] = {"claude_project_id": project.id}
        if len(marked) < 3:  # a handful of records carry a field the reference does not list
            fields[UNKNOWN_ACTIVITY_FIELD] = "private"
        aid = plan.emit(when, "claude_project_created", "claude", user.actor(), fields, user.idx)
        if len(marked) < 3:
            marked.append(aid)
    plan.unknown_fields.append(
        UnknownField(
            file="compliance/activities.jsonl.gz", field=UNKNOWN_ACTIVITY_FIELD, keys=marked
        )
    )


def _new_connectors(plan: Plan, cast: Cast) -> None:
    """An admin adds the approved Linear server; people connect it and other approved ones."""
    rng = plan.rng
    by = admin(plan, cast)
    days = [d for d in plan.working_days() if d <= len(plan.dates) * 0.25]
    created = at(plan, rng.choice(days), 10.0, 12.0)
    fields = {
        "mcp_server_id": plan.mcp_servers["linear"],
        "mcp_server_name": CONNECTOR_DISPLAY["linear"],
    }
    plan.emit(created, "mcp_server_created", "claude", by.actor(), fields, by.idx)
    people = background_people(plan)
    count = max(2, len(plan.users) // 50) + max(2, len(plan.users) // 100)
    for number in range(count):
        user = rng.choice(people)
        options = (
            ["linear"] if number % 2 == 0 else [c for c in APPROVED_CONNECTORS if c != "linear"]
        )
        options = [
            c
            for c in options
            if c not in user.connectors and c not in (name for _, name in user.new_connectors)
        ]
        days = [
            d
            for d in active_days(plan, user)
            if plan.dates[d] > plan.dates[plan.day_index(created)]
        ]
        if not options or not days:
            continue
        name = rng.choice(options)
        when = at(plan, rng.choice(days), 12.0, 16.0)
        user.new_connectors.append((when, name))
        user.new_connectors.sort()
        fields = {
            "integration_type": "mcp",
            "mcp_server_id": plan.mcp_servers[name],
            "mcp_server_name": CONNECTOR_DISPLAY[name],
        }
        plan.emit(when, "integration_user_connected", "claude", user.actor(), fields, user.idx)


def _skill_enables(plan: Plan) -> None:
    rng = plan.rng
    people = background_people(plan)
    for _ in range(max(2, len(plan.users) // 80)):
        user = rng.choice(people)
        options = [
            s
            for s in APPROVED_SKILLS
            if s not in user.skills and s not in (name for _, name in user.new_skills)
        ]
        days = active_days(plan, user)
        if not options or not days:
            continue
        name = rng.choice(options)
        when = at(plan, rng.choice(days), 12.0, 16.0)
        user.new_skills.append((when, name))
        user.new_skills.sort()
        fields = {"skill_id": plan.skill_ids[name], "skill_name": name}
        plan.emit(when, "claude_skill_enabled", "claude", user.actor(), fields, user.idx)


def _workspace_additions(plan: Plan, cast: Cast) -> None:
    rng = plan.rng
    console_admin = next(
        plan.users[i] for i in cast.console if plan.users[i].console_role == "admin"
    )
    open_spaces = [w for w in plan.workspaces if not w.restricted]
    members = [
        plan.users[i]
        for i in cast.console
        if not plan.users[i].reserved and plan.users[i].console_role == "developer"
    ]
    for user in rng.sample(members, max(1, len(members) // 2)):
        days = [d for d in plan.working_days() if console_admin.is_active(d)]
        when = at(plan, rng.choice(days), 10.0, 16.0)
        fields = {"user_id": user.id, "workspace_id": rng.choice(open_spaces).id}
        plan.emit(
            when,
            "platform_workspace_member_added",
            "console",
            console_admin.actor(),
            fields,
            console_admin.idx,
        )


def _unknown_types(plan: Plan) -> None:
    rng = plan.rng
    people = background_people(plan)
    for type_, names in UNKNOWN_TYPES.items():
        ids = []
        for _ in range(rng.randint(2, 3)):
            user = rng.choice(people)
            days = active_days(plan, user)
            if not days:
                continue
            when = at(plan, rng.choice(days), 12.0, 16.0)
            if type_ == "claude_chat_branch_created":
                fields = {
                    names[0]: rng.choice(user.old_chats),
                    names[1]: tagged("chatbranch_", rng),
                }
            else:
                fields = {names[0]: rng.choice(user.projects), names[1]: tagged("template_", rng)}
            ids.append(plan.emit(when, type_, "claude", user.actor(), fields, user.idx))
        plan.unknown_types.append(
            UnknownActivityType(type=type_, fields=list(names), activity_ids=sorted(ids))
        )


def _unknown_analytics_fields(plan: Plan) -> None:
    """Two A1 records (different days) carry an undocumented metrics block."""
    rng = plan.rng
    people = background_people(plan)
    used: set[int] = set()
    for _ in range(2):
        user = rng.choice(people)
        days = [d for d in active_days(plan, user) if d not in used]
        if not days:
            continue
        day = rng.choice(days)
        used.add(day)
        plan.a1_extra[(day, user.idx)] = {
            UNKNOWN_A1_FIELD: {"distinct_session_count": 1, "message_count": rng.randint(2, 9)}
        }
        plan.unknown_fields.append(
            UnknownField(
                file=f"analytics/users/{plan.dates[day].isoformat()}.jsonl.gz",
                field=UNKNOWN_A1_FIELD,
                keys=[user.id],
            )
        )
