"""Benchmark the access-review workbooks: export and import for a large campaign.

Target (issue 6): 100,000 members and 2,000 reviewers; exporting all workbooks and importing
all of them back each under 120 s with peak memory under 1 GiB.

The campaign is made of synthetic rows written straight into a campaign folder (opening a
campaign over a 100,000-member store is the store's work, measured by the evidence benchmarks);
export and import then run exactly as `auditpack review export|import` do, each in a child
process so its wall time and peak RSS are its own. Between the two, every workbook is filled in
(Keep everywhere, Revoke with a justification on every 25th row) by editing the sheet XML,
which is setup and not timed.

Usage: ``.venv/bin/python benchmarks/review_bench.py [--members 100000] [--reviewers 2000]``
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

from auditpack.review.campaigns import CampaignStore
from auditpack.review.model import Campaign, MemberRow, Snapshot, row_id, rows_digest
from auditpack.review.workbook import locked_cells, locked_digest

AT = datetime(2026, 12, 31, 18, 0, tzinfo=UTC)


def make_campaign(store: Path, members: int, reviewers: int) -> str:
    rows = []
    for i in range(members):
        org = f"org-{i % 3}"
        user = f"user_{i:08d}"
        rows.append(MemberRow(
            row_id=row_id(org, user), org_uuid=org, organization=f"Organization {i % 3}",
            user_id=user, email=f"person{i:06d}@example.test", name=f"Person {i}",
            role=("user", "developer", "admin")[i % 3], groups=f"Group {i % 40}; Team {i % 7}",
            workspaces=i % 4, active_keys=i % 2, joined_at=datetime(2025, 1, 1, tzinfo=UTC),
            last_activity=datetime(2026, 12, 1 + i % 28, 9, tzinfo=UTC), dormant=i % 17 == 0,
            leaver=i % 97 == 0, change="new since last review" if i % 13 == 0 else ""))
    per = -(-members // reviewers)
    assignments = {f"reviewer{k:05d}@example.test": [r.row_id for r in rows[k * per:(k + 1) * per]]
                   for k in range(reviewers)}
    by_id = {r.row_id: r for r in rows}
    campaign = Campaign(
        campaign_id="2026-Q4-bench000", period_label="2026-Q4", period_start=date(2026, 10, 1),
        period_end=date(2026, 12, 31), opened_at=AT, due=date(2027, 1, 15),
        snapshot=Snapshot(as_of=AT, directory_snapshot_id="bench", directory_snapshot_as_of=AT,
                          members=members, members_sha256=rows_digest(rows)),
        previous_campaign=None, fallback_reviewer=None, reviewers_file_sha256=None,
        assignments=assignments,
        digests={k: locked_digest(locked_cells(by_id[i]) for i in ids)
                 for k, ids in assignments.items()},
        unassigned={})
    CampaignStore(store).create(campaign, rows)
    return campaign.campaign_id


# the two editable cells of a row as openpyxl's write-only mode leaves them empty
_EMPTY_DECISION = re.compile(rb'<c r="O(\d+)"( s="\d+")?(?: t="n")?(?:/>|></c>)'
                             rb'<c r="P\d+"(?: s="\d+")?(?: t="n")?(?:/>|></c>)')


def fill_all(folder: Path) -> None:
    """Keep on every row, Revoke on every 25th, by rewriting the sheet XML (setup, untimed)."""
    for path in folder.glob("*.xlsx"):
        out = io.BytesIO()
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                data = src.read(info)
                if info.filename == "xl/worksheets/sheet1.xml":
                    data = _EMPTY_DECISION.sub(_decide, data)
                dst.writestr(info, data)
        path.write_bytes(out.getvalue())


def _decide(match: re.Match[bytes]) -> bytes:
    row, style = int(match.group(1)), match.group(2) or b""
    if row % 25:
        return b'<c r="O%d"%s t="inlineStr"><is><t>Keep</t></is></c><c r="P%d"%s/>' % (
            row, style, row, style)
    return (b'<c r="O%d"%s t="inlineStr"><is><t>Revoke</t></is></c>'
            b'<c r="P%d"%s t="inlineStr"><is><t>left the company</t></is></c>'
            % (row, style, row, style))


def child(step: str, store: Path, folder: Path) -> None:
    from auditpack.review import commands

    started = time.perf_counter()
    if step == "export":
        count = len(commands.export(store, folder))
    else:
        outcome = commands.import_files(store, sorted(folder.glob("*.xlsx")), now=AT)
        if outcome.refused:
            raise SystemExit("; ".join(r.lines()[0] + " " + (r.lines()[1:2] or [""])[0]
                                       for r in outcome.refused[:3]))
        count = sum(len(a.record.decisions) for a in outcome.accepted)
    seconds = time.perf_counter() - started
    # the parent plus its worker processes, all alive at once: an upper bound of the sum
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    workers = min(os.cpu_count() or 1, 8) if worker else 0
    print(json.dumps({"step": step, "seconds": seconds, "count": count,
                      "peak_mib": own + workers * worker}))


def run(step: str, store: Path, folder: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--child", step, str(store), str(folder)],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--reviewers", type=int, default=2_000)
    parser.add_argument("--child", nargs=3, metavar=("STEP", "STORE", "FOLDER"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    with tempfile.TemporaryDirectory(prefix="review-bench-") as tmp:
        store, folder = Path(tmp) / "store", Path(tmp) / "wb"
        make_campaign(store, args.members, args.reviewers)
        export = run("export", store, folder)
        print(f"export: {int(export['count'])} workbooks, {args.members:,} rows in "
              f"{export['seconds']:.1f} s ({args.members / export['seconds']:,.0f} rows/s), "
              f"peak {export['peak_mib']:.0f} MiB  (target < 120 s, < 1024 MiB)")
        fill_all(folder)
        imported = run("import", store, folder)
        print(f"import: {int(imported['count']):,} decisions from {int(export['count'])} "
              f"workbooks in {imported['seconds']:.1f} s "
              f"({args.members / imported['seconds']:,.0f} rows/s), "
              f"peak {imported['peak_mib']:.0f} MiB  (target < 120 s, < 1024 MiB)")


if __name__ == "__main__":
    main()
