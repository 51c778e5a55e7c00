"""Control catalogs: frameworks as data (`controls/*.yaml`), their loader and coverage views.

Typical use::

    catalogs = load_catalogs(catalog_dir())
    rows = coverage_matrix(catalogs, ["pci-dss"])
    check_policy_value(catalogs, "inactive_account_max_days", 120, setting="policy.dormant_days")
"""

from auditpack.controls.assess import (
    STATUSES,
    ControlAssessment,
    FrameworkAssessment,
    assess,
    assess_control,
)
from auditpack.controls.catalog import (
    CatalogError,
    catalog_dir,
    load_catalog,
    load_catalogs,
    load_registry,
)
from auditpack.controls.coverage import (
    CoverageCounts,
    CoverageRow,
    LevelCounts,
    ParameterFloor,
    check_policy_value,
    coverage_counts,
    coverage_matrix,
    coverage_total,
    parameter_floor,
)
from auditpack.controls.schema import (
    Catalog,
    Control,
    ControlCoverage,
    EvidenceItem,
    EvidenceRef,
    EvidenceRegistry,
    Framework,
    Level,
    Operator,
    Parameter,
    Related,
    parse_duration,
)

__all__ = [
    "STATUSES",
    "Catalog",
    "CatalogError",
    "Control",
    "ControlAssessment",
    "ControlCoverage",
    "CoverageCounts",
    "CoverageRow",
    "EvidenceItem",
    "EvidenceRef",
    "EvidenceRegistry",
    "Framework",
    "FrameworkAssessment",
    "Level",
    "LevelCounts",
    "Operator",
    "Parameter",
    "ParameterFloor",
    "Related",
    "assess",
    "assess_control",
    "catalog_dir",
    "check_policy_value",
    "coverage_counts",
    "coverage_matrix",
    "coverage_total",
    "load_catalog",
    "load_catalogs",
    "load_registry",
    "parameter_floor",
    "parse_duration",
]
