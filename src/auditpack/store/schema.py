"""The evidence database schema and how each archived response maps onto it.

Extraction uses TRY_CAST throughout: a field of an unexpected type becomes NULL in its column
while the whole record stays intact in `raw`, so new or odd API data never stops collection.
"""

from __future__ import annotations

# Columns that say when or by which run something was fetched; left out of fingerprints.
VOLATILE = frozenset({"seq", "fetched_at", "request_id", "last_request_id", "run_id",
                      "taken_at"})

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS ingest_state (seq BIGINT);
CREATE TABLE IF NOT EXISTS responses (
    seq BIGINT, api VARCHAR, endpoint VARCHAR, path VARCHAR, ids JSON, params JSON,
    status INTEGER, sha256 VARCHAR, size BIGINT, fetched_at TIMESTAMPTZ, request_id VARCHAR,
    run_id VARCHAR);
CREATE TABLE IF NOT EXISTS activities (
    id VARCHAR, created_at TIMESTAMPTZ, type VARCHAR, organization_id VARCHAR,
    organization_uuid VARCHAR, actor_type VARCHAR, actor_user_id VARCHAR, actor_email VARCHAR,
    actor_ip VARCHAR, actor_user_agent VARCHAR, raw JSON, page_sha256 VARCHAR);
CREATE TABLE IF NOT EXISTS feed_windows (
    lower TIMESTAMPTZ, upper TIMESTAMPTZ, start_cursor VARCHAR, end_cursor VARCHAR,
    pages INTEGER, records BIGINT, last_request_id VARCHAR, run_id VARCHAR);
CREATE TABLE IF NOT EXISTS gaps (
    source VARCHAR, report VARCHAR, day DATE, reason VARCHAR, detail VARCHAR, as_of TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS analytics_days (
    report VARCHAR, day DATE, as_of TIMESTAMPTZ, pages INTEGER);
CREATE TABLE IF NOT EXISTS an_summaries (
    day DATE, daily_active_users BIGINT, weekly_active_users BIGINT, monthly_active_users BIGINT,
    assigned_seats BIGINT, pending_invites BIGINT, raw JSON, page_sha256 VARCHAR);
CREATE TABLE IF NOT EXISTS an_users (
    day DATE, user_id VARCHAR, email VARCHAR, messages BIGINT, conversations BIGINT,
    files_uploaded BIGINT, code_sessions BIGINT, connectors_used BIGINT, raw JSON,
    page_sha256 VARCHAR);
CREATE TABLE IF NOT EXISTS an_projects (
    day DATE, project_id VARCHAR, project_name VARCHAR, distinct_users BIGINT, messages BIGINT,
    created_by VARCHAR, raw JSON, page_sha256 VARCHAR);
CREATE TABLE IF NOT EXISTS an_skills (
    day DATE, skill_name VARCHAR, distinct_users BIGINT, raw JSON, page_sha256 VARCHAR);
CREATE TABLE IF NOT EXISTS an_connectors (
    day DATE, connector_name VARCHAR, distinct_users BIGINT, raw JSON, page_sha256 VARCHAR);
CREATE TABLE IF NOT EXISTS an_user_usage (
    day DATE, user_id VARCHAR, email VARCHAR, total_tokens BIGINT, requests BIGINT, raw JSON,
    page_sha256 VARCHAR);
CREATE TABLE IF NOT EXISTS an_user_cost (
    day DATE, user_id VARCHAR, email VARCHAR, amount_cents DECIMAL(24, 6),
    list_amount_cents DECIMAL(24, 6), currency VARCHAR, raw JSON, page_sha256 VARCHAR);
CREATE TABLE IF NOT EXISTS dir_snapshots (snapshot_id VARCHAR, first_as_of TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS dir_observations (snapshot_id VARCHAR, taken_at TIMESTAMPTZ, as_of TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS dir_organizations (
    snapshot_id VARCHAR, org_uuid VARCHAR, name VARCHAR, created_at TIMESTAMPTZ, raw JSON,
    page_sha256 VARCHAR);
CREATE TABLE IF NOT EXISTS dir_users (
    snapshot_id VARCHAR, org_uuid VARCHAR, user_id VARCHAR, email VARCHAR, full_name VARCHAR,
    organization_role VARCHAR, created_at TIMESTAMPTZ, raw JSON, page_sha256 VARCHAR);
CREATE TABLE IF NOT EXISTS dir_roles (
    snapshot_id VARCHAR, org_uuid VARCHAR, role_id VARCHAR, name VARCHAR, description VARCHAR,
    raw JSON, page_sha256 VARCHAR);
CREATE TABLE IF NOT EXISTS dir_role_permissions (
    snapshot_id VARCHAR, org_uuid VARCHAR, role_id VARCHAR, action VARCHAR, resource_type VARCHAR,
    resource_id VARCHAR, raw JSON, page_sha256 VARCHAR);
CREATE TABLE IF NOT EXISTS dir_groups (
    snapshot_id VARCHAR, group_id VARCHAR, name VARCHAR, source_type VARCHAR, roles JSON,
    raw JSON, page_sha256 VARCHAR);
CREATE TABLE IF NOT EXISTS dir_group_members (
    snapshot_id VARCHAR, group_id VARCHAR, user_id VARCHAR, email VARCHAR, created_at TIMESTAMPTZ,
    raw JSON, page_sha256 VARCHAR);
CREATE TABLE IF NOT EXISTS dir_settings (
    snapshot_id VARCHAR, org_uuid VARCHAR, name VARCHAR, type VARCHAR, value JSON, raw JSON,
    page_sha256 VARCHAR);
CREATE TABLE IF NOT EXISTS dir_api_keys (
    snapshot_id VARCHAR, org_uuid VARCHAR, key_id VARCHAR, name VARCHAR, scopes JSON,
    is_active BOOLEAN, created_at TIMESTAMPTZ, created_by_id VARCHAR, expires_at TIMESTAMPTZ,
    raw JSON, page_sha256 VARCHAR);
"""

_I = "TRY_CAST({} AS BIGINT)"

# report name -> (table, SELECT list over `r` (one row) and `page_sha256`, after `day`)
ANALYTICS_TABLES: dict[str, tuple[str, str]] = {
    "users": ("an_users", ", ".join([
        "r->'user'->>'id'", "r->'user'->>'email_address'",
        _I.format("r->'chat_metrics'->>'message_count'"),
        _I.format("r->'chat_metrics'->>'distinct_conversation_count'"),
        _I.format("r->'chat_metrics'->>'distinct_files_uploaded_count'"),
        _I.format("r->'claude_code_metrics'->'core_metrics'->>'distinct_session_count'"),
        _I.format("r->'chat_metrics'->>'connectors_used_count'"),
        "r", "page_sha256"])),
    "projects": ("an_projects", ", ".join([
        "r->>'project_id'", "r->>'project_name'", _I.format("r->>'distinct_user_count'"),
        _I.format("r->>'message_count'"), "r->'created_by'->>'id'", "r", "page_sha256"])),
    "skills": ("an_skills", ", ".join([
        "r->>'skill_name'", _I.format("r->>'distinct_user_count'"), "r", "page_sha256"])),
    "connectors": ("an_connectors", ", ".join([
        "r->>'connector_name'", _I.format("r->>'distinct_user_count'"), "r", "page_sha256"])),
    "user_usage": ("an_user_usage", ", ".join([
        "r->'actor'->>'user_id'", "r->'actor'->>'email'", _I.format("r->>'total_tokens'"),
        _I.format("r->>'requests'"), "r", "page_sha256"])),
    "user_cost": ("an_user_cost", ", ".join([
        "r->'actor'->>'user_id'", "r->'actor'->>'email'",
        "TRY_CAST(r->>'amount' AS DECIMAL(24, 6))", "TRY_CAST(r->>'list_amount' AS DECIMAL(24, 6))",
        "r->>'currency'", "r", "page_sha256"])),
    # Summaries carry their own day: `starting_date` (support article) or `starting_at`.
    "summaries": ("an_summaries", ", ".join([
        "coalesce(TRY_CAST(r->>'starting_date' AS DATE), "
        "TRY_CAST(substr(r->>'starting_at', 1, 10) AS DATE)) AS day",
        _I.format("r->>'daily_active_user_count'"), _I.format("r->>'weekly_active_user_count'"),
        _I.format("r->>'monthly_active_user_count'"), _I.format("r->>'assigned_seat_count'"),
        _I.format("r->>'pending_invite_count'"), "r", "page_sha256"])),
}

_TS = "TRY_CAST(r->>'{}' AS TIMESTAMPTZ)"

# endpoint template -> [(table, SELECT list over snapshot_id, p_org_uuid, p_role_id,
#                       p_group_id, r, page_sha256), JSON array column to unnest]
DIRECTORY_TABLES: dict[str, list[tuple[str, str, str]]] = {
    "/v1/compliance/organizations": [("dir_organizations", ", ".join([
        "snapshot_id", "r->>'uuid'", "r->>'name'", _TS.format("created_at"), "r", "page_sha256"]),
        "data")],
    "/v1/compliance/organizations/{org_uuid}/users": [("dir_users", ", ".join([
        "snapshot_id", "p_org_uuid", "r->>'id'", "r->>'email'", "r->>'full_name'",
        "r->>'organization_role'", _TS.format("created_at"), "r", "page_sha256"]), "data")],
    "/v1/compliance/organizations/{org_uuid}/roles": [("dir_roles", ", ".join([
        "snapshot_id", "p_org_uuid", "r->>'id'", "r->>'name'", "r->>'description'", "r",
        "page_sha256"]), "data")],
    "/v1/compliance/organizations/{org_uuid}/roles/{role_id}/permissions": [
        ("dir_role_permissions", ", ".join([
            "snapshot_id", "p_org_uuid", "p_role_id", "r->>'action'", "r->>'resource_type'",
            "r->>'resource_id'", "r", "page_sha256"]), "data")],
    "/v1/compliance/groups": [("dir_groups", ", ".join([
        "snapshot_id", "r->>'id'", "r->>'name'", "r->>'source_type'", "r->'roles'", "r",
        "page_sha256"]), "data")],
    "/v1/compliance/groups/{group_id}/members": [("dir_group_members", ", ".join([
        "snapshot_id", "p_group_id", "r->>'user_id'", "r->>'email'", _TS.format("created_at"),
        "r", "page_sha256"]), "data")],
    "/v1/compliance/organizations/{org_uuid}/settings": [
        ("dir_settings", ", ".join([
            "snapshot_id", "p_org_uuid", "r->>'name'", "r->>'type'", "r->'value'", "r",
            "page_sha256"]), "settings"),
        ("dir_api_keys", ", ".join([
            "snapshot_id", "p_org_uuid", "r->>'id'", "r->>'name'", "r->'scopes'",
            "TRY_CAST(r->>'is_active' AS BOOLEAN)", _TS.format("created_at"),
            "r->>'created_by_id'", _TS.format("expires_at"), "r", "page_sha256"]), "api_keys"),
    ],
}
