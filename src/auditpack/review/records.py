"""Attested campaigns as a build sees them: which ones count, and the tables EV02 reads.

A build takes the attestations closed by its `as_of` whose period ends within the year before
the build's period (older revocations were proven or reported by earlier builds). Each one is
checked against the signing key first: an attestation the key did not sign is loaded as
unverified, reported by EV02, and not counted. The tables are TEMP tables on the build's
read-only connection, so the store's database stays derived from API data alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson

from auditpack.review.attest import DECISIONS, PDF, PUBLIC_KEY, SIGNATURE, verify_attestation
from auditpack.review.campaigns import ATTESTATION_JSON, CampaignStore

PACKAGED_FILES = (ATTESTATION_JSON, SIGNATURE, DECISIONS, PDF, PUBLIC_KEY)
LOOKBACK = timedelta(days=366)


@dataclass(frozen=True)
class LoadedAttestation:
    """One closed campaign's attestation, read from the store and checked."""

    campaign_id: str
    folder: Path
    document: dict[str, Any]
    decisions: list[dict[str, Any]]
    verified: bool

    def files(self) -> dict[str, bytes]:
        """The attestation's files as the package carries them, by name."""
        return {name: (self.folder / name).read_bytes() for name in PACKAGED_FILES
                if (self.folder / name).is_file()}


def relevant_attestations(store_path: Path, *, period_start: date, as_of: datetime,
                          public_key: Any | None) -> list[LoadedAttestation]:
    """Attestations closed by `as_of` whose period ends at most a year before `period_start`.

    Without a trusted key (a JSON-only build), each is checked against its own public key:
    that proves integrity, not who signed.
    """
    from auditpack.package import load_public_key

    cs = CampaignStore(store_path)
    found = []
    for cid in cs.ids():
        if not cs.is_closed(cid):
            continue
        folder = cs.attestation_dir(cid)
        document = orjson.loads((folder / ATTESTATION_JSON).read_bytes())
        closed = datetime.fromisoformat(document["closed_at"].replace("Z", "+00:00"))
        ends = date.fromisoformat(document["period"]["end"])
        if closed > as_of or ends < period_start - LOOKBACK:
            continue
        key = public_key if public_key is not None else load_public_key(folder / PUBLIC_KEY)
        verified = not verify_attestation(folder, key)
        decisions = [orjson.loads(line) for line in
                     (folder / DECISIONS).read_bytes().splitlines() if line]
        found.append(LoadedAttestation(cid, folder, document, decisions, verified))
    return found


def register_review_tables(con: duckdb.DuckDBPyConnection,
                           attestations: list[LoadedAttestation]) -> None:
    """Create `review_campaigns` and `review_decisions` (Revoke and Modify only) as TEMP tables."""
    con.execute("""CREATE OR REPLACE TEMP TABLE review_campaigns (
        campaign_id VARCHAR, period_start DATE, period_end DATE, snapshot_at TIMESTAMPTZ,
        closed_at TIMESTAMPTZ, attested_by VARCHAR, complete BOOLEAN, undecided INTEGER,
        rows INTEGER, verified BOOLEAN)""")
    con.execute("""CREATE OR REPLACE TEMP TABLE review_decisions (
        campaign_id VARCHAR, row_id VARCHAR, org_uuid VARCHAR, organization VARCHAR,
        user_id VARCHAR, email VARCHAR, role VARCHAR, decision VARCHAR, justification VARCHAR,
        reviewer VARCHAR, decided_at TIMESTAMPTZ, keeps_other_access BOOLEAN)""")
    for a in attestations:
        d = a.document
        con.execute("INSERT INTO review_campaigns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            a.campaign_id, d["period"]["start"], d["period"]["end"], d["snapshot"]["as_of"],
            d["closed_at"], d["attested_by"], d["complete"], d["decision_counts"]["undecided"],
            d["scope"]["rows"], a.verified])
        kept = {r["user_id"] for r in a.decisions if r["decision"] == "Keep"}
        rows = [[a.campaign_id, r["row_id"], r["org_uuid"], r["organization"], r["user_id"],
                 r["email"], r["role"], r["decision"], r["justification"], r["reviewer"],
                 r["decided_at"], r["user_id"] in kept]
                for r in a.decisions if r["decision"] in ("Revoke", "Modify")]
        if rows:
            con.executemany("INSERT INTO review_decisions VALUES "
                            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
