"""Shared pieces of anomaly planting: the ground-truth record and day/subject helpers."""

from __future__ import annotations

from typing import Any

from auditpack.mockapi.synth_base import iso
from auditpack.mockapi.synth_model import Plan, User
from auditpack.mockapi.synth_truth import EVIDENCE_BY_KIND, PlantedAnomaly


class PlantContext:
    """What one planted kind tells a later one (the export burst follows the escalation)."""

    def __init__(self) -> None:
        self.escalation_ms: int | None = None


def record(
    plan: Plan,
    kind: str,
    number: int,
    subject: dict[str, str],
    occurred: int,
    ids: list[str],
    detail: str,
    data: dict[str, Any],
) -> None:
    plan.anomalies.append(
        PlantedAnomaly(
            id=f"{kind}-{number}",
            kind=kind,
            evidence=EVIDENCE_BY_KIND[kind],
            subject=subject,
            occurred_at=iso(occurred),
            activity_ids=ids,
            detail=detail,
            data=data,
        )
    )


def subject_of(user: User) -> dict[str, str]:
    return {"user_id": user.id, "email": user.email}


def days_within(plan: Plan, low: float, high: float) -> list[int]:
    days = len(plan.dates)
    return [d for d in plan.working_days() if days * low <= d <= days * high]


def work_on(user: User, day: int) -> None:
    """Make sure the subject is at work that day (their background day goes on as usual)."""
    user.active |= 1 << day
