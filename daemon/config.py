"""One settings model: flag > ``INBOXD_*`` environment > ``inboxd.toml`` > defaults.

Nothing else in the code reads the environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from contextvars import ContextVar
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_IGNORE = (".*", "*.tmp", "*.part", "*.partial", "*.crdownload", "*.swp", "*~")
STATUS_FILE_NAMES = ("status.json", "STATUS.md")
DEFAULT_CATEGORY_RULES: dict[str, list[str]] = {
    "Price-Based Technical Indicators": [
        "price",
        "moving average",
        "sma",
        "ema",
        "wma",
        "macd",
        "rsi",
        "stochastic",
        "bollinger",
        "momentum",
        "trend",
    ],
    "Volume Indicators": ["volume", "obv", "mfi", "vwap", "accumulation"],
    "On-Chain & Network Metrics": [
        "blockchain",
        "network",
        "hash",
        "on-chain",
        "onchain",
        "address",
        "miner",
        "mvrv",
    ],
    "DeFi Metrics": ["defi", "dex", "tvl", "liquidity", "yield", "lending", "smart contract"],
}
FALLBACK_CATEGORY = "Advanced Indicators"


_CONFIG_FILE: ContextVar[Path | None] = ContextVar("inboxd_config_file", default=None)


def _config_file(root: Path | None = None) -> Path:
    """``INBOXD_CONFIG``, else ``inboxd.toml`` in the root (flag, ``INBOXD_ROOT`` or cwd)."""
    explicit = os.environ.get("INBOXD_CONFIG")
    if explicit:
        return Path(explicit)
    return Path(root or os.environ.get("INBOXD_ROOT") or ".") / "inboxd.toml"


class FileMapping(BaseModel):
    """What a small training file's name stands for, when the file does not say."""

    indicator: str | None = None
    category: str | None = None


class Settings(BaseSettings):
    """Everything the daemon can be told. See docs/operations.md, "Configuration"."""

    model_config = SettingsConfigDict(env_prefix="INBOXD_", extra="ignore")

    root: Path = Field(default_factory=Path.cwd)
    database_url: str | None = None  # default: sqlite:///<root>/var/inboxd.db
    agents: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["droid", "claude", "gemini"]
    )
    orchestrator: str = "claude"  # its status carries the database totals and gap figures
    refiner: str = "gemini"  # receives refinement batches; its status carries the queue
    ignore_patterns: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_IGNORE)
    )
    settle_seconds: float = 0.5  # quiet time before a file without a close event is taken
    rescan_seconds: float = 60.0  # periodic catch-up scan; events are hints, the folder is truth
    polling: bool = False  # for network shares and platforms without inotify
    dedup_policy: Literal["keep-first", "prefer-longer"] = "keep-first"
    prefer_longer_ratio: float = 1.2
    rag_distance_threshold: float = 0.5
    max_file_bytes: int = 512 * 1024 * 1024
    # JSON Lines files this large are read a line at a time (memory stays flat); smaller
    # ones are read whole, which is faster
    stream_min_bytes: int = 16 * 1024 * 1024
    db_busy_timeout: float = 5.0  # seconds one statement waits for a lock held by another writer
    db_retry_seconds: float = 10.0  # then the file waits in the queue ("waiting" in the status)
    status_interval: float = 0.25  # an agent's status is rewritten at most this often in a burst
    # an idle daemon looks this often whether another daemon or command handled a file (0:
    # never), and then rewrites every agent's status: other hosts' imports show here too
    status_refresh_seconds: float = 10.0
    crash_at: str | None = None  # test-only: kill -9 the process at this pipeline point
    refinement_batch_size: int = 5000
    target_per_indicator: int = 100
    recent_files_in_status: int = 20
    category_rules: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_CATEGORY_RULES.items()}
    )
    fallback_category: str = FALLBACK_CATEGORY
    file_mappings: dict[str, FileMapping] = Field(default_factory=dict)  # by file name
    log_level: str = "info"

    @field_validator("agents", "ignore_patterns", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        """``droid,claude`` or a JSON list, from the environment."""
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _CONFIG_FILE.get() or _config_file()
        toml = TomlConfigSettingsSource(settings_cls, toml_file=toml_file)
        return (init_settings, env_settings, toml)

    # -- derived places -------------------------------------------------------------------
    @cached_property
    def root_path(self) -> Path:
        """The root, resolved once: every file event asks for it (a reload makes new Settings)."""
        return self.root.resolve()

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> Settings:
        """A copy whose root is resolved afresh: pydantic copies the cached ``root_path``
        along, which would keep a copy with another root watching the original's."""
        copy = super().model_copy(update=update, deep=deep)
        copy.__dict__.pop("root_path", None)
        return copy

    @property
    def var_dir(self) -> Path:
        return self.root_path / "var"

    @property
    def archive_dir(self) -> Path:
        return self.var_dir / "archive"

    @property
    def backup_dir(self) -> Path:
        return self.var_dir / "backups"

    @property
    def report_dir(self) -> Path:
        return self.var_dir / "reports"

    @property
    def log_file(self) -> Path:
        return self.var_dir / "log" / "inboxd.jsonl"

    @property
    def url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'inboxd.db'}"


def load_settings(**overrides: Any) -> Settings:
    """Settings with command-line flags (non-None overrides) on top."""
    given = {k: v for k, v in overrides.items() if v is not None}
    token = _CONFIG_FILE.set(_config_file(given.get("root")))
    try:
        return Settings(**given)
    finally:
        _CONFIG_FILE.reset(token)
