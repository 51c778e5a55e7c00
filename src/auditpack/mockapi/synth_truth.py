"""``ground_truth.json``: what the generator planted and exactly how much it wrote.

Tests and benchmarks compare auditpack's findings with this file, so its field names are a
contract: ``anomalies[].{id, kind, evidence, subject, occurred_at, activity_ids, detail, data}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

GROUND_TRUTH_FORMAT = "auditpack.ground_truth/v1"
GROUND_TRUTH_FILE = "ground_truth.json"

# Anomaly kind → the evidence item (reference/frameworks.md §1) that must report it.
EVIDENCE_BY_KIND: dict[str, str] = {
    "privilege_escalation": "role_change_log",
    "export_burst": "file_operations",
    "dormant_seat": "dormant_accounts",
    "leaver_activity": "offboarding_verification",
    "stale_api_key": "api_key_hygiene",
    "unapproved_connector": "shadow_ai",
    "unapproved_skill": "shadow_ai",
    "ip_restriction_removed": "configuration_drift",
    "sso_toggled": "configuration_drift",
    "failed_login_burst": "authentication_events",
    "restricted_workspace_addition": "restricted_workspace_access",
    "off_hours_activity": "off_hours_access",
}
ANOMALY_KINDS: tuple[str, ...] = tuple(EVIDENCE_BY_KIND)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlantedAnomaly(_Frozen):
    """One planted anomaly and the activities that prove it.

    ``subject`` holds the keys findings use: ``user_id`` + ``email``, ``api_key_id``, ``setting``,
    ``connector``, ``skill``, or ``group_id``/``workspace_id`` together with the user.
    ``occurred_at`` is the first proving activity (for facts without an activity: the key's
    creation, or the period start for a dormant seat). ``data`` holds the specifics as values.
    """

    id: str
    kind: str
    evidence: str
    subject: dict[str, str]
    occurred_at: str
    activity_ids: list[str]
    detail: str
    data: dict[str, Any] = {}


class UnknownActivityType(_Frozen):
    """An activity type that is not in the reference enumeration, planted on purpose."""

    type: str
    fields: list[str]
    activity_ids: list[str]


class UnknownField(_Frozen):
    """An undocumented field added to a few records of one file.

    ``keys`` names the records: activity ids for the feed, ``user.id`` for A1 rows,
    ``connector_name`` for A5 rows.
    """

    file: str
    field: str
    keys: list[str]


class DayCounts(_Frozen):
    total: int
    by_day: dict[str, int]


class DirectoryCounts(_Frozen):
    organizations: int
    members: dict[str, int]  # org uuid → users
    roles: dict[str, int]  # org uuid → custom roles
    permissions: dict[str, int]  # role id → permission rows
    groups: int
    group_members: dict[str, int]  # group id → members
    api_keys: int


class Counts(_Frozen):
    activities: int
    activities_by_type: dict[str, int]
    users: int  # people planned (members at the start + joiners)
    organizations: int
    groups: int
    custom_roles: int
    directory: dict[str, DirectoryCounts]  # snapshot date → counts
    analytics: dict[
        str, DayCounts
    ]  # summaries, users, projects, skills, connectors, user_usage, user_cost


class GroundTruth(_Frozen):
    format: Literal["auditpack.ground_truth/v1"] = "auditpack.ground_truth/v1"
    seed: int
    anomalies: list[PlantedAnomaly]
    unknown_activity_types: list[UnknownActivityType]
    unknown_fields: list[UnknownField]
    counts: Counts

    def of_kind(self, kind: str) -> list[PlantedAnomaly]:
        return [a for a in self.anomalies if a.kind == kind]


def load_ground_truth(directory: Path) -> GroundTruth:
    """Read ``ground_truth.json`` from a dataset directory written by the generator."""
    return GroundTruth.model_validate_json((Path(directory) / GROUND_TRUTH_FILE).read_bytes())
