"""Collection end to end: the real clients against the mock API over loopback sockets."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from auditpack.config import Settings
from auditpack.errors import AuthError, ResponseError, UnavailableError
from auditpack.mockapi.faults import FaultSpec
from auditpack.mockapi.server import MockApi
from auditpack.pipeline import demo_settings, run_collect, run_rebuild, run_status
from auditpack.store import Store
from tests.conftest import Org

CONTENT_PREFIX = "/v1/compliance/apps"  # chats, files, projects, artifacts, sessions


def collect_schedule(org: Org, workdir: Path, **mock_kwargs: object) -> list[MockApi]:
    """Collect the org on its schedule, like a customer running `collect` continuously."""
    served = []
    for clock in org.schedule:
        kwargs = {"rate_limit_analytics": 0, "rate_limit_compliance": 0, **mock_kwargs}
        with MockApi(org.path, now=clock, **kwargs) as api:  # type: ignore[arg-type]
            run_collect(settings_for(workdir, api.url, org), now=clock, since=org.start)
        served.append(api)
    return served


def settings_for(workdir: Path, url: str, org: Org, **api: object) -> Settings:
    settings = demo_settings(workdir, url, org.keys)
    settings.api = settings.api.model_copy(update=api)
    return settings


def query(workdir: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(workdir / "store" / "auditpack.duckdb"), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def dataset_rows(org: Org, folder: str, days: list[date]) -> int:
    total = 0
    for day in days:
        path = org.path / "analytics" / folder / f"{day}.jsonl.gz"
        if path.exists():
            with gzip.open(path, "rb") as fh:
                total += sum(1 for _ in fh)
    return total


@pytest.fixture(scope="module")
def collected(small_org: Org, tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("collected")
    collect_schedule(small_org, workdir)
    return workdir


def test_store_holds_exactly_the_dataset(small_org: Org, collected: Path) -> None:
    counts = small_org.truth.counts
    (n, distinct) = query(collected, "SELECT count(*), count(DISTINCT id) FROM activities")[0]
    assert n == distinct == counts.activities
    by_type = dict(query(collected, "SELECT type, count(*) FROM activities GROUP BY type"))
    assert by_type == counts.activities_by_type
    last = max(counts.directory)
    members = dict(query(collected, """
        SELECT org_uuid, count(*) FROM dir_users WHERE snapshot_id = (
            SELECT snapshot_id FROM dir_observations ORDER BY as_of DESC LIMIT 1)
        GROUP BY org_uuid"""))
    assert members == counts.directory[last].members
    groups = query(collected, """
        SELECT count(*) FROM dir_groups WHERE snapshot_id = (
            SELECT snapshot_id FROM dir_observations ORDER BY as_of DESC LIMIT 1)""")[0][0]
    assert groups == counts.directory[last].groups
    for report, table in (("users", "an_users"), ("projects", "an_projects"),
                          ("skills", "an_skills"), ("connectors", "an_connectors"),
                          ("user_usage", "an_user_usage"), ("user_cost", "an_user_cost")):
        days = [d for (d,) in query(collected, "SELECT day FROM analytics_days WHERE report = ?",
                                    report)]
        held = query(collected, f"SELECT count(*) FROM {table}")[0][0]
        assert held == dataset_rows(small_org, report, days), report
        # every period day is held: two scheduled runs cover the whole period
        assert set(days) >= {d for d in map(date.fromisoformat, counts.analytics[report].by_day)
                             if d <= date.fromisoformat(small_org.meta["period"]["end"])}


def test_unknown_types_and_fields_survive(small_org: Org, collected: Path) -> None:
    truth = small_org.truth
    assert truth.unknown_activity_types and truth.unknown_fields
    for unknown in truth.unknown_activity_types:
        rows = query(collected, "SELECT id, raw FROM activities WHERE type = ?", unknown.type)
        assert sorted(r[0] for r in rows) == sorted(unknown.activity_ids)
        for _, raw in rows:
            assert set(unknown.fields) <= set(json.loads(str(raw)))
    for field in (f for f in truth.unknown_fields if "activities" in f.file):
        rows = query(collected, "SELECT raw FROM activities WHERE id IN (SELECT unnest(?))",
                     field.keys)
        assert len(rows) == len(field.keys)
        assert all(field.field in json.loads(str(r[0])) for r in rows)
    status = run_status(demo_settings(collected, "http://unused", {"analytics": "a",
                                                                   "compliance": "c"}))
    assert {t for t, _ in status.unknown_types} == {u.type for u in truth.unknown_activity_types}


def test_every_endpoint_and_pagination_scheme(paged_org: Org, tmp_path: Path) -> None:
    clock = paged_org.schedule[-1]
    with MockApi(paged_org.path, now=clock, rate_limit_analytics=0,
                 rate_limit_compliance=0) as api:
        outcome = run_collect(settings_for(tmp_path, api.url, paged_org), now=clock,
                              since=paged_org.start)
        requests = api.requests
    paths = {r.path for r in requests}
    for suffix in ("/analytics/users", "/analytics/summaries", "/analytics/apps/chat/projects",
                   "/analytics/skills", "/analytics/connectors", "/analytics/user_usage_report",
                   "/analytics/user_cost_report", "/compliance/activities",
                   "/compliance/organizations", "/compliance/groups"):
        assert any(p.endswith(suffix) for p in paths), suffix
    for fragment in ("/users", "/roles", "/permissions", "/settings", "/members"):
        assert any(fragment in p for p in paths), fragment
    # page-token pagination was followed (analytics users > 1000 on a day; org users > 1000)
    assert any("page" in r.query for r in requests if r.path.endswith("/analytics/users"))
    assert any("page" in r.query for r in requests if r.path.endswith("/users")
               and "/compliance/" in r.path)
    # cursor pagination on the feed: after_id chains, at the documented maximum page size
    feed = [r for r in requests if r.path.endswith("/activities")]
    assert len(feed) == -(-paged_org.truth.counts.activities // 5000)
    assert all(r.query["limit"] == ["5000"] for r in feed)
    assert sum("after_id" in r.query for r in feed) == len(feed) - 1
    assert all(r.query.get("limit") == ["1000"] for r in requests
               if "limit" in r.query and not r.path.endswith("/activities"))
    assert not [r.path for r in requests if r.path.startswith(CONTENT_PREFIX)]
    assert all(r.status == 200 for r in requests)
    assert outcome.retries == {"analytics": 0, "compliance": 0}
    (n,) = query(tmp_path, "SELECT count(DISTINCT id) FROM activities")[0]
    assert n == paged_org.truth.counts.activities


def test_faults_are_retried_and_nothing_is_lost(small_org: Org, collected: Path,
                                                tmp_path: Path) -> None:
    faults = FaultSpec.parse("5xx=0.15,drop=0.05,malformed=0.05,truncate=0.05,expire=0.05,"
                             "seed=3")
    served = collect_schedule(small_org, tmp_path, faults=faults)
    statuses = [r.status for api in served for r in api.requests]
    assert {500, 502, 503, 529} & set(statuses)
    assert any(r.fault for api in served for r in api.requests)
    assert Store(tmp_path / "store").fingerprint()["tables"] == \
        Store(collected / "store").fingerprint()["tables"]


def test_rate_limit_429_is_honoured(small_org: Org, tmp_path: Path) -> None:
    clock = small_org.schedule[0]
    # A budget of 15 requests per 2 s; the client is told nothing and must obey retry-after.
    with MockApi(small_org.path, now=clock, rate_limit_analytics=15, rate_limit_compliance=15,
                 rate_window_seconds=2.0) as api:
        outcome = run_collect(settings_for(tmp_path, api.url, small_org), now=clock,
                              since=small_org.start)
        statuses = [r.status for r in api.requests]
    assert 429 in statuses
    assert outcome.result.status == "completed"
    (n,) = query(tmp_path, "SELECT count(*) FROM activities")[0]
    expected = sum(1 for line in gzip.open(small_org.path / "compliance/activities.jsonl.gz")
                   if json.loads(line)["created_at"] < clock.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert n == expected


def test_paced_client_never_exceeds_the_budget(small_org: Org, tmp_path: Path) -> None:
    clock = small_org.schedule[0]
    with MockApi(small_org.path, now=clock, rate_limit_analytics=1200,
                 rate_limit_compliance=1200) as api:
        settings = settings_for(tmp_path, api.url, small_org)
        settings.analytics.rate_limit_per_minute = 1200
        settings.compliance.rate_limit_per_minute = 1200
        run_collect(settings, now=clock, since=small_org.start)
        assert 429 not in {r.status for r in api.requests}


def test_rebuild_reproduces_the_database(collected: Path) -> None:
    settings = demo_settings(collected, "http://unused", {"analytics": "a", "compliance": "c"})
    before = Store(collected / "store").fingerprint()
    outcome = run_rebuild(settings)
    assert outcome.identical is True
    assert outcome.records > 0
    assert Store(collected / "store").fingerprint() == before


def test_second_run_fetches_only_revisable_days(small_org: Org, tmp_path: Path) -> None:
    clock = small_org.schedule[-1]
    with MockApi(small_org.path, now=clock, rate_limit_analytics=0,
                 rate_limit_compliance=0) as api:
        settings = settings_for(tmp_path, api.url, small_org)
        first = run_collect(settings, now=clock, since=small_org.start)
        again = run_collect(settings, now=clock, since=small_org.start)
    assert first.requests["analytics"] > 0
    assert again.requests["analytics"] == 0  # same clock day: nothing may have been revised
    assert again.result.tallies["compliance"].new_pages <= 2  # only the overlap re-read


@pytest.mark.parametrize(("setup", "error", "message"), [
    ({"faults": "malformed=1.0,seed=1"}, ResponseError, "not valid JSON"),
    ({"faults": "truncate=1.0,seed=1"}, UnavailableError, "connection failed"),
    ({"key": "wrong"}, AuthError, "AUDITPACK_"),
    ({"url": "http://127.0.0.1:9"}, UnavailableError, "giving up"),
])
def test_bad_responses_fail_clearly_and_leave_the_store(
        small_org: Org, collected: Path, tmp_path: Path, setup: dict[str, str],
        error: type[Exception], message: str) -> None:
    import shutil

    shutil.copytree(collected / "store", tmp_path / "store")
    before = Store(tmp_path / "store").fingerprint()
    later = small_org.schedule[-1]
    faults = FaultSpec.parse(setup["faults"]) if "faults" in setup else None
    with MockApi(small_org.path, now=later, rate_limit_analytics=0, rate_limit_compliance=0,
                 faults=faults) as api:
        keys = small_org.keys if "key" not in setup else {"analytics": "x", "compliance": "y"}
        settings = demo_settings(tmp_path, setup.get("url", api.url), keys)
        settings.api.max_retries = 1
        with pytest.raises(error, match=message) as info:
            run_collect(settings, now=later, since=small_org.start)
    assert "\n" not in info.value.one_line()  # type: ignore[attr-defined]
    for secret in (*small_org.keys.values(), "x", "y"):
        if len(secret) > 3:
            assert secret not in info.value.one_line()  # type: ignore[attr-defined]
    after = Store(tmp_path / "store").fingerprint()
    assert after == before


def test_older_summaries_envelope_is_read(small_org: Org, tmp_path: Path) -> None:
    import shutil

    dataset = tmp_path / "dataset"
    shutil.copytree(small_org.path, dataset)
    meta = json.loads((dataset / "dataset.json").read_text())
    meta["analytics"]["summaries_envelope"] = "summaries"
    (dataset / "dataset.json").write_text(json.dumps(meta))
    clock = small_org.schedule[-1]
    with MockApi(dataset, now=clock, rate_limit_analytics=0, rate_limit_compliance=0) as api:
        run_collect(settings_for(tmp_path, api.url, small_org), now=clock, source="analytics",
                    since=small_org.start)
        bodies = [r for r in api.requests if r.path.endswith("/summaries")]
    assert bodies
    (n,) = query(tmp_path, "SELECT count(*) FROM an_summaries")[0]
    assert n == small_org.truth.counts.analytics["summaries"].total


def test_cli_wrong_keys_exit_non_zero_with_one_line(small_org: Org, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from auditpack.cli import main

    clock = small_org.meta["collection_schedule"][-1]
    with MockApi(small_org.path, rate_limit_analytics=0, rate_limit_compliance=0) as api:
        cfg = tmp_path / "auditpack.toml"
        cfg.write_text(f'[store]\npath = "store"\n[api]\nbase_url = "{api.url}"\n'
                       "max_retries = 0\n", encoding="utf-8")
        for source, var, scope in (("analytics", "AUDITPACK_ANALYTICS_KEY", "read:analytics"),
                                   ("compliance", "AUDITPACK_COMPLIANCE_KEY",
                                    "read:compliance_org_data")):
            monkeypatch.setenv(var, "sk-ant-api01-NOT-THE-RIGHT-KEY")
            code = main(["collect", "--config", str(cfg), "--now", clock, "--source", source])
            err = capsys.readouterr().err
            assert code == 3
            assert len(err.strip().splitlines()) == 1
            assert var in err and scope in err
            assert "NOT-THE-RIGHT-KEY" not in err
        monkeypatch.delenv("AUDITPACK_ANALYTICS_KEY")
        assert main(["collect", "--config", str(cfg), "--source", "analytics"]) == 3
        assert "no analytics API key: set AUDITPACK_ANALYTICS_KEY" in capsys.readouterr().err
