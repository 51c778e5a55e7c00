"""Planted anomalies about people: a privilege escalation followed by an export burst, dormant
seats, a leaver who keeps working, a failed sign-in burst and a night-time weekend session."""

from __future__ import annotations

import random

from auditpack.mockapi.synth_background import admin, at
from auditpack.mockapi.synth_base import MS_PER_MIN, iso, local_ms, tagged
from auditpack.mockapi.synth_cast import Cast
from auditpack.mockapi.synth_model import Json, Plan, User
from auditpack.mockapi.synth_plant import PlantContext, days_within, record, subject_of, work_on

_EXPORT_STEMS = ["customer-list", "pricing", "pipeline", "payroll", "roadmap", "contracts"]
_EXPORT_EXTS = ["xlsx", "csv", "pdf", "docx"]


def plant_escalation(plan: Plan, cast: Cast, context: PlantContext) -> None:
    rng = plan.rng
    user = plan.users[cast.escalation]
    day = rng.choice(days_within(plan, 0.2, 0.8))
    work_on(user, day)
    when = at(plan, day, 10.0, 13.5)
    previous, current = user.role_at(when), rng.choice(["admin", "owner"])
    user.role_changes.append((when, current))
    user.role_changes.sort()
    by = admin(plan, cast)
    fields = {
        "current_role": current,
        "previous_role": previous,
        "user_email": user.email,
        "user_id": user.id,
    }
    aid = plan.emit(when, "claude_user_role_updated", "claude", by.actor(), fields, by.idx)
    context.escalation_ms = when
    record(
        plan,
        "privilege_escalation",
        1,
        subject_of(user),
        when,
        [aid],
        f"{user.email} was raised from {previous} to {current} by {by.email}",
        {"previous_role": previous, "current_role": current, "changed_by": by.id},
    )


def plant_export_burst(plan: Plan, cast: Cast, context: PlantContext) -> None:
    rng = plan.rng
    user = plan.users[cast.escalation]
    if context.escalation_ms is not None:
        start = context.escalation_ms + rng.randint(60, 180) * MS_PER_MIN
    else:
        start = at(plan, rng.choice(days_within(plan, 0.2, 0.8)), 11.0, 14.5)
    work_on(user, plan.day_index(start))
    count, span = rng.randint(30, 45), rng.randint(35, 55) * MS_PER_MIN
    times = sorted(start + rng.randrange(span) for _ in range(count))
    ids = []
    for number, when in enumerate(times):
        name = f"{rng.choice(_EXPORT_STEMS)}-{number + 1:02d}.{rng.choice(_EXPORT_EXTS)}"
        fields = {
            "export_destination": "download",
            "filename": name,
            "claude_chat_id": rng.choice(user.old_chats),
            "claude_file_id": tagged("claude_file_", rng),
        }
        ids.append(
            plan.emit(when, "claude_file_exported", "claude", user.actor(), fields, user.idx)
        )
    record(
        plan,
        "export_burst",
        1,
        subject_of(user),
        times[0],
        ids,
        f"{user.email} exported {count} files within {(times[-1] - times[0]) // MS_PER_MIN + 1} "
        "minutes; their usual daily exports are at most 1",
        {"count": count, "first_at": iso(times[0]), "last_at": iso(times[-1])},
    )


def plant_dormant(plan: Plan, cast: Cast, context: PlantContext) -> None:
    for number, idx in enumerate(cast.dormant, start=1):
        user = plan.users[idx]
        user.active = 0
        record(
            plan,
            "dormant_seat",
            number,
            subject_of(user),
            plan.start_ms,
            [],
            f"{user.email} holds a seat since {iso(user.join_ms)[:10]} and shows no activity "
            "in the whole period",
            {"joined_at": iso(user.join_ms)},
        )


def plant_leaver(plan: Plan, cast: Cast, context: PlantContext) -> None:
    rng = plan.rng
    user = plan.users[cast.leaver]
    working = plan.working_days()
    choices = [d for d in days_within(plan, 0.25, 0.65) if any(d < w <= d + 5 for w in working)]
    day = rng.choice(choices)
    removed = at(plan, day, 14.0, 16.5)
    by = admin(plan, cast)
    user.leave_ms = removed
    user.active &= (1 << day) - 1  # the planned work stops; the planted activity does not
    deleted = plan.emit(
        removed,
        "org_user_deleted",
        "claude",
        by.actor(),
        {"deleted_user_email": user.email, "deleted_user_id": user.id},
        by.idx,
    )
    later = rng.choice([w for w in working if day < w <= day + 5])
    when = signed_in = at(plan, later, 9.0, 15.0)
    ids = [
        plan.emit(
            when,
            "sso_login_succeeded",
            None,
            user.actor(alt=True),
            {"auth_method": "sso", "mfa_method": "idp"},
            user.idx,
        )
    ]
    chat = tagged("claude_chat_", rng)
    steps: list[tuple[str, Json]] = [
        ("claude_chat_created", {"claude_chat_id": chat, "claude_project_id": None})
    ]
    steps += [("claude_file_uploaded", _upload(rng, chat)) for _ in range(rng.randint(2, 4))]
    names = rng.sample(["clients.xlsx", "pipeline.csv", "contacts.csv"], rng.randint(1, 3))
    steps += [("claude_file_exported", _export(rng, chat, name)) for name in names]
    for type_, fields in steps:
        when += rng.randint(1, 8) * MS_PER_MIN
        ids.append(plan.emit(when, type_, "claude", user.actor(alt=True), fields, user.idx))
    group = plan.groups[user.dept]
    record(
        plan,
        "leaver_activity",
        1,
        subject_of(user),
        signed_in,
        [deleted, *ids],
        f"{user.email} was removed on {iso(removed)} but signed in and handled files "
        f"{later - day} day(s) later; still listed in group {group.name}",
        {"deleted_at": iso(removed), "group_id": group.id, "activity_after_removal": len(ids)},
    )


def _upload(rng: random.Random, chat: str) -> Json:
    return {
        "claude_file_id": tagged("claude_file_", rng),
        "filename": "handover-notes.docx",
        "claude_chat_id": chat,
        "claude_project_id": None,
    }


def _export(rng: random.Random, chat: str, name: str) -> Json:
    return {
        "export_destination": "download",
        "filename": name,
        "claude_chat_id": chat,
        "claude_file_id": tagged("claude_file_", rng),
    }


def plant_failed_logins(plan: Plan, cast: Cast, context: PlantContext) -> None:
    rng = plan.rng
    user = plan.users[cast.failed_login]
    start = at(plan, rng.choice(days_within(plan, 0.1, 0.9)), 9.0, 17.0)
    count, span = rng.randint(12, 20), rng.randint(3, 9) * MS_PER_MIN
    address = f"203.0.113.{rng.randrange(2, 254)}"
    actor = {
        "type": "unauthenticated_user_actor",
        "unauthenticated_email_address": user.email,
        "ip_address": address,
        "user_agent": "python-requests/2.32.3",
    }
    times = sorted(start + rng.randrange(span) for _ in range(count))
    ids = [plan.emit(t, "sso_login_failed", None, actor) for t in times]
    record(
        plan,
        "failed_login_burst",
        1,
        subject_of(user),
        times[0],
        ids,
        f"{count} failed sign-ins for {user.email} from {address} within "
        f"{(times[-1] - times[0]) // MS_PER_MIN + 1} minutes",
        {"ip_address": address, "count": count},
    )


def plant_off_hours(plan: Plan, cast: Cast, context: PlantContext) -> None:
    rng = plan.rng
    user = plan.users[cast.off_hours]
    weekend = [d for d in range(1, len(plan.dates)) if plan.dates[d].weekday() >= 5]
    day = rng.choice(weekend)
    when = first = local_ms(plan.dates[day], rng.uniform(2.0, 2.5), plan.tz)
    ids = [
        plan.emit(
            when,
            "sso_login_succeeded",
            None,
            user.actor(alt=True),
            {"auth_method": "sso", "mfa_method": "idp"},
            user.idx,
        )
    ]
    chat = tagged("claude_chat_", rng)
    for number in range(rng.randint(9, 15)):
        when += rng.randint(1, 5) * MS_PER_MIN
        type_, fields = _night_step(rng, user, chat, number)
        ids.append(plan.emit(when, type_, "claude", user.actor(alt=True), fields, user.idx))
    record(
        plan,
        "off_hours_activity",
        1,
        subject_of(user),
        first,
        ids,
        f"{user.email} was active {len(ids)} times between 02:00 and 04:00 local time on "
        f"{plan.dates[day].strftime('%A')} {plan.dates[day].isoformat()}",
        {"count": len(ids), "local_date": plan.dates[day].isoformat()},
    )


def _night_step(rng: random.Random, user: User, chat: str, number: int) -> tuple[str, Json]:
    if number == 0:
        return "claude_chat_created", {"claude_chat_id": chat, "claude_project_id": None}
    kind = rng.random()
    if kind < 0.4:
        return "claude_chat_viewed", {"claude_chat_id": chat, "claude_project_id": None}
    if kind < 0.7:
        return "claude_project_viewed", {
            "claude_project_id": rng.choice(user.projects),
            "preview_only": False,
        }
    if kind < 0.85:
        return "claude_chat_created", {
            "claude_chat_id": tagged("claude_chat_", rng),
            "claude_project_id": None,
        }
    return "claude_file_uploaded", {
        "claude_file_id": tagged("claude_file_", rng),
        "filename": "draft.docx",
        "claude_chat_id": chat,
        "claude_project_id": None,
    }
