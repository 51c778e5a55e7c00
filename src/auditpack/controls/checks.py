"""Rules that span fields, rows or files (reference/frameworks.md §9.2 "Loader validation").

Each function returns `Problem`s, in file order, and raises nothing: the loader turns the
first one into a `CatalogError` that names the file and the line of `Problem.loc`. Keeping
the rules free of I/O lets them run on models built in memory too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import NamedTuple

from auditpack.controls.schema import (
    LEVEL_RANK,
    Catalog,
    Control,
    EvidenceRegistry,
    Parameter,
)

Loc = tuple[str | int, ...]


class Problem(NamedTuple):
    """One refusal: where in the document (a data path) and why."""

    loc: Loc
    message: str


def check_registry(registry: EvidenceRegistry) -> list[Problem]:
    """Unique ids and keys; `combined` at least the stronger source; not all `none`."""
    problems: list[Problem] = []
    ids: dict[str, int] = {}
    keys: dict[str, int] = {}
    for index, item in enumerate(registry.items):
        here: Loc = ("items", index)
        if item.id in ids:
            problems.append(Problem((*here, "id"), f"duplicate evidence id {item.id!r}"))
        if item.key in keys:
            problems.append(Problem((*here, "key"), f"duplicate evidence key {item.key!r}"))
        ids.setdefault(item.id, index)
        keys.setdefault(item.key, index)
        levels = {"analytics": item.sources.analytics.coverage,
                  "compliance": item.sources.compliance.coverage, "combined": item.combined}
        problems += _coverage_problems(levels, (*here, "combined"), (*here, "sources"))
    return problems


def check_catalog(catalog: Catalog, registry: EvidenceRegistry, stem: str) -> list[Problem]:
    """Every single-file rule for one framework catalog, in file order."""
    problems = list(_framework_problems(catalog, stem))
    problems += _parameter_problems(catalog.parameters, registry)
    defined = {p.id for p in catalog.parameters}
    groups = {g.id for g in catalog.framework.groups}
    ids: dict[str, int] = {}
    keys: dict[str, int] = {}
    for index, control in enumerate(catalog.controls):
        here: Loc = ("controls", index)
        if control.id in ids:
            problems.append(Problem((*here, "id"), f"duplicate control id {control.id!r} "
                                                   f"(first used by control #{ids[control.id]})"))
        if control.key in keys:
            problems.append(Problem((*here, "key"), f"duplicate control key {control.key!r} "
                                                    f"(first used by control #{keys[control.key]})"))
        ids.setdefault(control.id, index + 1)
        keys.setdefault(control.key, index + 1)
        if groups and control.group not in groups:
            problems.append(Problem((*here, "group"),
                                    f"group {control.group!r} is not listed in framework.groups"))
        problems += _control_problems(control, here, registry, defined)
    return problems


def check_related(catalogs: Mapping[str, Catalog]) -> Iterator[tuple[str, Problem]]:
    """Cross-framework links that point at a missing control: (framework key, problem).

    A link to a framework that is not loaded is accepted: a directory may hold a subset.
    """
    for key, catalog in catalogs.items():
        for c_index, control in enumerate(catalog.controls):
            for r_index, link in enumerate(control.related):
                target = catalogs.get(link.framework)
                if target is not None and target.control(link.id) is None:
                    loc: Loc = ("controls", c_index, "related", r_index)
                    yield key, Problem(loc, f"related control {link.id!r} does not exist in "
                                            f"{link.framework}")


# --- helpers --------------------------------------------------------------------------------


def _framework_problems(catalog: Catalog, stem: str) -> Iterator[Problem]:
    framework = catalog.framework
    if framework.key != stem:
        yield Problem(("framework", "key"),
                      f"framework key {framework.key!r} must equal the file name stem {stem!r}")
    if framework.applicability.mode == "conditional" and not framework.applicability.note:
        yield Problem(("framework", "applicability"),
                      "conditional applicability needs a note saying when it applies")
    seen: set[str] = set()
    for index, group in enumerate(framework.groups):
        if group.id in seen:
            yield Problem(("framework", "groups", index), f"duplicate group id {group.id!r}")
        seen.add(group.id)


def _parameter_problems(parameters: tuple[Parameter, ...],
                        registry: EvidenceRegistry) -> Iterator[Problem]:
    seen: set[str] = set()
    for index, parameter in enumerate(parameters):
        here: Loc = ("parameters", index)
        if parameter.id in seen:
            yield Problem((*here, "id"), f"duplicate parameter id {parameter.id!r}")
        seen.add(parameter.id)
        if (parameter.value is None) != (parameter.basis == "defined"):
            yield Problem((*here, "value"), "value must be null exactly when basis is 'defined' "
                                            "(the organisation sets it)")
            continue
        if parameter.value is None:
            continue
        # A registry default looser than the framework would make auditpack's own default fail
        # the framework it claims to evidence.
        for item in registry.items:
            default = item.default_parameters.get(parameter.id)
            if default is not None and not satisfies(default, parameter.operator, parameter.value):
                yield Problem((*here, "value"),
                              f"{item.key} default {parameter.id} = {default} does not satisfy "
                              f"{parameter.operator} {parameter.value}")


def _control_problems(control: Control, here: Loc, registry: EvidenceRegistry,
                      defined: set[str]) -> Iterator[Problem]:
    seen: set[str] = set()
    for index, ref in enumerate(control.evidence):
        if registry.get(ref.item) is None:
            yield Problem((*here, "evidence", index, "item"),
                          f"unknown evidence key {ref.item!r} (not in _evidence.yaml)")
        if ref.item in seen:
            yield Problem((*here, "evidence", index, "item"),
                          f"evidence {ref.item!r} is listed twice")
        seen.add(ref.item)
    if not any(ref.role == "primary" for ref in control.evidence):
        yield Problem((*here, "evidence"), "at least one evidence item must be primary")
    levels = control.coverage.model_dump()
    yield from _coverage_problems(levels, (*here, "coverage", "combined"), (*here, "coverage"))
    if "partial" in levels.values() and not (control.gaps or control.manual_inputs):
        yield Problem((*here, "coverage"),
                      "a partial row must list at least one gap or manual input")
    if control.applicability == "conditional" and not control.applicability_note:
        yield Problem((*here, "applicability"),
                      "conditional applicability needs an applicability_note")
    for index, param_id in enumerate(control.parameters):
        if param_id not in defined:
            yield Problem((*here, "parameters", index),
                          f"parameter {param_id!r} is not defined in the top-level parameters")


def _coverage_problems(levels: Mapping[str, str], combined_loc: Loc,
                       row_loc: Loc) -> Iterator[Problem]:
    if all(level == "none" for level in levels.values()):
        yield Problem(row_loc, "every coverage level is 'none': leave the row out instead")
        return
    stronger = max(("analytics", "compliance"), key=lambda name: LEVEL_RANK[levels[name]])
    if LEVEL_RANK[levels["combined"]] < LEVEL_RANK[levels[stronger]]:
        yield Problem(combined_loc, f"combined {levels['combined']!r} is weaker than "
                                    f"{stronger} {levels[stronger]!r}")


def satisfies(value: float, operator: str, limit: float) -> bool:
    """Whether `value` meets `operator limit` (lte: value <= limit; gte; eq)."""
    if operator == "lte":
        return value <= limit
    if operator == "gte":
        return value >= limit
    return value == limit
