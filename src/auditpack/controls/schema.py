"""Pydantic models of the catalog files: structure and field types only.

Two schemas live in `controls/` (reference/frameworks.md §9.2):

- `auditpack.evidence/v1` (`_evidence.yaml`): the shared registry of evidence items EV01–EV20;
- `auditpack.controls/v1` (`<framework>.yaml`): one framework, its parameters and its controls.

Every model refuses unknown fields (a misspelt key must not silently drop a mapping) and is
frozen. Rules that span fields or files (unique ids, coverage ordering, references into the
registry) are checked in `auditpack.controls.checks`, so that each refusal can name the line
of the offending control.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator

Level = Literal["full", "partial", "none"]
Operator = Literal["lte", "gte", "eq"]

SUMMARY_MAX = 300  # characters; summaries paraphrase, they never quote the standard

# Ordering of coverage levels: "combined" must rank at least as high as either single source.
LEVEL_RANK: dict[str, int] = {"none": 0, "partial": 1, "full": 2}

_SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"  # framework keys and control keys
_SNAKE = r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$"  # evidence keys, parameter ids, manual inputs
# ISO 8601 durations in fixed units only (P1D, P2W, PT12H): years and months have no fixed
# length, and staleness must be computable as a timedelta.
_DURATION = re.compile(
    r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$")


def parse_duration(text: str) -> dt.timedelta:
    """`P7D` → 7 days. Accepts weeks, days, hours, minutes and seconds; raises ValueError for
    anything else (years and months included, which have no fixed length)."""
    match = _DURATION.match(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration in days, weeks or hours "
                         f"such as P1D or P7D")
    parts = {k: int(v) for k, v in match.groupdict().items() if v is not None}
    return dt.timedelta(weeks=parts.get("w", 0), days=parts.get("d", 0), hours=parts.get("h", 0),
                        minutes=parts.get("m", 0), seconds=parts.get("s", 0))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- evidence registry ----------------------------------------------------------------------


class SourceSupport(_Model):
    """What one API can supply for an evidence item."""

    coverage: Level
    uses: tuple[str, ...] = ()  # endpoints (analytics.*, compliance.*) or feed families
    note: str | None = None


class EvidenceSources(_Model):
    """Coverage of an evidence item per data source."""

    analytics: SourceSupport
    compliance: SourceSupport


class EvidenceItem(_Model):
    """One of the evidence items auditpack derives (EV01–EV20)."""

    id: str = Field(pattern=r"^EV\d{2}$")
    key: str = Field(pattern=_SNAKE)
    title: str = Field(min_length=1)
    produces: str = Field(min_length=1)
    sources: EvidenceSources
    combined: Level
    manual_inputs: tuple[str, ...] = ()
    default_parameters: dict[str, StrictInt | StrictFloat] = Field(default_factory=dict)


class EvidenceRegistry(_Model):
    """The contents of `_evidence.yaml`."""

    schema_id: str = Field(alias="schema")
    items: tuple[EvidenceItem, ...] = Field(min_length=1)

    def get(self, key: str) -> EvidenceItem | None:
        """The item with this snake_case key, or None."""
        for item in self.items:
            if item.key == key:
                return item
        return None

    @property
    def keys(self) -> tuple[str, ...]:
        """Every item key, in file order."""
        return tuple(item.key for item in self.items)


# --- framework catalogs ---------------------------------------------------------------------


class Applicability(_Model):
    """When a framework applies to the organisation at all."""

    mode: Literal["always", "conditional", "reference"]
    note: str | None = None


class Milestone(_Model):
    """A dated change in what the framework requires."""

    date: dt.date
    note: str = Field(min_length=1)


class Group(_Model):
    """A report section (a requirement family, annex theme or chapter)."""

    id: str = Field(min_length=1)
    title: str = Field(min_length=1)


class Framework(_Model):
    """Framework metadata; `catalog_version` goes into every package manifest."""

    key: str = Field(pattern=_SLUG)
    name: str = Field(min_length=1)
    short_name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    publisher: str = Field(min_length=1)
    published: str | None = None
    source_url: str = Field(pattern=r"^https://")
    text_license: Literal["proprietary", "public"]
    catalog_version: int = Field(ge=1)
    catalog_reviewed: dt.date
    applicability: Applicability
    milestones: tuple[Milestone, ...] = ()
    groups: tuple[Group, ...] = ()

    @field_validator("published", mode="before")
    @classmethod
    def _date_as_text(cls, value: object) -> object:
        # An unquoted YAML date arrives as a date; the field also allows "2024-06".
        return value.isoformat() if isinstance(value, dt.date) else value


class Parameter(_Model):
    """A framework-imposed threshold. Configuration may tighten it, never loosen it.

    `basis`: `required` (the framework sets the number), `practice` (common practice that
    auditpack enforces for this framework), `defined` (the framework requires the organisation
    to set a value: `value` is null and the configured value is recorded, not checked).
    """

    id: str = Field(pattern=_SNAKE)
    value: StrictInt | StrictFloat | None
    unit: str = Field(min_length=1)
    operator: Operator
    source: str = Field(min_length=1)
    basis: Literal["required", "practice", "defined"] = "required"
    note: str | None = None


class EvidenceRef(_Model):
    """A control's use of a registry item, by key."""

    item: str
    role: Literal["primary", "supporting"]


class ControlCoverage(_Model):
    """The ceiling of what each source (and both together) can prove for one control."""

    analytics: Level
    compliance: Level
    combined: Level


class Related(_Model):
    """A cross-framework link; never equivalence by default."""

    framework: str = Field(pattern=_SLUG)
    id: str = Field(min_length=1)
    relationship: Literal["equal", "subset", "superset", "intersect"]


class Control(_Model):
    """One row of a framework table: the Claude-scoped part of a control."""

    id: str = Field(min_length=1)
    key: str = Field(pattern=_SLUG)
    group: str = Field(min_length=1)
    title: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    legacy_ids: tuple[str, ...] = ()
    applicability: Literal["inherit", "always", "conditional", "reference"] = "inherit"
    applicability_note: str | None = None
    applies_from: dt.date | None = None
    evidence: tuple[EvidenceRef, ...] = Field(min_length=1)
    coverage: ControlCoverage
    rationale: str = Field(min_length=1)
    gaps: tuple[str, ...] = ()
    manual_inputs: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    method: Literal["test", "examine", "interview"]
    automation: Literal["automated", "hybrid", "manual"]
    cadence: str
    evidence_max_age: str
    related: tuple[Related, ...] = ()
    tags: tuple[str, ...] = ()

    @field_validator("summary")
    @classmethod
    def _short_paraphrase(cls, value: str) -> str:
        # A long summary is usually pasted standard text, which auditpack must not ship.
        if len(value) > SUMMARY_MAX:
            raise ValueError(f"summary has {len(value)} characters, at most {SUMMARY_MAX} "
                             f"allowed (a paraphrase, never the publisher's wording)")
        return value

    @field_validator("cadence", "evidence_max_age")
    @classmethod
    def _iso_duration(cls, value: str) -> str:
        parse_duration(value)  # raises ValueError with the reason
        return value

    @property
    def evidence_keys(self) -> tuple[str, ...]:
        """The registry keys this control rests on, primary items first as listed."""
        return tuple(ref.item for ref in self.evidence)


class Catalog(_Model):
    """The contents of one `controls/<framework>.yaml`."""

    schema_id: str = Field(alias="schema")
    framework: Framework
    parameters: tuple[Parameter, ...] = ()
    controls: tuple[Control, ...] = Field(min_length=1)

    @property
    def key(self) -> str:
        """The framework key (equal to the file stem)."""
        return self.framework.key

    def control(self, control_id: str) -> Control | None:
        """The control with this publisher ID (`8.2.6`, `A.5.18`), or None."""
        for control in self.controls:
            if control.id == control_id:
                return control
        return None

    def parameter(self, param_id: str) -> Parameter | None:
        """The parameter with this id, or None."""
        for parameter in self.parameters:
            if parameter.id == param_id:
                return parameter
        return None
