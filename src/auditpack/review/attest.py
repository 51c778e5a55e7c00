"""Closing a campaign: the signed attestation (JSON + a short PDF) that packages carry.

`attestation/` holds:

    attestation.json       scope, snapshot hash, reviewers, decision counts, every revoke and
                           modify with its justification, the hashes of the files below
    attestation.json.sig   raw Ed25519 signature of attestation.json (the package key)
    decisions.jsonl        every standing decision, one per row, with reviewer, time and file
    attestation.pdf        the same in print, PAdES-signed
    signer.pub.pem         convenience copy of the public key; verifiers pin their own

The folder is written beside the campaign and renamed into place, so a campaign is either
open or closed with a complete attestation, never half-closed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from auditpack.review.campaigns import ATTESTATION_DIR, ATTESTATION_JSON, CampaignStore, stamp
from auditpack.review.commands import CampaignProgress, progress, require_complete
from auditpack.review.model import canonical

FORMAT = "auditpack.attestation/v1"
SIGNATURE = "attestation.json.sig"
DECISIONS = "decisions.jsonl"
PDF = "attestation.pdf"
PUBLIC_KEY = "signer.pub.pem"
TEMPLATE = "attestation.html.j2"


def close(store_path: Path, *, campaign_id: str | None, attested_by: str, now: datetime,
          allow_incomplete: bool, signing_key: Any, pdf_signing: Any) -> Path:
    """Close the campaign with a signed attestation; returns the attestation folder.

    `signing_key` (the package's Ed25519 key) signs attestation.json; `pdf_signing` (a
    `package.pdfsign.PdfSigning`, as for report.pdf) signs attestation.pdf.
    """
    from auditpack.package import fingerprint, public_key_pem

    cs = CampaignStore(store_path)
    campaign = cs.resolve(campaign_id, open_only=True)
    state = progress(store_path, campaign_id=campaign.campaign_id, today=now.date())
    require_complete(state, allow_incomplete)
    decisions = _decision_lines(cs, campaign.campaign_id)
    document = attestation(cs, state, decisions, attested_by=attested_by, now=now,
                           fingerprint=fingerprint(signing_key))
    body = canonical(document)
    folder = cs.folder(campaign.campaign_id)
    staging = Path(tempfile.mkdtemp(prefix=".attestation-", dir=folder))
    try:
        (staging / DECISIONS).write_bytes(decisions)
        (staging / ATTESTATION_JSON).write_bytes(body)
        (staging / SIGNATURE).write_bytes(signing_key.sign(body))
        (staging / PUBLIC_KEY).write_bytes(public_key_pem(signing_key))
        unsigned = staging / "unsigned.pdf"
        render_pdf(document, unsigned, generated_at=now)
        pdf_signing.sign(unsigned, staging / PDF, generated_at=now)
        unsigned.unlink()
        for child in staging.iterdir():
            with child.open("rb") as fh:
                os.fsync(fh.fileno())
        os.replace(staging, folder / ATTESTATION_DIR)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder / ATTESTATION_DIR


def _decision_lines(cs: CampaignStore, campaign_id: str) -> bytes:
    rows = cs.row_index(campaign_id)
    standing = cs.decisions(campaign_id)
    lines = []
    for rid, row in rows.items():
        if rid not in standing:
            continue
        decision, record = standing[rid]
        lines.append(canonical({
            "row_id": rid, "org_uuid": row.org_uuid, "organization": row.organization,
            "user_id": row.user_id, "email": row.email, "role": row.role,
            "decision": decision.decision, "justification": decision.justification,
            "reviewer": record.reviewer, "decided_at": stamp(record.imported_at),
            "file_sha256": record.file_sha256}) + b"\n")
    return b"".join(lines)


def attestation(cs: CampaignStore, state: CampaignProgress, decisions: bytes, *,
                attested_by: str, now: datetime, fingerprint: str) -> dict[str, Any]:
    """The attestation document (what is signed)."""
    import orjson

    campaign = state.campaign
    cid = campaign.campaign_id
    records = [orjson.loads(line) for line in decisions.splitlines()]
    counts = Counter(r["decision"] for r in records)
    imports = cs.imports(cid)
    rows = cs.rows(cid)
    return {
        "format": FORMAT,
        "campaign_id": cid,
        "period": {"label": campaign.period_label, "start": campaign.period_start.isoformat(),
                   "end": campaign.period_end.isoformat()},
        "scope": {"organizations": sorted({r.organization for r in rows if r.org_uuid}),
                  "members": campaign.snapshot.members, "rows": len(rows)},
        "snapshot": campaign.snapshot.model_dump(mode="json"),
        "campaign_sha256": hashlib.sha256(
            (cs.folder(cid) / "campaign.json").read_bytes()).hexdigest(),
        "previous_campaign": campaign.previous_campaign,
        "changes_since_previous": dict(Counter(c.kind for c in campaign.changes)),
        "opened_at": stamp(campaign.opened_at), "due": campaign.due.isoformat(),
        "closed_at": stamp(now), "attested_by": attested_by,
        "complete": not state.undecided_rows,
        "undecided": sorted(r.row_id for r in state.undecided_rows),
        "decision_counts": {"Keep": counts.get("Keep", 0), "Revoke": counts.get("Revoke", 0),
                            "Modify": counts.get("Modify", 0),
                            "undecided": len(state.undecided_rows)},
        "reviewers": [{
            "reviewer": p.reviewer, "rows": p.rows, "decided": p.decided,
            **{k.lower(): p.counts.get(k, 0) for k in ("Keep", "Revoke", "Modify")},
            "files": [{"name": i.file_name, "sha256": i.file_sha256,
                       "imported_at": stamp(i.imported_at)}
                      for i in imports if i.reviewer == p.reviewer],
        } for p in state.reviewers],
        "unassigned": sorted(campaign.unassigned),
        "revocations": [r for r in records if r["decision"] in ("Revoke", "Modify")],
        "decisions_sha256": hashlib.sha256(decisions).hexdigest(),
        "signer_fingerprint": fingerprint,
    }


def render_pdf(document: dict[str, Any], path: Path, *, generated_at: datetime) -> None:
    """The attestation in print (PDF/A-3b, autoescaped, fixed dates)."""
    import jinja2
    import weasyprint

    from auditpack.report.pdf import _source_date_epoch, template_dir

    folder = template_dir()
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(folder), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    html = env.get_template(TEMPLATE).render(a=document, created=stamp(generated_at))
    fetcher = weasyprint.URLFetcher(allowed_protocols=["data"])
    with _source_date_epoch(generated_at):
        weasyprint.HTML(string=html, base_url=str(folder), url_fetcher=fetcher).write_pdf(
            path, pdf_variant="pdf/a-3b")


def verify_attestation(folder: Path, public_key: Any) -> list[str]:
    """Problems with an attestation folder against a trusted public key (empty: verified)."""
    from cryptography.exceptions import InvalidSignature

    problems = []
    body = _read(folder / ATTESTATION_JSON)
    signature = _read(folder / SIGNATURE)
    if body is None or signature is None:
        return [f"{folder.name}: attestation.json or its signature is missing"]
    try:
        public_key.verify(signature, body)
    except InvalidSignature:
        problems.append(f"{folder.name}: the attestation signature does not verify with the "
                        "trusted key")
    import orjson

    document = orjson.loads(body)
    decisions = _read(folder / DECISIONS)
    if decisions is None or hashlib.sha256(decisions).hexdigest() != document.get(
            "decisions_sha256"):
        problems.append(f"{folder.name}: decisions.jsonl does not match the attested hash")
    return problems


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


__all__ = ["ATTESTATION_DIR", "close", "verify_attestation"]
