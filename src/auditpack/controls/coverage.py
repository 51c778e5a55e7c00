"""Views over loaded catalogs: the control × data-source matrix, its counts, and parameters.

All functions take the mapping `load_catalogs()` returns and an optional list of framework
keys; they read nothing from disk. A framework's thresholds are the floor a configured policy
value may tighten but never loosen (PCI 8.2.6's 90 days stays 90 at most).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from auditpack.controls.catalog import CatalogError
from auditpack.controls.checks import satisfies
from auditpack.controls.schema import Catalog, Level, Operator
from auditpack.errors import UsageError

_PHRASE = {"lte": "at most", "gte": "at least", "eq": "exactly"}


@dataclass(frozen=True)
class CoverageRow:
    """One control's coverage ceiling per source, as listed in its framework catalog."""

    framework: str
    control_id: str
    title: str
    analytics: Level
    compliance: Level
    combined: Level
    evidence: tuple[str, ...]  # registry keys, in catalog order


class LevelCounts(NamedTuple):
    """How many rows sit at each coverage level."""

    full: int
    partial: int
    none: int


@dataclass(frozen=True)
class CoverageCounts:
    """One line of the coverage summary table (reference/frameworks.md §8)."""

    framework: str
    name: str
    controls: int
    analytics: LevelCounts
    compliance: LevelCounts
    combined: LevelCounts


class ParameterFloor(NamedTuple):
    """The strictest framework value for a parameter and where it comes from."""

    value: int | float
    operator: Operator
    source: str  # framework short name and clause, e.g. "PCI DSS 8.2.6"


def coverage_matrix(catalogs: Mapping[str, Catalog],
                    frameworks: Sequence[str] | None = None) -> list[CoverageRow]:
    """Every control of the chosen frameworks (all by default), in catalog order.

    Raises UsageError for a framework key that is not loaded.
    """
    return [
        CoverageRow(framework=catalog.key, control_id=control.id, title=control.title,
                    analytics=control.coverage.analytics,
                    compliance=control.coverage.compliance,
                    combined=control.coverage.combined, evidence=control.evidence_keys)
        for catalog in _select(catalogs, frameworks)
        for control in catalog.controls
    ]


def coverage_counts(catalogs: Mapping[str, Catalog],
                    frameworks: Sequence[str] | None = None) -> list[CoverageCounts]:
    """Rows per framework at each level, per source. Raises UsageError for an unknown key."""
    out: list[CoverageCounts] = []
    for catalog in _select(catalogs, frameworks):
        levels = [control.coverage for control in catalog.controls]
        out.append(CoverageCounts(
            framework=catalog.key, name=catalog.framework.short_name, controls=len(levels),
            analytics=_count(c.analytics for c in levels),
            compliance=_count(c.compliance for c in levels),
            combined=_count(c.combined for c in levels)))
    return out


def coverage_total(counts: Iterable[CoverageCounts]) -> CoverageCounts:
    """The "Total" line: the sum of `coverage_counts()` rows."""
    rows = list(counts)

    def add(pick: str) -> LevelCounts:
        picked = [getattr(row, pick) for row in rows]
        return LevelCounts(*(sum(level[i] for level in picked) for i in range(3)))

    return CoverageCounts(framework="total", name="Total",
                          controls=sum(row.controls for row in rows),
                          analytics=add("analytics"), compliance=add("compliance"),
                          combined=add("combined"))


def parameter_floor(catalogs: Mapping[str, Catalog], param_id: str,
                    frameworks: Sequence[str] | None = None) -> ParameterFloor | None:
    """The strictest value any chosen framework sets for `param_id`, or None if none does.

    `lte` limits take the smallest value, `gte` the largest; on a tie a framework's own number
    wins over common practice. Parameters whose value the organisation defines (null) impose
    no floor. Raises CatalogError when frameworks disagree on the operator, UsageError for an
    unknown framework key.
    """
    limits = _limits(catalogs, param_id, frameworks)
    if not limits:
        return None
    best = limits[0]
    return ParameterFloor(value=best.value, operator=best.operator, source=best.source)


def check_policy_value(catalogs: Mapping[str, Catalog], param_id: str, value: object, *,
                       setting: str | None = None,
                       frameworks: Sequence[str] | None = None) -> None:
    """Refuse a configured value that is looser than any chosen framework's own limit.

    `setting` is the configuration name shown to the user (default `policy.<param_id>`).
    Returns None when the value is at least as strict as every framework (or no framework
    sets a number). Raises UsageError naming the strictest framework the value breaks, e.g.
    "policy.dormant_days = 120 is looser than PCI DSS 8.2.6 (at most 90)"; CatalogError as
    `parameter_floor`.
    """
    name = setting or f"policy.{param_id}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{name} must be a number, not {value!r}")
    broken = [lim for lim in _limits(catalogs, param_id, frameworks)
              if not satisfies(value, lim.operator, lim.value)]
    if not broken:
        return
    worst, others = broken[0], broken[1:]
    hint = f"use {_phrase(worst)} {worst.unit}, or leave {name} unset to apply the frameworks' own"
    if worst.basis == "practice":
        hint += f"; {worst.framework} sets no number, {_fmt(worst.value)} is common practice"
    if others:
        hint += "; also looser than " + ", ".join(f"{o.source} ({_phrase(o)})" for o in others)
    raise UsageError(f"{name} = {_fmt(value)} is looser than {worst.source} ({_phrase(worst)})",
                     hint=hint)


# --- internals ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Limit:
    value: int | float
    operator: Operator
    source: str
    framework: str
    basis: str
    unit: str


def _limits(catalogs: Mapping[str, Catalog], param_id: str,
            frameworks: Sequence[str] | None) -> list[_Limit]:
    """Every numeric limit for `param_id`, strictest first."""
    limits = [
        _Limit(value=p.value, operator=p.operator, source=f"{c.framework.short_name} {p.source}",
               framework=c.framework.short_name, basis=p.basis, unit=p.unit)
        for c in _select(catalogs, frameworks)
        for p in c.parameters
        if p.id == param_id and p.value is not None
    ]
    operators = {lim.operator for lim in limits}
    if len(operators) > 1:
        raise CatalogError(f"parameter {param_id!r} has conflicting operators across "
                           f"frameworks: " + ", ".join(f"{lim.source} {lim.operator}"
                                                       for lim in limits))
    # Strictest first: the smallest upper bound, the largest lower bound; a required value
    # before a practice one with the same number, so the message cites the framework's own.
    sign = -1 if operators == {"gte"} else 1
    return sorted(limits, key=lambda lim: (sign * lim.value, lim.basis != "required"))


def _select(catalogs: Mapping[str, Catalog], frameworks: Sequence[str] | None) -> list[Catalog]:
    if frameworks is None:
        return list(catalogs.values())
    unknown = [key for key in frameworks if key not in catalogs]
    if unknown:
        raise UsageError(f"unknown framework {unknown[0]!r}",
                         hint="known: " + ", ".join(sorted(catalogs)))
    return [catalogs[key] for key in frameworks]


def _count(levels: Iterable[str]) -> LevelCounts:
    tally = Counter(levels)
    return LevelCounts(full=tally["full"], partial=tally["partial"], none=tally["none"])


def _phrase(limit: _Limit) -> str:
    return f"{_PHRASE[limit.operator]} {_fmt(limit.value)}"


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
