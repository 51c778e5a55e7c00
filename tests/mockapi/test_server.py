"""The mock API over real sockets: every endpoint, both pagination schemes, rules and faults."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from auditpack.errors import DatasetError, UsageError
from auditpack.mockapi.dataset import Dataset, load_dataset
from auditpack.mockapi.faults import FaultKind, FaultSpec
from auditpack.mockapi.server import MockApi


def _load_kit() -> ModuleType:
    """This folder's conftest.py, by path: other test folders also have a module named conftest."""
    spec = importlib.util.spec_from_file_location(
        "mockapi_kit", Path(__file__).with_name("conftest.py")
    )
    assert spec is not None and spec.loader is not None
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_kit = _load_kit()
ANALYTICS_KEY = _kit.ANALYTICS_KEY
AS_OF = _kit.AS_OF
COMPLIANCE_KEY = _kit.COMPLIANCE_KEY
ORG_A = _kit.ORG_A
ORG_B = _kit.ORG_B
ORG_IDS = _kit.ORG_IDS
TYPES = _kit.TYPES
USERS = _kit.USERS
Tiny = _kit.Tiny
build_dataset = _kit.build_dataset
make_activities = _kit.make_activities
usage_row = _kit.usage_row
write_json = _kit.write_json
write_jsonl_gz = _kit.write_jsonl_gz

A = "/v1/organizations/analytics"
C = "/v1/compliance"
COMPLIANCE_HEADERS = {"x-api-key": COMPLIANCE_KEY, "anthropic-version": "2023-06-01"}

Activity = dict[str, Any]


def when(activity: Activity) -> datetime:
    return datetime.fromisoformat(activity["created_at"])


def sort_key(activity: Activity) -> tuple[datetime, str]:
    return when(activity), activity["id"]


def visible(tiny: Tiny) -> list[Activity]:
    return [a for a in tiny.activities if when(a) <= AS_OF]


def expected_page(
    pool: list[Activity],
    keep: Callable[[Activity], bool],
    *,
    order: str = "desc",
    limit: int = 100,
    after: Activity | None = None,
    before: Activity | None = None,
) -> tuple[list[str], bool]:
    """Brute force of the contract: result order, then the page next to the cursor."""
    rows = [a for a in pool if keep(a)]
    rows.sort(key=sort_key, reverse=order == "desc")

    def comes_after(a: Activity, b: Activity) -> bool:  # a follows b in result order
        return sort_key(a) < sort_key(b) if order == "desc" else sort_key(a) > sort_key(b)

    if after is not None:
        rest = [a for a in rows if comes_after(a, after)]
        return [a["id"] for a in rest[:limit]], len(rest) > limit
    if before is not None:
        rest = [a for a in rows if comes_after(before, a)]
        return [a["id"] for a in rest[-limit:]], len(rest) > limit
    return [a["id"] for a in rows[:limit]], len(rows) > limit


def ids(response: httpx.Response) -> list[str]:
    return [item["id"] for item in response.json()["data"]]


def error_message(response: httpx.Response) -> str:
    body = response.json()
    assert body["type"] == "error"
    message: str = body["error"]["message"]
    return message


def walk_pages(client: httpx.Client, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Follow ``next_page`` to the end, checking the envelope on every page."""
    items: list[dict[str, Any]] = []
    token = None
    for _ in range(1000):
        response = client.get(path, params={**params, **({"page": token} if token else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["data"])
        token = body["next_page"]
        if "has_more" in body:
            assert body["has_more"] is (token is not None)
        if token is None:
            return items
    raise AssertionError("pagination did not end")


# -- analytics ---------------------------------------------------------------------------------


def test_users_are_sorted_by_email_and_walk_to_the_end(analytics: httpx.Client, tiny: Tiny) -> None:
    rows = walk_pages(analytics, f"{A}/users", {"date": "2026-10-01", "limit": 7})
    emails = [row["user"]["email_address"] for row in rows]
    assert len(rows) == 45 and len({row["user"]["id"] for row in rows}) == 45
    assert emails == sorted(emails)
    first = analytics.get(f"{A}/users", params={"date": "2026-10-01"}).json()
    assert len(first["data"]) == 20 and first["next_page"]  # default page size of /users


def test_engagement_lists_use_data_and_next_page(analytics: httpx.Client) -> None:
    projects = analytics.get(f"{A}/apps/chat/projects", params={"date": "2026-10-01"}).json()
    assert set(projects) == {"data", "next_page"} and len(projects["data"]) == 100
    assert len(walk_pages(analytics, f"{A}/apps/chat/projects", {"date": "2026-10-01"})) == 150
    skills = analytics.get(f"{A}/skills", params={"date": "2026-10-01"}).json()
    assert skills == {"data": [{"skill_name": f"s{n}"} for n in range(3)], "next_page": None}
    connectors = analytics.get(f"{A}/connectors", params={"date": "2026-10-01"}).json()
    assert connectors["data"] == [{"connector_name": "atlassian"}]
    empty = analytics.get(f"{A}/skills", params={"date": "2026-09-20"}).json()
    assert empty == {"data": [], "next_page": None}


def test_unknown_fields_are_served_verbatim(
    analytics: httpx.Client, compliance: httpx.Client, tiny: Tiny
) -> None:
    with gzip.open(tiny.root / "analytics/users/2026-10-01.jsonl.gz") as stored:
        line = stored.readline().strip()
    body = analytics.get(f"{A}/users", params={"date": "2026-10-01", "limit": 1000}).content
    assert line in body
    with gzip.open(tiny.root / "compliance/activities.jsonl.gz") as stored:
        lines = [raw.strip() for raw in stored if b"x_future_field" in raw]
    feed = compliance.get(f"{C}/activities", params={"limit": 5000}).content
    served = [raw for raw in lines if raw in feed]
    assert served and b"12345678901234567890" in feed
    orgs = compliance.get(f"{C}/organizations").json()["data"]
    assert orgs[1]["x_new"] == 1


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        ("2025-12-31", "before 2026-01-01"),
        ("2026-10-03", "not available yet"),
        ("2026-10-05", "not available yet"),
        ("2026-07-06", "90-day look-back"),
    ],
)
def test_engagement_date_rules(analytics: httpx.Client, day: str, reason: str) -> None:
    response = analytics.get(f"{A}/users", params={"date": day})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    message = error_message(response)
    assert reason in message and "latest available day is 2026-10-02" in message


@pytest.mark.parametrize("day", ["2026-07-07", "2026-10-02"])
def test_engagement_days_at_the_edges_are_served(analytics: httpx.Client, day: str) -> None:
    assert analytics.get(f"{A}/users", params={"date": day}).status_code == 200


def test_bad_date_parameters(analytics: httpx.Client) -> None:
    assert analytics.get(f"{A}/users").status_code == 400
    assert analytics.get(f"{A}/users", params={"date": "2026-W40-1"}).status_code == 400
    assert analytics.get(f"{A}/users", params={"date": "yesterday"}).status_code == 400


def test_summaries_series_and_span(analytics: httpx.Client) -> None:
    body = analytics.get(
        f"{A}/summaries", params={"starting_date": "2026-09-02", "ending_date": "2026-10-03"}
    ).json()
    assert set(body) == {"data", "next_page"} and body["next_page"] is None
    days = [row["starting_date"] for row in body["data"]]
    assert len(days) == 31 and days[0] == "2026-09-02" and days[-1] == "2026-10-02"
    too_long = {"starting_date": "2026-09-01", "ending_date": "2026-10-03"}
    assert analytics.get(f"{A}/summaries", params=too_long).status_code == 400
    too_recent = {"starting_date": "2026-09-10", "ending_date": "2026-10-04"}
    response = analytics.get(f"{A}/summaries", params=too_recent)
    assert response.status_code == 400 and "2026-10-02" in error_message(response)
    default_end = analytics.get(f"{A}/summaries", params={"starting_date": "2026-09-25"}).json()
    assert default_end["data"][-1]["starting_date"] == "2026-10-02"


def test_summaries_in_the_older_envelope(tmp_path: Path) -> None:
    tiny = build_dataset(tmp_path, envelope="summaries", activities=make_activities(3))
    with MockApi(tiny.root) as api:
        response = httpx.get(
            f"{api.url}{A}/summaries",
            params={"starting_date": "2026-09-01", "ending_date": "2026-09-04"},
            headers={"x-api-key": ANALYTICS_KEY},
        )
    body = response.json()
    assert set(body) == {"summaries"} and len(body["summaries"]) == 3


def test_usage_report_sums_whole_days_and_ranks_by_tokens(analytics: httpx.Client) -> None:
    params = {"starting_at": "2026-09-01T00:00:00Z", "ending_at": "2026-09-08T00:00:00Z"}
    rows = walk_pages(analytics, f"{A}/user_usage_report", {**params, "limit": 6})
    assert len(rows) == 25
    totals = [row["total_tokens"] for row in rows]
    assert totals == sorted(totals, reverse=True)
    top = rows[0]
    offsets = range(5, 12)  # 2026-09-01 .. 2026-09-07, counted from 2026-08-27
    assert top["actor"]["user_id"] == "user_24"
    assert top["total_tokens"] == sum(usage_row(24, d)["total_tokens"] for d in offsets)
    assert top["cache_creation"]["ephemeral_5m_input_tokens"] == 7
    assert top["product"] is None
    body = analytics.get(f"{A}/user_usage_report", params=params).json()
    assert set(body) == {"organization_id", "data", "has_more", "next_page", "data_refreshed_at"}
    assert body["organization_id"] == "org_01TINY" and len(body["data"]) == 20
    assert body["data_refreshed_at"] == "2026-10-05T02:00:00Z"


def test_cost_report_adds_decimal_amounts(analytics: httpx.Client) -> None:
    params = {"starting_at": "2026-09-01T00:00:00Z", "ending_at": "2026-09-03T00:00:00Z"}
    rows = walk_pages(analytics, f"{A}/user_cost_report", {**params, "limit": 1000})
    amounts = [Decimal(row["amount"]) for row in rows]
    assert amounts == sorted(amounts, reverse=True)
    by_user = {row["actor"]["user_id"]: row for row in rows}
    # user 3: (3*7 % 10) * 100 = 100, plus the day offsets 5 and 6, plus .25 twice
    assert by_user["user_03"]["amount"] == "211.500000"
    assert by_user["user_03"]["list_amount"] == "2.000000"
    assert by_user["user_03"]["requests"] == 6


def test_usage_report_waits_for_the_refresh_watermark(tiny_dataset: Dataset) -> None:
    params = {"starting_at": "2026-10-05T00:00:00Z", "ending_at": "2026-10-06T00:00:00Z"}
    counts = []
    for now in ("2026-10-06T03:00:00Z", "2026-10-06T05:00:00Z"):
        with MockApi(tiny_dataset, now=datetime.fromisoformat(now)) as api:
            body = httpx.get(
                f"{api.url}{A}/user_usage_report",
                params=params,
                headers={"x-api-key": ANALYTICS_KEY},
            ).json()
            counts.append(len(body["data"]))
    assert counts == [0, 20]  # refreshed at 23:00, then at 01:00 the next day


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"starting_at": "2025-12-31T00:00:00Z"},
        {"starting_at": "2026-09-01T00:00:00Z", "ending_at": "2026-10-03T00:00:00Z"},
        {"starting_at": "2026-09-01T00:00:00Z", "ending_at": "2026-09-01T00:00:00Z"},
        {"starting_at": "2026-09-01"},
        {"starting_at": "2026-09-01T00:00:00"},
    ],
)
def test_usage_report_window_rules(analytics: httpx.Client, params: dict[str, str]) -> None:
    response = analytics.get(f"{A}/user_usage_report", params=params)
    assert response.status_code == 400, response.text


def test_limits_are_capped(analytics: httpx.Client, compliance: httpx.Client) -> None:
    day = {"date": "2026-10-01"}
    assert analytics.get(f"{A}/users", params={**day, "limit": 1000}).status_code == 200
    for bad in (0, 1001, "many"):
        assert analytics.get(f"{A}/users", params={**day, "limit": bad}).status_code == 400
    assert compliance.get(f"{C}/activities", params={"limit": 5000}).status_code == 200
    assert compliance.get(f"{C}/activities", params={"limit": 5001}).status_code == 400
    assert compliance.get(f"{C}/organizations", params={"limit": 1001}).status_code == 400
    usage = {"starting_at": "2026-09-01T00:00:00Z", "limit": 1001}
    assert analytics.get(f"{A}/user_usage_report", params=usage).status_code == 400


def test_cursors_are_bound_to_their_query(
    analytics: httpx.Client, compliance: httpx.Client
) -> None:
    token = analytics.get(f"{A}/users", params={"date": "2026-10-01"}).json()["next_page"]
    same = analytics.get(f"{A}/users", params={"date": "2026-10-01", "page": token, "limit": 3})
    assert same.status_code == 200  # the page size may change mid-walk
    other = analytics.get(f"{A}/users", params={"date": "2026-10-02", "page": token})
    assert other.status_code == 400 and "different query" in error_message(other)
    garbage = analytics.get(f"{A}/users", params={"date": "2026-10-01", "page": "not-a-cursor"})
    assert garbage.status_code == 400
    usage = {"starting_at": "2026-09-01T00:00:00Z", "ending_at": "2026-09-08T00:00:00Z"}
    token = analytics.get(f"{A}/user_usage_report", params=usage).json()["next_page"]
    moved = {**usage, "starting_at": "2026-09-02T00:00:00Z", "page": token}
    assert analytics.get(f"{A}/user_usage_report", params=moved).status_code == 400
    token = compliance.get(f"{C}/organizations/{ORG_A}/users").json()["next_page"]
    elsewhere = compliance.get(f"{C}/organizations/{ORG_B}/users", params={"page": token})
    assert elsewhere.status_code == 400


# -- compliance directory ----------------------------------------------------------------------


def test_directory_lists_walk_to_the_end(compliance: httpx.Client) -> None:
    first = compliance.get(f"{C}/organizations/{ORG_A}/users").json()
    assert set(first) == {"data", "has_more", "next_page"}
    assert len(first["data"]) == 500 and first["has_more"] is True
    users = walk_pages(compliance, f"{C}/organizations/{ORG_A}/users", {})
    assert [u["id"] for u in users] == [f"user_a{n:04d}" for n in range(1200)]
    small = walk_pages(compliance, f"{C}/organizations/{ORG_A}/users", {"limit": 1000})
    assert len(small) == 1200
    perms = walk_pages(
        compliance, f"{C}/organizations/{ORG_A}/roles/rbac_role_0/permissions", {"limit": 3}
    )
    assert [p["resource_id"] for p in perms] == [f"p{n}" for n in range(7)]
    assert len(walk_pages(compliance, f"{C}/organizations/{ORG_A}/roles", {"limit": 2})) == 3
    members = walk_pages(compliance, f"{C}/groups/rbac_group_0/members", {"limit": 2})
    assert len(members) == 5


def test_directory_objects_and_lookups(compliance: httpx.Client) -> None:
    role = compliance.get(f"{C}/organizations/{ORG_A}/roles/rbac_role_1").json()
    assert role["id"] == "rbac_role_1" and "data" not in role
    group = compliance.get(f"{C}/groups/rbac_group_2").json()
    assert group["name"] == "Sales"
    settings = compliance.get(f"{C}/organizations/{ORG_A}/settings").json()
    assert settings["type"] == "effective_organization_settings"
    prefixed = compliance.get(f"{C}/groups", params={"name_prefix": "Eng"}).json()
    assert [g["name"] for g in prefixed["data"]] == ["Engineering", "Eng Leads"]
    for path in (
        f"{C}/organizations/{ORG_B}/settings",  # known org without settings
        f"{C}/organizations/not-an-org/settings",
        f"{C}/organizations/not-an-org/users",
        f"{C}/organizations/{ORG_A}/roles/rbac_role_9",
        f"{C}/organizations/{ORG_A}/roles/rbac_role_9/permissions",
        f"{C}/groups/rbac_group_9",
        f"{C}/groups/rbac_group_9/members",
        f"{C}/organizations/..%2F..%2Fdataset/users",
    ):
        response = compliance.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["type"] == "not_found_error"
    hierarchy = compliance.get(f"{C}/organizations/{ORG_B}/settings")
    assert "not found in this organization's hierarchy" in error_message(hierarchy)


@pytest.mark.parametrize(
    ("now", "org_name", "users"),
    [
        ("2026-08-01T00:00:00Z", None, 0),
        ("2026-09-15T12:00:00Z", "Engineering old", 10),
        ("2026-10-05T06:00:00Z", "Engineering current", 1200),
        ("2026-10-10T00:00:00Z", "Engineering future", 2),
    ],
)
def test_directory_snapshot_follows_the_clock(
    tiny_dataset: Dataset, now: str, org_name: str | None, users: int
) -> None:
    with MockApi(tiny_dataset, now=datetime.fromisoformat(now)) as api:
        client = httpx.Client(base_url=api.url, headers=COMPLIANCE_HEADERS)
        orgs = client.get(f"{C}/organizations").json()["data"]
        assert [o["name"] for o in orgs][:1] == ([org_name] if org_name else [])
        listed = client.get(f"{C}/organizations/{ORG_A}/users", params={"limit": 1000})
        if org_name is None:
            assert listed.status_code == 404
        else:
            assert len(listed.json()["data"]) == min(users, 1000)
        client.close()


# -- compliance activity feed ------------------------------------------------------------------


def test_activity_envelope(compliance: httpx.Client, tiny: Tiny) -> None:
    body = compliance.get(f"{C}/activities", params={"limit": 3}).json()
    assert set(body) == {"data", "has_more", "first_id", "last_id"}
    newest = sorted(visible(tiny), key=sort_key, reverse=True)
    assert [a["id"] for a in body["data"]] == [a["id"] for a in newest[:3]]
    assert body["first_id"] == newest[0]["id"] and body["last_id"] == newest[2]["id"]
    assert body["has_more"] is True
    assert compliance.get(f"{C}/activities").json()["data"].__len__() == 100
    empty = compliance.get(
        f"{C}/activities", params={"created_at.gte": "2030-01-01T00:00:00Z"}
    ).json()
    assert empty == {"data": [], "has_more": False, "first_id": None, "last_id": None}


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_activity_walk_with_after_id_sees_everything_once(
    compliance: httpx.Client, tiny: Tiny, order: str
) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 17, "order": order}
    for _ in range(100):
        body = compliance.get(f"{C}/activities", params=params).json()
        seen.extend(a["id"] for a in body["data"])
        if not body["has_more"]:
            break
        params["after_id"] = body["last_id"]
    expected, _ = expected_page(visible(tiny), lambda a: True, order=order, limit=10_000)
    assert seen == expected and len(set(seen)) == len(seen)
    assert all(when(a) <= AS_OF for a in visible(tiny)) and len(seen) < len(tiny.activities)


def test_activity_before_id_walk_catches_up_to_the_newest(
    compliance: httpx.Client, tiny: Tiny
) -> None:
    """The incremental pattern: keep first_id, later ask before_id=first_id until caught up."""
    newest_first = sorted(visible(tiny), key=sort_key, reverse=True)
    cursor = newest_first[100]
    gathered: list[str] = []
    params: dict[str, Any] = {"limit": 13, "before_id": cursor["id"]}
    for _ in range(100):
        body = compliance.get(f"{C}/activities", params=params).json()
        gathered = [a["id"] for a in body["data"]] + gathered
        if not body["has_more"]:
            break
        params["before_id"] = body["first_id"]
    assert gathered == [a["id"] for a in newest_first[:100]]


def _filters(rng: random.Random) -> tuple[dict[str, Any], Callable[[Activity], bool]]:
    """A random mix of the documented filters, with its brute-force predicate."""
    params: dict[str, Any] = {}
    tests: list[Callable[[Activity], bool]] = []
    choice = rng.randrange(4)
    if choice == 1:
        wanted = rng.sample(TYPES, 2)
        params["activity_types[]"] = wanted
        tests.append(lambda a: a["type"] in wanted)
    elif choice == 2:
        unwanted = rng.sample(TYPES, 1)
        params["exclude_activity_types[]"] = unwanted
        tests.append(lambda a: a["type"] not in unwanted)
    if rng.random() < 0.4:
        users = rng.sample(USERS, 2)
        params["actor_ids[]"], params["user_ids[]"] = users[:1], users[1:]
        tests.append(lambda a: a["actor"].get("user_id") in users)
    if rng.random() < 0.4:
        org_filter = [ORG_A, ORG_IDS[ORG_B]][rng.randrange(2)]
        params["organization_ids[]"] = [org_filter]
        tests.append(lambda a: org_filter in (a["organization_id"], a["organization_uuid"]))
    if rng.random() < 0.5:
        low = datetime(2026, 9, 1 + rng.randrange(20), tzinfo=UTC)
        name = rng.choice(["gt", "gte"])
        params[f"created_at.{name}"] = low.isoformat().replace("+00:00", "Z")
        tests.append((lambda a: when(a) > low) if name == "gt" else (lambda a: when(a) >= low))
    if rng.random() < 0.5:
        high = datetime(2026, 9, 22, 5, 30, tzinfo=UTC) + timedelta(days=rng.randrange(20))
        name = rng.choice(["lt", "lte"])
        params[f"created_at.{name}"] = high.isoformat()
        tests.append((lambda a: when(a) < high) if name == "lt" else (lambda a: when(a) <= high))
    return params, lambda a: all(test(a) for test in tests)


@pytest.mark.parametrize("shuffled_ids", [False, True])
def test_activity_cursors_match_brute_force(
    tmp_path: Path, tiny: Tiny, tiny_dataset: Dataset, shuffled_ids: bool
) -> None:
    if shuffled_ids:  # ids that do not sort in time order: the hashed id index path
        tiny = build_dataset(tmp_path, activities=make_activities(300, shuffled_ids=True))
        dataset = load_dataset(tiny.root)
    else:
        dataset = tiny_dataset
    pool = visible(tiny)
    rng = random.Random(11)
    with MockApi(dataset, rate_limit_compliance=0) as api:
        client = httpx.Client(base_url=api.url, headers=COMPLIANCE_HEADERS)
        for _ in range(120):
            params, keep = _filters(rng)
            order = rng.choice(["asc", "desc"])
            limit = rng.choice([1, 2, 5, 40, 200])
            cursor = rng.choice(pool)  # may itself fail the filters
            direction = rng.choice(["after_id", "before_id", None])
            params.update(order=order, limit=limit)
            if direction:
                params[direction] = cursor["id"]
            want, more = expected_page(
                pool,
                keep,
                order=order,
                limit=limit,
                after=cursor if direction == "after_id" else None,
                before=cursor if direction == "before_id" else None,
            )
            body = client.get(f"{C}/activities", params=params).json()
            assert [a["id"] for a in body["data"]] == want, params
            assert body["has_more"] is more, params
            assert body["first_id"] == (want[0] if want else None)
            assert body["last_id"] == (want[-1] if want else None)
        client.close()


def test_activity_parameter_errors(compliance: httpx.Client, tiny: Tiny) -> None:
    future = next(a for a in tiny.activities if when(a) > AS_OF)
    known = visible(tiny)[0]["id"]
    for params in (
        {"after_id": known, "before_id": known},
        {"after_id": "activity_nope"},
        {"before_id": future["id"]},  # exists, but not yet at this clock
        {"activity_types[]": TYPES[0], "exclude_activity_types[]": TYPES[1]},
        {"created_at.gte": "2026-09-01"},
        {"created_at.gte": "2026-09-10T00:00:00Z", "created_at.lt": "2026-09-10T00:00:00Z"},
        {"created_at.gt": "2026-09-10T00:00:00Z", "created_at.lte": "2026-09-09T00:00:00Z"},
        {"order": "newest"},
    ):
        response = compliance.get(f"{C}/activities", params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["type"] == "invalid_request_error"
    closed = {"created_at.gte": "2026-09-10T00:00:00Z", "created_at.lte": "2026-09-10T00:00:00Z"}
    assert compliance.get(f"{C}/activities", params=closed).status_code == 200


def test_anthropic_version_is_checked_when_sent(api: MockApi) -> None:
    for version, status in (
        ("2023-06-01", 200),
        ("2026-10-21", 200),
        ("2099-01-01", 400),
        ("", 400),
    ):
        headers = {"x-api-key": COMPLIANCE_KEY, "anthropic-version": version}
        response = httpx.get(f"{api.url}{C}/organizations", headers=headers)
        assert response.status_code == status, version
    no_version = httpx.get(f"{api.url}{C}/organizations", headers={"x-api-key": COMPLIANCE_KEY})
    assert no_version.status_code == 200


# -- keys, scopes, content, the request log ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        (f"{A}/users", {"date": "2026-10-01"}, 404),
        (f"{A}/summaries", {"starting_date": "2026-09-01"}, 404),
        (f"{A}/apps/chat/projects", {"date": "2026-10-01"}, 404),
        (f"{A}/skills", {"date": "2026-10-01"}, 404),
        (f"{A}/connectors", {"date": "2026-10-01"}, 404),
        (f"{A}/user_usage_report", {"starting_at": "2026-09-01T00:00:00Z"}, 401),
        (f"{A}/user_cost_report", {"starting_at": "2026-09-01T00:00:00Z"}, 401),
        (f"{C}/activities", {}, 401),
        (f"{C}/organizations", {}, 401),
        (f"{C}/groups", {}, 401),
    ],
)
def test_wrong_or_missing_key(api: MockApi, path: str, params: dict[str, str], status: int) -> None:
    for headers in ({}, {"x-api-key": "sk-ant-api01-wrong"}, {"x-api-key": ANALYTICS_KEY + "x"}):
        response = httpx.get(f"{api.url}{path}", params=params, headers=headers)
        assert response.status_code == status
        assert "anthropic-ratelimit-requests-limit" not in response.headers
        assert response.headers["request-id"].startswith("req_")
    swapped = COMPLIANCE_KEY if path.startswith(A) else ANALYTICS_KEY
    response = httpx.get(f"{api.url}{path}", params=params, headers={"x-api-key": swapped})
    assert response.status_code == status


def test_missing_scope_is_403_and_counted(tmp_path: Path) -> None:
    tiny = build_dataset(
        tmp_path, activities=make_activities(5), scopes=["read:compliance_activities"]
    )
    with MockApi(tiny.root, rate_limit_compliance=5) as api:
        client = httpx.Client(base_url=api.url, headers=COMPLIANCE_HEADERS)
        assert client.get(f"{C}/activities").status_code == 200
        denied = client.get(f"{C}/organizations/{ORG_A}/users")
        assert denied.status_code == 403
        assert denied.json()["error"]["type"] == "permission_error"
        assert error_message(denied) == (
            "Missing required scopes. Got: ['read:compliance_activities'] "
            "Needed: ['read:compliance_user_data']"
        )
        assert denied.headers["anthropic-ratelimit-requests-remaining"] == "3"
        assert client.get(f"{C}/groups").status_code == 403
        client.close()


def test_content_endpoints_are_not_served_and_every_request_is_recorded(
    compliance: httpx.Client, api: MockApi
) -> None:
    content = [
        ("GET", f"{C}/apps/chats"),
        ("GET", f"{C}/apps/chats/claude_chat_1/messages"),
        ("GET", f"{C}/apps/chats/files/claude_file_1/content"),
        ("GET", f"{C}/apps/projects"),
        ("GET", f"{C}/apps/sessions/local"),
        ("DELETE", f"{C}/apps/chats/claude_chat_1"),
        ("GET", "/v1/organizations/users"),
    ]
    for method, path in content:
        response = compliance.request(method, path)
        assert response.status_code == 404, path
        assert response.json()["error"]["type"] == "not_found_error"
    assert compliance.post(f"{C}/activities", json={}).status_code == 405
    recorded = [(r.method, r.path) for r in api.requests]
    assert recorded[: len(content)] == content
    assert api.requests[0].api == "compliance" and api.requests[-2].api is None
    assert [r.seq for r in api.requests] == list(range(1, len(content) + 2))


def test_request_log_file(tiny_dataset: Dataset, tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    with MockApi(tiny_dataset, request_log=log) as api:
        client = httpx.Client(base_url=api.url, headers=COMPLIANCE_HEADERS)
        client.get(f"{C}/activities", params={"limit": 2, "activity_types[]": TYPES[:2]})
        client.get(f"{C}/apps/chats")
        client.close()
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["status"] for e in entries] == [200, 404]
    assert entries[0]["query"] == {"limit": ["2"], "activity_types[]": TYPES[:2]}
    assert {"method", "path", "query", "status", "fault"} <= set(entries[0])


# -- rate limits -------------------------------------------------------------------------------


def test_compliance_budget_and_retry_after(tiny_dataset: Dataset) -> None:
    with MockApi(tiny_dataset, rate_limit_compliance=5) as api:
        client = httpx.Client(base_url=api.url, headers=COMPLIANCE_HEADERS)
        assert httpx.get(f"{api.url}{C}/activities").status_code == 401  # not counted
        remaining = []
        for _ in range(5):
            response = client.get(f"{C}/organizations")
            assert response.status_code == 200
            assert response.headers["anthropic-ratelimit-requests-limit"] == "5"
            datetime.fromisoformat(response.headers["anthropic-ratelimit-requests-reset"])
            remaining.append(response.headers["anthropic-ratelimit-requests-remaining"])
        assert remaining == ["4", "3", "2", "1", "0"]
        limited = client.get(f"{C}/organizations")
        assert limited.status_code == 429
        assert limited.json()["error"]["type"] == "rate_limit_error"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        analytics = httpx.get(
            f"{api.url}{A}/users",
            params={"date": "2026-10-01"},
            headers={"x-api-key": ANALYTICS_KEY},
        )
        assert analytics.status_code == 200  # a separate budget
        client.close()


def test_analytics_budget_slides(tiny_dataset: Dataset) -> None:
    with MockApi(tiny_dataset, rate_limit_analytics=2, rate_window_seconds=0.5) as api:
        client = httpx.Client(base_url=api.url, headers={"x-api-key": ANALYTICS_KEY})
        day = {"date": "2026-10-01"}
        statuses = [client.get(f"{A}/users", params=day).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        time.sleep(0.6)  # the window slides past both counted requests
        response = client.get(f"{A}/skills", params=day)
        assert response.status_code == 200
        assert "anthropic-ratelimit-requests-limit" not in response.headers
        client.close()


# -- faults ------------------------------------------------------------------------------------


@pytest.fixture
def faulty(tiny_dataset: Dataset) -> Iterator[Callable[[str], MockApi]]:
    servers: list[MockApi] = []

    def start(spec: str) -> MockApi:
        server = MockApi(tiny_dataset, faults=FaultSpec.parse(spec))
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_fault_server_errors(faulty: Callable[[str], MockApi]) -> None:
    api = faulty("5xx=1,seed=3")
    client = httpx.Client(base_url=api.url, headers=COMPLIANCE_HEADERS)
    statuses = {client.get(f"{C}/organizations").status_code for _ in range(20)}
    assert statuses <= {500, 502, 503, 529} and len(statuses) > 1
    assert {r.fault for r in api.requests} == {"5xx"}
    client.close()


def test_fault_slow(faulty: Callable[[str], MockApi]) -> None:
    api = faulty("slow=1,slow_seconds=0.3")
    started = time.monotonic()
    response = httpx.get(f"{api.url}{C}/organizations", headers=COMPLIANCE_HEADERS)
    assert response.status_code == 200 and time.monotonic() - started >= 0.3
    assert api.requests[-1].fault == "slow"


def test_fault_drop(faulty: Callable[[str], MockApi]) -> None:
    api = faulty("drop=1")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{api.url}{C}/organizations", headers=COMPLIANCE_HEADERS)
    assert api.requests[-1].status is None and api.requests[-1].fault == "drop"


def test_fault_malformed(faulty: Callable[[str], MockApi]) -> None:
    api = faulty("malformed=1")
    response = httpx.get(f"{api.url}{C}/organizations", headers=COMPLIANCE_HEADERS)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    error = httpx.get(f"{api.url}{C}/groups/nope", headers=COMPLIANCE_HEADERS)
    assert error.status_code == 404 and error.json()["type"] == "error"  # errors stay intact


def test_fault_truncate(faulty: Callable[[str], MockApi]) -> None:
    api = faulty("truncate=1")
    with pytest.raises(httpx.RemoteProtocolError, match=r"incomplete|peer closed"):
        httpx.get(f"{api.url}{C}/activities", headers=COMPLIANCE_HEADERS)
    assert api.requests[-1].fault == "truncate" and api.requests[-1].status == 200


def test_fault_expire_needs_a_cursor(faulty: Callable[[str], MockApi], tiny: Tiny) -> None:
    api = faulty("expire=1")
    compliance = httpx.Client(base_url=api.url, headers=COMPLIANCE_HEADERS)
    analytics = httpx.Client(base_url=api.url, headers={"x-api-key": ANALYTICS_KEY})
    first = analytics.get(f"{A}/users", params={"date": "2026-10-01"})
    assert first.status_code == 200
    token = first.json()["next_page"]
    expired = analytics.get(f"{A}/users", params={"date": "2026-10-01", "page": token})
    assert expired.status_code == 410
    assert compliance.get(f"{C}/activities").status_code == 200
    cursor = {"after_id": visible(tiny)[0]["id"]}
    expired = compliance.get(f"{C}/activities", params=cursor)
    assert expired.status_code == 400
    assert expired.json()["error"]["type"] == "invalid_request_error"
    assert [r.fault for r in api.requests] == [None, "expire", None, "expire"]
    compliance.close()
    analytics.close()


def test_faults_can_target_one_api(faulty: Callable[[str], MockApi]) -> None:
    api = faulty("5xx=1,only=compliance")
    analytics = httpx.get(
        f"{api.url}{A}/skills", params={"date": "2026-10-01"}, headers={"x-api-key": ANALYTICS_KEY}
    )
    assert analytics.status_code == 200
    assert httpx.get(f"{api.url}{C}/groups", headers=COMPLIANCE_HEADERS).status_code >= 500


def _run_sequence(api: MockApi) -> list[tuple[int | None, str | None]]:
    client = httpx.Client(base_url=api.url, headers=COMPLIANCE_HEADERS)
    for n in range(40):
        try:
            client.get(f"{C}/organizations/{ORG_A}/users", params={"limit": 1 + n})
        except httpx.HTTPError:
            client.close()
            client = httpx.Client(base_url=api.url, headers=COMPLIANCE_HEADERS)
    client.close()
    return [(r.status, r.fault) for r in api.requests]


def test_faults_are_reproducible_for_a_seed(faulty: Callable[[str], MockApi]) -> None:
    spec = "5xx=0.2,drop=0.1,malformed=0.1,truncate=0.1,slow=0.05,slow_seconds=0,seed=7"
    first = _run_sequence(faulty(spec))
    again = _run_sequence(faulty(spec))
    other = _run_sequence(faulty(spec.replace("seed=7", "seed=8")))
    assert first == again
    assert first != other
    kinds = {fault for _, fault in first}
    assert {"5xx", "drop", "malformed", "truncate", None} <= kinds


def test_fault_spec_parsing() -> None:
    spec = FaultSpec.parse(
        "5xx=0.05,slow=0.02,drop=0.01,malformed=0.01,truncate=0.01,expire=0.02,seed=7,"
        "slow_seconds=2,only=compliance"
    )
    assert (spec.server_error, spec.expire, spec.seed, spec.only) == (0.05, 0.02, 7, "compliance")
    assert FaultSpec.parse("").active is False
    assert spec.decide(1, "compliance", True) == spec.decide(1, "compliance", True)
    for bad in (
        "5xx=2",
        "bogus=0.1",
        "5xx",
        "only=admin",
        "5xx=0.6,drop=0.6",
        "seed=x",
        "5xx=0.1,5xx=0.2",
    ):
        with pytest.raises(UsageError) as caught:
            FaultSpec.parse(bad)
        assert "\n" not in caught.value.message
    assert FaultKind("5xx") is FaultKind.SERVER_ERROR


# -- datasets ----------------------------------------------------------------------------------


def _break(root: Path, how: str) -> None:
    activities = root / "compliance/activities.jsonl.gz"
    if how == "no dataset.json":
        (root / "dataset.json").unlink()
    elif how == "wrong format":
        meta = json.loads((root / "dataset.json").read_text())
        write_json(root / "dataset.json", {**meta, "format": "other/v9"})
    elif how == "out of order":
        write_jsonl_gz(activities, list(reversed(make_activities(5))))
    elif how == "bad line":
        activities.write_bytes(gzip.compress(b'{"id": "activity_1"\n'))
    elif how == "truncated gzip":
        activities.write_bytes(activities.read_bytes()[:-20])
    elif how == "no activities":
        activities.unlink()
    elif how == "bad snapshot name":
        (root / "compliance/directory/latest").mkdir(parents=True)
    elif how == "bad day file":
        (root / "analytics/users/today.jsonl.gz").write_bytes(b"")


@pytest.mark.parametrize(
    ("how", "names"),
    [
        ("no dataset.json", "dataset"),
        ("wrong format", "dataset.json"),
        ("out of order", "activities.jsonl.gz"),
        ("bad line", "activities.jsonl.gz"),
        ("truncated gzip", "activities.jsonl.gz"),
        ("no activities", "activities.jsonl.gz"),
        ("bad snapshot name", "latest"),
        ("bad day file", "today.jsonl.gz"),
    ],
)
def test_bad_datasets_are_refused(tmp_path: Path, how: str, names: str) -> None:
    root = tmp_path / "dataset"
    build_dataset(root, activities=make_activities(20), snapshots={})
    _break(root, how)
    with pytest.raises(DatasetError) as caught:
        load_dataset(root)
    assert names in caught.value.message and "\n" not in caught.value.message


def test_bad_directory_file_fails_at_startup(tmp_path: Path) -> None:
    broken = {"2026-09-01": {"groups.json": {"not": "a list"}}}
    tiny = build_dataset(tmp_path, activities=make_activities(3), snapshots=broken)
    with pytest.raises(DatasetError, match=r"groups\.json"):
        MockApi(tiny.root)


def test_serve_forever_prints_its_address_and_stops_on_sigterm(tiny: Tiny) -> None:
    code = (
        "import sys; from pathlib import Path; from auditpack.mockapi.server import serve_forever;"
        "serve_forever(Path(sys.argv[1]))"
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(tiny.root)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("mock API listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        response = httpx.get(f"{url}{C}/organizations", headers=COMPLIANCE_HEADERS)
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
