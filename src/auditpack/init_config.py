"""The commented `auditpack.toml` that `auditpack init` writes for a real organization.

Every value written is the default, so the file documents the settings without changing
behaviour; the organization's name is the only value filled in.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from auditpack.errors import ConfigError, UsageError

CONFIG_NAME = "auditpack.toml"

_TEMPLATE = """\
# auditpack configuration, written by `auditpack init`.
# Precedence: command-line flags > environment (AUDITPACK_*) > this file > defaults.
# Relative paths are relative to this file's folder. No secret belongs in this file.

[organization]
name = @ORGANIZATION@   # in reports, bag-info.txt and the certificate

[store]
path = "store"                 # the evidence store: archived responses + database

[api]
base_url = "https://api.anthropic.com"
timeout_seconds = 30
max_retries = 6
# API keys come from AUDITPACK_ANALYTICS_KEY / AUDITPACK_COMPLIANCE_KEY, from files named by
# AUDITPACK_ANALYTICS_KEY_FILE / AUDITPACK_COMPLIANCE_KEY_FILE, or from a TOML file with
# analytics_key and compliance_key that only you can read (chmod 600):
# secrets_file = "secrets.toml"

[analytics]
rate_limit_per_minute = 60     # the organization's budget, shared by all its keys
delay_days = 3                 # engagement data is queryable about three days after the day
lookback_days = 90
engagement_settle_days = 7     # refetch engagement days until this old (values get revised)
usage_settle_days = 30         # usage and cost values are revisable for 30 days

[compliance]
rate_limit_per_minute = 600
overlap_minutes = 10           # each feed window re-reads this much of the previous one

[signing]
# The Ed25519 key that signs every package (encrypted; passphrase from
# AUDITPACK_SIGNING_PASSPHRASE or a prompt). Auditors pin its fingerprint:
# `auditpack keys show`, `auditpack keys export-public --out signer.pub.pem`.
key = "keys/signing-key.pem"
# The certificate report.pdf is signed with (self-signed for the key above by `init`).
certificate = "keys/signing-cert.pem"
# Or sign report.pdf with the organization's own identity, e.g. an RSA key issued by your CA
# (opened with the same passphrase variable):
# pkcs12 = "keys/organization.p12"        # key, certificate and chain
# pdf_key = "keys/organization-key.pem"   # PEM key; `certificate` then holds its cert + chain
# An RFC 3161 timestamp authority makes the PDF signature PAdES B-T (a package is then no
# longer byte-reproducible: the token is the TSA's):
# timestamp_url = "https://tsa.example.com/tsr"

[policy]
# What the evidence items test against; see README "Assessing a period". Values looser than
# a chosen framework's own limit are refused.
time_zone = "UTC"                 # IANA name, e.g. "Europe/Berlin"
# dormant_days = 90               # EV03; PCI DSS 8.2.6: at most 90
# key_rotation_days = 90          # EV07
# termination_revocation_max_hours = 24
# approved_connectors = ["github", "slack"]   # EV12; unset: not assessed
# approved_skills = ["pdf"]
# restricted_groups = []                      # EV06
# restricted_workspaces = []
# log_retention_min_days = 365
#
# [policy.working_hours]          # EV11
# start = "07:00"
# end = "20:00"
# days = ["Mon", "Tue", "Wed", "Thu", "Fri"]
"""


def config_text(organization: str) -> str:
    """The commented configuration for ``organization``; raises UsageError if it is blank."""
    name = " ".join(organization.split())
    if not name:
        raise UsageError("the organization name is empty")
    if not name.isprintable():
        raise UsageError("the organization name contains control characters")
    # printable text dumped as JSON (quotes and backslashes escaped) is a valid TOML string
    return _TEMPLATE.replace("@ORGANIZATION@", json.dumps(name, ensure_ascii=False))


def refuse_existing(path: Path, *, force: bool) -> None:
    """Raise UsageError if ``path`` exists and ``force`` is false."""
    if path.exists() and not force:
        raise UsageError(
            f"{path} already exists; refusing to overwrite it",
            hint="pass --force to replace it; the signing key is never replaced",
        )


def write_config(path: Path, organization: str, *, force: bool) -> None:
    """Write the configuration to ``path``; refuse to replace an existing file unless ``force``.

    Written to a temporary file and renamed, so a failure never leaves half a file. Raises
    UsageError if the file exists without ``force``, ConfigError if it cannot be written.
    """
    refuse_existing(path, force=force)
    text = config_text(organization)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
