"""Settings: command-line flags > environment > `auditpack.toml` > defaults.

Only the command line loads settings; the pipeline turns them into constructor arguments, and
no layer reads configuration itself. API keys are `SecretStr` from the moment they are read:
they come from `AUDITPACK_ANALYTICS_KEY` / `AUDITPACK_COMPLIANCE_KEY`, from a file named by
`AUDITPACK_ANALYTICS_KEY_FILE` / `AUDITPACK_COMPLIANCE_KEY_FILE`, or from the `secrets_file`
named in the configuration, and never from `auditpack.toml` itself.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from auditpack.errors import ConfigError

DEFAULT_CONFIG = Path("auditpack.toml")
DEFAULT_BASE_URL = "https://api.anthropic.com"
PASSPHRASE_VAR = "AUDITPACK_SIGNING_PASSPHRASE"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrganizationSettings(_Section):
    """Who the evidence is about."""

    name: str = "Claude Enterprise organization"


class StoreSettings(_Section):
    """Where the evidence store lives (relative paths are relative to the config file)."""

    path: Path = Path("store")


class ApiSettings(_Section):
    """How to reach the APIs."""

    base_url: str = DEFAULT_BASE_URL
    timeout_seconds: float = Field(30.0, gt=0)
    max_retries: int = Field(6, ge=0, le=20)
    secrets_file: Path | None = None


class AnalyticsSettings(_Section):
    """Analytics API collection (rules in claude-apis.md §3.2)."""

    enabled: bool = True
    rate_limit_per_minute: int = Field(60, ge=0)
    delay_days: int = Field(3, ge=0)
    lookback_days: int = Field(90, ge=1)
    engagement_settle_days: int = Field(7, ge=0)
    usage_settle_days: int = Field(30, ge=0)
    usage_lag_hours: int = Field(24, ge=0)


class ComplianceSettings(_Section):
    """Compliance API collection."""

    enabled: bool = True
    rate_limit_per_minute: int = Field(600, ge=0)
    overlap_minutes: int = Field(10, ge=0)


class SigningSettings(_Section):
    """The package signing key and how report.pdf is signed.

    `key` (Ed25519, encrypted PKCS#8 PEM) signs the package. report.pdf is signed with the
    same key and `certificate` (self-signed by `init`/`keys generate`), unless the
    organization's own identity is configured: `pkcs12` (key, certificate and chain), or
    `pdf_key` with `certificate` holding its certificate and chain (PEM). Every encrypted
    file is opened with AUDITPACK_SIGNING_PASSPHRASE. `timestamp_url` (an RFC 3161 TSA) makes
    the PDF signature PAdES B-T.
    """

    key: Path = Path("keys/signing-key.pem")
    certificate: Path | None = Path("keys/signing-cert.pem")
    pkcs12: Path | None = None
    pdf_key: Path | None = None
    timestamp_url: str | None = None

    @model_validator(mode="after")
    def _one_pdf_identity(self) -> SigningSettings:
        if self.pkcs12 is not None and self.pdf_key is not None:
            raise ValueError("set pkcs12 or pdf_key, not both")
        if self.pdf_key is not None and self.certificate is None:
            raise ValueError("pdf_key needs certificate (its PEM certificate and chain)")
        if self.timestamp_url is not None and not self.timestamp_url.startswith(
            ("http://", "https://")
        ):
            raise ValueError("timestamp_url must be an http:// or https:// URL")
        return self


class Secrets(BaseModel):
    """API keys and the signing passphrase; never printed, logged or stored."""

    analytics_key: SecretStr | None = None
    compliance_key: SecretStr | None = None
    signing_passphrase: SecretStr | None = None


class Settings(_Section):
    """Everything auditpack is configured with."""

    organization: OrganizationSettings = OrganizationSettings()
    store: StoreSettings = StoreSettings()
    api: ApiSettings = ApiSettings()
    analytics: AnalyticsSettings = AnalyticsSettings()
    compliance: ComplianceSettings = ComplianceSettings()
    signing: SigningSettings = SigningSettings()
    policy: dict[str, Any] = Field(default_factory=dict)
    secrets: Secrets = Field(default_factory=Secrets, exclude=True)
    config_path: Path | None = Field(default=None, exclude=True)

    def resolve(self, path: Path) -> Path:
        """A configured path, relative to the configuration file's folder."""
        if not path.is_absolute() and self.config_path is not None:
            return self.config_path.parent / path
        return path

    @property
    def store_path(self) -> Path:
        """The store directory, resolved against the configuration file's folder."""
        path = self.store.path
        if not path.is_absolute() and self.config_path is not None:
            path = self.config_path.parent / path
        return path


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read the configuration file (if any), then the environment, then flag overrides.

    `path=None` reads ./auditpack.toml when it exists and uses defaults otherwise; an explicit
    path that does not exist is an error. Raises ConfigError with a one-line message.
    """
    env = os.environ if env is None else env
    explicit = path is not None
    path = path or DEFAULT_CONFIG
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    elif explicit:
        raise ConfigError(f"configuration file {path} does not exist",
                          hint="run `auditpack init` or pass --config")
    _apply_env(data, env)
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set(data, dotted, value)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
    settings.config_path = path.resolve() if path.exists() else None
    settings.secrets = _load_secrets(settings, env)
    return settings


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    section, _, key = dotted.partition(".")
    data.setdefault(section, {})[key] = value


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    if env.get("AUDITPACK_API_BASE_URL"):
        _set(data, "api.base_url", env["AUDITPACK_API_BASE_URL"])
    if env.get("AUDITPACK_STORE"):
        _set(data, "store.path", env["AUDITPACK_STORE"])


def _load_secrets(settings: Settings, env: Mapping[str, str]) -> Secrets:
    from_file: dict[str, Any] = {}
    secrets_file = settings.api.secrets_file
    if secrets_file is not None:
        if not secrets_file.is_absolute() and settings.config_path is not None:
            secrets_file = settings.config_path.parent / secrets_file
        from_file = _read_secrets_file(secrets_file)
    keys: dict[str, SecretStr | None] = {}
    for name in ("analytics_key", "compliance_key"):
        var = f"AUDITPACK_{name.upper()}"
        value = env.get(var)
        if not value and env.get(f"{var}_FILE"):
            value = _read_key_file(Path(env[f"{var}_FILE"]), f"{var}_FILE")
        if not value:
            value = from_file.get(name)
        keys[name] = SecretStr(value.strip()) if value else None
    passphrase = env.get(PASSPHRASE_VAR)
    return Secrets(**keys, signing_passphrase=SecretStr(passphrase) if passphrase else None)


def _read_key_file(path: Path, var: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{var}: cannot read {path}: {exc.strerror}") from None


def _read_secrets_file(path: Path) -> dict[str, Any]:
    try:
        mode = path.stat().st_mode
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"secrets file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"secrets file {path}: not valid TOML: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"secrets file {path} is readable by other users",
                          hint=f"run `chmod 600 {path}`")
    unknown = set(data) - {"analytics_key", "compliance_key"}
    if unknown:
        raise ConfigError(f"secrets file {path}: unknown entries {sorted(unknown)}")
    return data
