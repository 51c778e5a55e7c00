"""A tiny hand-written dataset, built per the contract in docs/mock-api.md (not by synth.py).

``build_dataset`` writes a directory from plain Python values; ``Tiny`` describes the default
content so tests can compute expectations by brute force.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from auditpack.mockapi.dataset import Dataset, load_dataset
from auditpack.mockapi.server import MockApi

AS_OF = datetime(2026, 10, 5, 6, 0, tzinfo=UTC)
ANALYTICS_KEY = "test-analytics-key"
COMPLIANCE_KEY = "sk-ant-api01-test-compliance-key"
ALL_SCOPES = ["read:compliance_activities", "read:compliance_org_data", "read:compliance_user_data"]
ORG_A = "0f0e0d0c-1111-2222-3333-444455556666"
ORG_B = "0f0e0d0c-7777-8888-9999-aaaabbbbcccc"
ORG_IDS = {ORG_A: "org_01AAAA", ORG_B: "org_01BBBB"}
TYPES = [
    "claude_chat_created",
    "claude_file_uploaded",
    "sso_login_succeeded",
    "compliance_api_accessed",
]
USERS = [f"user_{n:02d}" for n in range(6)]


def write_jsonl_gz(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as out:
        for record in records:
            out.write(json.dumps(record).encode() + b"\n")


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def make_activities(count: int, *, shuffled_ids: bool = False) -> list[dict[str, Any]]:
    """Activities from 2026-09-01 to past AS_OF, newest first, with ties on created_at."""
    start = datetime(2026, 9, 1, tzinfo=UTC)
    records = []
    for n in range(count):
        # Every third activity shares the previous one's timestamp: ties broken by id.
        moment = start + timedelta(minutes=(n - n % 3 // 2) * 290)
        number = (n * 7919) % 100_000 if shuffled_ids else n
        user = USERS[n % len(USERS)]
        org = [ORG_A, ORG_B, None][n % 3]
        actor: dict[str, Any] = (
            {"type": "api_actor", "api_key_id": "apikey_01X", "ip_address": "192.0.2.1", "user_agent": "x"}
            if n % 5 == 4
            else {"type": "user_actor", "user_id": user, "email_address": f"{user}@example.com",
                  "ip_address": "198.51.100.7", "user_agent": "Mozilla/5.0"}
        )  # fmt: skip
        record = {
            "id": f"activity_{number:06d}",
            "created_at": iso(moment),
            "organization_id": ORG_IDS[org] if org else None,
            "organization_uuid": org,
            "actor": actor,
            "type": TYPES[n % len(TYPES)],
        }
        if n % 10 == 0:
            record["x_future_field"] = {"nested": [1, 2.5, "é"], "big": 12345678901234567890}
        records.append(record)
    records.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
    return records


def make_summaries(first: date, last: date) -> list[dict[str, Any]]:
    days = (last - first).days + 1
    return [
        {
            "starting_date": (first + timedelta(n)).isoformat(),
            "ending_date": (first + timedelta(n + 1)).isoformat(),
            "daily_active_user_count": 10 + n,
            "x_unknown_metric": n,
        }
        for n in range(days)
    ]


def user_row(n: int) -> dict[str, Any]:
    name = f"person{(n * 37) % 45:02d}"
    return {
        "user": {"id": f"user_{n:03d}", "email_address": f"{name}@example.com"},
        "chat_metrics": {"message_count": n},
        "x_unknown": {"kept": True},
    }


def usage_row(user: int, day: int) -> dict[str, Any]:
    return {
        "actor": {"type": "user_actor", "user_id": f"user_{user:02d}", "name": f"U{user}",
                  "email": f"u{user}@example.com", "deleted": False},
        "product": None, "model": None, "context_window": None, "inference_geo": None,
        "speed": None, "uncached_input_tokens": 100 * user + day,
        "cache_creation": {"ephemeral_5m_input_tokens": 1, "ephemeral_1h_input_tokens": 0},
        "cache_read_input_tokens": 10, "output_tokens": 5 * user,
        "total_tokens": 100 * user + day + 5 * user + 11,
        "server_tool_use": {"web_search_requests": 1}, "requests": 2,
    }  # fmt: skip


def cost_row(user: int, day: int) -> dict[str, Any]:
    return {
        "actor": {"type": "user_actor", "user_id": f"user_{user:02d}", "name": f"U{user}",
                  "email": f"u{user}@example.com", "deleted": False},
        "product": None, "model": None, "context_window": None, "inference_geo": None,
        "speed": None, "cost_type": None, "token_type": None, "currency": "USD",
        "amount": f"{(user * 7 % 10) * 100 + day}.250000", "list_amount": "1.000000", "requests": 3,
    }  # fmt: skip


def directory_snapshot(users_a: int, marker: str) -> dict[str, Any]:
    """Relative path -> JSON value of one snapshot."""
    orgs = [
        {"uuid": ORG_A, "name": f"Engineering {marker}", "created_at": "2025-06-01T10:00:00Z"},
        {"uuid": ORG_B, "name": "Sales", "created_at": "2025-07-01T10:00:00Z", "x_new": 1},
    ]
    users = [
        {"id": f"user_a{n:04d}", "email": f"a{n}@example.com", "full_name": f"A {n}",
         "organization_role": "user", "created_at": "2025-06-01T10:00:00Z"}
        for n in range(users_a)
    ]  # fmt: skip
    roles = [
        {"id": f"rbac_role_{n}", "name": f"Role {n}", "description": None,
         "created_at": "2025-06-01T10:00:00Z", "updated_at": None}
        for n in range(3)
    ]  # fmt: skip
    groups = [
        {"id": f"rbac_group_{n}", "name": name, "description": "", "source_type": "scim",
         "roles": ["rbac_role_0"], "created_at": "2025-06-01T10:00:00Z", "updated_at": None}
        for n, name in enumerate(["Engineering", "Eng Leads", "Sales"])
    ]  # fmt: skip
    settings = {
        "type": "effective_organization_settings",
        "organization_id": ORG_A,
        "settings": [{"name": "sso_enabled", "type": "boolean", "value": True}],
        "api_keys": [],
    }
    return {
        "organizations.json": orgs,
        f"users/{ORG_A}.json": users,
        f"users/{ORG_B}.json": users[:3],
        f"roles/{ORG_A}.json": roles,
        "permissions/rbac_role_0.json": [
            {"action": "read", "resource_type": "project", "resource_id": f"p{n}"} for n in range(7)
        ],
        "groups.json": groups,
        "group_members/rbac_group_0.json": [
            {"user_id": f"user_a{n:04d}", "email": f"a{n}@example.com", "updated_at": None}
            for n in range(5)
        ],
        f"settings/{ORG_A}.json": settings,
    }


@dataclass
class Tiny:
    """The parameters of a built dataset, for brute-force expectations."""

    root: Path
    activities: list[dict[str, Any]]
    engagement: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)


def build_dataset(
    root: Path,
    *,
    activities: list[dict[str, Any]] | None = None,
    envelope: str = "data",
    scopes: list[str] | None = None,
    snapshots: dict[str, dict[str, Any]] | None = None,
) -> Tiny:
    """Write a complete dataset directory under ``root``."""
    acts = make_activities(300) if activities is None else activities
    meta = {
        "format": "auditpack.dataset/v1",
        "name": "Tiny Corp (test)",
        "seed": 1,
        "period": {"start": "2026-07-01", "end": "2026-09-30"},
        "as_of": "2026-10-05T06:00:00Z",
        "collection_schedule": ["2026-10-05T06:00:00Z"],
        "organization_id": "org_01TINY",
        "analytics": {"delay_days": 3, "lookback_days": 90, "summaries_envelope": envelope,
                      "usage_refresh_lag_hours": 4},
        "keys": {"analytics": ANALYTICS_KEY, "compliance": COMPLIANCE_KEY,
                 "compliance_scopes": ALL_SCOPES if scopes is None else scopes},
    }  # fmt: skip
    write_json(root / "dataset.json", meta)
    write_jsonl_gz(root / "compliance" / "activities.jsonl.gz", acts)
    write_jsonl_gz(
        root / "analytics" / "summaries.jsonl.gz",
        make_summaries(date(2026, 7, 1), date(2026, 10, 4)),
    )
    engagement = {
        "users": {"2026-10-01": [user_row(n) for n in range(45)]},
        "projects": {"2026-10-01": [{"project_id": f"claude_proj_{n}"} for n in range(150)]},
        "skills": {"2026-10-01": [{"skill_name": f"s{n}"} for n in range(3)]},
        "connectors": {"2026-10-01": [{"connector_name": "atlassian"}]},
    }
    for kind, days in engagement.items():
        for day, rows in days.items():
            write_jsonl_gz(root / "analytics" / kind / f"{day}.jsonl.gz", rows)
    for offset in range(40):
        day = date(2026, 8, 27) + timedelta(days=offset)
        for kind, row in (("user_usage", usage_row), ("user_cost", cost_row)):
            rows = [row(user, offset) for user in range(25)]
            write_jsonl_gz(root / "analytics" / kind / f"{day}.jsonl.gz", rows)
    default_snapshots = {
        "2026-09-01": directory_snapshot(10, "old"),
        "2026-10-01": directory_snapshot(1200, "current"),
        "2026-10-10": directory_snapshot(2, "future"),
    }
    for day, files in (default_snapshots if snapshots is None else snapshots).items():
        for relative, value in files.items():
            write_json(root / "compliance" / "directory" / day / relative, value)
    return Tiny(root, acts, engagement)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    return build_dataset(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_dataset(tiny: Tiny) -> Dataset:
    return load_dataset(tiny.root)


@pytest.fixture
def api(tiny_dataset: Dataset) -> Iterator[MockApi]:
    with MockApi(tiny_dataset, rate_limit_analytics=0, rate_limit_compliance=0) as server:
        yield server


@pytest.fixture
def analytics(api: MockApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, headers={"x-api-key": ANALYTICS_KEY}) as client:
        yield client


@pytest.fixture
def compliance(api: MockApi) -> Iterator[httpx.Client]:
    headers = {"x-api-key": COMPLIANCE_KEY, "anthropic-version": "2023-06-01"}
    with httpx.Client(base_url=api.url, headers=headers) as client:
        yield client
