"""One UTC day of activity: everyone's ordinary work plus the day's planned events, with the
per-user and per-project tallies the analytics files are derived from.

A working day looks like this for each person planned to work: sign-in in the morning
(occasionally after one failed attempt), chats, project and file work spread until late
afternoon, their usual number of exports, sometimes a sign-out. All of it falls on Monday–Friday
between 08:00 and 19:00 in the organization's time zone. Days draw from their own seed, so they
can be generated in any order.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field

from auditpack.mockapi.synth_base import (
    activity_id,
    day_start_ms,
    iso,
    tagged,
    utc_offset_s,
)
from auditpack.mockapi.synth_model import Json, Plan, Planned, User

_WORK_TYPES = (
    "claude_chat_created",
    "claude_chat_viewed",
    "claude_project_viewed",
    "claude_file_uploaded",
    "claude_file_viewed",
    "claude_file_deleted",
)
_WORK_SHARE = (0.34, 0.62, 0.78, 0.89, 0.98, 1.0)  # cumulative
_UPLOAD_NAMES = ("brief.docx", "numbers.xlsx", "slides.pptx", "scan.pdf", "log.txt", "data.csv")
_SIEM_ACTOR_IP = "192.0.2.40"
_SIEM_AGENT = "siem-connector/5.1"
SIEM_POLL_HOURS = (9, 10, 11, 12, 13, 14, 15, 16, 17, 18)
LOGOUT_SHARE = 0.3
FAILED_LOGIN_SHARE = 0.012
LIGHT_EXPORTS = ((0.12, 1), (0.15, 2))  # (cumulative probability, exports that day)


@dataclass
class UserTally:
    chats: set[str] = field(default_factory=set)
    chats_created: int = 0
    messages: int = 0
    projects_created: int = 0
    projects_used: set[str] = field(default_factory=set)
    files: int = 0


@dataclass
class ProjectTally:
    users: set[int] = field(default_factory=set)
    conversations: int = 0
    messages: int = 0


@dataclass
class DayOutput:
    events: list[Json]  # newest first
    type_counts: Counter[str]
    users: dict[int, UserTally]
    projects: dict[str, ProjectTally]
    rng: random.Random  # continues into the analytics of the same day


class _Day:
    def __init__(self, plan: Plan, day: int) -> None:
        self.plan = plan
        self.rng = random.Random(plan.day_seeds[day])
        self.date = plan.dates[day]
        self.base = day_start_ms(self.date)
        # Working hours never cross a daylight-saving switch (those happen at night on Sundays).
        self.shift = self.base - utc_offset_s(self.date, plan.tz) * 1000
        self.prefix = self.date.isoformat() + "T"
        self.events: list[tuple[str, Json]] = []
        self.users: dict[int, UserTally] = {}
        self.projects: dict[str, ProjectTally] = {}
        claude = plan.orgs["claude"]
        console = plan.orgs["console"]
        self.orgs: dict[str | None, tuple[str | None, str | None]] = {
            None: (None, None),
            "claude": (claude.org_id, claude.uuid),
            "console": (console.org_id, console.uuid),
        }

    # -- building blocks ------------------------------------------------------------------

    def at(self, local_seconds: float) -> int:
        return self.shift + int(local_seconds * 1000)

    def add(self, ms: int, type_: str, org: str | None, actor: Json, fields: Json) -> None:
        aid = activity_id(ms, self.rng)
        second = (ms - self.base) // 1000
        created = f"{self.prefix}{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"
        org_id, org_uuid = self.orgs[org]
        event = {
            "id": aid,
            "created_at": created,
            "organization_id": org_id,
            "organization_uuid": org_uuid,
            "type": type_,
            "actor": actor,
        }
        event.update(fields)
        self.events.append((aid, event))

    def tally(self, idx: int) -> UserTally:
        found = self.users.get(idx)
        if found is None:
            found = self.users[idx] = UserTally()
        return found

    def chat(self, tally: UserTally, idx: int, chat: str, project: str | None) -> None:
        messages = 2 + self.rng.randrange(13)
        tally.chats.add(chat)
        tally.chats_created += 1
        tally.messages += messages
        if project is not None:
            found = self.projects.get(project)
            if found is None:
                found = self.projects[project] = ProjectTally()
            found.users.add(idx)
            found.conversations += 1
            found.messages += messages

    def project_used(self, tally: UserTally, idx: int, project: str) -> None:
        tally.projects_used.add(project)
        found = self.projects.get(project)
        if found is None:
            found = self.projects[project] = ProjectTally()
        found.users.add(idx)

    # -- ordinary work --------------------------------------------------------------------

    def work(self, user: User) -> None:
        rng = self.rng
        start = 8 * 3600 + 120 + rng.random() * 9000  # 08:02–10:32
        if user.join_ms >= self.base:  # joined this morning: work starts after accepting
            start = max(start, (user.join_ms - self.shift) / 1000 + 60)
        end = 16 * 3600 + rng.random() * 10400  # 16:00–18:53
        actor = user.actor(alt=rng.random() < 0.1)
        tally = self.tally(user.idx)
        if rng.random() < FAILED_LOGIN_SHARE:  # mistyped once, then fine
            failed = {
                "type": "unauthenticated_user_actor",
                "unauthenticated_email_address": user.email,
                "ip_address": actor["ip_address"],
                "user_agent": user.user_agent,
            }
            self.add(self.at(start - 10 - rng.random() * 80), "sso_login_failed", None, failed, {})
        self.add(
            self.at(start),
            "sso_login_succeeded",
            None,
            actor,
            {"auth_method": "sso", "mfa_method": "idp"},
        )
        projects = user.projects + [p for ms, p in user.new_projects if ms < self.base]
        count = max(1, round(user.weight * self.plan.work_mean * (0.6 + 0.8 * rng.random())))
        span = end - start - 60
        times = sorted([start + 30 + rng.random() * span for _ in range(count)])
        chats: list[tuple[str, str | None]] = []
        files: list[tuple[str, str]] = []
        for number, second in enumerate(times):
            draw = 0.0 if number == 0 else rng.random()
            kind = bisect_right(_WORK_SHARE, draw)
            self.work_event(kind, self.at(second), user, actor, tally, projects, chats, files)
        for second in self.export_times(user, start, span):
            self.export(self.at(second), user, actor, chats, files)
        if rng.random() < LOGOUT_SHARE:
            self.add(self.at(end), "user_logged_out", None, actor, {})

    def work_event(
        self,
        kind: int,
        ms: int,
        user: User,
        actor: Json,
        tally: UserTally,
        projects: list[str],
        chats: list[tuple[str, str | None]],
        files: list[tuple[str, str]],
    ) -> None:
        rng = self.rng
        type_ = _WORK_TYPES[kind]
        fields: Json
        if kind == 0:
            chat = tagged("claude_chat_", rng)
            project = rng.choice(projects) if rng.random() < 0.3 else None
            chats.append((chat, project))
            self.chat(tally, user.idx, chat, project)
            fields = {"claude_chat_id": chat, "claude_project_id": project}
        elif kind == 1:
            chat, project = rng.choice(chats) if chats else (rng.choice(user.old_chats), None)
            tally.chats.add(chat)
            tally.messages += rng.randrange(4)
            fields = {"claude_chat_id": chat, "claude_project_id": project}
        elif kind == 2:
            project = rng.choice(projects)
            self.project_used(tally, user.idx, project)
            fields = {"claude_project_id": project, "preview_only": rng.random() < 0.2}
        elif kind == 3:
            file_id, name = tagged("claude_file_", rng), rng.choice(_UPLOAD_NAMES)
            files.append((file_id, name))
            tally.files += 1
            fields = {
                "claude_file_id": file_id,
                "filename": name,
                "claude_chat_id": chats[-1][0] if chats else None,
                "claude_project_id": None,
            }
        elif kind == 4:
            file_id, name = rng.choice(files) if files else rng.choice(user.old_files)
            fields = {
                "claude_file_id": file_id,
                "claude_artifact_id": None,
                "claude_project_id": None,
                "filename": name,
            }
        else:
            file_id, name = files.pop() if files else rng.choice(user.old_files)
            fields = {"claude_file_id": file_id, "filename": name}
        self.add(ms, type_, "claude", actor, fields)

    def export_times(self, user: User, start: float, span: float) -> list[float]:
        """Steady exporters export about their usual number every day; others 0–2 (rarely)."""
        rng = self.rng
        if user.export_base:
            count = round(user.export_base * (0.8 + 0.4 * rng.random()))
        else:
            draw = rng.random()
            count = next((n for share, n in LIGHT_EXPORTS if draw < share), 0)
        return sorted(start + 30 + rng.random() * span for _ in range(count))

    def export(
        self,
        ms: int,
        user: User,
        actor: Json,
        chats: list[tuple[str, str | None]],
        files: list[tuple[str, str]],
    ) -> None:
        rng = self.rng
        if user.console_role is not None and rng.random() < 0.3:
            self.add(
                ms,
                "platform_file_content_downloaded",
                "console",
                actor,
                {"file_id": tagged("file_", rng)},
            )
            return
        file_id, name = rng.choice(files) if files else rng.choice(user.old_files)
        chat = chats[-1][0] if chats else rng.choice(user.old_chats)
        fields = {
            "export_destination": "download" if rng.random() < 0.8 else "google_drive",
            "filename": name,
            "claude_chat_id": chat,
            "claude_file_id": file_id,
        }
        self.add(ms, "claude_file_exported", "claude", actor, fields)

    def siem_polls(self) -> None:
        """The SIEM connector reads the feed hourly through working hours."""
        rng = self.rng
        for hour in SIEM_POLL_HOURS:
            ms = self.at(hour * 3600 + 300 + rng.random() * 600)
            key = next(k for since, k in reversed(self.plan.siem_keys) if since <= ms)
            actor = {
                "type": "api_actor",
                "api_key_id": key,
                "ip_address": _SIEM_ACTOR_IP,
                "user_agent": _SIEM_AGENT,
            }
            fields = {
                "request_id": tagged("req_", rng),
                "request_method": "GET",
                "status_code": 200,
                "url": "/v1/compliance/activities?limit=1000",
                "request_body": None,
            }
            self.add(ms, "compliance_api_accessed", None, actor, fields)

    # -- planned events -------------------------------------------------------------------

    def planned(self, item: Planned) -> None:
        org_id, org_uuid = self.orgs[item.org_key]
        event = {
            "id": item.id,
            "created_at": iso(item.ms),
            "organization_id": org_id,
            "organization_uuid": org_uuid,
            "type": item.type,
            "actor": item.actor,
        }
        event.update(item.fields)
        self.events.append((item.id, event))
        if item.user is not None:
            self.tally_planned(item)

    def tally_planned(self, item: Planned) -> None:
        assert item.user is not None
        tally = self.tally(item.user)
        fields = item.fields
        if item.type == "claude_chat_created":
            self.chat(tally, item.user, fields["claude_chat_id"], fields["claude_project_id"])
        elif item.type == "claude_chat_viewed":
            tally.chats.add(fields["claude_chat_id"])
        elif item.type == "claude_project_viewed":
            self.project_used(tally, item.user, fields["claude_project_id"])
        elif item.type == "claude_project_created":
            tally.projects_created += 1
        elif item.type == "claude_file_uploaded":
            tally.files += 1


def generate_day(plan: Plan, day: int) -> DayOutput:
    builder = _Day(plan, day)
    if plan.dates[day].weekday() < 5:
        for user in plan.users:
            if user.active >> day & 1:
                builder.work(user)
        builder.siem_polls()
    for item in plan.planned[day]:
        builder.planned(item)
    builder.events.sort(key=lambda pair: pair[0], reverse=True)
    events = [event for _, event in builder.events]
    counts = Counter(event["type"] for event in events)
    return DayOutput(events, counts, builder.users, builder.projects, builder.rng)


def expected_fixed_events(plan: Plan) -> float:
    """Expected non-work events (sign-ins, sign-outs, failures, exports, polls), for calibration."""
    total = 0.0
    for user in plan.users:
        days = user.active.bit_count()
        exports = user.export_base if user.export_base else 0.12 + 2 * 0.03
        total += days * (1 + LOGOUT_SHARE + FAILED_LOGIN_SHARE + exports)
    total += len(SIEM_POLL_HOURS) * len(plan.working_days())
    return total
