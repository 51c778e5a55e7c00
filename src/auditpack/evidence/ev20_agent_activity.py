"""EV20 `agent_activity`: the record of agentic use and its human oversight.

From the Analytics users report (A1): per user, Claude Code sessions, commits, pull requests,
lines changed and tool proposals accepted or rejected (the human-in-the-loop signal), and
Cowork sessions, messages and actions. From the activity feed: agent events (Claude Code,
Cowork, remote agents, platform agents) per type and per user. From the directory snapshot
and the feed: settings that let agents act without asking (a low note each).

Only info and low findings: the item records oversight; it gives no verdict.
"""

from __future__ import annotations

from typing import Any

from auditpack.evidence._common import (
    analytics_gap,
    coverage_of,
    insufficient,
    lineage,
)
from auditpack.evidence._operations import (
    analytics_pages,
    feed_reason,
    is_agent_type,
    of_types,
    pct,
    period_bounds,
    period_days,
    present_types,
    relevance_of,
    table,
    type_pages,
    utc,
)
from auditpack.evidence.interface import (
    Coverage,
    EvidenceContext,
    EvidenceItem,
    EvidenceResult,
    Finding,
    Severity,
    Status,
    Table,
    make_finding,
)

_TOOLS = ("edit_tool", "multi_edit_tool", "write_tool", "notebook_edit_tool")

# JSON paths read from each users-report row in ONE extraction (one parse per row, not one per
# field: this is what keeps a quarter of 100,000 seats affordable).
_PATHS = (
    "$.claude_code_metrics.core_metrics.commit_count",
    "$.claude_code_metrics.core_metrics.pull_request_count",
    "$.claude_code_metrics.core_metrics.lines_of_code.added_count",
    "$.claude_code_metrics.core_metrics.lines_of_code.removed_count",
    "$.cowork_metrics.distinct_session_count",
    "$.cowork_metrics.message_count",
    "$.cowork_metrics.action_count",
    "$.cowork_metrics.dispatch_turn_count",
    *(f"$.claude_code_metrics.tool_actions.{t}.{o}_count" for t in _TOOLS
      for o in ("accepted", "rejected")),
)
_TOOL_BASE = 9  # 1-based index in _PATHS of the first tool count


def _n(i: int) -> str:
    """Sum over the day rows of the i-th extracted JSON value (1-based)."""
    return f"coalesce(sum(TRY_CAST(v[{i}] AS BIGINT)), 0)"


_ACCEPTED = " + ".join(_n(_TOOL_BASE + 2 * k) for k in range(len(_TOOLS)))
_REJECTED = " + ".join(_n(_TOOL_BASE + 2 * k + 1) for k in range(len(_TOOLS)))
_PER_TOOL = ", ".join(f"{_n(_TOOL_BASE + k)} AS t{k}" for k in range(2 * len(_TOOLS)))

# Per user over the period; users with no agentic use at all are left out. Columns after the
# table's: the per-tool accepted/rejected counts, for the tool_actions table.
_PER_USER = f"""
SELECT * FROM (
    SELECT user_id, max(email) AS email,
           coalesce(sum(code_sessions), 0) AS code_sessions,
           {_n(1)} AS commits, {_n(2)} AS pull_requests, {_n(3)} AS lines_added,
           {_n(4)} AS lines_removed, {_ACCEPTED} AS tool_accepted, {_REJECTED} AS tool_rejected,
           {_n(5)} AS cowork_sessions, {_n(6)} AS cowork_messages, {_n(7)} AS cowork_actions,
           {_n(8)} AS cowork_dispatch_turns, {_PER_TOOL}
    FROM (SELECT user_id, email, code_sessions,
                 json_extract_string(raw, [{", ".join(f"'{p}'" for p in _PATHS)}]) AS v
          FROM an_users WHERE day BETWEEN ? AND ? AND user_id IS NOT NULL)
    GROUP BY user_id)
WHERE code_sessions + commits + pull_requests + tool_accepted + tool_rejected
      + cowork_sessions + cowork_messages + cowork_actions > 0
ORDER BY code_sessions + cowork_sessions DESC, user_id
"""

_USER_COLUMNS = [("user_id", "str"), ("email", "str"), ("code_sessions", "int"),
                 ("commits", "int"), ("pull_requests", "int"), ("lines_added", "int"),
                 ("lines_removed", "int"), ("tool_accepted", "int"), ("tool_rejected", "int"),
                 ("cowork_sessions", "int"), ("cowork_messages", "int"),
                 ("cowork_actions", "int"), ("cowork_dispatch_turns", "int")]

# Effective settings that let agents act without a person approving each action.
_OVERSIGHT_SETTINGS = {
    "claude_code_desktop_bypass_permissions_enabled": "Claude Code desktop may bypass "
                                                      "permission prompts",
    "connector_tools_default_always_allow": "connector tools are always allowed by default",
}
# Feed events that switch such a mode on.
_OVERSIGHT_EVENTS = {
    "org_cowork_act_without_asking_mode_enabled": "Cowork may act without asking",
    "org_cowork_auto_mode_enabled": "Cowork auto mode was enabled",
    "org_cowork_mcp_always_allow_enabled": "Cowork MCP tools are always allowed",
}


class AgentActivity(EvidenceItem):
    """EV20: agentic sessions, outcomes and oversight settings."""

    id = "EV20"
    key = "agent_activity"
    title = "Agentic activity & oversight record"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """Per-user agent use, tool outcomes, agent events and oversight notes."""
        users_ok = analytics_gap(ctx, "users") is None
        feed_ok = feed_reason(ctx) is None
        if not users_ok and not feed_ok:
            reasons = [analytics_gap(ctx, "users"), feed_reason(ctx)]
            return insufficient(self, "; ".join(r for r in reasons if r))
        tables: list[Table] = []
        metrics: dict[str, int | float | str | None] = {}
        findings: list[Finding] = []
        limitations = list(_LIMITATIONS)
        pages: list[str] = []
        if users_ok:
            users, tools = _per_user(ctx)
            tables += [users, tools]
            metrics.update(_usage_metrics(users))
            pages += analytics_pages(ctx, ["an_users"])
        else:
            limitations.append("The Analytics users report is not held for the whole period: "
                               "sessions, commits, pull requests and tool outcomes are missing.")
        if feed_ok:
            by_type, by_user = _events(ctx)
            tables += [by_type, by_user]
            metrics["agent_events"] = sum(int(r[2]) for r in by_type.rows)
            metrics["agent_event_types"] = len(by_type.rows)
            metrics["agent_event_users"] = len({r[0] for r in by_user.rows if r[0]})
            findings += self._mode_events(ctx)
            pages += type_pages(ctx, of_types(r[0] for r in by_type.rows))
        else:
            limitations.append("The activity feed does not cover the period: agent events and "
                               "oversight-setting changes are missing.")
        if ctx.holdings.snapshot_id is not None:
            findings += self._settings(ctx)
        sources = [s for s, ok in (("analytics", users_ok), ("compliance", feed_ok)) if ok]
        return EvidenceResult(
            self.id, self.key, self.title, Status.EFFECTIVE,
            coverage_of(users_ok, feed_ok, analytics_level=Coverage.PARTIAL,
                        compliance_level=Coverage.FULL, combined_level=Coverage.FULL),
            metrics=metrics, tables=tables, findings=findings,
            lineage=lineage(ctx, pages, sources), method=_METHOD, limitations=limitations)

    def _settings(self, ctx: EvidenceContext) -> list[Finding]:
        """Low: an effective setting lets agents act without per-action approval."""
        rows = ctx.con.execute("""
            SELECT DISTINCT s.org_uuid, s.name, s.page_sha256 FROM dir_settings s
            WHERE s.snapshot_id = ? AND list_contains(?::VARCHAR[], s.name)
              AND TRY_CAST(s.value::VARCHAR AS BOOLEAN)
            ORDER BY 1, 2""",
            [ctx.holdings.snapshot_id, sorted(_OVERSIGHT_SETTINGS)]).fetchall()
        return [make_finding(
            self.key, "oversight_setting", Severity.LOW,
            f"{_OVERSIGHT_SETTINGS[name].capitalize()} ({name})",
            {"setting": name, "org_uuid": org}, None,
            f"The effective setting {name} is on for organisation {org}: agents can act "
            "without a person approving each action. Confirm this is intended and documented "
            "(EU AI Act Art. 14 human oversight, Art. 26 deployer duties).",
            [f"sha256:{page}"]) for org, name, page in rows]

    def _mode_events(self, ctx: EvidenceContext) -> list[Finding]:
        """Low: someone switched an act-without-asking mode on during the period."""
        rows = ctx.con.execute(f"""
            SELECT created_at, type, actor_user_id, actor_email, id
            FROM {of_types(_OVERSIGHT_EVENTS)} WHERE created_at >= ? AND created_at < ?
            ORDER BY created_at, id""", period_bounds(ctx)).fetchall()
        return [make_finding(
            self.key, "oversight_mode_enabled", Severity.LOW,
            f"{_OVERSIGHT_EVENTS[kind]} ({email or user or 'unknown actor'})",
            {"setting": kind, "user_id": user, "email": email}, utc(when),
            f"{kind} at {utc(when):%Y-%m-%d %H:%M} UTC: agents may act without per-action "
            "approval from then on.", [activity])
            for when, kind, user, email, activity in rows]


def _per_user(ctx: EvidenceContext) -> tuple[Table, Table]:
    """Agent use per user, and tool proposals accepted/rejected per tool, in one pass."""
    rows = ctx.con.execute(_PER_USER, list(period_days(ctx))).fetchall()
    width = len(_USER_COLUMNS)
    users = table("agent_use_by_user", "Claude Code and Cowork use per user (Analytics)",
                  _USER_COLUMNS, [r[:width] for r in rows])
    tools = []
    for k, tool in enumerate(_TOOLS):
        accepted = sum(int(r[width + 2 * k]) for r in rows)
        rejected = sum(int(r[width + 2 * k + 1]) for r in rows)
        tools.append((tool, accepted, rejected, pct(accepted, accepted + rejected)))
    return users, table("tool_actions", "Claude Code tool proposals accepted and rejected by "
                        "people", [("tool", "str"), ("accepted", "int"), ("rejected", "int"),
                                   ("acceptance_pct", "float")], tools)


def _usage_metrics(users: Table) -> dict[str, int | float | str | None]:
    """Period totals from the per-user table."""
    def total(column: int) -> int:
        """Sum of one column of the per-user table."""
        return sum(int(r[column] or 0) for r in users.rows)

    accepted, rejected = total(7), total(8)
    return {
        "claude_code_users": sum(1 for r in users.rows if (r[2] or 0) > 0),
        "cowork_users": sum(1 for r in users.rows if (r[9] or 0) > 0 or (r[10] or 0) > 0),
        "code_sessions": total(2), "commits": total(3), "pull_requests": total(4),
        "lines_added": total(5), "lines_removed": total(6),
        "tool_accepted": accepted, "tool_rejected": rejected,
        "tool_acceptance_pct": pct(accepted, accepted + rejected),
        "cowork_sessions": total(9), "cowork_messages": total(10), "cowork_actions": total(11),
    }


def _events(ctx: EvidenceContext) -> tuple[Table, Table]:
    """Agent events of the feed per type and per user.

    The period's types are listed first (one GROUP BY) and matched to the agent catalog in
    Python, so the event scan filters on a short literal list.
    """
    agent = of_types(t for t in present_types(ctx) if is_agent_type(t))
    by_type = ctx.con.execute(f"""
        SELECT type, count(DISTINCT actor_user_id), count(*), min(created_at), max(created_at)
        FROM {agent} WHERE created_at >= ? AND created_at < ?
        GROUP BY type ORDER BY count(*) DESC, type""", period_bounds(ctx)).fetchall()
    by_user = ctx.con.execute(f"""
        SELECT actor_user_id, max(actor_email), count(*), count(DISTINCT type),
               min(created_at), max(created_at)
        FROM {agent} WHERE created_at >= ? AND created_at < ?
        GROUP BY actor_user_id ORDER BY count(*) DESC, actor_user_id NULLS LAST""",
        period_bounds(ctx)).fetchall()
    types = table("agent_events_by_type", "Agent events in the activity feed, per type",
                  [("type", "str"), ("relevance", "str"), ("events", "int"), ("users", "int"),
                   ("first", "datetime"), ("last", "datetime")],
                  [(r[0], relevance_of(r[0]), int(r[2]), int(r[1]), utc(r[3]), utc(r[4]))
                   for r in by_type])
    users = table("agent_events_by_user", "Agent events in the activity feed, per user",
                  [("user_id", "str"), ("email", "str"), ("events", "int"), ("types", "int"),
                   ("first", "datetime"), ("last", "datetime")],
                  [(r[0], r[1], int(r[2]), int(r[3]), utc(r[4]), utc(r[5])) for r in by_user])
    return types, users


_METHOD = (
    "Per user, the period's days of the Analytics users report are summed: Claude Code sessions, "
    "commits, pull requests, lines added and removed, and tool proposals (edit, multi-edit, write, "
    "notebook edit) accepted or rejected by the person; Cowork sessions, messages, actions and "
    "dispatch turns. Agent events are feed activities of the catalog's 'Claude Code, Cowork & "
    "agents' category or named claude_code_*, cowork_*, ccr_*, platform_agent_*, org_cowork_*, "
    "org_claude_code_*. Effective settings and feed events that let agents act without asking are "
    "noted for the oversight record.")

_LIMITATIONS: list[Any] = [
    "Claude Code used through Amazon Bedrock, Google Cloud or a Console API key is not in the "
    "Analytics API; local sessions of zero-data-retention or HIPAA-readiness orgs are not in the "
    "Compliance API.",
    "Session transcripts (what agents did, step by step) are available from the Compliance API's "
    "session endpoints and are not collected by auditpack; counts here are daily aggregates.",
]


ITEM = AgentActivity()
