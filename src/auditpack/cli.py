"""The `auditpack` command: parse arguments, call the pipeline, print, map errors to exit codes.

Exit codes: 0 success, 1 a check said no, 2 usage error, 3 could not finish. Every error is
one line on stderr; a traceback is shown only with AUDITPACK_DEBUG=1.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from auditpack import pipeline
from auditpack.config import PASSPHRASE_VAR, Settings, load_settings
from auditpack.errors import AuditpackError, ExitCode, UsageError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Audit evidence from Claude Enterprise usage and audit data.")
store_app = typer.Typer(no_args_is_help=True, help="Maintain the local evidence store.")
samples_app = typer.Typer(no_args_is_help=True, help="Synthetic organizations for trials.")
app.add_typer(store_app, name="store")
app.add_typer(samples_app, name="samples")

# Piped output is not cut at 80 columns: wide tables stay one row per line for grep and diff.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="auditpack.toml to use "
                                                "(default: ./auditpack.toml if present).")]


def _settings(config: Path | None, **overrides: Any) -> Settings:
    return load_settings(config, overrides=overrides)


def _date(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{flag} must be a date like 2026-07-01, not {value!r}") from None


def _moment(value: str | None, flag: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{flag} must be an RFC 3339 time like 2026-10-05T06:00:00Z") from None
    if moment.tzinfo is None:
        raise UsageError(f"{flag} needs a time zone, e.g. 2026-10-05T06:00:00Z")
    return moment.astimezone(UTC)


@app.command()
def collect(
    config: ConfigOpt = None,
    source: Annotated[str, typer.Option(help="analytics, compliance or all.")] = "all",
    since: Annotated[str | None, typer.Option(help="First day to collect (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Last day to collect (YYYY-MM-DD).")] = None,
    now: Annotated[str | None, typer.Option(
        help="Collect as of this instant instead of the clock (replays, tests).")] = None,
) -> None:
    """Collect from the Analytics and Compliance APIs into the store (incremental, resumable)."""
    settings = _settings(config)
    outcome = _with_progress(lambda progress: pipeline.run_collect(
        settings, source=source, since=_date(since, "--since"), until=_date(until, "--until"),
        now=_moment(now, "--now"), progress=progress))
    result = outcome.result
    for name, tally in result.tallies.items():
        if name not in outcome.requests:
            continue
        out.print(f"{name}: {tally.pages} pages ({tally.new_pages} new), {tally.records} records, "
                  f"{len(tally.gaps)} gaps, {outcome.requests[name]} requests "
                  f"({outcome.retries[name]} retried)")
    out.print(f"run {result.run_id}: {result.status}; store {settings.store_path}")


def _with_progress(job: Any) -> Any:
    if not err.is_terminal:
        return job(None)
    columns = (SpinnerColumn(), TextColumn("{task.description}"),
               TextColumn("{task.fields[pages]} pages, {task.fields[records]} records"),
               TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def progress(source: str, pages: int, records: int) -> None:
            if source not in tasks:
                tasks[source] = bar.add_task(source, total=None, pages=0, records=0)
            task = bar.tasks[tasks[source]]
            bar.update(tasks[source], pages=task.fields["pages"] + pages,
                       records=task.fields["records"] + records)

        return job(progress)


@app.command()
def status(config: ConfigOpt = None) -> None:
    """Show what the store holds: days and windows per source, gaps, unknown types, last run."""
    _print_status(pipeline.run_status(_settings(config)))


def _print_status(st: Any) -> None:
    out.print(f"[bold]Store[/bold] {st.root}: {st.archive_responses} archived responses")
    table = Table("Analytics report", "days held", "first", "last", "holes", box=None)
    for r in st.analytics:
        table.add_row(r.report, str(r.days), str(r.first), str(r.last), str(r.missing))
    out.print(table)
    out.print(f"[bold]Activity feed[/bold]: {st.activities} activities in {st.feed_windows} "
              f"windows, {_t(st.feed_first) or 'the start of the feed'} → {_t(st.feed_last)}; "
              f"holes between windows: {len(st.feed_holes)}"
              + (f"; freshness {st.freshness_hours} h" if st.freshness_hours is not None else ""))
    out.print(f"[bold]Directory[/bold]: {st.snapshots} distinct snapshots, latest as of "
              f"{_t(st.latest_snapshot_as_of)}")
    for org, count in st.members:
        out.print(f"  {org}: {count} members")
    if st.gaps:
        reasons: dict[tuple[str, str], list[str]] = {}
        for g in st.gaps:
            reasons.setdefault((g["report"] or "", g["reason"]), []).append(str(g["day"] or ""))
        out.print(f"[bold]Known gaps[/bold] ({len(st.gaps)}):")
        for (report, reason), days in sorted(reasons.items()):
            span = f"{days[0]} … {days[-1]}" if len(days) > 1 else days[0]
            out.print(f"  {report}: {reason}: {len(days)} ({span})")
    else:
        out.print("[bold]Known gaps[/bold]: none")
    if st.unknown_types:
        out.print("[bold]Unknown activity types[/bold] (kept verbatim): " + ", ".join(
            f"{t} ×{n}" for t, n in st.unknown_types))
    if st.last_run:
        run = st.last_run
        out.print(f"[bold]Last run[/bold] {run['run_id']}: {run['status']} as of {run['as_of']}"
                  + (f": {run['error']}" if run.get("error") else ""))


def _t(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else ""


FrameworkOpt = Annotated[list[str] | None, typer.Option(
    "--framework", "-f", help="soc2, iso27001, nis2, eu-ai-act, pci-dss (repeatable; default all).")]


@app.command()
def build(
    period: Annotated[str, typer.Option(help="2026-Q3, 2026-09 or 2026-09-01..2026-11-20.")],
    config: ConfigOpt = None,
    framework: FrameworkOpt = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("out"),
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Assess as of this instant (default: the newest data held).")] = None,
    generated_at: Annotated[str | None, typer.Option(
        "--generated-at", help="Package timestamp (same store, key and time: same bytes).")
    ] = None,
    no_package: Annotated[bool, typer.Option(
        "--no-package", help="Write the JSON outputs only (no report, no signature).")] = False,
) -> None:
    """Assess a period and write a signed, hashed evidence package (PDF, XLSX, JSON, raw)."""
    outcome = pipeline.run_build(_settings(config), period=period, frameworks=framework,
                                 out=out_dir, as_of=_moment(as_of, "--as-of"),
                                 generated_at=_moment(generated_at, "--generated-at"),
                                 package=not no_package)
    _print_build(outcome)


def _print_build(outcome: Any) -> None:
    severities: dict[str, int] = {}
    for result in outcome.results:
        for finding in result.findings:
            severities[finding.severity.value] = severities.get(finding.severity.value, 0) + 1
    table = Table("Framework", "controls", "effective", "exceptions", "insufficient data",
                  "manual", "n/a", box=None)
    for fw in outcome.frameworks:
        c = fw.counts()
        table.add_row(fw.short_name, str(len(fw.controls)), str(c["effective"]),
                      str(c["exceptions"]), str(c["insufficient_data"]), str(c["manual"]),
                      str(c["not_applicable"]))
    out.print(table)
    out.print("Findings: " + (", ".join(f"{severities.get(s, 0)} {s}" for s in
                                        ("high", "medium", "low", "info"))))
    if outcome.package is not None:
        out.print(f"Package: {outcome.package}")
    else:
        out.print(f"Wrote {len(outcome.files)} files to {outcome.out}")


@app.command()
def verify(
    package: Annotated[Path, typer.Argument(help="The package .zip or an unpacked bag folder.")],
    trusted_key: Annotated[Path | None, typer.Option(
        help="The signer's public key (PEM), obtained out of band.")] = None,
    fingerprint: Annotated[str | None, typer.Option(
        help="Or the signer key's SHA-256 fingerprint (hex).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable result.")] = False,
) -> None:
    """Verify every hash and signature. Exit 0 verified, 1 failed, 4 intact but signer not
    pinned (no --trusted-key or --fingerprint given)."""
    result = pipeline.run_verify(package, trusted_key=trusted_key, fingerprint=fingerprint)
    if as_json:
        print(result.as_json())
    else:
        for problem in result.problems:
            out.print(f"FAIL {problem.code}: {problem.file}: {problem.message} "
                      f"(expected {problem.expected}, found {problem.found})", markup=False)
        out.print(result.summary(), markup=False)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


@app.command(short_help="Set up a working directory: configuration, store folder, signing key.",
             help="Write a commented auditpack.toml, create the store folder, and generate the "
                  "Ed25519 signing key (encrypted with AUDITPACK_SIGNING_PASSPHRASE or a prompt) "
                  "with a self-signed certificate for PDF signatures; print the fingerprint "
                  "auditors pin.")
def init(
    directory: Annotated[Path, typer.Argument(
        help="Working directory (created if missing).")] = Path("."),
    organization: Annotated[str | None, typer.Option(
        help="The organization's name, as reports and the certificate show it.")] = None,
    force: Annotated[bool, typer.Option(
        help="Replace an existing auditpack.toml (a signing key is never replaced).")] = False,
    insecure_no_passphrase: Annotated[bool, typer.Option(
        help="Write the key unencrypted (refused otherwise without a passphrase).")] = False,
) -> None:
    """Set up a working directory: configuration, store folder, signing key."""
    if organization is None:
        if not sys.stdin.isatty():
            raise UsageError("--organization is required (the name reports and the "
                             "certificate show)")
        organization = typer.prompt("Organization name")
    outcome = pipeline.run_init(
        directory, organization=organization, force=force, insecure=insecure_no_passphrase,
        passphrase=lambda: _passphrase(os.environ.get(PASSPHRASE_VAR), insecure_no_passphrase))
    out.print(f"configuration {outcome.config}\nstore         {outcome.store}", markup=False)
    if outcome.fingerprint is None:
        out.print(f"signing key   {outcome.key} (kept; `auditpack keys show` prints its "
                  "fingerprint)", markup=False)
    else:
        out.print(f"signing key   {outcome.key}\ncertificate   {outcome.certificate}\n"
                  f"fingerprint   {outcome.fingerprint}   <- give this to your auditors",
                  markup=False)
    cfg = f" --config {outcome.config}" if outcome.config.parent.resolve() != Path.cwd() else ""
    out.print("Next steps:\n"
              "  1. export AUDITPACK_ANALYTICS_KEY_FILE=… AUDITPACK_COMPLIANCE_KEY_FILE=…\n"
              f"  2. auditpack collect{cfg}   (daily: the Analytics API keeps 90 days)\n"
              f"  3. auditpack keys export-public{cfg} --out signer.pub.pem   (for auditors, "
              "with the fingerprint)\n"
              f"  4. auditpack build{cfg} --period 2026-Q3 --out out/", markup=False)


keys_app = typer.Typer(no_args_is_help=True, help="The package signing key.")
app.add_typer(keys_app, name="keys")


@keys_app.command("generate")
def keys_generate(
    config: ConfigOpt = None,
    insecure_no_passphrase: Annotated[bool, typer.Option(
        help="Write the key unencrypted (refused otherwise without a passphrase).")] = False,
) -> None:
    """Create the Ed25519 signing key (encrypted with AUDITPACK_SIGNING_PASSPHRASE or a
    prompt) and a self-signed certificate for PDF signatures."""
    settings = _settings(config)
    secret = settings.secrets.signing_passphrase
    passphrase = _passphrase(secret.get_secret_value() if secret else None,
                             insecure_no_passphrase)
    key_path = settings.resolve(settings.signing.key)
    cert = settings.resolve(settings.signing.certificate) if settings.signing.certificate \
        else None
    fp = pipeline.run_keys_generate(key_path, passphrase, insecure=insecure_no_passphrase,
                                    common_name=settings.organization.name, certificate=cert)
    out.print(f"signing key {key_path}\nfingerprint {fp}")


def _passphrase(from_env: str | None, insecure: bool) -> str | None:
    """AUDITPACK_SIGNING_PASSPHRASE, else a prompt (twice), else None only when insecure."""
    if from_env:
        return from_env
    if insecure:
        return None
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Passphrase for the signing key: ")
        if first and first == getpass.getpass("Repeat it: "):
            return first
        raise UsageError("the passphrases were empty or did not match")
    raise UsageError("no passphrase: set AUDITPACK_SIGNING_PASSPHRASE (or pass "
                     "--insecure-no-passphrase to write an unencrypted key)")


@keys_app.command("show")
def keys_show(config: ConfigOpt = None) -> None:
    """Print the signing key's fingerprint (what auditors pin)."""
    from auditpack.package import fingerprint as fp_of
    from auditpack.package import load_private_key

    settings = _settings(config)
    secret = settings.secrets.signing_passphrase
    key = load_private_key(settings.resolve(settings.signing.key),
                           secret.get_secret_value().encode() if secret else None)
    out.print(fp_of(key))


@keys_app.command("export-public")
def keys_export_public(
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the PEM.")],
    config: ConfigOpt = None,
) -> None:
    """Write the public key (PEM) to hand to auditors with its fingerprint."""
    from auditpack.package import fingerprint as fp_of
    from auditpack.package import load_private_key, write_public_key

    settings = _settings(config)
    secret = settings.secrets.signing_passphrase
    key = load_private_key(settings.resolve(settings.signing.key),
                           secret.get_secret_value().encode() if secret else None)
    write_public_key(key, out_file)
    out.print(f"wrote {out_file} (fingerprint {fp_of(key)})")


@app.command()
def coverage(framework: FrameworkOpt = None) -> None:
    """Print the control × data-source coverage matrix and its counts."""
    rows, counts = pipeline.run_coverage(framework)
    table = Table("Framework", "Control", "Title", "Analytics", "Compliance", "Both",
                  "Evidence", box=None)
    for row in rows:
        table.add_row(row.framework, row.control_id, row.title, row.analytics, row.compliance,
                      row.combined, ", ".join(row.evidence))
    out.print(table)
    summary = Table("Framework", "Controls", "Analytics full/partial/none",
                    "Compliance full/partial/none", "Both full/partial/none", box=None)
    for c in counts:
        summary.add_row(c.name, str(c.controls), "/".join(map(str, c.analytics)),
                        "/".join(map(str, c.compliance)), "/".join(map(str, c.combined)))
    out.print(summary)


@store_app.command("rebuild")
def store_rebuild(config: ConfigOpt = None) -> None:
    """Recreate the database from the raw archive alone."""
    outcome = pipeline.run_rebuild(_settings(config))
    same = {None: "no previous database to compare", True: "identical to the previous database",
            False: "DIFFERENT from the previous database"}[outcome.identical]
    out.print(f"replayed {outcome.records} archive records; result {same}")
    if outcome.identical is False:
        raise typer.Exit(ExitCode.CHECK_FAILED)


@store_app.command("verify")
def store_verify(config: ConfigOpt = None) -> None:
    """Check every archived response against its hash and the collection log's hash chain."""
    problems = pipeline.run_verify_archive(_settings(config))
    for problem in problems:
        out.print(f"FAIL {problem}")
    if problems:
        raise typer.Exit(ExitCode.CHECK_FAILED)
    out.print("archive and collection log intact")


@app.command("mock-api")
def mock_api(
    dataset: Annotated[Path, typer.Option(help="Dataset directory to serve.")] = Path(
        "samples/example-corp"),
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 8765,
    now: Annotated[str | None, typer.Option(help="The server's clock (default: dataset as_of).")
                   ] = None,
    rate_limit_analytics: Annotated[int, typer.Option(help="Requests/min; 0 lifts it.")] = 60,
    rate_limit_compliance: Annotated[int, typer.Option(help="Requests/min; 0 lifts it.")] = 600,
    faults: Annotated[str | None, typer.Option(
        help="e.g. 5xx=0.05,slow=0.02,drop=0.01,malformed=0.01,truncate=0.01,seed=7")] = None,
    request_log: Annotated[Path | None, typer.Option(help="Append one JSON line per request.")
                           ] = None,
) -> None:
    """Serve a dataset over the documented Analytics and Compliance APIs on loopback."""
    from auditpack.mockapi.faults import FaultSpec
    from auditpack.mockapi.server import serve_forever

    serve_forever(dataset, port=port, now=_moment(now, "--now"),
                  rate_limit_analytics=rate_limit_analytics,
                  rate_limit_compliance=rate_limit_compliance,
                  faults=FaultSpec.parse(faults) if faults else None, request_log=request_log)


@samples_app.command("generate")
def samples_generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write.")],
    users: Annotated[int, typer.Option(min=5, help="Members of the organization.")] = 200,
    days: Annotated[int, typer.Option(min=7, help="Days of data.")] = 92,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 7,
    events: Annotated[int | None, typer.Option(help="Approximate activity count.")] = None,
    start: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD).")] = None,
) -> None:
    """Generate a deterministic synthetic organization with planted anomalies."""
    from auditpack.mockapi.synth import generate

    truth = generate(out_dir, users=users, days=days, seed=seed, events=events,
                     start=_date(start, "--start"))
    out.print(f"wrote {out_dir}: {len(truth.anomalies)} planted anomalies "
              "(see ground_truth.json)")


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the demo store goes (wiped first).")] = Path(
        ".demo"),
    dataset: Annotated[Path | None, typer.Option(help="Dataset (default: the bundled sample).")
                       ] = None,
) -> None:
    """Run the whole job on the bundled sample organization through the mock API."""
    from auditpack.demo import run_demo

    result = run_demo(workdir, dataset, say=out.print)
    _print_status(result.status)
    _print_build(result.build)
    if result.verify_exit:
        raise typer.Exit(result.verify_exit)


def _fail(line: str) -> None:
    """One unwrapped line on stderr, whatever the terminal width."""
    print(" ".join(line.split()), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point: returns the process exit code instead of raising."""
    import logging

    # pyHanko logs a traceback for every self-signed certificate it meets; verify reports
    # signature problems itself, one line each.
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        code = app(args=argv, prog_name="auditpack", standalone_mode=False)
        return code if isinstance(code, int) else int(ExitCode.OK)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(bool(exc.code))
    except AuditpackError as exc:
        _fail(f"auditpack: error: {exc.one_line()}")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        _fail("auditpack: interrupted; run the same command again to resume")
        return int(ExitCode.COULD_NOT_FINISH)
    except Exception as exc:
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            # typer's (vendored click) usage errors: one line instead of a boxed panel.
            _fail(f"auditpack: {exc.format_message()} (see --help)")
            return int(ExitCode.USAGE)
        if os.environ.get("AUDITPACK_DEBUG"):
            raise
        _fail(f"auditpack: internal error: {type(exc).__name__}: {exc} "
              "(set AUDITPACK_DEBUG=1 for a traceback)")
        return int(ExitCode.COULD_NOT_FINISH)


# The review commands live in their own module; imported last because it uses the helpers above.
from auditpack.cli_review import review_app  # noqa: E402

app.add_typer(review_app, name="review")
