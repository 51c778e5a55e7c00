"""Where campaigns live: `<store>/reviews/<campaign id>/`, plain files written atomically.

    campaign.json            the campaign (models.Campaign), never rewritten
    members.jsonl            the reviewed rows; their SHA-256 is the snapshot hash
    imports/<sha256>.json    one accepted workbook each (models.ImportRecord)
    attestation/             attestation.json, its .sig, attestation.pdf, signer.pub.pem

Review records are manual inputs, not API data, so they sit beside the archive rather than in
the database (which `store rebuild` recreates from API responses alone). A campaign is closed
once its attestation exists; nothing is recorded into a closed campaign.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path

import orjson
from pydantic import ValidationError

from auditpack.errors import StoreError, UsageError
from auditpack.review.model import Campaign, Decision, ImportRecord, MemberRow, canonical

ATTESTATION_DIR = "attestation"
ATTESTATION_JSON = "attestation.json"


def write_atomic(path: Path, data: bytes) -> None:
    """Write `path` so a crash leaves either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class CampaignStore:
    """The campaigns of one evidence store."""

    def __init__(self, store_path: Path) -> None:
        self.root = store_path / "reviews"
        # campaign.json and members.jsonl never change once written: read each once
        self._campaigns: dict[str, Campaign] = {}
        self._rows: dict[str, RowIndex] = {}

    def ids(self) -> list[str]:
        """Every campaign id, oldest first (ids sort by period, then by content)."""
        if not self.root.is_dir():
            return []
        found = [p.name for p in self.root.iterdir() if (p / "campaign.json").is_file()]
        return sorted(found, key=lambda i: (self.load(i).opened_at, i))

    def folder(self, campaign_id: str) -> Path:
        return self.root / campaign_id

    def load(self, campaign_id: str) -> Campaign:
        if campaign_id in self._campaigns:
            return self._campaigns[campaign_id]
        path = self.folder(campaign_id) / "campaign.json"
        if not path.is_file():
            raise UsageError(f"no review campaign {campaign_id!r}",
                             hint="`auditpack review status` lists the campaigns")
        try:
            campaign = Campaign.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            raise StoreError(f"{path}: not a valid campaign ({exc.error_count()} errors)") from None
        self._campaigns[campaign_id] = campaign
        return campaign

    def rows(self, campaign_id: str) -> list[MemberRow]:
        """The reviewed rows, in campaign order."""
        return list(self.row_index(campaign_id).values())

    def row_index(self, campaign_id: str) -> RowIndex:
        """The reviewed rows by row id, in campaign order."""
        if campaign_id not in self._rows:
            path = self.folder(campaign_id) / "members.jsonl"
            try:
                self._rows[campaign_id] = RowIndex(path.read_bytes())
            except (OSError, ValueError) as exc:
                raise StoreError(f"{path}: unreadable campaign members ({exc})") from None
        return self._rows[campaign_id]

    def create(self, campaign: Campaign, rows: list[MemberRow]) -> Path:
        """Write a new campaign; members first, so a campaign.json never lacks its rows."""
        folder = self.folder(campaign.campaign_id)
        if (folder / "campaign.json").exists():
            raise UsageError(f"review campaign {campaign.campaign_id} already exists")
        members = b"".join(canonical(r.model_dump(mode="json")) + b"\n" for r in rows)
        write_atomic(folder / "members.jsonl", members)
        write_atomic(folder / "campaign.json", canonical(campaign.model_dump(mode="json")))
        return folder

    def is_closed(self, campaign_id: str) -> bool:
        return (self.folder(campaign_id) / ATTESTATION_DIR / ATTESTATION_JSON).is_file()

    def open_ids(self) -> list[str]:
        return [i for i in self.ids() if not self.is_closed(i)]

    def resolve(self, campaign_id: str | None, *, open_only: bool = False) -> Campaign:
        """The campaign named, or else the one open campaign (or the latest, if not open_only)."""
        if campaign_id:
            campaign = self.load(campaign_id)
            if open_only and self.is_closed(campaign_id):
                raise UsageError(f"review campaign {campaign_id} is closed; nothing more can "
                                 "be recorded in it")
            return campaign
        candidates = self.open_ids() if open_only else (self.open_ids() or self.ids()[-1:])
        if not candidates:
            raise UsageError("no open review campaign" if open_only else "no review campaign",
                             hint="start one with `auditpack review start --period ...`")
        if len(candidates) > 1:
            raise UsageError(f"{len(candidates)} review campaigns are open; name one with "
                             f"--campaign ({', '.join(candidates)})")
        return self.load(candidates[0])

    def imports(self, campaign_id: str) -> list[ImportRecord]:
        """Accepted workbooks, in the order they were imported."""
        folder = self.folder(campaign_id) / "imports"
        if not folder.is_dir():
            return []
        records = [ImportRecord.model_validate_json(p.read_bytes())
                   for p in folder.glob("*.json")]
        return sorted(records, key=lambda r: (r.imported_at, r.file_sha256))

    def has_import(self, campaign_id: str, file_sha256: str) -> bool:
        return (self.folder(campaign_id) / "imports" / f"{file_sha256}.json").is_file()

    def add_import(self, record: ImportRecord) -> None:
        write_atomic(self.folder(record.campaign_id) / "imports" / f"{record.file_sha256}.json",
                     canonical(record.model_dump(mode="json")))

    def decisions(self, campaign_id: str) -> dict[str, tuple[Decision, ImportRecord]]:
        """The standing decision per row: a later import of the same reviewer replaces an
        earlier one, and every import stays on file."""
        latest: dict[str, tuple[Decision, ImportRecord]] = {}
        for record in self.imports(campaign_id):
            for decision in record.decisions:
                latest[decision.row_id] = (decision, record)
        return latest

    def attestation_dir(self, campaign_id: str) -> Path:
        return self.folder(campaign_id) / ATTESTATION_DIR


class RowIndex(Mapping[str, MemberRow]):
    """Campaign rows by id, kept as their JSON lines and validated when read.

    A campaign of 100,000 people is read by several workers at once; a model per row would
    cost each of them hundreds of MiB, the lines a few dozen.
    """

    def __init__(self, data: bytes) -> None:
        self._lines: dict[str, bytes] = {}
        for line in data.splitlines():
            if line:
                value = orjson.loads(line)
                self._lines[str(value["row_id"])] = line

    def __getitem__(self, row_id: str) -> MemberRow:
        try:
            return MemberRow.model_validate_json(self._lines[row_id])
        except ValidationError as exc:
            raise StoreError(f"campaign row {row_id}: invalid ({exc.error_count()} errors)") \
                from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._lines)

    def __len__(self) -> int:
        return len(self._lines)

    def __contains__(self, row_id: object) -> bool:
        return row_id in self._lines


def load_json(path: Path) -> dict[str, object]:
    """A JSON object from a file this store wrote."""
    value = orjson.loads(path.read_bytes())
    if not isinstance(value, dict):
        raise StoreError(f"{path}: not a JSON object")
    return value


def stamp(moment: datetime) -> str:
    """`2026-10-05T06:00:00Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
