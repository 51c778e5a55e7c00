"""Directory snapshots (``compliance/directory/<date>/``): the state at 00:00 UTC of that day,
replayed from the plan's timelines, so every snapshot agrees with the feed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditpack.mockapi.synth_base import iso, write_json
from auditpack.mockapi.synth_model import Json, Plan
from auditpack.mockapi.synth_truth import DirectoryCounts


def write_snapshot(plan: Plan, root: Path, at_ms: int) -> DirectoryCounts:
    orgs = sorted(plan.orgs.values(), key=lambda o: o.created_ms)
    write_json(
        root / "organizations.json",
        [{"uuid": o.uuid, "name": o.name, "created_at": iso(o.created_ms)} for o in orgs],
    )
    members: dict[str, int] = {}
    roles: dict[str, int] = {}
    permissions: dict[str, int] = {}
    for org in orgs:
        users = _members(plan, org.key, at_ms)
        write_json(root / "users" / f"{org.uuid}.json", users)
        members[org.uuid] = len(users)
        own = [r for r in plan.roles if r.org_key == org.key]
        write_json(
            root / "roles" / f"{org.uuid}.json",
            [
                {
                    "id": r.id,
                    "name": r.name,
                    "description": r.description,
                    "created_at": iso(r.created_ms),
                    "updated_at": iso(r.updated_ms) if r.updated_ms is not None else None,
                }
                for r in own
            ],
        )
        roles[org.uuid] = len(own)
        for role in own:
            write_json(root / "permissions" / f"{role.id}.json", role.permissions)
            permissions[role.id] = len(role.permissions)
        write_json(
            root / "settings" / f"{org.uuid}.json", _settings(plan, org.key, org.uuid, at_ms)
        )
    groups = [g for g in plan.groups if g.created_ms < at_ms]
    write_json(
        root / "groups.json",
        [
            {
                "id": g.id,
                "name": g.name,
                "description": g.description,
                "source_type": g.source_type,
                "roles": g.roles,
                "created_at": iso(g.created_ms),
                "updated_at": iso(g.updated_ms) if g.updated_ms is not None else None,
            }
            for g in groups
        ],
    )
    group_members: dict[str, int] = {}
    for group in groups:
        rows = _group_members(plan, group.id, at_ms)
        write_json(root / "group_members" / f"{group.id}.json", rows)
        group_members[group.id] = len(rows)
    keys = [k for k in plan.keys if k.created_ms < at_ms]
    return DirectoryCounts(
        organizations=len(orgs),
        members=members,
        roles=roles,
        permissions=permissions,
        groups=len(groups),
        group_members=group_members,
        api_keys=len(keys),
    )


def _members(plan: Plan, org_key: str, at_ms: int) -> list[Json]:
    """C3 rows in join order. Console membership is fixed for the whole period."""
    if org_key == "claude":
        people = [u for u in plan.users if u.member_at(at_ms)]
        people.sort(key=lambda u: (u.join_ms, u.idx))
        return [
            {
                "id": u.id,
                "full_name": u.full_name,
                "email": u.email,
                "organization_role": u.role_at(at_ms),
                "created_at": iso(u.created_ms),
            }
            for u in people
        ]
    people = [u for u in plan.users if u.console_role is not None]
    return [
        {
            "id": u.id,
            "full_name": u.full_name,
            "email": u.email,
            "organization_role": u.console_role,
            "created_at": iso(u.created_ms),
        }
        for u in people
    ]


def _group_members(plan: Plan, group_id: str, at_ms: int) -> list[Json]:
    group = plan.group_by_id(group_id)
    since = {idx: joined for joined, idx in group.members}
    for when, idx, added in sorted(group.changes):
        if when >= at_ms:
            break
        if added:
            since.setdefault(idx, when)
        else:
            since.pop(idx, None)
    rows = sorted((joined, idx) for idx, joined in since.items())
    return [
        {
            "user_id": plan.users[idx].id,
            "email": plan.users[idx].email,
            "created_at": iso(joined),
            "updated_at": None,
        }
        for joined, idx in rows
    ]


def _settings(plan: Plan, org_key: str, org_uuid: str, at_ms: int) -> Json:
    values: dict[str, Any] = {row["name"]: row["value"] for row in plan.settings[org_key]}
    # Changes apply in time order (a stable sort keeps same-instant changes in planned order).
    changes = sorted(plan.setting_changes, key=lambda c: c[0])
    values.update(
        {name: value for when, key, name, value in changes if when < at_ms and key == org_key}
    )
    rows = [
        {"name": row["name"], "type": row["type"], "value": values[row["name"]]}
        for row in plan.settings[org_key]
    ]
    keys = [
        {
            "type": "compliance_api_key",
            "id": k.id,
            "name": k.name,
            "scopes": k.scopes,
            "is_active": k.deactivated_ms is None or k.deactivated_ms >= at_ms,
            "created_at": iso(k.created_ms),
            "created_by_id": k.created_by,
            "expires_at": None,
        }
        for k in plan.keys
        if k.created_ms < at_ms
    ]
    return {
        "type": "effective_organization_settings",
        "organization_id": org_uuid,
        "settings": rows,
        "api_keys": keys,
    }
