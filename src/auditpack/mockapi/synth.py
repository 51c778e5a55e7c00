"""Deterministic synthetic Claude Enterprise organizations with planted anomalies.

``generate()`` writes a dataset directory in the format of ``docs/mock-api.md`` (the mock API
serves it) plus ``ground_truth.json`` (what was planted, and exact counts)::

    from auditpack.mockapi.synth import generate, load_ground_truth

    truth = generate(Path("/tmp/org"), users=400, days=92, seed=7)
    assert truth == load_ground_truth(Path("/tmp/org"))

Everything derives from ``random.Random(seed)``: the same arguments give byte-identical
directories. The organization is planned first (people, groups, keys, settings, who works when,
rare events, anomalies); then the feed is written one day at a time from the last day back, so
memory stays bounded however many events are asked for.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from auditpack.errors import UsageError
from auditpack.mockapi.synth_analytics import DayAnalytics, day_analytics, summaries
from auditpack.mockapi.synth_anomalies import plant_anomalies
from auditpack.mockapi.synth_background import (
    normalize_connector_name,
    plan_background,
)
from auditpack.mockapi.synth_base import (
    GzipLines,
    day_of,
    day_start_ms,
    iso,
    secret,
    write_json,
    write_jsonl_gz,
)
from auditpack.mockapi.synth_cast import cast_people
from auditpack.mockapi.synth_day import expected_fixed_events, generate_day
from auditpack.mockapi.synth_directory import write_snapshot
from auditpack.mockapi.synth_model import Json, Plan
from auditpack.mockapi.synth_org import COMPLIANCE_SCOPES, TIME_ZONE, build_people, new_plan
from auditpack.mockapi.synth_truth import (
    ANOMALY_KINDS,
    EVIDENCE_BY_KIND,
    GROUND_TRUTH_FILE,
    Counts,
    DayCounts,
    GroundTruth,
    PlantedAnomaly,
    UnknownField,
    load_ground_truth,
)

__all__ = [
    "ANOMALY_KINDS",
    "DEFAULT_START",
    "EVIDENCE_BY_KIND",
    "GroundTruth",
    "PlantedAnomaly",
    "generate",
    "load_ground_truth",
    "normalize_connector_name",
]

DATASET_FORMAT = "auditpack.dataset/v1"
DEFAULT_START = date(2026, 7, 1)  # with days=92 the period is 2026-Q3
EVENTS_PER_ACTIVE_DAY = 6
MIN_USERS = 30  # room for the privileged roles, the anomaly subjects and ordinary people
MIN_DAYS = 14  # room for a weekend, a leaver's after-removal days and the rest
MAX_DAYS = 366
ANALYTICS_ENDPOINTS = ("users", "projects", "skills", "connectors", "user_usage", "user_cost")
UNKNOWN_A5_FIELD = "connector_category"


def generate(
    out_dir: Path,
    *,
    users: int,
    days: int,
    seed: int,
    start: date | None = None,
    events: int | None = None,
    anomalies: Sequence[str] | None = None,
) -> GroundTruth:
    """Write a synthetic organization to ``out_dir`` (created; must be empty) and return its
    ground truth. ``events`` is the approximate number of activities (default: about six per
    active person per working day); ``anomalies`` the kinds to plant (default: all of
    ``ANOMALY_KINDS``)."""
    kinds = _check(users, days, events, anomalies)
    out = Path(out_dir)
    _prepare(out)
    plan = _plan(seed, users, days, start or DEFAULT_START, kinds)
    _calibrate(plan, events)
    writer = _Writer(plan, out)
    writer.write_days()
    directory = {
        day.isoformat(): write_snapshot(
            plan, out / "compliance" / "directory" / day.isoformat(), day_start_ms(day)
        )
        for day in _snapshot_days(plan)
    }
    write_json(out / "dataset.json", _dataset(plan))
    truth = GroundTruth(
        seed=seed,
        anomalies=plan.anomalies,
        unknown_activity_types=plan.unknown_types,
        unknown_fields=[*plan.unknown_fields, *writer.unknown_fields],
        counts=Counts(
            activities=writer.activities,
            activities_by_type=dict(sorted(writer.types.items())),
            users=len(plan.users),
            organizations=len(plan.orgs),
            groups=len(plan.groups),
            custom_roles=len(plan.roles),
            directory=directory,
            analytics=writer.analytics_counts(),
        ),
    )
    write_json(out / GROUND_TRUTH_FILE, truth.model_dump(mode="json"))
    return truth


def _check(users: int, days: int, events: int | None, anomalies: Sequence[str] | None) -> list[str]:
    if users < MIN_USERS:
        raise UsageError(f"--users must be at least {MIN_USERS}, got {users}")
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise UsageError(f"--days must be between {MIN_DAYS} and {MAX_DAYS}, got {days}")
    if events is not None and events < 1:
        raise UsageError(f"events must be positive, got {events}")
    kinds = list(ANOMALY_KINDS) if anomalies is None else list(anomalies)
    unknown = sorted(set(kinds) - set(ANOMALY_KINDS))
    if unknown:
        raise UsageError(
            f"unknown anomaly kind(s): {', '.join(unknown)}",
            hint=f"choose from {', '.join(ANOMALY_KINDS)}",
        )
    return kinds


def _prepare(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} is not empty", hint="choose a new directory for the dataset")
    out.mkdir(parents=True, exist_ok=True)


def _plan(seed: int, users: int, days: int, start: date, kinds: list[str]) -> Plan:
    rng = random.Random(seed)
    plan = new_plan(seed, start, days, rng)
    build_people(plan, users)
    cast = cast_people(plan)
    plan_background(plan, cast)
    plant_anomalies(plan, cast, kinds)
    return plan


def _calibrate(plan: Plan, events: int | None) -> None:
    """Set the mean number of ordinary work events per person-day to approach ``events``."""
    worked = sum(u.active.bit_count() for u in plan.users)
    weighted = sum(u.weight * u.active.bit_count() for u in plan.users)
    # Steady exporters' exports come on top of the default: a small org must not spend its
    # budget on them and leave everyone else with one chat a day.
    steady = sum(u.export_base * u.active.bit_count() for u in plan.users)
    target = events if events is not None else EVENTS_PER_ACTIVE_DAY * worked + steady
    planned = sum(len(day) for day in plan.planned)
    remaining = target - expected_fixed_events(plan) - planned
    plan.work_mean = max(1.0, remaining / weighted) if weighted else 1.0


def _snapshot_days(plan: Plan) -> list[date]:
    """The period start, each scheduled collection day and the as_of day."""
    days = {plan.start} | {day_of(ms) for ms in plan.schedule_ms} | {day_of(plan.as_of_ms)}
    return sorted(days)


class _Writer:
    """Writes the feed newest day first and each day's analytics files, counting as it goes."""

    def __init__(self, plan: Plan, out: Path) -> None:
        self.plan = plan
        self.out = out
        self.activities = 0
        self.types: Counter[str] = Counter()
        self.rows: dict[str, dict[str, int]] = {name: {} for name in ANALYTICS_ENDPOINTS}
        self.unknown_fields: list[UnknownField] = []

    def write_days(self) -> None:
        plan = self.plan
        active = [0] * len(plan.dates)
        cowork = [0] * len(plan.dates)
        feed = GzipLines(self.out / "compliance" / "activities.jsonl.gz")
        try:
            for day in reversed(range(len(plan.dates))):
                output = generate_day(plan, day)
                feed.write(output.events)
                self.types.update(output.type_counts)
                result = day_analytics(plan, day, output)
                active[day], cowork[day] = result.active, result.cowork
                self.write_analytics(day, result)
        finally:
            feed.close()
        self.activities = feed.count
        rows = summaries(plan, active, cowork)
        write_jsonl_gz(self.out / "analytics" / "summaries.jsonl.gz", rows)
        self.summary_days = [row["starting_at"][:10] for row in rows]

    def write_analytics(self, day: int, result: DayAnalytics) -> None:
        stamp = self.plan.dates[day].isoformat()
        if result.connectors and not self.unknown_fields:
            # The newest day with connector rows gets one undocumented field on its first row.
            result.connectors[0][UNKNOWN_A5_FIELD] = "productivity"
            self.unknown_fields.append(
                UnknownField(
                    file=f"analytics/connectors/{stamp}.jsonl.gz",
                    field=UNKNOWN_A5_FIELD,
                    keys=[result.connectors[0]["connector_name"]],
                )
            )
        files: dict[str, list[Json]] = {
            "users": result.users,
            "projects": result.projects,
            "skills": result.skills,
            "connectors": result.connectors,
            "user_usage": result.usage,
            "user_cost": result.cost,
        }
        for name, records in files.items():
            self.rows[name][stamp] = len(records)
            if records:
                write_jsonl_gz(self.out / "analytics" / name / f"{stamp}.jsonl.gz", records)

    def analytics_counts(self) -> dict[str, DayCounts]:
        counts = {
            "summaries": DayCounts(
                total=len(self.summary_days), by_day=dict.fromkeys(self.summary_days, 1)
            )
        }
        for name, by_day in self.rows.items():
            ordered = dict(sorted(by_day.items()))
            counts[name] = DayCounts(total=sum(ordered.values()), by_day=ordered)
        return counts


def _dataset(plan: Plan) -> Json:
    keys = random.Random(f"{plan.seed}/keys")
    restricted_groups = [g.id for g in plan.groups if g.restricted]
    return {
        "format": DATASET_FORMAT,
        "name": "Example Corp (synthetic)",
        "seed": plan.seed,
        "period": {"start": plan.dates[0].isoformat(), "end": plan.dates[-1].isoformat()},
        "as_of": iso(plan.as_of_ms),
        "collection_schedule": [iso(ms) for ms in plan.schedule_ms],
        "organization_id": plan.orgs["claude"].org_id,
        "analytics": {
            "delay_days": 3,
            "lookback_days": 90,
            "summaries_envelope": "data",
            "usage_refresh_lag_hours": 4,
        },
        "keys": {
            "analytics": secret("mock-analytics-", keys, 32),
            "compliance": secret("sk-ant-api01-", keys, 48),
            "compliance_scopes": list(COMPLIANCE_SCOPES),
        },
        "time_zone": TIME_ZONE,
        "policy": {
            "approved_connectors": sorted(plan.approved_connectors),
            "approved_skills": sorted(plan.approved_skills),
            "restricted_groups": restricted_groups,
            "restricted_workspaces": [w.id for w in plan.workspaces if w.restricted],
            "working_hours": {
                "start": "08:00",
                "end": "19:00",
                "days": ["Mon", "Tue", "Wed", "Thu", "Fri"],
            },
            "key_rotation_days": 365,
            "dormant_days": 90,
        },
    }
