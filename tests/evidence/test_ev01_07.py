"""EV01–EV07 (identity and access) on collected organizations, and on edited copies of one.

The items run directly (not through the registry), so these tests do not wait for the other
evidence items. Expected values come from the generator's ground truth and from the store
itself, never from names seen in the sample: the same assertions hold for the other org.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from auditpack.evidence import (
    Coverage,
    EvidenceItem,
    EvidenceResult,
    Finding,
    Period,
    Severity,
    Status,
    build_context,
)
from auditpack.evidence._common import compliance_gap, feed_gap
from auditpack.evidence._identity import fetch, reference_time
from auditpack.evidence.ev01_seat_access_inventory import ITEM as EV01
from auditpack.evidence.ev02_access_review import ITEM as EV02
from auditpack.evidence.ev02_access_review import NO_ATTESTATION
from auditpack.evidence.ev03_dormant_accounts import ITEM as EV03
from auditpack.evidence.ev04_offboarding_verification import ITEM as EV04
from auditpack.evidence.ev05_role_change_log import ITEM as EV05
from auditpack.evidence.ev06_restricted_workspace_access import ITEM as EV06
from auditpack.evidence.ev07_api_key_hygiene import ITEM as EV07
from auditpack.evidence.interface import EvidenceContext, Holdings
from auditpack.mockapi.synth_truth import PlantedAnomaly
from tests.evidence.conftest import CollectedOrg
from tests.evidence.test_ground_truth import matches

ITEMS: tuple[EvidenceItem, ...] = (EV01, EV02, EV03, EV04, EV05, EV06, EV07)
KEYS = {item.key for item in ITEMS}

pytestmark = pytest.mark.slow


def run(org: CollectedOrg, item: EvidenceItem, **kwargs: Any) -> EvidenceResult:
    """One item over one collected organization (period/policy overridable)."""
    con = org.connect()
    try:
        return item.compute(org.context(con, **kwargs))
    finally:
        con.close()


def run_all(org: CollectedOrg, **kwargs: Any) -> dict[str, EvidenceResult]:
    """EV01–EV07, by key."""
    return {item.key: run(org, item, **kwargs) for item in ITEMS}


@pytest.fixture(scope="module")
def sample_results(sample: CollectedOrg) -> dict[str, EvidenceResult]:
    return run_all(sample)


@pytest.fixture(scope="module")
def other_results(other_org: CollectedOrg) -> dict[str, EvidenceResult]:
    return run_all(other_org)


@pytest.fixture(params=["sample", "other"])
def case(request: pytest.FixtureRequest) -> tuple[CollectedOrg, dict[str, EvidenceResult]]:
    """Each organization with its results: every behavioural test runs on both."""
    if request.param == "sample":
        return request.getfixturevalue("sample"), request.getfixturevalue("sample_results")
    return request.getfixturevalue("other_org"), request.getfixturevalue("other_results")


def planted(org: CollectedOrg, kind: str) -> list[PlantedAnomaly]:
    return org.truth.of_kind(kind)


def table(result: EvidenceResult, name: str) -> list[dict[str, Any]]:
    """A result table as dicts keyed by column name."""
    found = next(t for t in result.tables if t.name == name)
    names = [c.name for c in found.columns]
    return [dict(zip(names, row, strict=True)) for row in found.rows]


def high(result: EvidenceResult) -> list[Finding]:
    return [f for f in result.findings if f.severity is Severity.HIGH]


# --- acceptance: planted anomalies found, nothing else high --------------------------------


def test_planted_anomalies_reported_and_nothing_else_high(
        case: tuple[CollectedOrg, dict[str, EvidenceResult]]) -> None:
    org, results = case
    findings = [f for r in results.values() for f in r.findings]
    mine = [a for a in org.truth.anomalies if a.evidence in KEYS]
    assert {a.evidence for a in mine} == KEYS - {"seat_access_inventory", "access_review"}
    missed = [a.id for a in mine if not any(matches(f, a) for f in findings)]
    assert missed == []
    extra = [f"{f.evidence}: {f.title}" for f in findings if f.severity is Severity.HIGH
             and not any(matches(f, a) for a in mine)]
    assert extra == []


def test_finding_ids_are_unique_and_sources_cite_activities_or_pages(
        case: tuple[CollectedOrg, dict[str, EvidenceResult]]) -> None:
    _, results = case
    findings = [f for r in results.values() for f in r.findings]
    assert len({f.id for f in findings}) == len(findings)
    for finding in findings:
        assert finding.sources, finding.title
        assert all(s.startswith(("activity_", "sha256:")) for s in finding.sources)


# --- EV01 ------------------------------------------------------------------------------------


def test_inventory_lists_the_chosen_snapshot(
        case: tuple[CollectedOrg, dict[str, EvidenceResult]]) -> None:
    org, results = case
    result = results["seat_access_inventory"]
    assert result.status is Status.EFFECTIVE and result.coverage is Coverage.FULL
    assert [f for f in result.findings if f.severity in (Severity.HIGH, Severity.MEDIUM)] == []
    snapshot_day = str(result.metrics["snapshot_as_of"])[:10]
    expected = org.truth.counts.directory[snapshot_day].members
    rows = table(result, "access_inventory")
    by_org: dict[str, int] = {}
    for row in rows:
        by_org[row["org_uuid"]] = by_org.get(row["org_uuid"], 0) + 1
    assert by_org == expected
    # the planted dormant seats are the only members nobody ever saw
    never = {r["user_id"] for r in rows if r["last_seen_source"] == "not seen"}
    assert never == {a.subject["user_id"] for a in planted(org, "dormant_seat")}
    assert result.metrics["members_not_seen"] == len(never)
    seen = [r for r in rows if r["last_seen"] is not None]
    assert all(r["last_seen"] < org.period.end + timedelta(days=1) for r in seen)
    assert result.metrics["privileged_members"] == len(
        {r["user_id"] for r in rows if r["privileged"]})
    assert isinstance(result.metrics["assigned_seats"], int)


# --- EV02 ------------------------------------------------------------------------------------


def test_access_review_prepares_rosters_but_needs_an_attestation(
        case: tuple[CollectedOrg, dict[str, EvidenceResult]]) -> None:
    org, results = case
    result = results["access_review"]
    assert result.status is Status.INSUFFICIENT_DATA
    assert result.reason == NO_ATTESTATION
    assert result.findings == []
    directory = org.truth.counts.directory
    for name, day in (("access_at_period_start", org.period.start.isoformat()),
                      # nothing happens between the period end and the final collection
                      ("access_at_period_end", max(directory))):
        counts: dict[str, int] = {}
        for row in table(result, name):
            counts[row["org_uuid"]] = counts.get(row["org_uuid"], 0) + 1
        assert counts == directory[day].members, name
    types = org.truth.counts.activities_by_type
    assert result.metrics["joined"] == types["org_user_invite_accepted"]
    assert result.metrics["left"] == types["org_user_deleted"]
    assert result.metrics["role_changes"] == types["claude_user_role_updated"]


# --- EV03 ------------------------------------------------------------------------------------


def test_dormant_members_are_exactly_the_planted_seats(
        case: tuple[CollectedOrg, dict[str, EvidenceResult]]) -> None:
    org, results = case
    result = results["dormant_accounts"]
    wanted = {a.subject["user_id"] for a in planted(org, "dormant_seat")}
    assert {f.subject["user_id"] for f in result.findings} == wanted
    assert all(f.severity is Severity.MEDIUM for f in result.findings)
    assert {r["user_id"] for r in table(result, "dormant_members")} == wanted
    assert result.metrics["dormant_members"] == len(wanted)
    assert result.status is Status.EXCEPTIONS and result.coverage is Coverage.FULL
    for row in table(result, "dormant_members"):
        assert row["last_seen"] is None and row["last_seen_source"] is None


def test_short_history_lowers_dormancy_to_low(sample: CollectedOrg) -> None:
    policy = replace(sample.policy, dormant_days=400)
    result = run(sample, EV03, policy=policy)
    assert result.coverage is Coverage.PARTIAL
    assert any("not the whole 400-day window" in note for note in result.limitations)
    assert result.findings and all(f.severity is Severity.LOW for f in result.findings)
    wanted = {a.subject["user_id"] for a in planted(sample, "dormant_seat")}
    assert {f.subject["user_id"] for f in result.findings} == wanted


# --- EV04 ------------------------------------------------------------------------------------


def test_leaver_activity_after_removal_is_high_with_its_evidence(
        case: tuple[CollectedOrg, dict[str, EvidenceResult]]) -> None:
    org, results = case
    result = results["offboarding_verification"]
    (leaver,) = planted(org, "leaver_activity")
    (finding,) = high(result)
    assert finding.subject == leaver.subject
    assert finding.occurred_at == datetime.fromisoformat(leaver.occurred_at)
    assert set(finding.sources) == set(leaver.activity_ids)
    row = next(r for r in table(result, "leavers") if r["user_id"] == leaver.subject["user_id"])
    assert row["activities_after_removal"] == leaver.data["activity_after_removal"]
    assert row["removed_at"] == datetime.fromisoformat(leaver.data["deleted_at"])
    assert result.metrics["activities_after_removal"] == leaver.data["activity_after_removal"]
    # the planted leaver also stayed in their department group
    (kept,) = [f for f in result.findings if f.rule == "access_left_after_removal"]
    assert kept.severity is Severity.MEDIUM and kept.subject == leaver.subject
    con = org.connect()
    try:
        group = fetch_group_name(con, leaver.data["group_id"])
    finally:
        con.close()
    assert row["still_in_groups"] == group


def fetch_group_name(con: duckdb.DuckDBPyConnection, group_id: str) -> str:
    row = con.execute("SELECT any_value(name) FROM dir_groups WHERE group_id = ?",
                      [group_id]).fetchone()
    assert row is not None
    return str(row[0])


def test_clean_leavers_raise_nothing(
        case: tuple[CollectedOrg, dict[str, EvidenceResult]]) -> None:
    org, results = case
    result = results["offboarding_verification"]
    removals = org.truth.counts.activities_by_type["org_user_deleted"]
    assert result.metrics["leavers"] == removals
    assert result.metrics["clean_leavers"] == removals - 1
    (leaver,) = planted(org, "leaver_activity")
    assert {f.subject["user_id"] for f in result.findings} == {leaver.subject["user_id"]}
    assert any("termination_revocation_max_hours" in note for note in result.limitations)


# --- EV05 ------------------------------------------------------------------------------------


def test_role_changes_listed_and_only_the_escalation_is_high(
        case: tuple[CollectedOrg, dict[str, EvidenceResult]]) -> None:
    org, results = case
    result = results["role_change_log"]
    (escalation,) = planted(org, "privilege_escalation")
    rows = table(result, "role_changes")
    assert len(rows) == org.truth.counts.activities_by_type["claude_user_role_updated"]
    (finding,) = high(result)
    assert finding.subject == escalation.subject
    assert finding.sources == tuple(escalation.activity_ids)
    row = next(r for r in rows if r["activity_id"] == escalation.activity_ids[0])
    assert (row["previous_role"], row["new_role"]) == (escalation.data["previous_role"],
                                                       escalation.data["current_role"])
    assert row["severity"] == "high"
    assert all(r["severity"] == "info" for r in rows if r is not row)
    privileged = table(result, "privileged_members")
    assert escalation.subject["user_id"] in {r["user_id"] for r in privileged}
    assert {r["role"] for r in privileged} <= {"primary_owner", "owner", "admin",
                                               "membership_admin"}


# --- EV06 ------------------------------------------------------------------------------------


def test_restricted_addition_is_high(
        case: tuple[CollectedOrg, dict[str, EvidenceResult]]) -> None:
    org, results = case
    result = results["restricted_workspace_access"]
    (addition,) = planted(org, "restricted_workspace_addition")
    (finding,) = high(result)
    assert finding.subject == addition.subject
    assert finding.sources == tuple(addition.activity_ids)
    assert result.metrics["additions"] == 1


def test_without_a_restricted_list_the_item_does_not_apply(sample: CollectedOrg) -> None:
    policy = replace(sample.policy, restricted_groups=(), restricted_workspaces=(),
                     restricted_projects=())
    result = run(sample, EV06, policy=policy)
    assert result.status is Status.NOT_APPLICABLE
    assert result.reason is not None and "restricted" in result.reason
    assert result.findings == []


# --- EV07 ------------------------------------------------------------------------------------


def test_stale_key_is_high_and_rotated_keys_are_quiet(
        case: tuple[CollectedOrg, dict[str, EvidenceResult]]) -> None:
    org, results = case
    result = results["api_key_hygiene"]
    (stale,) = planted(org, "stale_api_key")
    (finding,) = high(result)
    assert finding.subject == stale.subject
    assert set(stale.activity_ids) <= set(finding.sources)
    rows = {r["api_key_id"]: r for r in table(result, "api_keys")}
    row = rows[stale.subject["api_key_id"]]
    created = datetime.fromisoformat(stale.data["created_at"])
    assert row["age_days"] == (org.period.end_at - created).days
    assert row["active"] and row["over_rotation_limit"]
    assert row["calls_in_period"] == len(stale.activity_ids)
    # the key rotated during the period is inactive at the period end and raises nothing
    revoked = [r for r in rows.values() if r["revoked_at"] is not None]
    assert revoked and not any(r["active"] for r in revoked)
    assert result.metrics["active_keys_over_rotation_limit"] == 1


# --- insufficient data -------------------------------------------------------------------------


@pytest.mark.parametrize("item", ITEMS, ids=lambda i: i.id)
def test_nothing_collected_is_insufficient(sample: CollectedOrg, item: EvidenceItem) -> None:
    con = sample.connect()
    try:
        ctx = replace(sample.context(con), holdings=Holdings())
        result = item.compute(ctx)
    finally:
        con.close()
    assert result.status is Status.INSUFFICIENT_DATA
    assert result.reason and ("not collected" in result.reason
                              or "no Compliance API directory snapshot" in result.reason)
    assert result.findings == []


def test_analytics_alone_counts_seats_but_names_nobody(sample: CollectedOrg) -> None:
    con = sample.connect()
    try:
        ctx = sample.context(con)
        analytics_only = Holdings(analytics_days=dict(ctx.holdings.analytics_days))
        result = EV01.compute(replace(ctx, holdings=analytics_only))
        expected = con.execute(
            "SELECT assigned_seats, pending_invites FROM an_summaries WHERE day < ? "
            "ORDER BY day DESC LIMIT 1", [sample.period.end + timedelta(days=1)]).fetchone()
    finally:
        con.close()
    assert result.status is Status.INSUFFICIENT_DATA and result.coverage is Coverage.PARTIAL
    assert expected is not None
    assert (result.metrics["assigned_seats"], result.metrics["pending_invites"]) == expected
    assert result.tables == []


@pytest.mark.parametrize("item", ITEMS, ids=lambda i: i.id)
def test_period_before_the_store_is_insufficient(sample: CollectedOrg,
                                                 item: EvidenceItem) -> None:
    result = run(sample, item, period=Period(date(2025, 1, 1), date(2025, 3, 31)))
    assert result.status is Status.INSUFFICIENT_DATA
    assert result.reason and "2025" in result.reason
    assert result.findings == []


def test_feed_gap_is_the_shared_rule_without_the_directory(sample: CollectedOrg) -> None:
    con = sample.connect()
    try:
        ctx = sample.context(con)
        early = sample.context(con, period=Period(date(2025, 1, 1), date(2025, 3, 31)))
        assert feed_gap(ctx) is None and compliance_gap(ctx) is None
        assert feed_gap(early) == compliance_gap(early) is not None
        no_directory = replace(ctx, holdings=replace(ctx.holdings, snapshot_id=None))
        assert compliance_gap(no_directory) is not None and feed_gap(no_directory) is None
    finally:
        con.close()


# --- determinism -------------------------------------------------------------------------------


def test_two_runs_give_equal_results(sample: CollectedOrg,
                                     sample_results: dict[str, EvidenceResult]) -> None:
    again = run_all(sample)
    for key, first in sample_results.items():
        assert [f.as_json() for f in again[key].findings] == [f.as_json()
                                                             for f in first.findings], key
        assert [t.rows for t in again[key].tables] == [t.rows for t in first.tables], key
        assert again[key].metrics == first.metrics, key


# --- edge rules, on an edited copy of the sample store ----------------------------------------


@dataclass
class Edited:
    """A copy of the sample store with a few activities added, and who they are about."""

    store: Path
    org: CollectedOrg
    restricted_group: str
    added_member: str
    new_owner: str
    leaver_with_key: str
    leaver_key: str
    console_only: str
    rejoined: str

    def run(self, item: EvidenceItem) -> EvidenceResult:
        con = duckdb.connect(str(self.store), read_only=True)
        try:
            ctx: EvidenceContext = build_context(con, self.org.period, self.org.policy,
                                                 as_of=self.org.as_of)
            return item.compute(ctx)
        finally:
            con.close()


def _add(con: duckdb.DuckDBPyConnection, aid: str, when: datetime, type_: str,
         org_uuid: str | None, actor: dict[str, Any], fields: dict[str, Any]) -> None:
    """Insert one activity the way the store would have ingested it."""
    raw = {"id": aid, "created_at": when.isoformat().replace("+00:00", "Z"),
           "organization_id": None, "organization_uuid": org_uuid, "type": type_,
           "actor": actor, **fields}
    con.execute("INSERT INTO activities VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, 'edited')",
                [aid, when, type_, org_uuid, actor["type"], actor.get("user_id"),
                 actor.get("email_address"), actor.get("ip_address"),
                 actor.get("user_agent"), json.dumps(raw)])


def _user_actor(con: duckdb.DuckDBPyConnection, user_id: str) -> dict[str, Any]:
    row = con.execute("SELECT any_value(email) FROM dir_users WHERE user_id = ?",
                      [user_id]).fetchone()
    return {"type": "user_actor", "user_id": user_id, "email_address": row[0] if row else None,
            "ip_address": "192.0.2.99", "user_agent": "test"}


@pytest.fixture(scope="module")
def edited(sample: CollectedOrg, sample_results: dict[str, EvidenceResult],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edited]:
    """Add: a restricted-group addition, a primary-owner transfer to an ordinary member, a key
    created by a clean leaver, a removal from the smaller organization only, and a removal
    followed by a rejoin. Subjects are picked by rule from the store, never by name."""
    path = tmp_path_factory.mktemp("edited") / "auditpack.duckdb"
    shutil.copy(sample.store / "auditpack.duckdb", path)
    reserved = {a.subject.get("user_id") for a in sample.truth.anomalies}
    con = duckdb.connect(str(path))
    try:
        snap = con.execute("SELECT snapshot_id FROM dir_observations ORDER BY as_of "
                           "LIMIT 1").fetchone()[0]
        orgs = con.execute("SELECT org_uuid, count(*) FROM dir_users WHERE snapshot_id = ? "
                           "GROUP BY 1 ORDER BY 2 DESC", [snap]).fetchall()
        main_org, small_org = orgs[0][0], orgs[-1][0]
        both = {r[0] for r in con.execute(
            "SELECT user_id FROM dir_users WHERE snapshot_id = ? AND org_uuid = ?",
            [snap, small_org]).fetchall()}
        ordinary = [r[0] for r in con.execute(
            "SELECT user_id FROM dir_users WHERE snapshot_id = ? AND org_uuid = ? "
            "AND organization_role = 'user' ORDER BY user_id", [snap, main_org]).fetchall()
            if r[0] not in reserved and r[0] not in both]
        owner = con.execute("SELECT user_id FROM dir_users WHERE snapshot_id = ? "
                            "AND organization_role = 'primary_owner'", [snap]).fetchone()[0]
        group = sample.policy.restricted_groups[0]
        added, new_owner, rejoined = ordinary[0], ordinary[1], ordinary[2]
        clean = next(r["user_id"] for r in table(sample_results["offboarding_verification"],
                                                   "leavers") if r["outcome"] == "clean")
        removed_at = next(r["removed_at"] for r in table(
            sample_results["offboarding_verification"], "leavers") if r["user_id"] == clean)
        # someone in both organizations, removed from the smaller one after their last act
        # there: what they do afterwards happens where they still belong
        console_only, console_last = con.execute(
            "SELECT actor_user_id, max(created_at) FROM activities WHERE organization_uuid = ? "
            "AND list_contains(?, actor_user_id) GROUP BY 1 ORDER BY 2, 1 LIMIT 1",
            [small_org, sorted(both - reserved)]).fetchone()
        base = datetime.combine(sample.period.start + timedelta(days=70), datetime.min.time(),
                                UTC)
        admin = _user_actor(con, owner)
        # each activity comes with the directory change later snapshots would show
        added_at = base + timedelta(hours=10)
        _add(con, "activity_edit_1", added_at, "group_member_added",
             main_org, admin, {"group_id": group, "member_ids": [added]})
        con.execute("INSERT INTO dir_group_members SELECT o.snapshot_id, ?, u.user_id, u.email, "
                    "?, '{}', 'edited' FROM dir_observations o JOIN dir_users u "
                    "ON u.snapshot_id = o.snapshot_id AND u.user_id = ? AND u.org_uuid = ? "
                    "WHERE o.as_of > ?", [group, added_at, added, main_org, added_at])
        moved_at = base + timedelta(hours=11)
        _add(con, "activity_edit_2", moved_at, "primary_owner_transferred",
             main_org, admin, {"new_owner_id": new_owner, "previous_owner_id": owner})
        for user, role in ((new_owner, "primary_owner"), (owner, "owner")):
            con.execute("UPDATE dir_users SET organization_role = ? WHERE user_id = ? AND "
                        "org_uuid = ? AND snapshot_id IN (SELECT snapshot_id FROM "
                        "dir_observations WHERE as_of > ?)", [role, user, main_org, moved_at])
        key_at = removed_at - timedelta(days=1)
        _add(con, "activity_edit_3", key_at, "api_key_created",
             main_org, _user_actor(con, clean),
             {"api_key_id": "apikey_edit_1", "scopes": ["read:compliance_activities"],
              "restricted_to_organization": None})
        con.execute("INSERT INTO dir_api_keys SELECT DISTINCT k.snapshot_id, k.org_uuid, "
                    "'apikey_edit_1', 'Edited key', '[]', true, ?, ?, NULL, '{}', 'edited' "
                    "FROM dir_api_keys k JOIN dir_observations o USING (snapshot_id) "
                    "WHERE o.as_of > ?", [key_at, clean, key_at])
        left_at = console_last + timedelta(minutes=1)
        _add(con, "activity_edit_4", left_at, "org_user_deleted", small_org,
             admin, {"deleted_user_email": None, "deleted_user_id": console_only})
        con.execute("DELETE FROM dir_users WHERE user_id = ? AND org_uuid = ? AND snapshot_id "
                    "IN (SELECT snapshot_id FROM dir_observations WHERE as_of > ?)",
                    [console_only, small_org, left_at])
        _add(con, "activity_edit_5", base + timedelta(hours=13), "org_user_deleted", main_org,
             admin, {"deleted_user_email": None, "deleted_user_id": rejoined})
        _add(con, "activity_edit_6", base + timedelta(hours=13, seconds=1),
             "org_user_invite_accepted", main_org, _user_actor(con, rejoined),
             {"invite_id": "invite_edit_1"})
        _add(con, "activity_edit_7", base + timedelta(hours=14), "rbac_role_assigned", main_org,
             admin, {"principal_id": added, "principal_type": "user",
                     "role_id": "rbac_role_edit"})
    finally:
        con.close()
    yield Edited(path, sample, group, added, new_owner, clean, "apikey_edit_1", console_only,
                 rejoined)


def test_restricted_group_addition_names_the_group(edited: Edited) -> None:
    result = edited.run(EV06)
    finding = next(f for f in high(result) if f.subject.get("group_id"))
    assert finding.subject["group_id"] == edited.restricted_group
    assert finding.subject["user_id"] == edited.added_member
    assert finding.subject["email"]  # looked up in the directory
    assert finding.sources == ("activity_edit_1",)
    members = table(result, "restricted_members")
    assert edited.added_member in {r["user_id"] for r in members
                                   if r["target_id"] == edited.restricted_group}


def test_primary_owner_transfer_to_an_ordinary_member_is_an_escalation(edited: Edited) -> None:
    result = edited.run(EV05)
    by_activity = {r["activity_id"] + r["user_id"]: r for r in table(result, "role_changes")}
    row = by_activity["activity_edit_2" + edited.new_owner]
    assert (row["previous_role"], row["new_role"], row["severity"]) == (
        "user", "primary_owner", "high")
    assert any(f.subject.get("user_id") == edited.new_owner for f in high(result))
    rbac = by_activity["activity_edit_7" + edited.added_member]
    assert (rbac["scope"], rbac["severity"]) == ("rbac role", "low")
    owners = {r["user_id"]: r["role"] for r in table(result, "privileged_members")}
    assert owners[edited.new_owner] == "primary_owner"


def test_key_of_a_leaver_is_medium_in_both_items(edited: Edited) -> None:
    keys = edited.run(EV07)
    (finding,) = [f for f in keys.findings if f.rule == "key_of_leaver"]
    assert finding.severity is Severity.MEDIUM
    assert finding.subject["api_key_id"] == edited.leaver_key
    assert finding.subject["user_id"] == edited.leaver_with_key
    offboarding = edited.run(EV04)
    row = next(r for r in table(offboarding, "leavers")
               if r["user_id"] == edited.leaver_with_key)
    assert row["active_keys_created"] == edited.leaver_key
    assert row["outcome"] == "access left"


def test_removal_from_one_organization_is_not_a_departure(edited: Edited) -> None:
    result = edited.run(EV04)
    rows = {r["user_id"]: r for r in table(result, "leavers")}
    row = rows[edited.console_only]
    # they keep working in the organization they still belong to: not post-removal activity
    assert row["activities_after_removal"] == 0
    assert row["still_listed_in"] is None and row["outcome"] == "clean"
    assert not any(f.subject.get("user_id") == edited.console_only for f in result.findings)


def test_rejoined_member_is_not_a_leaver_with_activity(edited: Edited) -> None:
    result = edited.run(EV04)
    row = next(r for r in table(result, "leavers") if r["user_id"] == edited.rejoined)
    assert row["rejoined_at"] is not None
    assert row["activities_after_removal"] == 0 and row["outcome"] == "clean"
    roster = table(edited.run(EV02), "access_at_period_end")
    assert edited.rejoined in {r["user_id"] for r in roster}


def test_reference_time_is_the_period_end_or_as_of(sample: CollectedOrg) -> None:
    con = sample.connect()
    try:
        ctx = sample.context(con)
        assert reference_time(ctx) == ctx.period.end_at < ctx.as_of
        early = replace(ctx, as_of=ctx.period.start_at + timedelta(days=10))
        assert reference_time(early) == early.as_of
        assert fetch(ctx, "SELECT $a + 1", a=1, unused=2) == [(2,)]
    finally:
        con.close()
