"""Evidence items EV01–EV20: each reads the store for a period and returns an EvidenceResult."""

from auditpack.evidence.context import build_context, parse_period, policy_from_config
from auditpack.evidence.interface import (
    Coverage,
    EvidenceContext,
    EvidenceItem,
    EvidenceResult,
    Finding,
    Period,
    Policy,
    Severity,
    Status,
)
from auditpack.evidence.registry import all_items, compute_all, item_by_key

__all__ = ["Coverage", "EvidenceContext", "EvidenceItem", "EvidenceResult", "Finding", "Period",
           "Policy", "Severity", "Status", "all_items", "build_context", "compute_all",
           "item_by_key", "parse_period", "policy_from_config"]
