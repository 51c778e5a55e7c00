"""The activity types the Compliance API reference names, with category and relevance.

The feed's type set is open-ended (the reference grew from 295 to 547 names in a year), so a
type missing here is never an error: it is stored verbatim and reported as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files


@dataclass(frozen=True)
class ActivityType:
    """One documented activity type."""

    name: str
    category: str
    relevance: str  # High | Medium | Low (the reference's editorial classification)


@cache
def known_types() -> dict[str, ActivityType]:
    """Every documented type, by name."""
    text = files("auditpack").joinpath("activity_types.tsv").read_text(encoding="utf-8")
    out: dict[str, ActivityType] = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or line.startswith("type\t"):
            continue
        name, category, relevance = line.split("\t")
        out[name] = ActivityType(name, category, relevance)
    return out
