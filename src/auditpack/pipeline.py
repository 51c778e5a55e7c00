"""One function per command: wiring only. The command line calls these; tests may too."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from auditpack.config import Settings
from auditpack.errors import ConfigError, UsageError
from auditpack.records import Api
from auditpack.sources import AnalyticsSource, ApiClient, ComplianceSource
from auditpack.store import AnalyticsPolicy, FeedPolicy, Store, SyncRequest, SyncResult, collect
from auditpack.store.status import StoreStatus, store_status

if TYPE_CHECKING:
    import duckdb

SOURCES = ("all", "analytics", "compliance")


def _client(settings: Settings, api: Api, key: SecretStr | None, per_minute: int) -> ApiClient:
    var = f"AUDITPACK_{api.value.upper()}_KEY"
    if key is None:
        raise ConfigError(f"no {api.value} API key: set {var} (or {var}_FILE, or "
                          "api.secrets_file)", hint=f"or collect with --source "
                          f"{'compliance' if api is Api.ANALYTICS else 'analytics'}")
    return ApiClient(api, settings.api.base_url, key, key_name=var, per_minute=per_minute,
                     timeout=settings.api.timeout_seconds, max_retries=settings.api.max_retries)


@dataclass
class CollectOutcome:
    """A finished collection and the request counts behind it."""

    result: SyncResult
    requests: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)


def run_collect(settings: Settings, *, source: str = "all", since: date | None = None,
                until: date | None = None, now: datetime | None = None,
                progress: Callable[[str, int, int], None] | None = None) -> CollectOutcome:
    """`auditpack collect`: read the selected APIs into the store, incrementally."""
    if source not in SOURCES:
        raise UsageError(f"--source must be one of {', '.join(SOURCES)}, not {source!r}")
    if since and until and since > until:
        raise UsageError(f"--since {since} is after --until {until}")
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise UsageError("--now needs a time zone, e.g. 2026-10-05T06:00:00Z")
    want_analytics = source in ("all", "analytics") and settings.analytics.enabled
    want_compliance = source in ("all", "compliance") and settings.compliance.enabled
    if not (want_analytics or want_compliance):
        raise UsageError("nothing to collect: the selected source is disabled in the configuration")
    clients: dict[str, ApiClient] = {}
    with ExitStack() as stack:
        if want_analytics:
            clients["analytics"] = _client(settings, Api.ANALYTICS, settings.secrets.analytics_key,
                                           settings.analytics.rate_limit_per_minute)
        if want_compliance:
            clients["compliance"] = _client(settings, Api.COMPLIANCE,
                                            settings.secrets.compliance_key,
                                            settings.compliance.rate_limit_per_minute)
        for client in clients.values():
            stack.callback(client.close)
        a = settings.analytics
        request = SyncRequest(
            now=now, since=since, until=until,
            analytics=AnalyticsSource(clients["analytics"]) if want_analytics else None,
            compliance=ComplianceSource(clients["compliance"]) if want_compliance else None,
            analytics_policy=AnalyticsPolicy(
                delay_days=a.delay_days, lookback_days=a.lookback_days,
                engagement_settle_days=a.engagement_settle_days,
                usage_settle_days=a.usage_settle_days, usage_lag_hours=a.usage_lag_hours),
            feed_policy=FeedPolicy(overlap_minutes=settings.compliance.overlap_minutes),
        )
        result = collect(Store(settings.store_path), request, progress)
        return CollectOutcome(result,
                              {k: c.requests_sent for k, c in clients.items()},
                              {k: c.retries for k, c in clients.items()})


def run_status(settings: Settings, now: datetime | None = None) -> StoreStatus:
    """`auditpack status`: what the store holds."""
    store = Store.open_existing(settings.store_path)
    return store_status(store, now or datetime.now(UTC))


@dataclass(frozen=True)
class RebuildOutcome:
    """The result of `store rebuild`."""

    records: int
    identical: bool | None  # None when there was no database before


def run_rebuild(settings: Settings) -> RebuildOutcome:
    """`auditpack store rebuild`: recreate the database from the archive alone."""
    store = Store.open_existing(settings.store_path)
    with store.locked():
        before: dict[str, str] | None = None
        if store.db_path.exists():
            old = store.database()
            try:
                old.catch_up(store.archive())
                before = old.fingerprint()
            finally:
                old.close()
        fresh_path = store.db_path.with_suffix(".rebuild")
        fresh_path.unlink(missing_ok=True)
        fresh = Store(store.root)
        fresh.db_path = fresh_path
        db = fresh.database()
        try:
            records = db.catch_up(store.archive())
            after = db.fingerprint()
        finally:
            db.close()
        Path(str(store.db_path) + ".wal").unlink(missing_ok=True)
        shutil.move(fresh_path, store.db_path)
    return RebuildOutcome(records, None if before is None else before == after)


def run_verify_archive(settings: Settings) -> list[str]:
    """`auditpack store verify`: every archived object matches its hash; the log chain holds."""
    store = Store.open_existing(settings.store_path)
    archive = store.archive()
    problems: list[str] = []
    seen: set[str] = set()
    for record in archive.records():
        sha = str(record.get("sha256"))
        if record["kind"] != "response" or sha in seen:
            continue
        seen.add(sha)
        try:
            archive.read_body(sha)
        except Exception as exc:  # StoreError carries the one-line reason
            problems.append(str(exc))
    problems.extend(store.log.verify())
    return problems


def demo_settings(workdir: Path, base_url: str, keys: dict[str, Any]) -> Settings:
    """Settings for the bundled sample: store in `workdir`, limits lifted for a quick run."""
    from auditpack.config import Secrets

    settings = Settings.model_validate({
        "organization": {"name": "Example Corp (synthetic demo)"},
        "store": {"path": str(workdir / "store")},
        "api": {"base_url": base_url, "max_retries": 6},
        "analytics": {"rate_limit_per_minute": 0},
        "compliance": {"rate_limit_per_minute": 0},
    })
    settings.secrets = Secrets(analytics_key=SecretStr(keys["analytics"]),
                               compliance_key=SecretStr(keys["compliance"]))
    return settings


# -- evidence, controls and outputs ------------------------------------------------------

POLICY_KEYS = frozenset({
    "dormant_days", "key_rotation_days", "termination_revocation_max_hours", "time_zone",
    "working_hours", "approved_connectors", "approved_skills", "restricted_workspaces",
    "restricted_projects", "restricted_groups", "download_burst_sensitivity",
    "failed_login_burst", "failed_login_window_minutes", "settings_baseline", "cost_centres",
    "log_retention_min_days", "access_review_max_interval_days", "review_deadline_days",
    "revocation_deadline_days",
})
# policy key -> the framework parameter it must not loosen
POLICY_LIMITS = {
    "dormant_days": "inactive_account_max_days",
    "termination_revocation_max_hours": "termination_revocation_max_hours",
    "log_retention_min_days": "log_retention_min_days",
    "access_review_max_interval_days": "access_review_max_interval_days",
    "key_rotation_days": "system_credential_rotation_days",
}


def resolve_frameworks(catalogs: dict[str, Any], chosen: list[str] | None) -> list[str]:
    """The frameworks to build (all by default); an unknown key is a usage error."""
    if not chosen:
        return sorted(catalogs)
    unknown = [f for f in chosen if f not in catalogs]
    if unknown:
        raise UsageError(f"unknown framework {unknown[0]!r}: choose from "
                         f"{', '.join(sorted(catalogs))}")
    return list(dict.fromkeys(chosen))


def checked_policy(settings: Settings, catalogs: dict[str, Any],
                   frameworks: list[str]) -> Any:
    """The `[policy]` table as a Policy, refusing unknown keys and values looser than a
    chosen framework's own limit (e.g. dormant_days 120 against PCI DSS 8.2.6's 90)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from auditpack.controls import check_policy_value
    from auditpack.evidence import policy_from_config

    values = settings.policy
    unknown = sorted(set(values) - POLICY_KEYS)
    if unknown:
        raise UsageError(f"[policy] has an unknown setting {unknown[0]!r}",
                         hint=f"known settings: {', '.join(sorted(POLICY_KEYS))}")
    for key, param in POLICY_LIMITS.items():
        if key in values:
            check_policy_value(catalogs, param, values[key], setting=f"policy.{key}",
                               frameworks=frameworks)
    try:
        ZoneInfo(str(values.get("time_zone", "UTC")))
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"policy.time_zone {values.get('time_zone')!r} is not a known "
                         "IANA time zone (e.g. Europe/Berlin)") from None
    try:
        return policy_from_config(values)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"[policy]: {exc}") from None


@dataclass
class BuildOutcome:
    """What `build` produced."""

    out: Path
    results: list[Any]
    frameworks: list[Any]
    files: list[Path]
    package: Path | None = None


def signing_material(settings: Settings, generated_at: datetime) -> tuple[Any, Any]:
    """The package's Ed25519 key and how report.pdf is signed (a `PdfSigning`).

    Keys are decrypted with AUDITPACK_SIGNING_PASSPHRASE. The PDF identity is the configured
    PKCS#12 file, else `pdf_key` with `certificate`, else the package key with `certificate`;
    when that certificate file does not exist a self-signed one is derived from the key, so
    the same key and generation time always give the same certificate.
    """
    from datetime import timedelta

    from auditpack.package import load_private_key, self_signed_certificate
    from auditpack.package.identity import certificate_identity, pem_identity, pkcs12_identity
    from auditpack.package.pdfsign import PdfSigning

    signing = settings.signing
    key_path = settings.resolve(signing.key)
    if not key_path.exists():
        raise ConfigError(f"no signing key at {key_path}",
                          hint="run `auditpack init` or `auditpack keys generate`")
    secret = settings.secrets.signing_passphrase
    passphrase = secret.get_secret_value().encode() if secret else None
    key = load_private_key(key_path, passphrase)
    tsa = signing.timestamp_url
    cert_path = settings.resolve(signing.certificate) if signing.certificate else None
    if signing.pkcs12 is not None:
        return key, pkcs12_identity(settings.resolve(signing.pkcs12), passphrase,
                                    timestamp_url=tsa)
    if signing.pdf_key is not None and cert_path is not None:
        return key, pem_identity(settings.resolve(signing.pdf_key), cert_path, passphrase,
                                 timestamp_url=tsa)
    if cert_path is not None and cert_path.exists():
        return key, certificate_identity(key, cert_path, timestamp_url=tsa)
    cert = self_signed_certificate(key, settings.organization.name,
                                   not_before=generated_at - timedelta(days=1), days=3650)
    return key, PdfSigning(key, cert, (), tsa)


@contextmanager
def evidence_database(store: Store) -> Iterator[duckdb.DuckDBPyConnection]:
    """The store's database caught up with its archive, then opened read-only (UTC)."""
    import duckdb

    with store.locked():
        db = store.database()
        try:
            db.catch_up(store.archive())
        finally:
            db.close()
    con = duckdb.connect(str(store.db_path), read_only=True)
    try:
        con.execute("SET TimeZone='UTC'")
        yield con
    finally:
        con.close()


def run_build(settings: Settings, *, period: str, frameworks: list[str] | None = None,
              out: Path, as_of: datetime | None = None, generated_at: datetime | None = None,
              package: bool = True) -> BuildOutcome:
    """`auditpack build`: evidence → control assessments → a signed, hashed package in `out`.

    With `package=False` only the JSON outputs are written (no key needed).
    """
    from auditpack.assemble import PackageMeta, assemble, now_seconds
    from auditpack.controls import assess, catalog_dir, load_catalogs
    from auditpack.evidence import build_context, compute_all, parse_period
    from auditpack.report.jsonout import write_outputs
    from auditpack.review.records import register_review_tables, relevant_attestations

    the_period = parse_period(period)
    catalogs = load_catalogs(catalog_dir())
    chosen = resolve_frameworks(catalogs, frameworks)
    policy = checked_policy(settings, catalogs, chosen)
    generated_at = (generated_at or now_seconds()).astimezone(UTC)
    material = signing_material(settings, generated_at) if package else None
    store = Store.open_existing(settings.store_path)
    with evidence_database(store) as con:
        ctx = build_context(con, the_period, policy, as_of=as_of)
        # attested access reviews: checked against the signing key, read by EV02
        attestations = relevant_attestations(
            settings.store_path, period_start=the_period.start, as_of=ctx.as_of,
            public_key=material[0].public_key() if material else None)
        register_review_tables(con, attestations)
        results = compute_all(ctx)
    sources = {s for s, held in (("analytics", bool(ctx.holdings.analytics_days)),
                                 ("compliance", ctx.holdings.has_compliance)) if held}
    assessed = assess(catalogs, results, sources, chosen)
    out.mkdir(parents=True, exist_ok=True)
    if material is None:
        return BuildOutcome(out, results, assessed, write_outputs(out, results, assessed))
    meta = PackageMeta(organization=settings.organization.name, period=the_period,
                       period_label=period, frameworks=tuple(chosen), generated_at=generated_at,
                       sources=tuple(sorted(sources)))
    zip_path = assemble(out, store=store, meta=meta, results=results, frameworks=assessed,
                        catalog_versions={k: c.framework.catalog_version
                                          for k, c in catalogs.items()},
                        signing_key=material[0], pdf_signing=material[1],
                        attestations={f"attestations/{a.campaign_id}/{name}": data
                                      for a in attestations if a.verified
                                      for name, data in a.files().items()})
    return BuildOutcome(out, results, assessed, [zip_path], zip_path)


def run_verify(package: Path, *, trusted_key: Path | None = None,
               fingerprint: str | None = None) -> Any:
    """`auditpack verify`: every hash and signature, plus agreement of package ID and period
    across bag-info.txt, package.json and the PDF (see `auditpack.verify_content`)."""
    from auditpack.package import verify_package
    from auditpack.verify_content import attestation_problems, content_problems

    if not package.exists():
        raise UsageError(f"no package at {package}")
    result = verify_package(package, trusted_key=trusted_key, fingerprint=fingerprint)
    result.problems.extend(content_problems(package))
    result.problems.extend(attestation_problems(package, trusted_key=trusted_key,
                                                fingerprint=fingerprint))
    return result


def run_keys_generate(path: Path, passphrase: str | None, *, insecure: bool,
                      common_name: str, certificate: Path | None) -> str:
    """`auditpack keys generate`: an encrypted Ed25519 key (+ self-signed certificate)."""
    from datetime import timedelta

    from auditpack.assemble import now_seconds
    from auditpack.package import (
        fingerprint,
        generate_key,
        self_signed_certificate,
        write_certificate,
    )

    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_key(path, passphrase.encode() if passphrase else None,
                       insecure_no_passphrase=insecure)
    if certificate is not None:
        write_certificate(self_signed_certificate(
            key, common_name, not_before=now_seconds() - timedelta(days=1), days=3650),
            certificate)
    return fingerprint(key)


@dataclass(frozen=True)
class InitOutcome:
    """What `init` set up; `fingerprint` is None when an existing key was kept unread."""

    config: Path
    store: Path
    key: Path
    certificate: Path | None
    fingerprint: str | None


def run_init(directory: Path, *, organization: str, passphrase: Callable[[], str | None],
             insecure: bool = False, force: bool = False) -> InitOutcome:
    """`auditpack init`: a commented auditpack.toml, the store folder, the signing key and
    its self-signed certificate, in `directory`.

    An existing auditpack.toml is replaced only with `force`; an existing signing key is
    never replaced (rotating the key a package was pinned to is a deliberate act). The
    passphrase is asked for only when a key is generated, before anything is written.
    """
    from auditpack.config import SigningSettings, load_settings
    from auditpack.init_config import CONFIG_NAME, config_text, refuse_existing, write_config

    config = directory / CONFIG_NAME
    refuse_existing(config, force=force)
    config_text(organization)  # validate the name before asking for anything
    defaults = SigningSettings()
    key_path = directory / defaults.key
    keep = key_path.exists()
    secret = None if keep else passphrase()
    if not keep and not secret and not insecure:
        raise UsageError("refusing to write an unencrypted signing key",
                         hint="set AUDITPACK_SIGNING_PASSPHRASE or pass --insecure-no-passphrase")
    directory.mkdir(parents=True, exist_ok=True)
    write_config(config, organization, force=force)
    settings = load_settings(config, env={})  # the file just written, not the environment
    settings.store_path.mkdir(parents=True, exist_ok=True)
    key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert = directory / defaults.certificate if defaults.certificate else None
    if keep:
        return InitOutcome(config, settings.store_path, key_path, cert, None)
    fp = run_keys_generate(key_path, secret, insecure=insecure,
                           common_name=settings.organization.name, certificate=cert)
    return InitOutcome(config, settings.store_path, key_path, cert, fp)


def run_coverage(frameworks: list[str] | None = None) -> tuple[list[Any], list[Any]]:
    """`auditpack coverage`: the control × source matrix and its counts."""
    from auditpack.controls import catalog_dir, coverage_counts, coverage_matrix, load_catalogs

    catalogs = load_catalogs(catalog_dir())
    chosen = resolve_frameworks(catalogs, frameworks)
    return coverage_matrix(catalogs, chosen), coverage_counts(catalogs, chosen)
