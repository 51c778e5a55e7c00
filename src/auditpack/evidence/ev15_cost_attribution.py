"""EV15 `cost_attribution`: usage and spend per user, group, project and cost centre.

Spend comes from the Analytics per-user cost report (A7): amounts are cents as decimal strings
and are summed as DECIMAL in DuckDB and handed on as `Decimal`, never as binary floats. The
cost-centre map (`policy.cost_centres`) keys are group ids or e-mail domains; a user matching
a mapped group is charged to that group's centre (the more specific rule), otherwise to the
centre of their e-mail domain, otherwise to `unassigned`. Only info and low findings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from auditpack.evidence._common import analytics_gap, coverage_of, insufficient, lineage
from auditpack.evidence._operations import (
    analytics_pages,
    cents,
    held_days,
    pct,
    period_days,
    table,
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

UNASSIGNED = "unassigned"

# One row per user who had spend or usage in the period, with the cost centre chosen for them.
# Parameters: period (cost), period (usage), snapshot, centre keys, centre names, snapshot.
_PER_USER = """
WITH cost AS (
    SELECT user_id, max(email) AS email, string_agg(DISTINCT currency, ',' ORDER BY currency)
               AS currency,
           sum(amount_cents) AS cost, sum(list_amount_cents) AS list_cost,
           count(DISTINCT day) AS days, sum(TRY_CAST(raw->>'requests' AS BIGINT)) AS requests
    FROM an_user_cost WHERE day BETWEEN ? AND ? GROUP BY user_id),
usage AS (
    SELECT user_id, max(email) AS email, sum(total_tokens) AS tokens, sum(requests) AS requests
    FROM an_user_usage WHERE day BETWEEN ? AND ? GROUP BY user_id),
people AS (SELECT user_id, max(email) AS email FROM dir_users WHERE snapshot_id = ?
           GROUP BY user_id),
centres AS (SELECT unnest(?::VARCHAR[]) AS k, unnest(?::VARCHAR[]) AS centre),
by_group AS (
    SELECT m.user_id, arg_min(c.centre, m.group_id) AS centre, min(m.group_id) AS group_id,
           count(DISTINCT c.centre) AS centres
    FROM dir_group_members m JOIN centres c ON c.k = m.group_id
    WHERE m.snapshot_id = ? GROUP BY m.user_id),
base AS (
    SELECT coalesce(c.user_id, u.user_id) AS user_id,
           coalesce(c.email, u.email, p.email) AS email, c.currency, c.days,
           coalesce(c.requests, u.requests) AS requests, u.tokens,
           coalesce(c.cost, 0) AS cost, coalesce(c.list_cost, 0) AS list_cost
    FROM cost c FULL OUTER JOIN usage u ON u.user_id = c.user_id
    LEFT JOIN people p ON p.user_id = coalesce(c.user_id, u.user_id))
SELECT b.user_id, b.email,
       coalesce(g.centre, d.centre, 'unassigned') AS cost_centre,
       CASE WHEN g.centre IS NOT NULL THEN 'group:' || g.group_id
            WHEN d.centre IS NOT NULL THEN 'domain:' || d.k ELSE 'unmapped' END AS basis,
       coalesce(g.centres, 0) > 1 AS ambiguous,
       coalesce(b.days, 0) AS days, b.requests, b.tokens, b.cost, b.list_cost, b.currency
FROM base b
LEFT JOIN by_group g ON g.user_id = b.user_id
LEFT JOIN centres d ON lower(d.k) = lower(split_part(b.email, '@', 2))
ORDER BY b.cost DESC, b.user_id
"""

_USER_COLUMNS = [("user_id", "str"), ("email", "str"), ("cost_centre", "str"), ("basis", "str"),
                 ("ambiguous", "bool"), ("days_with_spend", "int"), ("requests", "int"),
                 ("total_tokens", "int"), ("cost_cents", "decimal"),
                 ("list_cost_cents", "decimal"), ("currency", "str")]


class CostAttribution(EvidenceItem):
    """EV15: who and what the period's spend belongs to."""

    id = "EV15"
    key = "cost_attribution"
    title = "Cost attribution & chargeback"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """Per-user, per-centre, per-group and per-project tables with Decimal totals."""
        gap = analytics_gap(ctx, "user_cost")
        if gap is not None:
            # The Compliance API holds no spend: coverage is none without Analytics cost.
            return insufficient(self, gap, Coverage.NONE)
        users = self._per_user(ctx)
        currencies = sorted({c for u in users for c in (u[10] or "").split(",") if c})
        total = sum((u[8] for u in users), Decimal(0))
        list_total = sum((u[9] for u in users), Decimal(0))
        centres = _by_centre(users, total)
        tables = [table("cost_by_user", "Usage and spend per user", _USER_COLUMNS, users),
                  centres]
        if ctx.holdings.snapshot_id is not None:
            tables.append(_by_group(ctx))
        limitations = list(_LIMITATIONS)
        if ctx.holdings.has_analytics("projects") and analytics_gap(ctx, "projects") is None:
            tables.append(_by_project(ctx))
        else:
            limitations.append("Project usage is missing: the Analytics projects report is not "
                               "held for the whole period.")
        unassigned = sum((u[8] for u in users if u[2] == UNASSIGNED), Decimal(0))
        metrics: dict[str, int | float | str | None] = {
            "total_cost_cents": cents(total) if len(currencies) <= 1 else None,
            "total_list_cost_cents": cents(list_total) if len(currencies) <= 1 else None,
            "currency": ",".join(currencies) or None,
            "cost_days_held": held_days(ctx, "user_cost"),
            "users_with_spend": sum(1 for u in users if u[8] > 0),
            "total_tokens": sum(int(u[7] or 0) for u in users),
            "total_requests": sum(int(u[6] or 0) for u in users),
            "cost_centres": len({u[2] for u in users if u[2] != UNASSIGNED}),
            "unassigned_cost_cents": cents(unassigned) if len(currencies) <= 1 else None,
            "unassigned_users": sum(1 for u in users if u[2] == UNASSIGNED),
            "ambiguous_users": sum(1 for u in users if u[4]),
        }
        if len(currencies) > 1:
            limitations.append(f"Spend is reported in several currencies ({', '.join(currencies)}"
                               "): totals are given per cost centre and currency only.")
        findings = self._findings(ctx, users, unassigned)
        pages = analytics_pages(ctx, ["an_user_cost", "an_user_usage", "an_projects"])
        return EvidenceResult(
            self.id, self.key, self.title, Status.EFFECTIVE,
            coverage_of(True, ctx.holdings.has_compliance, analytics_level=Coverage.FULL,
                        compliance_level=Coverage.NONE, combined_level=Coverage.FULL),
            metrics=metrics, tables=tables, charts={"cost_series": _series(ctx)},
            findings=findings, lineage=lineage(ctx, pages, ["analytics"]), method=_METHOD,
            limitations=limitations)

    def _per_user(self, ctx: EvidenceContext) -> list[tuple[Any, ...]]:
        """Usage and spend per user with the cost centre each is charged to."""
        mapping = ctx.policy.cost_centres
        keys = sorted(mapping)
        first, last = period_days(ctx)
        snap = ctx.holdings.snapshot_id
        rows = ctx.con.execute(_PER_USER, [first, last, first, last, snap, keys,
                                           [mapping[k] for k in keys], snap]).fetchall()
        return [tuple(r) for r in rows]

    def _findings(self, ctx: EvidenceContext, users: list[tuple[Any, ...]],
                  unassigned: Decimal) -> list[Finding]:
        """Info when no map is configured; low when mapped spend leaves users unassigned."""
        out: list[Finding] = []
        spenders = [u for u in users if u[8] > 0 and u[2] == UNASSIGNED]
        if not ctx.policy.cost_centres:
            out.append(make_finding(
                self.key, "no_cost_centre_map", Severity.INFO,
                "No cost-centre mapping is configured: all spend is unassigned",
                {"cost_centre": UNASSIGNED}, None,
                "Set [policy.cost_centres] (group id or e-mail domain → centre) to charge spend "
                f"back; {len(spenders)} users with spend are reported as unassigned.", []))
        elif spenders:
            out.append(make_finding(
                self.key, "unassigned_spend", Severity.LOW,
                f"Spend of {len(spenders)} users is not attributed to a cost centre",
                {"cost_centre": UNASSIGNED}, None,
                f"{cents(unassigned)} cents of spend in {ctx.period.label()} belong to users "
                "whose groups and e-mail domain match no entry of the cost-centre map.", []))
        ambiguous = [u for u in users if u[4]]
        if ambiguous:
            out.append(make_finding(
                self.key, "ambiguous_cost_centre", Severity.INFO,
                f"{len(ambiguous)} users belong to groups mapped to different cost centres",
                {"cost_centre": "ambiguous"}, None,
                "Each was charged to the centre of their mapped group with the lowest group id; "
                "see the basis column of cost_by_user.", []))
        return out


def _by_centre(users: list[tuple[Any, ...]], total: Decimal) -> Table:
    """Totals per cost centre and currency, in Decimal cents, largest first."""
    sums: dict[tuple[str, str], list[Any]] = {}
    for u in users:
        key = (u[2], u[10] or "")
        acc = sums.setdefault(key, [0, Decimal(0), Decimal(0), 0])
        acc[0] += 1
        acc[1] += u[8]
        acc[2] += u[9]
        acc[3] += int(u[7] or 0)
    rows = [(centre, currency, n, cost, list_cost, tokens, pct(cost, total))
            for (centre, currency), (n, cost, list_cost, tokens) in sums.items()]
    rows.sort(key=lambda r: (-r[3], r[0], r[1]))
    return table("cost_by_centre", "Spend per cost centre",
                 [("cost_centre", "str"), ("currency", "str"), ("users", "int"),
                  ("cost_cents", "decimal"), ("list_cost_cents", "decimal"),
                  ("total_tokens", "int"), ("share_pct", "float")], rows)


def _by_group(ctx: EvidenceContext) -> Table:
    """Spend per group of the directory snapshot (a user in several groups counts in each)."""
    first, last = period_days(ctx)
    rows = ctx.con.execute("""
        WITH cost AS (SELECT user_id, sum(amount_cents) AS cost FROM an_user_cost
                      WHERE day BETWEEN ? AND ? GROUP BY user_id),
        m AS (SELECT DISTINCT group_id, user_id FROM dir_group_members WHERE snapshot_id = ?),
        g AS (SELECT group_id, max(name) AS name FROM dir_groups WHERE snapshot_id = ?
              GROUP BY group_id)
        SELECT m.group_id, g.name, count(*) AS members, count(c.user_id) AS with_spend,
               coalesce(sum(c.cost), 0) AS cost
        FROM m LEFT JOIN cost c USING (user_id) LEFT JOIN g USING (group_id)
        GROUP BY m.group_id, g.name ORDER BY cost DESC, m.group_id""",
        [first, last, ctx.holdings.snapshot_id, ctx.holdings.snapshot_id]).fetchall()
    return table("cost_by_group", "Spend per group (membership at the directory snapshot)",
                 [("group_id", "str"), ("group", "str"), ("members", "int"),
                  ("members_with_spend", "int"), ("cost_cents", "decimal")], rows)


def _by_project(ctx: EvidenceContext) -> Table:
    """Messages and users per chat project (the API reports no spend per project)."""
    rows = ctx.con.execute("""
        SELECT project_id, arg_max(project_name, day), arg_max(created_by, day),
               count(DISTINCT day), sum(messages),
               sum(TRY_CAST(raw->>'distinct_conversation_count' AS BIGINT)), max(distinct_users)
        FROM an_projects WHERE day BETWEEN ? AND ? GROUP BY project_id
        ORDER BY sum(messages) DESC NULLS LAST, project_id""",
        list(period_days(ctx))).fetchall()
    return table("usage_by_project", "Usage per chat project",
                 [("project_id", "str"), ("project", "str"), ("created_by", "str"),
                  ("active_days", "int"), ("messages", "int"), ("conversations", "int"),
                  ("peak_daily_users", "int")], rows)


def _series(ctx: EvidenceContext) -> dict[str, Any]:
    """Daily spend for a bar chart (cents as decimal strings: the chart layer converts)."""
    rows = ctx.con.execute("""
        SELECT day, sum(amount_cents) FROM an_user_cost WHERE day BETWEEN ? AND ?
        GROUP BY day ORDER BY day""", list(period_days(ctx))).fetchall()
    return {"kind": "bar", "x": "day", "y": ["cost_cents"],
            "rows": [{"day": r[0].isoformat(), "cost_cents": cents(r[1])} for r in rows]}


_METHOD = (
    "Per-user spend (amount and list amount, in cents) and requests are summed over the period's "
    "days of the Analytics per-user cost report (A7), tokens over the per-user usage report (A6). "
    "Each user is charged to a cost centre by policy.cost_centres: a mapped group the user belongs "
    "to in the directory snapshot (lowest group id if several), else their e-mail domain, else "
    "'unassigned'. Totals are exact decimal sums; project usage comes from the projects report.")

_LIMITATIONS = (
    "The Analytics API reports spend per user only: spend per project or per team is not "
    "available, so project usage is given as messages and groups are charged through members.",
    "Cost figures can be revised for up to 30 days; use periods that ended at least 30 days "
    "before collection for invoice-grade totals.",
    "On seat-based plans the cost report reflects usage credits (extra usage) only.",
    "Group membership is taken from the directory snapshot nearest the period end, not day by "
    "day; without a snapshot only e-mail-domain mappings apply.",
)


ITEM = CostAttribution()
