"""Settings precedence (flags > environment > file > defaults) and secret handling."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from auditpack.config import load_settings
from auditpack.errors import ConfigError


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    assert settings.api.base_url == "https://api.anthropic.com"
    assert settings.analytics.rate_limit_per_minute == 60
    assert settings.compliance.rate_limit_per_minute == 600
    assert settings.secrets.analytics_key is None


def test_file_then_env_then_flags(tmp_path: Path) -> None:
    cfg = _write(tmp_path / "a.toml", '[api]\nbase_url = "http://file"\n[store]\npath = "s"\n')
    assert load_settings(cfg, env={}).api.base_url == "http://file"
    env = {"AUDITPACK_API_BASE_URL": "http://env"}
    assert load_settings(cfg, env=env).api.base_url == "http://env"
    flags = {"api.base_url": "http://flag"}
    assert load_settings(cfg, env=env, overrides=flags).api.base_url == "http://flag"
    assert load_settings(cfg, env={}).store_path == tmp_path / "s"


def test_keys_from_env_file_and_secrets_file(tmp_path: Path) -> None:
    key_file = _write(tmp_path / "k", "sk-ant-api01-fromfile\n")
    secrets = _write(tmp_path / "secrets.toml", 'analytics_key = "an-secret"\n')
    os.chmod(secrets, 0o600)
    cfg = _write(tmp_path / "a.toml", '[api]\nsecrets_file = "secrets.toml"\n')
    settings = load_settings(cfg, env={"AUDITPACK_COMPLIANCE_KEY_FILE": str(key_file)})
    assert settings.secrets.compliance_key is not None
    assert settings.secrets.compliance_key.get_secret_value() == "sk-ant-api01-fromfile"
    assert settings.secrets.analytics_key is not None
    assert settings.secrets.analytics_key.get_secret_value() == "an-secret"
    assert "an-secret" not in repr(settings) and "fromfile" not in str(settings.secrets)
    env = {"AUDITPACK_ANALYTICS_KEY": "env-wins"}
    key = load_settings(cfg, env=env).secrets.analytics_key
    assert key is not None and key.get_secret_value() == "env-wins"


def test_world_readable_secrets_file_is_refused(tmp_path: Path) -> None:
    secrets = _write(tmp_path / "secrets.toml", 'analytics_key = "x"\n')
    os.chmod(secrets, 0o644)
    cfg = _write(tmp_path / "a.toml", f'[api]\nsecrets_file = "{secrets}"\n')
    with pytest.raises(ConfigError, match="readable by other users"):
        load_settings(cfg, env={})


@pytest.mark.parametrize(("text", "message"), [
    ("[api\n", "not valid TOML"),
    ("[api]\nbase_urll = 'x'\n", "api.base_urll: Extra inputs are not permitted"),
    ("[analytics]\nrate_limit_per_minute = -1\n", "analytics.rate_limit_per_minute"),
])
def test_bad_configuration_is_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    cfg = _write(tmp_path / "a.toml", text)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(cfg, env={})
    assert "\n" not in info.value.one_line()


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", env={})
