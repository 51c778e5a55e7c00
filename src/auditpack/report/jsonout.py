"""Machine-readable outputs: findings.jsonl, one JSON per evidence result and per framework.

Output is deterministic: keys sorted, rows in a stable order, no timestamps but the ones the
caller passes, so the same store and `--generated-at` give byte-identical files.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import orjson

from auditpack.controls import FrameworkAssessment
from auditpack.evidence.interface import SEVERITY_ORDER, EvidenceResult, Finding


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """Canonical JSON: sorted keys, UTC `Z` times, decimals as strings, 2-space indent."""
    return orjson.dumps(value, default=_default,
                        option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2
                        | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
                        | orjson.OPT_NON_STR_KEYS) + b"\n"


def sorted_findings(results: list[EvidenceResult]) -> list[Finding]:
    """Every finding, most severe first, then by time and id."""
    findings = [f for r in results for f in r.findings]
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity],
                                           f.occurred_at.isoformat() if f.occurred_at else "",
                                           f.id))


def evidence_json(result: EvidenceResult) -> dict[str, Any]:
    """One evidence result as JSON (tables as column lists and rows)."""
    return {
        "id": result.id, "key": result.key, "title": result.title,
        "status": result.status.value, "coverage": result.coverage.value,
        "reason": result.reason, "method": result.method, "limitations": result.limitations,
        "metrics": result.metrics, "charts": result.charts,
        "tables": [{"name": t.name, "title": t.title,
                    "columns": [{"name": c.name, "type": c.type} for c in t.columns],
                    "rows": [list(row) for row in t.rows]} for t in result.tables],
        "findings": [f.as_json() for f in result.findings],
        "lineage": {"responses": result.lineage.responses,
                    "covered": list(result.lineage.covered) if result.lineage.covered else None,
                    "sources": result.lineage.sources},
    }


def write_outputs(out: Path, results: list[EvidenceResult],
                  frameworks: list[FrameworkAssessment]) -> list[Path]:
    """Write findings.jsonl, evidence/*.json and controls/*.json under `out`; return paths."""
    written: list[Path] = []
    (out / "evidence").mkdir(parents=True, exist_ok=True)
    (out / "controls").mkdir(parents=True, exist_ok=True)
    findings = out / "findings.jsonl"
    findings.write_bytes(b"".join(
        orjson.dumps(f.as_json(), option=orjson.OPT_SORT_KEYS) + b"\n"
        for f in sorted_findings(results)))
    written.append(findings)
    for result in results:
        path = out / "evidence" / f"{result.id}-{result.key}.json"
        path.write_bytes(dumps(evidence_json(result)))
        written.append(path)
    for fw in frameworks:
        path = out / "controls" / f"{fw.framework}.json"
        path.write_bytes(dumps({
            "framework": fw.framework, "name": fw.name, "short_name": fw.short_name,
            "version": fw.version, "catalog_version": fw.catalog_version,
            "counts": fw.counts(), "controls": [c.as_json() for c in fw.controls]}))
        written.append(path)
    return written
