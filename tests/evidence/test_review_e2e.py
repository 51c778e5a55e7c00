"""A quarter of access review, end to end, on the bundled sample.

Start a campaign, export, let reviewers revoke three people and modify one, import, close with
a signed attestation. Then the organization acts on two of the three revocations and the
modification; the mock API serves that later window (new feed events and a new directory
snapshot), it is collected, and the next build must find exactly the one revocation that did
not happen, carry the attestation, and verify. A second campaign lists what changed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pypdf
import pytest

from auditpack.cli import main
from auditpack.demo import demo_settings
from auditpack.mockapi.server import MockApi
from auditpack.package import load_public_key
from auditpack.pipeline import run_collect
from auditpack.review.campaigns import CampaignStore
from auditpack.review.model import MemberRow
from tests.evidence.conftest import CollectedOrg
from tests.evidence.review_helpers import copy_store, fill, review

DECIDED = "2026-10-06T08:00:00Z"
LATER = datetime(2026, 10, 25, 6, 0, tzinfo=UTC)
NEW_ROLE = "claude_code_user"


def _choose(rows: list[MemberRow]) -> dict[str, list[MemberRow]]:
    """Three people to revoke and one to modify: plain members of an organization, each held
    once, picked by row id (no names from the sample)."""
    once = {r.user_id for r in rows if r.org_uuid} - {
        r.user_id for r in rows if sum(x.user_id == r.user_id for x in rows) > 1}
    plain = sorted((r for r in rows if r.org_uuid and r.user_id in once and r.role == "user"
                    and not r.leaver), key=lambda r: r.row_id)
    return {"revoke_done": plain[:2], "revoke_missed": plain[2:3], "modify": plain[3:4]}


def _activity(n: int, at: datetime, org: MemberRow, kind: str, **fields: Any) -> dict[str, Any]:
    return {"id": f"activity_ZZREVIEWTEST{n:04d}", "created_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "organization_id": None, "organization_uuid": org.org_uuid, "type": kind,
            "actor": {"type": "user_actor", "user_id": "user_ADMINFORTEST",
                      "email_address": "admin@example.test", "ip_address": "192.0.2.99",
                      "user_agent": "test"}, **fields}


def _later_window(sample: CollectedOrg, work: Path, picked: dict[str, list[MemberRow]]) -> Path:
    """The sample dataset plus what happened after the review: two removals, one role change,
    continued use by the person whose revocation was missed, and a new directory snapshot."""
    dataset = work / "dataset"
    shutil.copytree(sample.dataset, dataset)
    at = datetime(2026, 10, 9, 10, 0, tzinfo=UTC)
    events = [_activity(i, at + timedelta(minutes=i), r, "org_user_deleted",
                        deleted_user_id=r.user_id, deleted_user_email=r.email)
              for i, r in enumerate(picked["revoke_done"])]
    (mod,) = picked["modify"]
    events.append(_activity(10, at + timedelta(hours=1), mod, "claude_user_role_updated",
                            user_id=mod.user_id, user_email=mod.email, previous_role="user",
                            current_role=NEW_ROLE))
    (missed,) = picked["revoke_missed"]
    events.append({**_activity(20, datetime(2026, 10, 21, 9, 0, tzinfo=UTC), missed,
                               "sso_login_succeeded"),
                   "organization_uuid": None,
                   "actor": {"type": "user_actor", "user_id": missed.user_id,
                             "email_address": missed.email, "ip_address": "192.0.2.10",
                             "user_agent": "test"}})
    feed = dataset / "compliance" / "activities.jsonl.gz"
    old = gzip.decompress(feed.read_bytes())
    new = b"".join(orjson.dumps(e) + b"\n" for e in
                   sorted(events, key=lambda e: (e["created_at"], e["id"]), reverse=True))
    feed.write_bytes(gzip.compress(new + old))
    directory = dataset / "compliance" / "directory"
    latest = max(p.name for p in directory.iterdir())
    snap = directory / "2026-10-20"
    shutil.copytree(directory / latest, snap)
    gone = {r.user_id for r in picked["revoke_done"]}
    for path in (snap / "users").glob("*.json"):
        users = [u for u in json.loads(path.read_text()) if u["id"] not in gone]
        for u in users:
            if u["id"] == mod.user_id:
                u["organization_role"] = NEW_ROLE
        path.write_text(json.dumps(users))
    for path in (snap / "group_members").glob("*.json"):
        members = [m for m in json.loads(path.read_text()) if m.get("user_id") not in gone]
        path.write_text(json.dumps(members))
    return dataset


@pytest.fixture(scope="module")
def quarter(sample: CollectedOrg, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("quarter")
    store, cfg = copy_store(sample, work)
    assert main(["keys", "generate", "--config", str(cfg), "--insecure-no-passphrase"]) == 0
    assert main(["keys", "export-public", "--config", str(cfg), "--out",
                 str(work / "signer.pub.pem")]) == 0
    assert review(cfg, "start", "--period", "2026-Q3", "--fallback-reviewer",
                  "it.lead@example.test", "--at", "2026-10-05T08:00:00Z") == 0
    cs = CampaignStore(store)
    (cid,) = cs.open_ids()
    picked = _choose(cs.rows(cid))
    choice = {r.row_id: ("Revoke", f"no longer needs access <b>{i}</b>")
              for i, r in enumerate(picked["revoke_done"] + picked["revoke_missed"])}
    choice.update({r.row_id: ("Modify", f"reduce to {NEW_ROLE}") for r in picked["modify"]})
    assert review(cfg, "export", "--out", str(work / "wb")) == 0
    books = sorted((work / "wb").glob("*.xlsx"))
    for book in books:
        fill(book, lambda row: choice.get(row["Row ID"], ("Keep", None)))
    assert review(cfg, "import", *map(str, books), "--at", DECIDED) == 0
    assert review(cfg, "close", "--attested-by", "Chief Information Security Officer",
                  "--at", "2026-10-07T08:00:00Z") == 0
    dataset = _later_window(sample, work, picked)
    with MockApi(dataset, now=LATER, rate_limit_analytics=0, rate_limit_compliance=0) as api:
        settings = demo_settings(work, api.url, sample.meta["keys"])
        run_collect(settings, now=LATER)
    assert main(["build", "--config", str(cfg), "--period", "2026-Q3", "--framework", "soc2",
                 "--out", str(work / "out"), "--as-of", "2026-10-25T06:00:00Z",
                 "--generated-at", "2026-10-25T07:00:00Z"]) == 0
    (package,) = (work / "out").glob("*.zip")
    return {"cfg": cfg, "store": store, "cid": cid, "picked": picked, "package": package,
            "pub": work / "signer.pub.pem", "work": work}


def _member(package: Path, suffix: str) -> bytes:
    with zipfile.ZipFile(package) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(suffix)]
        return zf.read(name)


def test_the_missing_revocation_is_the_one_finding(quarter: dict[str, Any]) -> None:
    ev02 = json.loads(_member(quarter["package"], "data/evidence/EV02-access_review.json"))
    (missed,) = quarter["picked"]["revoke_missed"]
    findings = [f for f in ev02["findings"] if f["rule"] in (
        "revocation_not_carried_out", "revoked_access_used")]
    assert [(f["rule"], f["subject"]["user_id"], f["severity"]) for f in findings] == [
        ("revocation_not_carried_out", missed.user_id, "high")]
    assert "1 activities by them since the decision" in findings[0]["detail"]
    assert ev02["status"] == "exceptions"
    m = ev02["metrics"]
    assert (m["review_campaigns"], m["revocations_decided"], m["modifications_decided"],
            m["revocations_carried_out"], m["revocations_overdue"]) == (1, 3, 1, 3, 1)
    (table,) = [t for t in ev02["tables"] if t["name"] == "review_remediation"]
    states = {row[3]: row[13] for row in table["rows"]}
    picked = quarter["picked"]
    assert states == {**{r.row_id: "carried out" for r in picked["revoke_done"]},
                      missed.row_id: "overdue", picked["modify"][0].row_id: "carried out"}


def test_the_package_carries_a_verifiable_attestation(quarter: dict[str, Any],
                                                      tmp_path: Path) -> None:
    package, cid = quarter["package"], quarter["cid"]
    assert main(["verify", str(package), "--trusted-key", str(quarter["pub"])]) == 0
    body = _member(package, f"data/attestations/{cid}/attestation.json")
    signature = _member(package, f"data/attestations/{cid}/attestation.json.sig")
    # the attestation is signed by the very key that signed the package
    load_public_key(quarter["pub"]).verify(signature, body)
    document = json.loads(body)
    decisions = _member(package, f"data/attestations/{cid}/decisions.jsonl")
    assert document["decisions_sha256"] == hashlib.sha256(decisions).hexdigest()
    assert document["decision_counts"]["Revoke"] == 3 and document["complete"]
    pdf = tmp_path / "attestation.pdf"
    pdf.write_bytes(_member(package, f"data/attestations/{cid}/attestation.pdf"))
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(pdf).pages)
    for r in quarter["picked"]["revoke_missed"] + quarter["picked"]["revoke_done"]:
        assert r.user_id in text.replace("\n", "")
    assert "<b>0</b>" in " ".join(text.split())  # markup in a justification stays text


def test_another_key_cannot_pass_the_attestation_off(quarter: dict[str, Any],
                                                     tmp_path: Path) -> None:
    """Re-signing attestation.json with another key is caught even if the bag is re-hashed."""
    from auditpack.package import generate_key
    from auditpack.review.attest import verify_attestation

    folder = tmp_path / "att"
    shutil.copytree(CampaignStore(quarter["store"]).attestation_dir(quarter["cid"]), folder)
    other = generate_key(tmp_path / "other.pem", None, insecure_no_passphrase=True)
    (folder / "attestation.json.sig").write_bytes(other.sign(
        (folder / "attestation.json").read_bytes()))
    problems = verify_attestation(folder, load_public_key(quarter["pub"]))
    assert problems and "does not verify with the trusted key" in problems[0]


def test_next_campaign_lists_who_left_and_changed_role(quarter: dict[str, Any]) -> None:
    cfg = quarter["cfg"]
    assert review(cfg, "start", "--period", "2026-Q4", "--fallback-reviewer",
                  "it.lead@example.test", "--at", "2026-10-25T08:00:00Z") == 0
    cs = CampaignStore(quarter["store"])
    (cid,) = cs.open_ids()
    campaign = cs.load(cid)
    assert campaign.previous_campaign == quarter["cid"]
    picked = quarter["picked"]
    left = {c.user_id for c in campaign.changes if c.kind == "left"}
    assert {r.user_id for r in picked["revoke_done"]} <= left
    (mod,) = picked["modify"]
    changed = [c for c in campaign.changes if c.kind == "role changed"]
    assert any(c.user_id == mod.user_id and c.previous_role == "user" and c.role == NEW_ROLE
               for c in changed)
    row = next(r for r in cs.rows(cid) if r.user_id == mod.user_id)
    assert row.change == f"role user → {NEW_ROLE}"
    (missed,) = picked["revoke_missed"]
    assert any(r.user_id == missed.user_id for r in cs.rows(cid))  # still holds access
