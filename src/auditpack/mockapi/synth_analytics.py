"""Analytics records of one day (A1, A3–A7) derived from that day's activity, and the A2 series.

Conversations, messages, projects and uploads come straight from the day's tallies. Metrics the
feed cannot show (skills and connectors used, thinking messages, Claude Code and Cowork work,
tokens, cost) are drawn from the day's generator, but only for people who were active, and only
with the connectors and skills they had connected or enabled by then.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from auditpack.mockapi.synth_base import MS_PER_DAY, cents, day_start_ms, iso
from auditpack.mockapi.synth_day import DayOutput, UserTally
from auditpack.mockapi.synth_model import Json, Plan, User

# List prices in micro-cents per token (USD per million tokens × 100 cents).
_PRICE_INPUT = 300
_PRICE_CACHE_5M = 375
_PRICE_CACHE_1H = 600
_PRICE_CACHE_READ = 30
_PRICE_OUTPUT = 1500
_PRICE_WEB_SEARCH = 1_000_000  # $10 per 1,000 searches
_DISCOUNT = (4, 5)  # negotiated: amount = list_amount × 4/5


@dataclass
class Extras:
    """Per-user metrics of the day that the feed does not carry."""

    skills: dict[str, int] = field(default_factory=dict)
    connectors: dict[str, int] = field(default_factory=dict)
    thinking: int = 0
    artifacts: int = 0
    web_search: int = 0
    code_sessions: int = 0
    commits: int = 0
    pulls: int = 0
    added: int = 0
    removed: int = 0
    edits: tuple[int, int] = (0, 0)
    cowork_sessions: int = 0
    cowork_messages: int = 0
    cowork_actions: int = 0


@dataclass
class DayAnalytics:
    users: list[Json]
    projects: list[Json]
    skills: list[Json]
    connectors: list[Json]
    usage: list[Json]
    cost: list[Json]
    active: int  # bit per user index: counted in DAU
    cowork: int


def day_analytics(plan: Plan, day: int, out: DayOutput) -> DayAnalytics:
    rng = out.rng
    begin = day_start_ms(plan.dates[day])
    end = begin + MS_PER_DAY
    result = DayAnalytics([], [], [], [], [], [], 0, 0)
    skills: dict[str, list[int]] = {}  # name → [users, conversations, code sessions]
    connectors: dict[str, list[int]] = {}
    for idx in sorted(out.users):
        user, tally = plan.users[idx], out.users[idx]
        extra = _extras(rng, user, tally, begin, end)
        record = a1_record(user, tally, extra)
        record.update(plan.a1_extra.get((day, idx), {}))
        result.users.append(record)
        if tally.messages or extra.code_sessions or extra.cowork_sessions:
            result.active |= 1 << idx
        if extra.cowork_sessions:
            result.cowork |= 1 << idx
        for name, uses in extra.skills.items():
            row = skills.setdefault(name, [0, 0, 0])
            row[0] += 1
            row[1] += uses
            row[2] += 1 if extra.code_sessions and uses > 2 else 0
        for name, uses in extra.connectors.items():
            row = connectors.setdefault(name, [0, 0, 0])
            row[0] += 1
            row[1] += uses
        if tally.messages or extra.code_sessions:
            usage, cost = _usage_rows(rng, user, tally, extra, end)
            result.usage.append(usage)
            result.cost.append(cost)
    result.projects = [
        _project_row(plan, pid, t.users, t.conversations, t.messages)
        for pid, t in out.projects.items()
    ]
    result.skills = [_skill_row(name, *row) for name, row in sorted(skills.items())]
    result.connectors = [_connector_row(name, *row) for name, row in sorted(connectors.items())]
    return result


def _available(start: list[str], added: list[tuple[int, str]], end: int) -> list[str]:
    return start + [name for ms, name in added if ms < end]


def _extras(rng: random.Random, user: User, tally: UserTally, begin: int, end: int) -> Extras:
    extra = Extras()
    fresh = {name for ms, name in user.new_connectors if begin <= ms < end}
    for name in _available(user.connectors, user.new_connectors, end):
        if name in fresh or rng.random() < 0.35:  # a new connection is tried out at once
            extra.connectors[name] = extra.connectors.get(name, 0) + 1 + rng.randrange(4)
    fresh = {name for ms, name in user.new_skills if begin <= ms < end}
    for name in _available(user.skills, user.new_skills, end):
        if name in fresh or rng.random() < 0.25:
            extra.skills[name] = extra.skills.get(name, 0) + 1 + rng.randrange(3)
    extra.thinking = rng.randrange(tally.messages // 5 + 1)
    extra.artifacts = rng.randrange(tally.chats_created // 2 + 1)
    extra.web_search = rng.randrange(4)
    if user.coder and rng.random() < 0.7:
        extra.code_sessions = 1 + rng.randrange(5)
        extra.commits = rng.randrange(7)
        extra.pulls = rng.randrange(3)
        extra.added = 20 + rng.randrange(800)
        extra.removed = rng.randrange(300)
        extra.edits = (rng.randrange(25), rng.randrange(4))
    if user.cowork and rng.random() < 0.3:
        extra.cowork_sessions = 1 + rng.randrange(2)
        extra.cowork_messages = 2 + rng.randrange(11)
        extra.cowork_actions = 3 + rng.randrange(28)
    return extra


def _zero_office(kind: str) -> Json:
    if kind == "user":
        return {
            "distinct_session_count": 0,
            "message_count": 0,
            "skills_used_count": 0,
            "distinct_skills_used_count": 0,
            "connectors_used_count": 0,
            "distinct_connectors_used_count": 0,
        }
    return {f"distinct_session_{kind}_used_count": 0}


def a1_record(user: User, tally: UserTally, extra: Extras) -> Json:
    accepted, rejected = extra.edits
    return {
        "user": {"id": user.id, "email_address": user.email},
        "chat_metrics": {
            "distinct_conversation_count": len(tally.chats),
            "message_count": tally.messages,
            "distinct_projects_created_count": tally.projects_created,
            "distinct_projects_used_count": len(tally.projects_used),
            "distinct_files_uploaded_count": tally.files,
            "distinct_artifacts_created_count": extra.artifacts,
            "distinct_shared_artifacts_viewed_count": 0,
            "thinking_message_count": extra.thinking,
            "distinct_skills_used_count": len(extra.skills),
            "connectors_used_count": sum(extra.connectors.values()),
            "shared_conversations_viewed_count": 0,
        },
        "claude_code_metrics": {
            "core_metrics": {
                "commit_count": extra.commits,
                "pull_request_count": extra.pulls,
                "distinct_session_count": extra.code_sessions,
                "lines_of_code": {"added_count": extra.added, "removed_count": extra.removed},
            },
            "tool_actions": {
                "edit_tool": {"accepted_count": accepted, "rejected_count": rejected},
                "multi_edit_tool": {"accepted_count": 0, "rejected_count": 0},
                "write_tool": {"accepted_count": accepted // 4, "rejected_count": 0},
                "notebook_edit_tool": {"accepted_count": 0, "rejected_count": 0},
            },
        },
        "office_metrics": {"excel": _zero_office("user"), "powerpoint": _zero_office("user")},
        "cowork_metrics": {
            "distinct_session_count": extra.cowork_sessions,
            "message_count": extra.cowork_messages,
            "action_count": extra.cowork_actions,
            "dispatch_turn_count": 0,
            "skills_used_count": 0,
            "distinct_skills_used_count": 0,
            "connectors_used_count": 0,
            "distinct_connectors_used_count": 0,
        },
        "web_search_count": extra.web_search,
    }


def _project_row(plan: Plan, pid: str, users: set[int], conversations: int, messages: int) -> Json:
    project = plan.projects[pid]
    creator = plan.users[project.creator]
    return {
        "project_name": project.name,
        "project_id": project.id,
        "distinct_user_count": len(users),
        "distinct_conversation_count": conversations,
        "message_count": messages,
        "created_at": iso(project.created_ms),
        "created_by": {"id": creator.id, "email_address": creator.email},
    }


def _skill_row(name: str, users: int, conversations: int, code: int) -> Json:
    return {
        "skill_name": name,
        "distinct_user_count": users,
        "chat_metrics": {"distinct_conversation_skill_used_count": conversations},
        "claude_code_metrics": {"distinct_session_skill_used_count": code},
        "office_metrics": {"excel": _zero_office("skill"), "powerpoint": _zero_office("skill")},
        "cowork_metrics": {"distinct_session_skill_used_count": 0},
    }


def _connector_row(name: str, users: int, conversations: int, _unused: int) -> Json:
    return {
        "connector_name": name,
        "distinct_user_count": users,
        "chat_metrics": {"distinct_conversation_connector_used_count": conversations},
        "claude_code_metrics": {"distinct_session_connector_used_count": 0},
        "office_metrics": {
            "excel": _zero_office("connector"),
            "powerpoint": _zero_office("connector"),
        },
        "cowork_metrics": {"distinct_session_connector_used_count": 0},
    }


def usage_actor(user: User, end: int) -> Json:
    """The A6/A7 actor as of the end of the row's day (deleted users lose name and email)."""
    if user.leave_ms is not None and user.leave_ms < end:
        return {
            "type": "user_actor",
            "user_id": user.id,
            "name": "Deleted User",
            "email": None,
            "deleted": True,
        }
    return {
        "type": "user_actor",
        "user_id": user.id,
        "name": user.full_name,
        "email": user.email,
        "deleted": False,
    }


def _usage_rows(
    rng: random.Random, user: User, tally: UserTally, extra: Extras, end: int
) -> tuple[Json, Json]:
    messages, sessions = tally.messages, extra.code_sessions
    uncached = messages * (800 + rng.randrange(2500)) + sessions * (20000 + rng.randrange(60000))
    cache_5m = uncached // 20
    cache_read = uncached * (1 + rng.randrange(4))
    output = messages * (250 + rng.randrange(700)) + sessions * (5000 + rng.randrange(15000))
    total = uncached + cache_5m + cache_read + output
    requests = messages + sessions * (10 + rng.randrange(40))
    listed = (
        uncached * _PRICE_INPUT
        + cache_5m * _PRICE_CACHE_5M
        + cache_read * _PRICE_CACHE_READ
        + output * _PRICE_OUTPUT
        + extra.web_search * _PRICE_WEB_SEARCH
    )
    amount = listed * _DISCOUNT[0] // _DISCOUNT[1]
    actor = usage_actor(user, end)
    dims: Json = {
        "product": None,
        "model": None,
        "context_window": None,
        "inference_geo": None,
        "speed": None,
    }
    usage = {
        "actor": actor,
        **dims,
        "uncached_input_tokens": uncached,
        "cache_creation": {"ephemeral_5m_input_tokens": cache_5m, "ephemeral_1h_input_tokens": 0},
        "cache_read_input_tokens": cache_read,
        "output_tokens": output,
        "total_tokens": total,
        "server_tool_use": {"web_search_requests": extra.web_search},
        "requests": requests,
    }
    cost = {
        "actor": actor,
        **dims,
        "cost_type": None,
        "token_type": None,
        "currency": "USD",
        "amount": cents(amount),
        "list_amount": cents(listed),
        "requests": requests,
    }
    return usage, cost


def summaries(plan: Plan, active: list[int], cowork: list[int]) -> list[Json]:
    """The A2 series, one record per period day (newer field names: ``starting_at``/``ending_at``).

    WAU and MAU are rolling 7- and 30-day unions ending on the day; days before the period have
    no data, so the first weeks undercount, as the reference says the real API does.
    """
    rows = []
    for day, date_ in enumerate(plan.dates):
        begin = day_start_ms(date_)
        end = begin + MS_PER_DAY
        week = month = week_cowork = month_cowork = 0
        for back in range(max(0, day - 29), day + 1):
            month |= active[back]
            month_cowork |= cowork[back]
            if back > day - 7:
                week |= active[back]
                week_cowork |= cowork[back]
        seats = sum(1 for u in plan.users if u.member_at(end))
        pending = sum(
            1
            for i in plan.invites
            if i.sent_ms < end and (i.accepted_ms is None or i.accepted_ms >= end)
        )
        dau, wau, mau = active[day].bit_count(), week.bit_count(), month.bit_count()
        rows.append(
            {
                "starting_at": iso(begin),
                "ending_at": iso(end),
                "daily_active_user_count": dau,
                "weekly_active_user_count": wau,
                "monthly_active_user_count": mau,
                "assigned_seat_count": seats,
                "pending_invite_count": pending,
                "daily_adoption_rate": _rate(dau, seats),
                "weekly_adoption_rate": _rate(wau, seats),
                "monthly_adoption_rate": _rate(mau, seats),
                "cowork_daily_active_user_count": cowork[day].bit_count(),
                "cowork_weekly_active_user_count": week_cowork.bit_count(),
                "cowork_monthly_active_user_count": month_cowork.bit_count(),
            }
        )
    return rows


def _rate(count: int, seats: int) -> float:
    return round(100 * count / seats, 1) if seats else 0.0
