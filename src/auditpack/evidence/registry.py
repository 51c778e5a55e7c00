"""The twenty evidence items, by stable id and key (frameworks.md §1)."""

from __future__ import annotations

import importlib
from functools import cache

from auditpack.evidence.interface import EvidenceContext, EvidenceItem, EvidenceResult

# One module per item; each defines ITEM, an EvidenceItem instance.
MODULES = (
    "ev01_seat_access_inventory", "ev02_access_review", "ev03_dormant_accounts",
    "ev04_offboarding_verification", "ev05_role_change_log", "ev06_restricted_workspace_access",
    "ev07_api_key_hygiene", "ev08_authentication_events", "ev09_configuration_drift",
    "ev10_file_operations", "ev11_off_hours_access", "ev12_shadow_ai", "ev13_integration_audit",
    "ev14_ai_adoption", "ev15_cost_attribution", "ev16_incident_timeline",
    "ev17_log_completeness", "ev18_log_access_integrity", "ev19_content_retention",
    "ev20_agent_activity",
)


@cache
def all_items() -> tuple[EvidenceItem, ...]:
    """Every evidence item, in id order."""
    items = []
    for name in MODULES:
        module = importlib.import_module(f"auditpack.evidence.{name}")
        items.append(module.ITEM)
    return tuple(items)


def item_by_key(key: str) -> EvidenceItem:
    """The item with this key; KeyError if there is none."""
    for item in all_items():
        if item.key == key:
            return item
    raise KeyError(key)


def compute_all(ctx: EvidenceContext, keys: list[str] | None = None) -> list[EvidenceResult]:
    """Run the chosen items (all by default) in id order."""
    return [item.compute(ctx) for item in all_items() if keys is None or item.key in keys]
