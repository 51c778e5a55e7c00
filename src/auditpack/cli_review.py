"""`auditpack review ...`: the quarterly access review, from campaign to signed attestation."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from auditpack.cli import ConfigOpt, _date, _fail, _moment, _settings, out
from auditpack.errors import CheckFailed, UsageError
from auditpack.pipeline import evidence_database
from auditpack.review import commands
from auditpack.review.model import utc_now
from auditpack.store import Store

review_app = typer.Typer(no_args_is_help=True, help="Quarterly access review and attestation.")

CampaignOpt = Annotated[str | None, typer.Option(
    "--campaign", help="Campaign id (default: the open campaign).")]
AtOpt = Annotated[str | None, typer.Option(
    "--at", help="Record this time instead of now (RFC 3339; for back-filling and tests).")]


@review_app.command("start")
def review_start(
    period: Annotated[str, typer.Option(help="The period reviewed: 2026-Q4, 2026-10, or a range.")],
    config: ConfigOpt = None,
    reviewers: Annotated[Path | None, typer.Option(
        help="CSV with columns member,reviewer (member: e-mail, user id, group:NAME, org:NAME).")
    ] = None,
    fallback_reviewer: Annotated[str | None, typer.Option(
        help="Reviewer of everyone no rule assigns.")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Review the access held at this instant (default: the newest data).")
    ] = None,
    due: Annotated[str | None, typer.Option(help="Reviewers' deadline (YYYY-MM-DD).")] = None,
    at: AtOpt = None,
) -> None:
    """Open a campaign pinned to a dated snapshot of who holds access."""
    from auditpack.evidence import parse_period

    settings = _settings(config)
    the_period = parse_period(period)
    policy = settings.policy or {}
    with evidence_database(Store.open_existing(settings.store_path)) as con:
        started = commands.start(
            settings.store_path, con, period_label=period, period_start=the_period.start,
            period_end=the_period.end, reviewers_csv=reviewers, fallback=fallback_reviewer,
            dormant_days=int(policy.get("dormant_days", 90)),
            due_days=int(policy.get("review_deadline_days", 14)),
            now=_moment(at, "--at") or utc_now(), as_of=_moment(as_of, "--as-of"),
            due=_date(due, "--due"))
    c = started.campaign
    out.print(f"campaign {c.campaign_id}: {started.rows} access rows of {c.snapshot.members} "
              f"people as of {c.snapshot.as_of:%Y-%m-%d %H:%M} UTC, due {c.due}")
    out.print(f"snapshot sha256 {c.snapshot.members_sha256}")
    out.print(f"{len(c.assignments)} reviewers; {len(c.unassigned)} rows unassigned")
    for rid, why in list(c.unassigned.items())[:20]:
        out.print(f"  unassigned {rid}: {why}", markup=False)
    for rule in c.unmatched_rules:
        out.print(f"  warning: reviewer rule {rule!r} matches nobody", markup=False)
    if c.previous_campaign:
        kinds = {k: sum(1 for x in c.changes if x.kind == k) for k in
                 ("joined", "left", "role changed")}
        out.print(f"since {c.previous_campaign}: " + ", ".join(f"{v} {k}"
                                                                for k, v in kinds.items()))


@review_app.command("export")
def review_export(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the workbooks.")],
    config: ConfigOpt = None,
    campaign: CampaignOpt = None,
) -> None:
    """Write one workbook per reviewer, listing only that reviewer's rows."""
    settings = _settings(config)
    written = commands.export(settings.store_path, out_dir, campaign_id=campaign)
    out.print(f"wrote {len(written)} reviewer workbooks to {out_dir}")


@review_app.command("import")
def review_import(
    files: Annotated[list[Path], typer.Argument(help="Returned reviewer workbooks.")],
    config: ConfigOpt = None,
    campaign: CampaignOpt = None,
    reviewer: Annotated[str | None, typer.Option(
        help="Who is importing: each file must be this reviewer's own.")] = None,
    at: AtOpt = None,
) -> None:
    """Check returned workbooks and record their decisions (a bad file records nothing)."""
    settings = _settings(config)
    outcome = commands.import_files(settings.store_path, files, now=_moment(at, "--at")
                                    or utc_now(), campaign_id=campaign, reviewer=reviewer)
    for done in outcome.accepted:
        r = done.record
        state = "already imported, nothing new" if done.already else \
            f"{len(r.decisions)} decisions recorded"
        out.print(f"{r.file_name}: {r.reviewer}: {state} (sha256 {r.file_sha256[:16]}…)",
                  markup=False)
    for refused in outcome.refused:
        first, *rest = refused.lines()
        _fail(f"auditpack: {first}")
        for line in rest:
            print(line, file=sys.stderr)
    if outcome.refused:
        raise CheckFailed(f"{len(outcome.refused)} of {len(files)} workbooks refused")


@review_app.command("status")
def review_status(
    config: ConfigOpt = None,
    campaign: CampaignOpt = None,
    today: Annotated[str | None, typer.Option(help="Judge overdue as of this date.")] = None,
) -> None:
    """Completion per reviewer, undecided rows and overdue reviewers."""
    settings = _settings(config)
    state = commands.progress(settings.store_path, campaign_id=campaign,
                              today=_date(today, "--today"))
    c = state.campaign
    out.print(f"campaign {c.campaign_id} ({c.period_label}) "
              f"{'closed' if state.closed else 'open'}, due {c.due}: "
              f"{state.decided}/{state.rows} rows decided")
    table = Table("Reviewer", "rows", "decided", "keep", "revoke", "modify", "undecided",
                  "files", "overdue", box=None)
    for r in state.reviewers:
        table.add_row(r.reviewer, str(r.rows), str(r.decided), str(r.counts.get("Keep", 0)),
                      str(r.counts.get("Revoke", 0)), str(r.counts.get("Modify", 0)),
                      str(r.undecided), str(r.files), "OVERDUE" if r.overdue else "")
    out.print(table)
    if state.unassigned:
        out.print(f"{state.unassigned} rows have no reviewer", markup=False)


@review_app.command("close")
def review_close(
    attested_by: Annotated[str, typer.Option(help="Who attests the review (name or e-mail).")],
    config: ConfigOpt = None,
    campaign: CampaignOpt = None,
    allow_incomplete: Annotated[bool, typer.Option(
        help="Close although rows are undecided (recorded in the attestation).")] = False,
    at: AtOpt = None,
) -> None:
    """Write the signed attestation; the next `build` includes it."""
    from auditpack.pipeline import signing_material
    from auditpack.review import attest

    if not attested_by.strip():
        raise UsageError("--attested-by must name who attests the review")
    settings = _settings(config)
    now = _moment(at, "--at") or utc_now()
    # refuse an incomplete review before asking for the key's passphrase
    commands.require_complete(commands.progress(settings.store_path, campaign_id=campaign,
                                                today=now.date()), allow_incomplete)
    key, pdf_signing = signing_material(settings, now)
    folder = attest.close(settings.store_path, campaign_id=campaign,
                          attested_by=attested_by.strip(), now=now,
                          allow_incomplete=allow_incomplete, signing_key=key,
                          pdf_signing=pdf_signing)
    out.print(f"attestation written to {folder}")
