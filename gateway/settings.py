"""Deployment settings, read from a YAML file and ``GATEWAY_*`` environment variables.

Settings are built explicitly (``load_settings``), never at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.adapters.yaml_files import load_yaml
from gateway.errors import ConfigurationError


class ExternalIssuerSettings(BaseModel):
    """An external token issuer trusted for resource endpoints, identified by its JWKS."""

    issuer: str
    jwks_url: str
    audience: str
    department_claim: str = "department"


class TokenThrottleSettings(BaseModel):
    """Lockouts of the token endpoint and the size of its secret-hashing pool.

    After ``client_after`` failures in a row for one client (``address_after`` for one address) the
    key is locked for ``lockout_base_s``, multiplied by ``lockout_factor`` at each further failure
    (1: stepped, 2: exponential) up to ``lockout_max_s``; failures older than ``window_s`` are forgotten.
    """

    model_config = {"extra": "forbid"}

    client_after: int = Field(default=10, ge=1, le=1000)
    address_after: int = Field(default=20, ge=1, le=10000)
    lockout_base_s: float = Field(default=1.0, gt=0, le=3600)
    lockout_factor: float = Field(default=2.0, ge=1, le=10)
    lockout_max_s: float = Field(default=900.0, gt=0, le=86400)
    window_s: float = Field(default=900.0, gt=0, le=86400)
    hash_workers: int = Field(default=1, ge=1, le=16)
    hash_queue: int = Field(default=4, ge=0, le=256)


class Settings(BaseSettings):
    """Everything a deployment configures. Secure values are the defaults; nothing here can fail open."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_nested_delimiter="__", extra="forbid")

    environment: Literal["development", "production"] = "development"
    policies_dir: Path = Path("policies")
    keys_dir: Path = Path("keys")
    clients_file: Path = Path("clients.yaml")
    ledger_url: str = "sqlite:///ledger.db"
    ledger_origin: str = "credit-gateway.example/ledger"
    sources: dict[str, str] = Field(default_factory=dict, description="catalog database id -> SQLAlchemy URL")
    policy_engine: Literal["regorus", "opa"] = "regorus"
    opa_url: str | None = None
    opa_timeout_s: float = 2.0
    issuer: str = "http://127.0.0.1:8000"
    audience: str = "credit-gateway"
    token_lifetime_s: int = Field(default=300, ge=30, le=3600)
    token_throttle: TokenThrottleSettings = Field(default_factory=TokenThrottleSettings)
    external_issuers: list[ExternalIssuerSettings] = Field(default_factory=list)
    text_scanner: Literal["fast", "presidio"] = "fast"
    encryption_algorithm: Literal["aes-256-gcm", "sm4-gcm"] = "aes-256-gcm"
    max_subjects: int = Field(default=50, ge=1, le=1000)
    max_rows_per_item: int = Field(default=1000, ge=1, le=100_000)
    log_level: str = "INFO"
    # Request bodies above this are refused with 413, counted as they stream in (gateway.api.limits).
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    # Every read of a departmental database is cancelled by the database after this long: a slow
    # source is a registered 503 (source_timeout), not a worker thread held for good.
    source_statement_timeout_s: float = Field(default=10.0, gt=0, le=600)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.policy_engine == "opa" and not self.opa_url:
            raise ValueError("policy_engine 'opa' needs opa_url")
        if self.environment == "production":
            if self.issuer.startswith("http://"):
                raise ValueError("production issuer must be an https URL")
            if self.ledger_url.startswith("sqlite") and ":memory:" in self.ledger_url:
                raise ValueError("production ledger cannot be in memory")
        return self


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from an optional YAML file (paths relative to it), then env, then overrides."""
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            raw = load_yaml(config_file.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigurationError(f"cannot read configuration file {config_file}") from exc
        if not isinstance(raw, dict):
            raise ConfigurationError(f"configuration file {config_file} must hold a mapping")
        base = config_file.parent
        for key in ("policies_dir", "keys_dir", "clients_file"):
            if key in raw and not Path(raw[key]).is_absolute():
                raw[key] = str(base / raw[key])
        values.update(raw)
    values.update(overrides)
    try:
        return Settings(**values)
    except ValueError as exc:
        raise ConfigurationError(f"invalid configuration: {exc}") from exc
