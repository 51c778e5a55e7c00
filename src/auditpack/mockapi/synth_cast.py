"""Who plays which part: console members, anomaly subjects, steady exporters, joiners, leavers,
and the days each person works.

Anomaly subjects are reserved whether or not their anomaly is requested, so the background stays
the same for any subset of anomalies; an unused subject simply behaves like everyone else.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from auditpack.mockapi.synth_base import MS_PER_DAY, local_ms
from auditpack.mockapi.synth_model import ORDINARY_ROLES, Invite, Plan, User

# Longest run of working days an ordinary member goes without working: nobody but the planted
# dormant seats may look dormant.
MAX_IDLE_WORKING_DAYS = 6


@dataclass
class Cast:
    console: list[int]
    escalation: int
    leaver: int
    failed_login: int
    restricted: int
    restricted_variant: str  # "group" or "workspace"
    off_hours: int
    connector: int
    skill: int
    dormant: list[int]
    heavy: list[int]
    leavers: list[int]
    joiners: list[int]
    admins: list[int]


def joiner_count(users: int) -> int:
    return max(2, round(users * 0.03))


def cast_people(plan: Plan) -> Cast:
    rng = plan.rng
    users = plan.users
    existing = len(users) - joiner_count(len(users))
    champions = {
        idx
        for g in plan.groups
        if g.source_type == "direct" and not g.restricted
        for _, idx in g.members
    }
    ordinary = [u.idx for u in users[:existing] if u.role in ORDINARY_ROLES]
    developers = [i for i in ordinary if users[i].role != "user"]
    console_devs = rng.sample(
        developers, min(len(developers), min(60, max(3, round(len(users) * 0.015))))
    )
    console_devs.sort()
    admins = [u.idx for u in users[:existing] if u.role in ("primary_owner", "owner", "admin")]
    console_admin = rng.choice([i for i in admins if users[i].role == "admin"])
    for idx in console_devs:
        users[idx].console_role = "developer"
    users[console_admin].console_role = "admin"

    taken = set(console_devs)

    def pick(candidates: list[int]) -> int:
        free = [i for i in candidates if i not in taken]
        chosen = rng.choice(free)
        taken.add(chosen)
        users[chosen].reserved = True
        return chosen

    early = [i for i in ordinary if users[i].created_ms <= plan.start_ms - 400 * MS_PER_DAY]
    dormant = [pick(early or ordinary) for _ in range(rng.choice([2, 3]))]
    for idx in dormant:  # dormant seats joined long before the period (fix a young draw)
        users[idx].created_ms = users[idx].join_ms = min(
            users[idx].created_ms, plan.start_ms - 420 * MS_PER_DAY
        )
    variant = rng.choice(["group", "workspace"])
    restricted = console_devs[rng.randrange(len(console_devs))] if variant == "workspace" else -1
    if restricted >= 0:
        users[restricted].reserved = True
    cast = Cast(
        console=[*console_devs, console_admin],
        escalation=pick([i for i in ordinary if users[i].role == "user"]),
        leaver=pick([i for i in ordinary if i not in champions]),
        failed_login=pick(ordinary),
        restricted=restricted if restricted >= 0 else pick(ordinary),
        restricted_variant=variant,
        off_hours=pick(ordinary),
        connector=pick(ordinary),
        skill=pick(ordinary),
        dormant=dormant,
        heavy=[],
        leavers=[],
        joiners=list(range(existing, len(users))),
        admins=admins,
    )
    free = [i for i in ordinary if i not in taken and not users[i].reserved]
    cast.heavy = sorted(rng.sample(free, min(8, 2 + len(users) // 2500)))
    for idx in cast.heavy:  # steady exporters work every day and export every day
        users[idx].p_active = 1.0
        users[idx].export_base = rng.randint(8, 20)
    free = [i for i in free if i not in cast.heavy]
    cast.leavers = sorted(rng.sample(free, max(2, round(len(users) * 0.02))))
    _time_joiners(plan, cast)
    _time_leavers(plan, cast)
    _plan_work_days(plan)
    return cast


def _time_joiners(plan: Plan, cast: Cast) -> None:
    """Each joiner is invited on a working day and accepts 1–6 days later, in the morning."""
    rng = plan.rng
    working = plan.working_days()
    late = max(4, int(len(plan.dates) * 0.85))
    choices = [d for d in working if 3 <= d <= late]
    for idx in cast.joiners:
        user = plan.users[idx]
        accept_day = rng.choice(choices)
        sent_days = [d for d in working if accept_day - 6 <= d < accept_day]
        sent_day = rng.choice(sent_days)
        sent = local_ms(plan.dates[sent_day], rng.uniform(10.0, 16.0), plan.tz)
        accepted = local_ms(plan.dates[accept_day], rng.uniform(8.3, 9.3), plan.tz)
        user.created_ms = user.join_ms = accepted
        plan.invites.append(Invite(user.email, sent, accepted))


def _time_leavers(plan: Plan, cast: Cast) -> None:
    rng = plan.rng
    days = len(plan.dates)
    choices = [d for d in plan.working_days() if days * 0.1 <= d <= days * 0.95]
    for idx in cast.leavers:
        day = rng.choice(choices)
        plan.users[idx].leave_ms = local_ms(plan.dates[day], rng.uniform(15.0, 17.5), plan.tz)


def _plan_work_days(plan: Plan) -> None:
    """Draw each member's working days, never leaving a long idle run (see the constant)."""
    rng = plan.rng
    working = plan.working_days()
    for user in plan.users:
        first = plan.day_index(user.join_ms) if user.join_ms >= plan.start_ms else 0
        last = plan.day_index(user.leave_ms) if user.leave_ms is not None else len(plan.dates)
        user.active = _work_mask(rng, user, working, first, last)


def _work_mask(rng: random.Random, user: User, working: list[int], first: int, last: int) -> int:
    mask = 0
    idle = 0
    for day in working:
        if not first <= day < last:
            continue
        draw = rng.random()
        if draw < user.p_active or idle >= MAX_IDLE_WORKING_DAYS or day == first:
            mask |= 1 << day
            idle = 0
        else:
            idle += 1
    return mask
