"""The synthetic-organization generator: determinism, layout, counts, formats, and that each
planted anomaly is found by a plain rule while the background never trips the same rule."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import statistics
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from auditpack.errors import UsageError
from auditpack.mockapi.synth import (
    ANOMALY_KINDS,
    EVIDENCE_BY_KIND,
    GroundTruth,
    generate,
    load_ground_truth,
    normalize_connector_name,
)

USERS, DAYS, SEED = 40, 20, 7
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PRIVILEGED = {"primary_owner", "owner", "admin", "membership_admin"}
ORDINARY = {"user", "developer", "claude_code_user"}
EXPORTS = {"claude_file_exported", "platform_file_content_downloaded"}
KNOWN_TYPES = {
    line.split("\t")[0]
    for line in (Path(__file__).parents[2] / "src/auditpack/activity_types.tsv")
    .read_text()
    .splitlines()
    if line and not line.startswith("#")
}


@dataclass
class Dataset:
    root: Path
    truth: GroundTruth

    def json(self, relative: str) -> Any:
        return json.loads((self.root / relative).read_text())

    def lines(self, relative: str) -> list[dict[str, Any]]:
        path = self.root / relative
        if not path.exists():
            return []
        with gzip.open(path, "rb") as handle:
            return [json.loads(line) for line in handle]

    @property
    def meta(self) -> dict[str, Any]:
        return self.json("dataset.json")  # type: ignore[no-any-return]

    @property
    def feed(self) -> list[dict[str, Any]]:
        if not hasattr(self, "_feed"):
            self._feed = self.lines("compliance/activities.jsonl.gz")
        return self._feed

    @property
    def period(self) -> list[date]:
        start = date.fromisoformat(self.meta["period"]["start"])
        end = date.fromisoformat(self.meta["period"]["end"])
        return [start + timedelta(days=i) for i in range((end - start).days + 1)]

    def snapshot_days(self) -> list[str]:
        return sorted(p.name for p in (self.root / "compliance/directory").iterdir())

    def snapshot(self, day: str) -> Path:
        return self.root / "compliance/directory" / day

    def org_uuids(self) -> list[str]:
        return [
            o["uuid"]
            for o in self.json(f"compliance/directory/{self.snapshot_days()[0]}/organizations.json")
        ]

    def claude_uuid(self) -> str:
        return next(e["organization_uuid"] for e in self.feed if e["type"] == "claude_chat_created")

    def members(self, day: str) -> dict[str, dict[str, Any]]:
        rows = self.json(f"compliance/directory/{day}/users/{self.claude_uuid()}.json")
        return {row["id"]: row for row in rows}

    def a1(self) -> dict[str, list[dict[str, Any]]]:
        return {
            d.isoformat(): self.lines(f"analytics/users/{d.isoformat()}.jsonl.gz")
            for d in self.period
        }


def _make(root: Path, **kwargs: Any) -> Dataset:
    return Dataset(root, generate(root, **kwargs))


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return _make(tmp_path_factory.mktemp("full") / "org", users=USERS, days=DAYS, seed=SEED)


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    root = tmp_path_factory.mktemp("bare") / "org"
    return _make(root, users=USERS, days=DAYS, seed=SEED, anomalies=[])


@pytest.fixture(scope="module")
def other_seed(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return _make(tmp_path_factory.mktemp("other") / "org", users=USERS, days=DAYS, seed=SEED + 1)


# -- helpers ---------------------------------------------------------------------------------


def ms(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def local(stamp: str, zone: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(ZoneInfo(zone))


def decode_time(activity_id: str) -> int:
    value = 0
    for char in activity_id.removeprefix("activity_")[:10]:
        value = value * 32 + CROCKFORD.index(char)
    return value


def user_events(ds: Dataset) -> Iterator[dict[str, Any]]:
    return (e for e in ds.feed if e["actor"]["type"] == "user_actor")


def planted_ids(ds: Dataset) -> set[str]:
    return {aid for a in ds.truth.anomalies for aid in a.activity_ids}


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# -- rules: each finds one anomaly kind from the data and the policy alone ---------------------


def find_escalations(ds: Dataset) -> set[str]:
    return {
        e["user_id"]
        for e in ds.feed
        if e["type"] == "claude_user_role_updated" and e["current_role"] in PRIVILEGED
    }


def exports_by_user_day(ds: Dataset) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for event in user_events(ds):
        if event["type"] in EXPORTS:
            counts[event["actor"]["user_id"]][event["created_at"][:10]] += 1
    return counts


def find_export_bursts(ds: Dataset) -> set[str]:
    times: dict[str, list[int]] = defaultdict(list)
    for event in user_events(ds):
        if event["type"] in EXPORTS:
            times[event["actor"]["user_id"]].append(ms(event["created_at"]))
    found = set()
    for user, values in times.items():
        values.sort()
        daily = exports_by_user_day(ds)[user]
        baseline = statistics.median([daily.get(d.isoformat(), 0) for d in ds.period])
        for i, first in enumerate(values):
            if sum(1 for t in values[i:] if t < first + 3_600_000) >= 30 and baseline <= 1:
                found.add(user)
    return found


def find_dormant(ds: Dataset) -> set[str]:
    days = ds.snapshot_days()
    start = ds.period[0].isoformat()
    present = set.intersection(*(set(ds.members(d)) for d in days))
    seen = {e["actor"]["user_id"] for e in user_events(ds)}
    seen |= {row["user"]["id"] for rows in ds.a1().values() for row in rows}
    return {u for u in present if u not in seen and ds.members(days[0])[u]["created_at"] < start}


def find_leaver_activity(ds: Dataset) -> set[str]:
    removed = {
        e["deleted_user_id"]: ms(e["created_at"])
        for e in ds.feed
        if e["type"] == "org_user_deleted"
    }
    return {
        e["actor"]["user_id"]
        for e in user_events(ds)
        if e["actor"]["user_id"] in removed and ms(e["created_at"]) > removed[e["actor"]["user_id"]]
    }


def find_stale_keys(ds: Dataset) -> set[str]:
    as_of = ms(ds.meta["as_of"])
    limit = ds.meta["policy"]["key_rotation_days"] * 86_400_000
    settings = ds.json(
        f"compliance/directory/{ds.snapshot_days()[-1]}/settings/{ds.claude_uuid()}.json"
    )
    return {
        k["id"]
        for k in settings["api_keys"]
        if k["is_active"] and ms(k["created_at"]) < as_of - limit
    }


def find_connectors(ds: Dataset) -> set[str]:
    approved = set(ds.meta["policy"]["approved_connectors"])
    names = {
        r["connector_name"]
        for d in ds.period
        for r in ds.lines(f"analytics/connectors/{d}.jsonl.gz")
    }
    names |= {
        normalize_connector_name(e["mcp_server_name"])
        for e in ds.feed
        if e["type"] in ("integration_user_connected", "mcp_server_created")
    }
    return names - approved


def find_skills(ds: Dataset) -> set[str]:
    approved = set(ds.meta["policy"]["approved_skills"])
    names = {r["skill_name"] for d in ds.period for r in ds.lines(f"analytics/skills/{d}.jsonl.gz")}
    names |= {e["skill_name"] for e in ds.feed if e["type"].startswith("claude_skill_")}
    return names - approved


def find_ip_removed(ds: Dataset) -> set[str]:
    return {"ip_allowlist_enabled" for e in ds.feed if e["type"] == "org_ip_restriction_deleted"}


def find_sso_toggled(ds: Dataset) -> set[str]:
    return {"sso_enabled" for e in ds.feed if e["type"] == "org_sso_toggled" and not e["enabled"]}


def find_failed_bursts(ds: Dataset) -> set[str]:
    attempts: dict[tuple[str, str], list[int]] = defaultdict(list)
    for event in ds.feed:
        if event["type"] == "sso_login_failed":
            actor = event["actor"]
            key = (actor["unauthenticated_email_address"], actor["ip_address"])
            attempts[key].append(ms(event["created_at"]))
    found = set()
    for (email, _), values in attempts.items():
        values.sort()
        if any(sum(1 for t in values[i:] if t <= v + 600_000) >= 12 for i, v in enumerate(values)):
            found.add(email)
    return found


def find_restricted_additions(ds: Dataset) -> set[str]:
    policy = ds.meta["policy"]
    found = set()
    for event in ds.feed:
        if (
            event["type"] == "group_member_added"
            and event["group_id"] in policy["restricted_groups"]
        ):
            found.update(event["member_ids"])
        if (
            event["type"] == "platform_workspace_member_added"
            and event["workspace_id"] in policy["restricted_workspaces"]
        ):
            found.add(event["user_id"])
    return found


def outside_hours(ds: Dataset, event: dict[str, Any]) -> bool:
    when = local(event["created_at"], ds.meta["time_zone"])
    return when.weekday() >= 5 or not 8 <= when.hour < 19


def find_off_hours(ds: Dataset) -> set[str]:
    return {e["actor"]["user_id"] for e in user_events(ds) if outside_hours(ds, e)}


RULES = {
    "privilege_escalation": (find_escalations, lambda a: a.subject["user_id"]),
    "export_burst": (find_export_bursts, lambda a: a.subject["user_id"]),
    "dormant_seat": (find_dormant, lambda a: a.subject["user_id"]),
    "leaver_activity": (find_leaver_activity, lambda a: a.subject["user_id"]),
    "stale_api_key": (find_stale_keys, lambda a: a.subject["api_key_id"]),
    "unapproved_connector": (find_connectors, lambda a: a.subject["connector"]),
    "unapproved_skill": (find_skills, lambda a: a.subject["skill"]),
    "ip_restriction_removed": (find_ip_removed, lambda a: a.subject["setting"]),
    "sso_toggled": (find_sso_toggled, lambda a: a.subject["setting"]),
    "failed_login_burst": (find_failed_bursts, lambda a: a.subject["email"]),
    "restricted_workspace_addition": (find_restricted_additions, lambda a: a.subject["user_id"]),
    "off_hours_activity": (find_off_hours, lambda a: a.subject["user_id"]),
}


# -- determinism ------------------------------------------------------------------------------


def test_same_arguments_give_byte_identical_directories(full: Dataset, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", users=USERS, days=DAYS, seed=SEED)
    assert files_under(tmp_path / "again") == files_under(full.root)
    assert again == full.truth


def test_output_does_not_depend_on_hash_randomization(full: Dataset, tmp_path: Path) -> None:
    # Another process with another string-hash seed: set or dict-of-str ordering must not leak.
    code = (
        "import sys; from pathlib import Path; from auditpack.mockapi.synth import generate; "
        f"generate(Path(sys.argv[1]), users={USERS}, days={DAYS}, seed={SEED})"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "p")], check=True, env=env)
    assert files_under(tmp_path / "p") == files_under(full.root)


def test_another_seed_moves_subjects_and_times(full: Dataset, other_seed: Dataset) -> None:
    def shape(ds: Dataset) -> set[tuple[str, str, str]]:
        return {
            (a.kind, json.dumps(a.subject, sort_keys=True), a.occurred_at)
            for a in ds.truth.anomalies
        }

    assert not shape(full) & shape(other_seed)


def test_ground_truth_round_trips(full: Dataset) -> None:
    assert load_ground_truth(full.root) == full.truth
    assert full.json("ground_truth.json")["format"] == "auditpack.ground_truth/v1"


# -- layout and metadata ----------------------------------------------------------------------


def test_layout_matches_the_contract(full: Dataset) -> None:
    days = {d.isoformat() for d in full.period}
    orgs = set(full.org_uuids())
    allowed_top = {
        "dataset.json",
        "ground_truth.json",
        "analytics/summaries.jsonl.gz",
        "compliance/activities.jsonl.gz",
    }
    for path in files_under(full.root):
        parts = path.split("/")
        if path in allowed_top:
            continue
        if parts[0] == "analytics":
            assert parts[1] in {
                "users",
                "projects",
                "skills",
                "connectors",
                "user_usage",
                "user_cost",
            }
            assert parts[2].removesuffix(".jsonl.gz") in days and len(parts) == 3
            continue
        assert parts[:2] == ["compliance", "directory"], path
        rest = parts[3:]
        if len(rest) == 1:
            assert rest[0] in {"organizations.json", "groups.json"}
        else:
            folder, name = rest
            assert folder in {"users", "roles", "permissions", "group_members", "settings"}
            if folder in {"users", "roles", "settings"}:
                assert name.removesuffix(".json") in orgs
    for top in allowed_top:
        assert (full.root / top).is_file()


def test_snapshots_are_dated_start_schedule_and_as_of(full: Dataset) -> None:
    meta = full.meta
    expected = {meta["period"]["start"], meta["as_of"][:10]} | {
        c[:10] for c in meta["collection_schedule"]
    }
    assert set(full.snapshot_days()) == expected
    for day in full.snapshot_days():
        snap = full.snapshot(day)
        groups = json.loads((snap / "groups.json").read_text())
        assert {p.stem for p in (snap / "group_members").iterdir()} == {g["id"] for g in groups}
        for uuid in full.org_uuids():
            for role in json.loads((snap / "roles" / f"{uuid}.json").read_text()):
                assert (snap / "permissions" / f"{role['id']}.json").is_file()


def test_dataset_metadata(full: Dataset) -> None:
    meta = full.meta
    assert meta["format"] == "auditpack.dataset/v1"
    assert meta["seed"] == SEED
    assert meta["period"] == {"start": "2026-07-01", "end": "2026-07-20"}
    assert meta["as_of"] == "2026-07-25T06:00:00Z"
    assert meta["organization_id"].startswith("org_")
    assert meta["keys"]["compliance"].startswith("sk-ant-api01-")
    assert meta["analytics"]["summaries_envelope"] == "data"
    assert meta["time_zone"] == "Europe/Berlin"
    policy = meta["policy"]
    assert set(policy) == {
        "approved_connectors",
        "approved_skills",
        "restricted_groups",
        "restricted_workspaces",
        "working_hours",
        "key_rotation_days",
        "dormant_days",
    }
    assert policy["restricted_groups"] and policy["restricted_workspaces"]


def test_default_quarter_schedule_covers_every_analytics_day(tmp_path: Path) -> None:
    # Only the clock arithmetic matters here; a small org keeps the test quick.
    truth = generate(tmp_path / "q", users=30, days=92, seed=3, events=20_000, anomalies=[])
    meta = json.loads((tmp_path / "q" / "dataset.json").read_text())
    assert meta["period"] == {"start": "2026-07-01", "end": "2026-09-30"}
    assert meta["as_of"] == "2026-10-05T06:00:00Z"
    clocks = [date.fromisoformat(c[:10]) for c in meta["collection_schedule"]]
    assert len(clocks) == 2 and clocks[-1] == date(2026, 10, 5)
    for offset in range(92):
        day = date(2026, 7, 1) + timedelta(days=offset)
        assert any(c - timedelta(days=90) <= day <= c - timedelta(days=3) for c in clocks), day
    assert abs(truth.counts.activities - 20_000) < 2_000  # "events" is approximate


# -- counts -----------------------------------------------------------------------------------


def test_counts_equal_what_was_written(full: Dataset) -> None:
    counts = full.truth.counts
    assert counts.activities == len(full.feed)
    assert counts.activities_by_type == dict(sorted(Counter(e["type"] for e in full.feed).items()))
    assert counts.users == USERS and counts.organizations == 2
    assert 6 <= counts.groups <= 12 and 3 <= counts.custom_roles <= 5
    for day, snap in counts.directory.items():
        root = full.snapshot(day)
        assert snap.organizations == len(json.loads((root / "organizations.json").read_text()))
        assert snap.groups == len(json.loads((root / "groups.json").read_text()))
        for uuid, members in snap.members.items():
            assert members == len(json.loads((root / "users" / f"{uuid}.json").read_text()))
        for group, members in snap.group_members.items():
            assert members == len(
                json.loads((root / "group_members" / f"{group}.json").read_text())
            )
        for role, rows in snap.permissions.items():
            assert rows == len(json.loads((root / "permissions" / f"{role}.json").read_text()))
        settings = json.loads((root / "settings" / f"{full.org_uuids()[0]}.json").read_text())
        assert snap.api_keys == len(settings["api_keys"])
    assert (
        counts.analytics["summaries"].total
        == len(full.lines("analytics/summaries.jsonl.gz"))
        == DAYS
    )
    for name in ("users", "projects", "skills", "connectors", "user_usage", "user_cost"):
        by_day = {
            d.isoformat(): len(full.lines(f"analytics/{name}/{d}.jsonl.gz")) for d in full.period
        }
        assert counts.analytics[name].by_day == by_day
        assert counts.analytics[name].total == sum(by_day.values())


# -- the feed ---------------------------------------------------------------------------------


def test_feed_is_newest_first_with_unique_time_ordered_ids(full: Dataset) -> None:
    ids = [e["id"] for e in full.feed]
    assert len(set(ids)) == len(ids)
    keys = [(e["created_at"], e["id"]) for e in full.feed]
    assert keys == sorted(keys, reverse=True)
    for event in full.feed:
        assert len(event["id"]) == len("activity_") + 26
        assert decode_time(event["id"]) // 1000 == ms(event["created_at"]) // 1000
        assert datetime.strptime(event["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_every_planted_activity_exists(full: Dataset) -> None:
    ids = {e["id"] for e in full.feed}
    for anomaly in full.truth.anomalies:
        assert set(anomaly.activity_ids) <= ids, anomaly.id
        assert anomaly.evidence == EVIDENCE_BY_KIND[anomaly.kind]
    assert {a.kind for a in full.truth.anomalies} == set(ANOMALY_KINDS)
    assert len(full.truth.of_kind("dormant_seat")) in (2, 3)


def test_background_stays_inside_working_hours(full: Dataset) -> None:
    planted = planted_ids(full)
    late = [e for e in full.feed if e["id"] not in planted and outside_hours(full, e)]
    assert late == []


def test_activity_envelopes_and_actors(full: Dataset) -> None:
    envelope = ["id", "created_at", "organization_id", "organization_uuid", "type", "actor"]
    actor_fields = {
        "user_actor": {"type", "user_id", "email_address", "ip_address", "user_agent"},
        "unauthenticated_user_actor": {
            "type",
            "unauthenticated_email_address",
            "ip_address",
            "user_agent",
        },
        "api_actor": {"type", "api_key_id", "ip_address", "user_agent"},
        "scim_directory_sync_actor": {
            "type",
            "workos_event_id",
            "directory_id",
            "idp_connection_type",
        },
    }
    for event in full.feed:
        assert list(event)[:6] == envelope
        assert set(event["actor"]) == actor_fields[event["actor"]["type"]]
        if event["type"] in (
            "sso_login_succeeded",
            "sso_login_failed",
            "user_logged_out",
            "compliance_api_accessed",
        ):
            assert event["organization_id"] is None
        else:
            assert event["organization_id"].startswith("org_")
    first = {e["type"]: e for e in reversed(full.feed)}
    assert {"auth_method", "mfa_method"} <= set(first["sso_login_succeeded"])
    assert {"current_role", "previous_role", "user_email", "user_id"} <= set(
        first["claude_user_role_updated"]
    )
    assert {"deleted_user_email", "deleted_user_id"} <= set(first["org_user_deleted"])
    assert {"group_id", "member_ids"} <= set(first["group_member_added"])
    assert {"api_key_id", "scopes", "restricted_to_organization"} <= set(first["api_key_created"])
    assert {"export_destination", "filename", "claude_chat_id", "claude_file_id"} <= set(
        first["claude_file_exported"]
    )
    assert {"integration_type", "mcp_server_id", "mcp_server_name"} <= set(
        first["integration_user_connected"]
    )
    assert {"request_id", "request_method", "status_code", "url", "request_body"} <= set(
        first["compliance_api_accessed"]
    )
    update = first["claude_organization_settings_updated"]["updates"][0]
    assert set(update) == {"type", "previous_value", "current_value"}


def test_unknown_types_and_fields_are_listed(full: Dataset) -> None:
    by_id = {e["id"]: e for e in full.feed}
    unknown = {e["type"] for e in full.feed} - KNOWN_TYPES
    assert unknown == {u.type for u in full.truth.unknown_activity_types}
    for entry in full.truth.unknown_activity_types:
        assert entry.activity_ids and all(
            by_id[a]["type"] == entry.type for a in entry.activity_ids
        )
        assert all(set(entry.fields) <= set(by_id[a]) for a in entry.activity_ids)
    assert len(full.truth.unknown_fields) >= 3
    for extra in full.truth.unknown_fields:
        rows = full.lines(extra.file)
        if extra.file.startswith("compliance/"):
            marked = [r for r in rows if r["id"] in extra.keys]
        elif "/users/" in extra.file:
            marked = [r for r in rows if r["user"]["id"] in extra.keys]
        else:
            marked = [r for r in rows if r["connector_name"] in extra.keys]
        assert marked and all(extra.field in r for r in marked)
        assert sum(extra.field in r for r in rows) == len(marked)


# -- planted anomalies against plain rules ---------------------------------------------------


def test_each_rule_finds_exactly_the_planted_subjects(full: Dataset) -> None:
    for kind, (rule, key) in RULES.items():
        assert rule(full) == {key(a) for a in full.truth.of_kind(kind)}, kind


def test_without_anomalies_no_rule_fires(bare: Dataset) -> None:
    assert bare.truth.anomalies == []
    for kind, (rule, _) in RULES.items():
        assert rule(bare) == set(), kind


def test_a_subset_plants_only_its_kinds_with_the_same_subjects(
    full: Dataset, tmp_path: Path
) -> None:
    chosen = ["sso_toggled", "dormant_seat", "export_burst"]
    some = _make(tmp_path / "some", users=USERS, days=DAYS, seed=SEED, anomalies=chosen)
    assert {a.kind for a in some.truth.anomalies} == set(chosen)
    for kind, (rule, key) in RULES.items():
        expected = {key(a) for a in some.truth.of_kind(kind)}
        assert rule(some) == expected, kind
        if kind in chosen:
            assert expected == {key(a) for a in full.truth.of_kind(kind)}


def test_export_burst_follows_the_escalation_within_hours(full: Dataset) -> None:
    escalation = full.truth.of_kind("privilege_escalation")[0]
    burst = full.truth.of_kind("export_burst")[0]
    assert escalation.subject == burst.subject
    gap = ms(burst.occurred_at) - ms(escalation.occurred_at)
    assert 0 < gap <= 4 * 3_600_000
    assert len(burst.activity_ids) >= 30


def test_background_exports_stay_near_each_users_baseline(full: Dataset) -> None:
    # Baseline: the median of the 30 days ending on (and including) the day.
    burst_user = full.truth.of_kind("export_burst")[0].subject["user_id"]
    steady = 0
    for user, daily in exports_by_user_day(full).items():
        series = [daily.get(d.isoformat(), 0) for d in full.period]
        over = [
            day
            for day, count in enumerate(series)
            if count > 3 * statistics.median(series[max(0, day - 29) : day + 1]) + 10
        ]
        assert bool(over) == (user == burst_user), user
        steady += statistics.median(series) > 5
    assert steady >= 2  # steady exporters exist and are not anomalous against themselves


def test_the_mock_server_loader_accepts_the_dataset(full: Dataset) -> None:
    from auditpack.mockapi.dataset import load_dataset

    loaded = load_dataset(full.root)
    assert len(loaded.summaries) == DAYS
    for day in loaded.snapshot_days:
        loaded.snapshot_at(datetime.combine(day, datetime.min.time(), UTC)).check()


def test_background_failures_are_rare_and_followed_by_success(full: Dataset) -> None:
    planted = planted_ids(full)
    per_day: Counter[tuple[str, str]] = Counter()
    for event in full.feed:
        if event["type"] == "sso_login_failed" and event["id"] not in planted:
            per_day[
                (event["actor"]["unauthenticated_email_address"], event["created_at"][:10])
            ] += 1
    assert per_day and max(per_day.values()) <= 2


def test_leavers_and_the_planted_leaver(full: Dataset) -> None:
    last = full.snapshot_days()[-1]
    members = full.members(last)
    planted = full.truth.of_kind("leaver_activity")[0]
    leftovers = set()
    for path in (full.snapshot(last) / "group_members").iterdir():
        leftovers |= {row["user_id"] for row in json.loads(path.read_text())} - set(members)
    assert leftovers == {planted.subject["user_id"]}
    removed = {e["deleted_user_id"] for e in full.feed if e["type"] == "org_user_deleted"}
    assert len(removed) >= 3 and not removed & set(members)


def test_directory_reflects_role_changes(full: Dataset) -> None:
    last = full.members(full.snapshot_days()[-1])
    escalation = full.truth.of_kind("privilege_escalation")[0]
    assert (
        last[escalation.subject["user_id"]]["organization_role"] == escalation.data["current_role"]
    )
    for event in full.feed:
        if (
            event["type"] == "claude_user_role_updated"
            and event["id"] not in escalation.activity_ids
        ):
            assert {event["previous_role"], event["current_role"]} <= ORDINARY
    first = full.members(full.snapshot_days()[0])
    roles = Counter(u["organization_role"] for u in first.values())
    assert roles["primary_owner"] == 1 and roles["owner"] == 2 and roles["membership_admin"] == 1
    assert roles["admin"] >= 3


def test_settings_snapshots_follow_the_feed(full: Dataset) -> None:
    days = full.snapshot_days()
    uuid = full.claude_uuid()

    def value(day: str, name: str) -> Any:
        settings = full.json(f"compliance/directory/{day}/settings/{uuid}.json")
        return next(row["value"] for row in settings["settings"] if row["name"] == name)

    removed = full.truth.of_kind("ip_restriction_removed")[0].occurred_at
    assert value(days[0], "ip_allowlist_enabled") is True
    for day in days:
        if day > removed[:10]:
            assert value(day, "ip_allowlist_enabled") is False
            assert value(day, "ip_allowlist_ip_ranges") == []
        assert value(day, "sso_enabled") is True


def test_everyone_else_is_active_every_few_weeks_and_joiners_work(full: Dataset) -> None:
    dormant = {a.subject["user_id"] for a in full.truth.of_kind("dormant_seat")}
    active: dict[str, list[date]] = defaultdict(list)
    for day, rows in full.a1().items():
        for row in rows:
            active[row["user"]["id"]].append(date.fromisoformat(day))
    days = full.snapshot_days()
    always = set.intersection(*(set(full.members(d)) for d in days))
    for user in always - dormant:
        seen = [
            full.period[0] - timedelta(days=1),
            *active[user],
            full.period[-1] + timedelta(days=1),
        ]
        assert max((b - a).days for a, b in itertools.pairwise(seen)) <= 14, user
    joiners = {e["actor"]["user_id"] for e in full.feed if e["type"] == "org_user_invite_accepted"}
    assert joiners and all(active[user] for user in joiners)


# -- analytics --------------------------------------------------------------------------------


def test_analytics_follow_the_feed(full: Dataset) -> None:
    uploads: Counter[tuple[str, str]] = Counter()
    actors: dict[str, set[str]] = defaultdict(set)
    for event in user_events(full):
        day = event["created_at"][:10]
        actors[day].add(event["actor"]["user_id"])
        if event["type"] == "claude_file_uploaded":
            uploads[(day, event["actor"]["user_id"])] += 1
    summaries = {row["starting_at"][:10]: row for row in full.lines("analytics/summaries.jsonl.gz")}
    for day, rows in full.a1().items():
        assert {r["user"]["id"] for r in rows} == actors.get(day, set())
        for row in rows:
            assert (
                row["chat_metrics"]["distinct_files_uploaded_count"]
                == uploads[(day, row["user"]["id"])]
            )
        usage = full.lines(f"analytics/user_usage/{day}.jsonl.gz")
        cost = full.lines(f"analytics/user_cost/{day}.jsonl.gz")
        assert [r["actor"]["user_id"] for r in usage] == [r["actor"]["user_id"] for r in cost]
        assert summaries[day]["daily_active_user_count"] <= len(rows)
        assert summaries[day]["daily_active_user_count"] >= len(usage) > 0 or not rows


def test_analytics_records_have_the_documented_fields(full: Dataset) -> None:
    day = next(d for d in full.period if d.weekday() < 5).isoformat()
    user = full.lines(f"analytics/users/{day}.jsonl.gz")[0]
    assert set(user["user"]) == {"id", "email_address"}
    assert {
        "distinct_conversation_count",
        "message_count",
        "distinct_projects_created_count",
        "distinct_projects_used_count",
        "distinct_files_uploaded_count",
        "distinct_artifacts_created_count",
        "thinking_message_count",
        "distinct_skills_used_count",
        "connectors_used_count",
    } <= set(user["chat_metrics"])
    assert {"commit_count", "pull_request_count", "lines_of_code"} <= set(
        user["claude_code_metrics"]["core_metrics"]
    )
    assert set(user["office_metrics"]) == {"excel", "powerpoint"}
    assert "web_search_count" in user
    summary = full.lines("analytics/summaries.jsonl.gz")[0]
    assert {
        "starting_at",
        "ending_at",
        "daily_active_user_count",
        "weekly_active_user_count",
        "monthly_active_user_count",
        "assigned_seat_count",
        "pending_invite_count",
    } <= set(summary)
    assert summary["pending_invite_count"] >= 0 and summary["assigned_seat_count"] > 30
    project = full.lines(f"analytics/projects/{day}.jsonl.gz")[0]
    assert project["project_id"].startswith("claude_proj_")
    assert set(project["created_by"]) == {"id", "email_address"}
    skill = full.lines(f"analytics/skills/{day}.jsonl.gz")[0]
    assert {
        "skill_name",
        "distinct_user_count",
        "chat_metrics",
        "claude_code_metrics",
        "office_metrics",
        "cowork_metrics",
    } <= set(skill)
    connector = full.lines(f"analytics/connectors/{day}.jsonl.gz")[0]
    assert connector["connector_name"] == normalize_connector_name(connector["connector_name"])
    usage = full.lines(f"analytics/user_usage/{day}.jsonl.gz")[0]
    assert set(usage["actor"]) == {"type", "user_id", "name", "email", "deleted"}
    parts = (
        usage["uncached_input_tokens"] + usage["cache_read_input_tokens"] + usage["output_tokens"]
    )
    assert usage["total_tokens"] == parts + sum(usage["cache_creation"].values())
    cost = full.lines(f"analytics/user_cost/{day}.jsonl.gz")[0]
    assert cost["currency"] == "USD"
    for amount in (cost["amount"], cost["list_amount"]):
        whole, fraction = amount.split(".")
        assert whole.isdigit() and len(fraction) == 6
    assert float(cost["amount"]) <= float(cost["list_amount"])


def test_usage_rows_mark_removed_users_deleted(full: Dataset) -> None:
    planted = full.truth.of_kind("leaver_activity")[0]
    after = planted.occurred_at[:10]
    rows = [
        r
        for r in full.lines(f"analytics/user_usage/{after}.jsonl.gz")
        if r["actor"]["user_id"] == planted.subject["user_id"]
    ]
    assert rows and rows[0]["actor"] == {
        "type": "user_actor",
        "user_id": planted.subject["user_id"],
        "name": "Deleted User",
        "email": None,
        "deleted": True,
    }


# -- directory formats ------------------------------------------------------------------------


def test_directory_records_have_the_documented_fields(full: Dataset) -> None:
    snap = full.snapshot(full.snapshot_days()[0])
    for org in json.loads((snap / "organizations.json").read_text()):
        assert set(org) == {"uuid", "name", "created_at"}
        users = json.loads((snap / "users" / f"{org['uuid']}.json").read_text())
        assert users and all(
            set(u) == {"id", "full_name", "email", "organization_role", "created_at"} for u in users
        )
        settings = json.loads((snap / "settings" / f"{org['uuid']}.json").read_text())
        assert settings["type"] == "effective_organization_settings"
        assert settings["organization_id"] == org["uuid"]
        assert all(set(row) == {"name", "type", "value"} for row in settings["settings"])
        for key in settings["api_keys"]:
            assert set(key) == {
                "type",
                "id",
                "name",
                "scopes",
                "is_active",
                "created_at",
                "created_by_id",
                "expires_at",
            }
        for role in json.loads((snap / "roles" / f"{org['uuid']}.json").read_text()):
            assert role["id"].startswith("rbac_role_")
            permissions = json.loads((snap / "permissions" / f"{role['id']}.json").read_text())
            assert permissions and all(
                set(p) == {"action", "resource_type", "resource_id"} for p in permissions
            )
    groups = json.loads((snap / "groups.json").read_text())
    assert {g["source_type"] for g in groups} == {"scim", "direct"}
    for group in groups:
        assert group["id"].startswith("rbac_group_")
        rows = json.loads((snap / "group_members" / f"{group['id']}.json").read_text())
        assert all(set(r) == {"user_id", "email", "created_at", "updated_at"} for r in rows)


# -- arguments --------------------------------------------------------------------------------


def test_bad_arguments_are_usage_errors(full: Dataset, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        generate(tmp_path / "a", users=USERS, days=DAYS, seed=1, anomalies=["nope"])
    with pytest.raises(UsageError):
        generate(tmp_path / "b", users=5, days=DAYS, seed=1)
    with pytest.raises(UsageError):
        generate(tmp_path / "c", users=USERS, days=3, seed=1)
    with pytest.raises(UsageError):
        generate(full.root, users=USERS, days=DAYS, seed=1)
