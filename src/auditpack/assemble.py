"""What goes into an evidence package, and how it is put together (pipeline level).

The package layer signs and packs whatever it is given; this module decides the content:
the report, the workbook, package.json, findings.jsonl, per-framework and per-evidence JSON,
the archived API responses the evidence rests on (with their index lines), the hash-chained
collection log, and a README that explains verification with ordinary tools.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

import auditpack
from auditpack.controls import FrameworkAssessment
from auditpack.evidence.interface import EvidenceResult, Period
from auditpack.report.jsonout import dumps, sorted_findings, write_outputs
from auditpack.store import Store

README = """\
auditpack evidence package {package_id}
Organization: {organization}
Period: {period}
Frameworks: {frameworks}
Generated: {generated_at} by auditpack {version}

This folder is a BagIt 1.0 bag (RFC 8493). Every payload file under data/ is listed with its
SHA-256 in manifest-sha256.txt; the tag files are listed in tagmanifest-sha256.txt, which is
signed (raw Ed25519) in tagmanifest-sha256.txt.sig.

Verify without auditpack, from the bag's top folder (the one holding bagit.txt):

  1. Every payload byte:     sha256sum -c manifest-sha256.txt
  2. The tag files:          sha256sum -c tagmanifest-sha256.txt
  3. The signature, with the signer's public key obtained OUT OF BAND (never trust a key
     found inside this package):
       openssl pkeyutl -verify -pubin -inkey signer.pub.pem -rawin \\
           -in tagmanifest-sha256.txt -sigfile tagmanifest-sha256.txt.sig
     The key's fingerprint is the SHA-256 of its raw 32 bytes:
       openssl pkey -pubin -in signer.pub.pem -outform DER | tail -c 32 | sha256sum
     It must equal the fingerprint you were given: {fingerprint}
  4. No extra files: every file under data/ must appear in manifest-sha256.txt.

With auditpack: auditpack verify PACKAGE.zip --trusted-key signer.pub.pem
report.pdf also carries a PAdES signature over the whole file.

Tracing a finding: findings.jsonl gives each finding's sources (activity ids and sha256 of
archived API responses); raw/index.jsonl names, per response hash, the request that returned
it (endpoint, parameters, time, request-id); raw/<sha256>.json.gz holds the response
verbatim (gzip), and its SHA-256 is the file name.
"""


@dataclass(frozen=True)
class PackageMeta:
    """Who, what and when a package is about."""

    organization: str
    period: Period
    period_label: str
    frameworks: tuple[str, ...]
    generated_at: datetime
    sources: tuple[str, ...]


def slug(text: str) -> str:
    """A file-name-safe lowercase slug."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "org"


def package_id(meta: PackageMeta, responses: list[str]) -> str:
    """A deterministic id: the same store, scope and generation time give the same id."""
    key = orjson.dumps([meta.organization, meta.period.label(), sorted(meta.frameworks),
                        sorted(responses), meta.generated_at.isoformat()])
    return hashlib.sha256(key).hexdigest()[:12]


def lineage_responses(results: list[EvidenceResult]) -> list[str]:
    """Every archived response any evidence result rests on, sorted."""
    shas = {sha for r in results for sha in r.lineage.responses}
    shas |= {s.removeprefix("sha256:") for r in results for f in r.findings for s in f.sources
             if s.startswith("sha256:")}
    return sorted(shas)


def raw_payload(store: Store, shas: list[str]) -> dict[str, Path | bytes]:
    """raw/<sha>.json.gz for each response plus raw/index.jsonl with their request lines."""
    archive = store.archive()
    wanted = set(shas)
    index_lines: list[bytes] = []
    seen: set[str] = set()
    for record in archive.records():
        sha = record.get("sha256")
        if record["kind"] == "response" and sha in wanted and sha not in seen:
            seen.add(sha)
            kept = {k: record[k] for k in ("api", "endpoint", "path", "ids", "params", "status",
                                           "sha256", "size", "fetched_at", "request_id")}
            index_lines.append(orjson.dumps(kept, option=orjson.OPT_SORT_KEYS) + b"\n")
    payload: dict[str, Path | bytes] = {"raw/index.jsonl": b"".join(sorted(index_lines))}
    for sha in sorted(seen):
        # Re-compressed with a fixed header so the package is byte-reproducible.
        payload[f"raw/{sha}.json.gz"] = gzip.compress(archive.read_body(sha), 6, mtime=0)
    return payload


def package_json(meta: PackageMeta, pid: str, results: list[EvidenceResult],
                 frameworks: list[FrameworkAssessment], fingerprint: str,
                 catalog_versions: dict[str, int]) -> dict[str, Any]:
    """Metadata, scope, control assessments by status, evidence results by status."""
    severities: dict[str, int] = {}
    for finding in sorted_findings(results):
        severities[finding.severity.value] = severities.get(finding.severity.value, 0) + 1
    return {
        "format": "auditpack.package/v1", "package_id": pid,
        "organization": meta.organization, "period": {
            "label": meta.period_label, "start": meta.period.start.isoformat(),
            "end": meta.period.end.isoformat()},
        "frameworks": [{"key": fw.framework, "name": fw.name, "version": fw.version,
                        "catalog_version": catalog_versions.get(fw.framework),
                        "counts": fw.counts()} for fw in frameworks],
        "generated_at": meta.generated_at.isoformat().replace("+00:00", "Z"),
        "generator": f"auditpack {auditpack.__version__}", "sources": list(meta.sources),
        "signer_fingerprint": fingerprint, "findings_by_severity": severities,
        "evidence": [{"id": r.id, "key": r.key, "status": r.status.value,
                      "coverage": r.coverage.value, "reason": r.reason,
                      "findings": len(r.findings)} for r in results],
    }


def write_reports(staging: Path, meta: PackageMeta, pid: str, results: list[EvidenceResult],
                  frameworks: list[FrameworkAssessment], fingerprint: str) -> dict[str, Path]:
    """Write the workbook and (unsigned) PDF report into `staging`; return them by name."""
    from auditpack.report.model import ReportMeta, build_model
    from auditpack.report.pdf import render_pdf
    from auditpack.report.xlsx import WorkbookMeta, write_workbook

    xlsx = staging / "evidence.xlsx"
    write_workbook(xlsx, results=results, frameworks=frameworks, generated_at=meta.generated_at,
                   meta=WorkbookMeta(organization=meta.organization, period=meta.period_label,
                                     package_id=pid, frameworks=meta.frameworks,
                                     sources=meta.sources,
                                     generator_version=auditpack.__version__,
                                     signer_fingerprint=fingerprint))
    model = build_model(results=results, frameworks=frameworks, meta=ReportMeta(
        organizations=(meta.organization,), period_label=meta.period_label,
        period_start=meta.period.start, period_end=meta.period.end,
        frameworks=meta.frameworks, package_id=pid, generated_at=meta.generated_at,
        sources_collected=meta.sources, generator_version=auditpack.__version__,
        signer_fingerprint=fingerprint))
    pdf = staging / "report.unsigned.pdf"
    render_pdf(model, pdf, generated_at=meta.generated_at)
    return {"evidence.xlsx": xlsx, "report.pdf": pdf}


def assemble(out: Path, *, store: Store, meta: PackageMeta, results: list[EvidenceResult],
             frameworks: list[FrameworkAssessment], catalog_versions: dict[str, int],
             signing_key: Any, pdf_signing: Any,
             attestations: dict[str, bytes] | None = None) -> Path:
    """Build `out/auditpack-<org>-<period>-<id>.zip` and return its path.

    `signing_key` (Ed25519) signs the package; `pdf_signing` (a `package.pdfsign.PdfSigning`)
    signs report.pdf. `attestations` maps payload paths (`attestations/<campaign>/<file>`) to
    the signed access-review files the package carries.
    """
    from auditpack.package import build_bag, fingerprint, zip_bag

    fp = fingerprint(signing_key)
    responses = lineage_responses(results)
    pid = package_id(meta, responses)
    name = f"auditpack-{slug(meta.organization)}-{slug(meta.period_label)}-{pid}"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".auditpack-", dir=out) as tmp:
        staging = Path(tmp)
        files = write_outputs(staging / "json", results, frameworks)
        reports = write_reports(staging, meta, pid, results, frameworks, fp)
        signed_pdf = staging / "report.pdf"
        pdf_signing.sign(reports["report.pdf"], signed_pdf, generated_at=meta.generated_at)
        payload: dict[str, Path | bytes] = {
            "report.pdf": signed_pdf, "evidence.xlsx": reports["evidence.xlsx"],
            "package.json": dumps(package_json(meta, pid, results, frameworks, fp,
                                               catalog_versions)),
            "README.txt": README.format(
                package_id=pid, organization=meta.organization, period=meta.period_label,
                frameworks=", ".join(meta.frameworks),
                generated_at=meta.generated_at.isoformat().replace("+00:00", "Z"),
                version=auditpack.__version__, fingerprint=fp).encode(),
        }
        for path in files:
            payload[path.relative_to(staging / "json").as_posix()] = path
        payload.update(raw_payload(store, responses))
        if store.log.path.exists():
            payload["collection-log.jsonl"] = store.log.path.read_bytes()
        payload.update(attestations or {})
        info = {
            "Source-Organization": meta.organization, "External-Identifier": pid,
            "Audit-Period": meta.period.label(), "Frameworks": " ".join(meta.frameworks),
            "Bag-Software-Agent": f"auditpack {auditpack.__version__}",
            "Data-Sources": " ".join(meta.sources) or "none",
        }
        bag = build_bag(payload, staging / "bag", name=name, info=info, signing_key=signing_key,
                        generated_at=meta.generated_at)
        target = out / f"{name}.zip"
        zip_bag(bag, staging / f"{name}.zip", generated_at=meta.generated_at)
        shutil.move(staging / f"{name}.zip", target)
    return target


def now_seconds() -> datetime:
    """The current UTC time, to the second (packages carry whole seconds)."""
    return datetime.now(UTC).replace(microsecond=0)
