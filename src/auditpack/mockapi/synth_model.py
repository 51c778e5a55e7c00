"""The plan of a synthetic organization: everything decided before any file is written.

The generator first draws the whole organization (people, groups, roles, keys, settings, who works
on which day, every rare event and every planted anomaly) from one seeded ``random.Random``. Only
the high-volume day-to-day activity is drawn later, one day at a time, from a per-day seed stored
here, so the feed can be written newest day first without holding it in memory.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from auditpack.mockapi.synth_base import MS_PER_DAY, activity_id, day_start_ms, tagged
from auditpack.mockapi.synth_truth import PlantedAnomaly, UnknownActivityType, UnknownField

Json = dict[str, Any]

ORDINARY_ROLES = ("user", "developer", "claude_code_user")
PRIVILEGED_ROLES = ("primary_owner", "owner", "admin", "membership_admin")


@dataclass(frozen=True)
class Org:
    key: str  # "claude" (the claude.ai org) or "console"
    uuid: str
    org_id: str
    name: str
    created_ms: int


@dataclass
class User:
    idx: int
    id: str
    email: str
    full_name: str
    created_ms: int  # account creation (C3 `created_at`)
    join_ms: int  # joined the claude.ai org: directory order and first possible activity
    role: str  # claude.ai role when the period starts (or at joining)
    dept: int  # index of the user's department group
    ip: str
    ip_alt: str  # a second address (home office) used on some days
    user_agent: str
    weight: float = 1.0  # relative amount of daily work
    p_active: float = 0.7  # chance of working on a given working day
    export_base: int = 0  # steady exporters: files exported per working day; 0 = light user
    leave_ms: int | None = None
    console_role: str | None = None
    coder: bool = False
    cowork: bool = False
    active: int = 0  # bit d set: planned to work on period day d
    role_changes: list[tuple[int, str]] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    new_projects: list[tuple[int, str]] = field(default_factory=list)
    connectors: list[str] = field(default_factory=list)
    new_connectors: list[tuple[int, str]] = field(default_factory=list)
    skills: list[str] = field(default_factory=list)
    new_skills: list[tuple[int, str]] = field(default_factory=list)
    old_chats: list[str] = field(default_factory=list)
    old_files: list[tuple[str, str]] = field(default_factory=list)
    reserved: bool = False  # kept out of background admin events (anomaly subjects, dormant)

    def is_active(self, day: int) -> bool:
        return bool(self.active >> day & 1)

    def actor(self, alt: bool = False) -> Json:
        return {
            "type": "user_actor",
            "user_id": self.id,
            "email_address": self.email,
            "ip_address": self.ip_alt if alt else self.ip,
            "user_agent": self.user_agent,
        }

    def role_at(self, ms: int) -> str:
        role = self.role
        for when, new in self.role_changes:
            if when < ms:
                role = new
        return role

    def member_at(self, ms: int) -> bool:
        return self.join_ms < ms and (self.leave_ms is None or self.leave_ms >= ms)


@dataclass
class Group:
    id: str
    name: str
    description: str
    source_type: str  # "scim" or "direct"
    roles: list[str] | None
    created_ms: int
    updated_ms: int | None
    restricted: bool = False
    members: list[tuple[int, int]] = field(default_factory=list)  # (since ms, user idx) at start
    changes: list[tuple[int, int, bool]] = field(default_factory=list)  # (ms, user idx, added)


@dataclass
class Role:
    id: str
    org_key: str
    name: str
    description: str
    created_ms: int
    updated_ms: int | None
    permissions: list[Json]


@dataclass
class Project:
    id: str
    name: str
    created_ms: int
    creator: int


@dataclass
class ApiKey:
    id: str
    name: str
    scopes: list[str]
    created_ms: int
    created_by: str | None
    deactivated_ms: int | None = None


@dataclass
class Workspace:
    id: str
    name: str
    restricted: bool


@dataclass
class Invite:
    email: str
    sent_ms: int
    accepted_ms: int | None


@dataclass
class Planned:
    """One rare or anomalous activity, fixed at planning time (id included)."""

    ms: int
    id: str
    type: str
    org_key: str | None
    actor: Json
    fields: Json
    user: int | None  # the acting user's index, for the analytics tally


@dataclass
class Plan:
    seed: int
    rng: random.Random
    start: date
    dates: list[date]
    tz: ZoneInfo
    as_of_ms: int
    schedule_ms: list[int]
    parent_uuid: str
    orgs: dict[str, Org]
    directory_id: str
    users: list[User] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    roles: list[Role] = field(default_factory=list)
    projects: dict[str, Project] = field(default_factory=dict)
    workspaces: list[Workspace] = field(default_factory=list)
    keys: list[ApiKey] = field(default_factory=list)
    invites: list[Invite] = field(default_factory=list)
    settings: dict[str, list[Json]] = field(default_factory=dict)
    setting_changes: list[tuple[int, str, str, Any]] = field(default_factory=list)
    planned: list[list[Planned]] = field(default_factory=list)
    day_seeds: list[int] = field(default_factory=list)
    approved_connectors: list[str] = field(default_factory=list)
    approved_skills: list[str] = field(default_factory=list)
    mcp_servers: dict[str, str] = field(default_factory=dict)  # connector name → mcp_server_id
    skill_ids: dict[str, str] = field(default_factory=dict)  # skill name → skill_id
    siem_keys: list[tuple[int, str]] = field(default_factory=list)  # (from ms, key id) ascending
    work_mean: float = 4.0
    anomalies: list[PlantedAnomaly] = field(default_factory=list)
    unknown_types: list[UnknownActivityType] = field(default_factory=list)
    unknown_fields: list[UnknownField] = field(default_factory=list)
    # (day, user idx) → extra A1 field: a few analytics records carry a field nobody documents.
    a1_extra: dict[tuple[int, int], Json] = field(default_factory=dict)

    @property
    def start_ms(self) -> int:
        return day_start_ms(self.start)

    def day_index(self, ms: int) -> int:
        return (ms - self.start_ms) // MS_PER_DAY

    def working_days(self) -> list[int]:
        return [i for i, d in enumerate(self.dates) if d.weekday() < 5]

    def emit(
        self,
        ms: int,
        type_: str,
        org_key: str | None,
        actor: Json,
        fields: Json | None = None,
        user: int | None = None,
    ) -> str:
        """Plan one activity at ``ms``; returns its id."""
        aid = activity_id(ms, self.rng)
        self.planned[self.day_index(ms)].append(
            Planned(ms, aid, type_, org_key, actor, fields or {}, user)
        )
        return aid

    def scim_actor(self) -> Json:
        return {
            "type": "scim_directory_sync_actor",
            "workos_event_id": tagged("event_", self.rng),
            "directory_id": self.directory_id,
            "idp_connection_type": "OktaSCIMV2",
        }

    def group_by_id(self, group_id: str) -> Group:
        return next(g for g in self.groups if g.id == group_id)
