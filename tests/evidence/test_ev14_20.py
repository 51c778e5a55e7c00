"""EV14–EV20: exact values against the generated datasets, tamper detection, insufficient paths.

The items are imported directly (not through the registry) so these tests run whatever state
the other items are in. Stores are never modified: tamper tests work on a copy in tmp_path.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from auditpack.activity_catalog import known_types
from auditpack.evidence import EvidenceResult, Period, Severity, Status, parse_period
from auditpack.evidence._operations import check_log, of_types, runs_of
from auditpack.evidence.context import build_context
from auditpack.evidence.interface import (
    EvidenceContext,
    EvidenceItem,
    Holdings,
    Policy,
    Table,
)
from auditpack.store.schema import SCHEMA_SQL
from tests.evidence.conftest import CollectedOrg

MODULES = ("ev14_ai_adoption", "ev15_cost_attribution", "ev16_incident_timeline",
           "ev17_log_completeness", "ev18_log_access_integrity", "ev19_content_retention",
           "ev20_agent_activity")
ITEMS: dict[str, EvidenceItem] = {
    m.split("_", 1)[1]: importlib.import_module(f"auditpack.evidence.{m}").ITEM for m in MODULES}


@pytest.fixture(params=["sample", "other_org"])
def org(request: pytest.FixtureRequest) -> CollectedOrg:
    org: CollectedOrg = request.getfixturevalue(request.param)
    return org


@pytest.fixture()
def con(org: CollectedOrg) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = org.connect()
    yield connection
    connection.close()


def run(org: CollectedOrg, con: duckdb.DuckDBPyConnection, key: str,
        **kwargs: Any) -> EvidenceResult:
    return ITEMS[key].compute(org.context(con, **kwargs))


def tab(result: EvidenceResult, name: str) -> Table:
    return next(t for t in result.tables if t.name == name)


def column(t: Table, name: str) -> list[Any]:
    i = [c.name for c in t.columns].index(name)
    return [r[i] for r in t.rows]


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines() if line]


def period_days(org: CollectedOrg) -> list[date]:
    p = org.period
    return [date.fromordinal(d) for d in range(p.start.toordinal(), p.end.toordinal() + 1)]


def copy_store(org: CollectedOrg, tmp_path: Path) -> Path:
    target = tmp_path / "store"
    shutil.copytree(org.store, target)
    return target


def context_for(org: CollectedOrg, store: Path) -> tuple[duckdb.DuckDBPyConnection,
                                                         EvidenceContext]:
    connection = duckdb.connect(str(store / "auditpack.duckdb"), read_only=True)
    return connection, build_context(connection, org.period, org.policy, as_of=org.as_of)


# -- severity discipline ---------------------------------------------------------------------


@pytest.mark.slow
def test_no_high_findings_and_effective(org: CollectedOrg,
                                        con: duckdb.DuckDBPyConnection) -> None:
    """None of the planted anomalies is ours: no HIGH finding, every item assessed."""
    for key in ITEMS:
        result = run(org, con, key)
        assert result.key == key
        assert result.status is Status.EFFECTIVE, (key, result.reason, result.findings)
        highs = [f for f in result.findings if f.severity is Severity.HIGH]
        assert highs == [], (key, highs)
        assert all(f.evidence == key for f in result.findings)


@pytest.mark.slow
def test_findings_are_capped_per_item(org: CollectedOrg, con: duckdb.DuckDBPyConnection) -> None:
    allowed = {"ai_adoption": {Severity.INFO}, "cost_attribution": {Severity.INFO, Severity.LOW},
               "incident_timeline": {Severity.INFO},
               "agent_activity": {Severity.INFO, Severity.LOW}}
    for key, severities in allowed.items():
        assert {f.severity for f in run(org, con, key).findings} <= severities, key


@pytest.mark.slow
def test_deterministic(sample: CollectedOrg, sample_con: duckdb.DuckDBPyConnection) -> None:
    for key in ITEMS:
        first = ITEMS[key].compute(sample.context(sample_con))
        second = ITEMS[key].compute(sample.context(sample_con))
        assert first == second, key


# -- insufficient data -------------------------------------------------------------------------


@pytest.mark.slow
def test_nothing_held_is_insufficient(sample: CollectedOrg,
                                      sample_con: duckdb.DuckDBPyConnection) -> None:
    ctx = replace(sample.context(sample_con), holdings=Holdings())
    for key, item in ITEMS.items():
        result = item.compute(ctx)
        assert result.status is Status.INSUFFICIENT_DATA, key
        assert result.reason, key
        assert result.findings == [], key


@pytest.mark.slow
def test_period_outside_the_store_is_insufficient(sample: CollectedOrg,
                                                  sample_con: duckdb.DuckDBPyConnection) -> None:
    """The feed was read from its beginning, but nothing is recorded before enablement."""
    for text in ("2025-Q1", "2027-Q1"):
        period = parse_period(text)
        for key, item in ITEMS.items():
            result = item.compute(sample.context(sample_con, period=period))
            assert result.status is Status.INSUFFICIENT_DATA, (text, key, result.metrics)
            assert result.reason, key


# -- EV14 ----------------------------------------------------------------------------------------


def _summaries(org: CollectedOrg) -> dict[date, dict[str, Any]]:
    out = {}
    for row in jsonl(org.dataset / "analytics" / "summaries.jsonl.gz"):
        day = date.fromisoformat((row.get("starting_date") or row["starting_at"])[:10])
        out[day] = row
    return out


@pytest.mark.slow
def test_ev14_series_is_the_datasets_summaries(org: CollectedOrg,
                                               con: duckdb.DuckDBPyConnection) -> None:
    result = run(org, con, "ai_adoption")
    series = tab(result, "adoption_series")
    truth = _summaries(org)
    expected = [(d, truth[d]["daily_active_user_count"], truth[d]["weekly_active_user_count"],
                 truth[d]["monthly_active_user_count"], truth[d]["assigned_seat_count"])
                for d in period_days(org) if d in truth]
    assert [r[:5] for r in series.rows] == expected
    chart = result.charts["adoption_series"]["rows"]
    assert [(c["day"], c["dau"]) for c in chart] == [(d.isoformat(), n) for d, n, *_ in expected]
    assert result.metrics["series_source"] == "summaries"
    assert result.metrics["dau_peak"] == max(e[1] for e in expected)
    last = expected[-1]
    assert result.metrics["adoption_rate_pct"] == round(last[3] * 100 / last[4], 1)


@pytest.mark.slow
def test_ev14_falls_back_to_counting_users(sample: CollectedOrg,
                                           sample_con: duckdb.DuckDBPyConnection) -> None:
    """Without summaries, DAU/WAU/MAU counted from the users report match the API's."""
    ctx = sample.context(sample_con)
    with_summaries = ITEMS["ai_adoption"].compute(ctx)
    del ctx.holdings.analytics_days["summaries"]
    counted = ITEMS["ai_adoption"].compute(ctx)
    assert counted.metrics["series_source"] == "users"
    assert any("Summaries were not held" in n for n in counted.limitations)
    assert [r[:4] for r in tab(counted, "adoption_series").rows] == \
        [r[:4] for r in tab(with_summaries, "adoption_series").rows]
    ctx.holdings.analytics_days.clear()
    from_feed = ITEMS["ai_adoption"].compute(ctx)
    assert from_feed.metrics["series_source"] == "feed"
    assert from_feed.coverage.value == "partial"


@pytest.mark.slow
def test_ev14_feature_breadth(sample: CollectedOrg, sample_con: duckdb.DuckDBPyConnection) -> None:
    result = run(sample, sample_con, "ai_adoption")
    breadth = dict(zip(column(tab(result, "feature_breadth"), "feature"),
                       column(tab(result, "feature_breadth"), "users"), strict=True))
    users: dict[str, set[str]] = {"chat": set(), "claude_code": set(), "cowork": set()}
    for path in sorted((sample.dataset / "analytics" / "users").glob("*.jsonl.gz")):
        if date.fromisoformat(path.name[:10]) not in period_days(sample):
            continue
        for row in jsonl(path):
            uid = row["user"]["id"]
            if row["chat_metrics"]["message_count"]:
                users["chat"].add(uid)
            core = row["claude_code_metrics"]["core_metrics"]
            if core["distinct_session_count"] or core["commit_count"]:
                users["claude_code"].add(uid)
            if row["cowork_metrics"]["distinct_session_count"] or \
                    row["cowork_metrics"]["message_count"]:
                users["cowork"].add(uid)
    assert {k: breadth[k] for k in users} == {k: len(v) for k, v in users.items()}


# -- EV15 ----------------------------------------------------------------------------------------


def _cost_rows(org: CollectedOrg) -> list[dict[str, Any]]:
    rows = []
    for path in sorted((org.dataset / "analytics" / "user_cost").glob("*.jsonl.gz")):
        if date.fromisoformat(path.name[:10]) in period_days(org):
            rows.extend(jsonl(path))
    return rows


@pytest.mark.slow
def test_ev15_total_is_the_datasets_cost(org: CollectedOrg,
                                         con: duckdb.DuckDBPyConnection) -> None:
    result = run(org, con, "cost_attribution")
    rows = _cost_rows(org)
    total = sum((Decimal(r["amount"]) for r in rows), Decimal(0))
    assert Decimal(str(result.metrics["total_cost_cents"])) == total
    per_user = tab(result, "cost_by_user")
    assert sum(column(per_user, "cost_cents"), Decimal(0)) == total
    assert all(isinstance(v, Decimal) for v in column(per_user, "cost_cents"))
    by_centre = tab(result, "cost_by_centre")
    assert sum(column(by_centre, "cost_cents"), Decimal(0)) == total
    assert result.metrics["cost_days_held"] == len(period_days(org))
    assert {f.severity for f in result.findings} <= {Severity.INFO, Severity.LOW}


@pytest.mark.slow
def test_ev15_cost_centre_mapping(sample: CollectedOrg,
                                  sample_con: duckdb.DuckDBPyConnection) -> None:
    snap = sample.context(sample_con).holdings.snapshot_id
    found = sample_con.execute(
        "SELECT group_id, list(DISTINCT user_id) FROM dir_group_members WHERE snapshot_id = ? "
        "GROUP BY group_id ORDER BY count(*) DESC, group_id LIMIT 1", [snap]).fetchone()
    assert found is not None
    group, members = found
    policy = replace(sample.policy, cost_centres={group: "CC-GROUP", "example.com": "CC-DOMAIN"})
    result = ITEMS["cost_attribution"].compute(sample.context(sample_con, policy=policy))
    users = tab(result, "cost_by_user")
    centre = dict(zip(column(users, "user_id"), column(users, "cost_centre"), strict=True))
    assert {centre[u] for u in members if u in centre} == {"CC-GROUP"}
    assert {c for u, c in centre.items() if u not in members} <= {"CC-DOMAIN", "unassigned"}
    centres = dict(zip(column(tab(result, "cost_by_centre"), "cost_centre"),
                       column(tab(result, "cost_by_centre"), "cost_cents"), strict=True))
    assert sum(centres.values(), Decimal(0)) == Decimal(str(result.metrics["total_cost_cents"]))
    assert all(f.severity in (Severity.INFO, Severity.LOW) for f in result.findings)


# -- EV16 ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ev16_timeline_hash_recomputes(org: CollectedOrg,
                                       con: duckdb.DuckDBPyConnection) -> None:
    from auditpack.evidence.ev16_incident_timeline import ROUTINE

    result = run(org, con, "incident_timeline")
    timeline = tab(result, "timeline")
    names = [c.name for c in timeline.columns]
    hashed = ("activity_id", "created_at", "type", "actor_type", "actor_id", "actor_email",
              "ip_address", "user_agent", "organization_id", "details")
    head = "0" * 64
    for row in timeline.rows:
        values = dict(zip(names, row, strict=True))
        text = "\x1f".join(values[c] or "" for c in hashed)
        assert hashlib.sha256(text.encode()).hexdigest() == values["row_sha256"]
        head = hashlib.sha256((head + values["row_sha256"]).encode()).hexdigest()
        assert head == values["chain_sha256"]
    assert result.metrics["timeline_sha256"] == head
    keys = [(r[1], r[9]) for r in timeline.rows]
    assert keys == sorted(keys)
    catalog = known_types()
    assert all(catalog[t].relevance == "High" and t not in ROUTINE
               for t in column(timeline, "type"))
    # Every high-relevance event of the period is either in the timeline or counted as routine.
    high = [t for t, k in catalog.items() if k.relevance == "High"]
    found = con.execute(f"SELECT count(*) FROM {of_types(high)} WHERE created_at >= ? "
                        "AND created_at < ?", [org.period.start_at, org.period.end_at]).fetchone()
    assert found is not None
    excluded = result.metrics["excluded_routine_events"]
    assert isinstance(excluded, int)
    assert found[0] == len(timeline.rows) + excluded
    assert result.findings == []


# -- EV17 ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ev17_sees_exactly_the_recorded_gaps(org: CollectedOrg,
                                             con: duckdb.DuckDBPyConnection) -> None:
    result = run(org, con, "log_completeness")
    recorded = tab(result, "recorded_gaps")
    store = con.execute("SELECT source, report, day, reason FROM gaps WHERE day BETWEEN ? AND ? "
                        "ORDER BY ALL", [org.period.start, org.period.end]).fetchall()
    assert sorted(r[:4] for r in recorded.rows) == sorted(store)
    open_gaps = [r for r in recorded.rows if not r[6]]
    assert result.metrics["analytics_open_gap_records"] == len(open_gaps) == 0
    assert result.metrics["feed_holes"] == 0
    assert result.metrics["collection_log"] == "intact"
    assert result.status is Status.EFFECTIVE
    assert [f.severity for f in result.findings] == [Severity.INFO]  # young store: 365 days
    retention = {r[0]: r for r in tab(result, "retention").rows}
    assert retention["PCI DSS 10.5.1 (12 months)"][1] == 365
    assert retention["EU AI Act Art. 19(1)/26(6)"][1] == 183


@pytest.mark.slow
def test_ev17_reports_a_deleted_feed_window(sample: CollectedOrg, tmp_path: Path) -> None:
    store = copy_store(sample, tmp_path)
    rw = duckdb.connect(str(store / "auditpack.duckdb"))
    found = rw.execute("SELECT lower, upper FROM feed_windows WHERE lower IS NOT NULL "
                       "ORDER BY lower LIMIT 1").fetchone()
    assert found is not None
    lower, upper = found
    rw.execute("DELETE FROM feed_windows WHERE lower = ?", [lower])
    rw.close()
    connection, ctx = context_for(sample, store)
    try:
        result = ITEMS["log_completeness"].compute(ctx)
    finally:
        connection.close()
    assert result.status is Status.EXCEPTIONS
    holes = tab(result, "feed_holes").rows
    assert len(holes) == 1
    assert holes[0][1] == min(upper.astimezone(UTC), sample.period.end_at)
    findings = [f for f in result.findings if f.rule == "feed_hole"]
    assert [f.severity for f in findings] == [Severity.MEDIUM]
    assert not any(f.severity is Severity.HIGH for f in result.findings)


@pytest.mark.slow
def test_ev17_and_ev18_detect_a_tampered_collection_log(sample: CollectedOrg,
                                                        tmp_path: Path) -> None:
    store = copy_store(sample, tmp_path)
    log = store / "collection-log.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    lines[0] = lines[0].replace(b'"run_started"', b'"run_started" ', 1)
    log.write_bytes(b"".join(lines))
    assert check_log(store).state == "broken"
    connection, ctx = context_for(sample, store)
    try:
        for key in ("log_completeness", "log_access_integrity"):
            result = ITEMS[key].compute(ctx)
            assert result.status is Status.EXCEPTIONS, key
            high = [f for f in result.findings if f.severity is Severity.HIGH]
            assert [f.rule for f in high] == ["collection_log_chain_broken"], key
            assert result.metrics["collection_log"] == "broken"
    finally:
        connection.close()


@pytest.mark.slow
def test_ev17_runs_from_the_log(sample: CollectedOrg) -> None:
    check = check_log(sample.store)
    runs = runs_of(check.entries)
    assert [r.as_of for r in runs] == sample.meta["collection_schedule"]
    assert {r.status for r in runs} == {"completed"}


def test_runs_of_marks_unfinished_and_failed_runs() -> None:
    entries: list[dict[str, Any]] = [
        {"event": "run_started", "run_id": "a", "as_of": "2026-07-02T00:00:00Z"},
        {"event": "run_started", "run_id": "b", "as_of": "2026-07-03T00:00:00Z"},
        {"event": "run_finished", "run_id": "b", "status": "failed", "error": "boom",
         "sources": {"compliance": {"pages": 2, "records": 10, "gaps": 1}}}]
    a, b = runs_of(entries)
    assert (a.run_id, a.status) == ("a", "unfinished")
    assert (b.status, b.pages, b.records, b.gaps, b.error) == ("failed", 2, 10, 1, "boom")


# -- EV18 ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ev18_reads_per_key(org: CollectedOrg, con: duckdb.DuckDBPyConnection) -> None:
    result = run(org, con, "log_access_integrity")
    expected = org.truth.counts.activities_by_type.get("compliance_api_accessed", 0)
    assert result.metrics["audit_trail_reads"] == expected
    assert sum(column(tab(result, "audit_trail_reads"), "requests")) == expected
    assert result.metrics["archive_objects_checked"] == result.metrics[
        "archive_objects_referenced"]
    assert result.metrics["archive_objects_altered"] == 0
    assert result.metrics["archive_objects_missing"] == 0
    keys = set(column(tab(result, "audit_trail_keys"), "key_id"))
    listed = con.execute("SELECT DISTINCT key_id FROM dir_api_keys").fetchall()
    assert keys <= {r[0] for r in listed}


@pytest.mark.slow
def test_ev18_detects_a_tampered_archive_object(sample: CollectedOrg, tmp_path: Path) -> None:
    store = copy_store(sample, tmp_path)
    connection = duckdb.connect(str(store / "auditpack.duckdb"), read_only=True)
    altered, missing = (r[0] for r in connection.execute(
        "SELECT DISTINCT page_sha256 FROM activities WHERE created_at >= ? AND created_at < ? "
        "ORDER BY 1 LIMIT 2", [sample.period.start_at, sample.period.end_at]).fetchall())
    connection.close()
    path = store / "archive" / "objects" / altered[:2] / f"{altered}.json.gz"
    body = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(body.replace(b'"type"', b'"typ\\u0065"', 1), mtime=0))
    (store / "archive" / "objects" / missing[:2] / f"{missing}.json.gz").unlink()
    connection, ctx = context_for(sample, store)
    try:
        result = ITEMS["log_access_integrity"].compute(ctx)
    finally:
        connection.close()
    assert result.status is Status.EXCEPTIONS
    high = {f.rule: f for f in result.findings if f.severity is Severity.HIGH}
    assert set(high) == {"archive_object_altered", "archive_object_missing"}
    assert high["archive_object_altered"].sources == (f"sha256:{altered}",)
    assert high["archive_object_missing"].sources == (f"sha256:{missing}",)
    assert result.metrics["archive_objects_altered"] == 1
    assert result.metrics["archive_objects_missing"] == 1


# -- EV19 ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ev19_deletions_match_the_dataset(org: CollectedOrg,
                                          con: duckdb.DuckDBPyConnection) -> None:
    from auditpack.evidence.ev19_content_retention import deletion_types

    result = run(org, con, "content_retention")
    counts = org.truth.counts.activities_by_type
    expected = sum(n for t, n in counts.items() if t in deletion_types() and t.endswith("_deleted"))
    assert result.metrics["deletion_events"] == expected
    assert sum(column(tab(result, "deletions_by_day"), "events")) == expected
    assert result.metrics["retention_settings"] == "all: fixed 365 day"
    assert result.findings == []


def _synthetic(activities: list[tuple[str, str, str, dict[str, Any]]],
               retention: str | None) -> tuple[duckdb.DuckDBPyConnection, EvidenceContext]:
    """An in-memory store with a few activities and one organisation's settings."""
    connection = duckdb.connect()
    connection.execute(SCHEMA_SQL)
    for activity_id, when, type_, extra in activities:
        raw = {"id": activity_id, "created_at": when, "type": type_,
               "actor": {"type": "user_actor", "user_id": "user_1",
                         "email_address": "ana@example.com"}, **extra}
        connection.execute(
            "INSERT INTO activities VALUES (?, ?::TIMESTAMPTZ, ?, 'org_1', 'uuid-1', "
            "'user_actor', 'user_1', 'ana@example.com', '192.0.2.1', 'ua', ?::JSON, 'p1')",
            [activity_id, when, type_, json.dumps(raw)])
    connection.execute("INSERT INTO dir_organizations VALUES ('s1', 'uuid-1', 'Org', NULL, "
                       "'{}', 'p2')")
    connection.execute("INSERT INTO dir_settings VALUES ('s1', 'uuid-1', 'sso_enabled', "
                       "'boolean', 'true', '{}', 'p2')")
    if retention is not None:
        connection.execute("INSERT INTO dir_settings VALUES ('s1', 'uuid-1', "
                           "'data_retention_periods', 'data_retention', ?::JSON, '{}', 'p2')",
                           [retention])
    period = Period(date(2026, 7, 1), date(2026, 9, 30))
    held = Holdings(feed_covered=(datetime(2026, 6, 1, tzinfo=UTC),
                                  datetime(2026, 10, 1, tzinfo=UTC)),
                    snapshot_id="s1", snapshot_as_of=datetime(2026, 10, 1, tzinfo=UTC))
    return connection, EvidenceContext(connection, period, Policy(), held,
                                       datetime(2026, 10, 1, tzinfo=UTC))


def test_ev19_truncated_bulk_deletion_is_medium() -> None:
    connection, ctx = _synthetic([
        ("a1", "2026-07-10T10:00:00Z", "claude_project_file_bulk_deletion_audit_truncated",
         {"claude_project_id": "proj_1", "requested_count": 500, "audited_count": 100}),
        ("a2", "2026-07-10T10:00:01Z", "claude_project_file_deleted",
         {"claude_project_id": "proj_1", "claude_file_id": "f1"}),
        ("a3", "2026-07-11T09:00:00Z", "org_bulk_delete_initiated", {}),
    ], '{"chat": {"type": "indefinite"}, "file": {"type": "fixed", "duration": 6, '
       '"timescale": "month"}}')
    try:
        result = ITEMS["content_retention"].compute(ctx)
    finally:
        connection.close()
    rules = sorted((f.rule, f.severity.value) for f in result.findings)
    assert rules == [("bulk_deletion_audit_truncated", "medium"), ("org_bulk_delete", "medium"),
                     ("retention_indefinite", "low")]
    assert result.status is Status.EXCEPTIONS
    assert result.metrics["unaudited_deletions"] == 400
    assert result.metrics["deletion_events"] == 1
    truncated = next(f for f in result.findings if f.rule == "bulk_deletion_audit_truncated")
    assert truncated.subject == {"user_id": "user_1", "email": "ana@example.com",
                                 "project_id": "proj_1"}
    assert truncated.sources == ("a1",)
    settings = {r[2]: r for r in tab(result, "retention_settings").rows}
    assert settings["file"][3:] == ("fixed", 6, "month", 180)
    assert settings["chat"][3] == "indefinite"


def test_ev19_missing_retention_setting_is_a_low_note() -> None:
    connection, ctx = _synthetic([], None)
    try:
        result = ITEMS["content_retention"].compute(ctx)
    finally:
        connection.close()
    assert [(f.rule, f.severity) for f in result.findings] == [
        ("retention_indefinite", Severity.LOW)]
    assert result.status is Status.EFFECTIVE


def test_ev18_without_a_store_directory_says_so() -> None:
    connection, ctx = _synthetic([("a1", "2026-07-10T10:00:00Z", "compliance_api_accessed",
                                   {"request_method": "GET", "status_code": 200})], None)
    try:
        result = ITEMS["log_access_integrity"].compute(ctx)
    finally:
        connection.close()
    assert result.metrics["collection_log"] == "not checked"
    assert result.metrics["archive_objects_checked"] is None
    assert any("could not be found" in n for n in result.limitations)
    assert not any(f.severity is Severity.HIGH for f in result.findings)


# -- EV20 ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ev20_totals_match_the_dataset(org: CollectedOrg,
                                       con: duckdb.DuckDBPyConnection) -> None:
    result = run(org, con, "agent_activity")
    totals = {"commits": 0, "pull_requests": 0, "code_sessions": 0, "cowork_sessions": 0,
              "tool_accepted": 0, "tool_rejected": 0}
    for path in sorted((org.dataset / "analytics" / "users").glob("*.jsonl.gz")):
        if date.fromisoformat(path.name[:10]) not in period_days(org):
            continue
        for row in jsonl(path):
            core = row["claude_code_metrics"]["core_metrics"]
            totals["commits"] += core["commit_count"]
            totals["pull_requests"] += core["pull_request_count"]
            totals["code_sessions"] += core["distinct_session_count"] or 0
            totals["cowork_sessions"] += row["cowork_metrics"]["distinct_session_count"]
            for action in row["claude_code_metrics"]["tool_actions"].values():
                totals["tool_accepted"] += action["accepted_count"]
                totals["tool_rejected"] += action["rejected_count"]
    assert {k: result.metrics[k] for k in totals} == totals
    tools = tab(result, "tool_actions")
    assert sum(column(tools, "accepted")) == totals["tool_accepted"]
    assert {f.severity for f in result.findings} <= {Severity.INFO, Severity.LOW}


# -- helpers ---------------------------------------------------------------------------------------


def test_of_types_quotes_and_handles_empty() -> None:
    assert of_types([]) == "(SELECT * FROM activities WHERE FALSE)"
    assert "type = 'it''s'" in of_types(["it's"])
    assert of_types(["b", "a"], present=["a"]) == "(SELECT * FROM activities WHERE type = 'a')"
