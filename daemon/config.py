"""One settings model: flag > ``INBOXD_*`` environment > ``inboxd.toml`` > defaults.

Nothing else in the code reads the environment.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from daemon.errors import ConfigError

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


DATABASE_BACKENDS = ("sqlite", "postgresql")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# what a dataset snapshot can write (docs/formats.md, "Dataset snapshots"); all by default
DatasetFormat = Literal["parquet", "jsonl", "csv", "duckdb", "rag"]
DATASET_FORMATS: tuple[DatasetFormat, ...] = ("parquet", "jsonl", "csv", "duckdb", "rag")
MIN_TOKEN_LENGTH = 16  # http_token: shorter ones can be guessed
# what a notification can be sent for (docs/notifications.md); all by default
NotifyEvent = Literal[
    "file_rejected", "batch_closed", "agent_silent", "database_waiting", "unclean_start"
]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = (
    "file_rejected",
    "batch_closed",
    "agent_silent",
    "database_waiting",
    "unclean_start",
)
MAX_TARGET_PER_INDICATOR = 1_000_000  # pairs per indicator: beyond it a target is a typo
# the flags that set a setting, to name them in an error
_FLAGS = {"root": "--root", "database_url": "--database", "polling": "--polling"}
# a string, a comment, a bracket or a line end: enough of TOML to find an unclosed array
_TOML_TOKEN = re.compile(
    "|".join(
        (
            r'"""[\s\S]*?"""',  # multi-line strings, whole
            r"'''[\s\S]*?'''",
            r'"(?:[^"\\\n]|\\.)*"',  # one-line strings
            r"'[^'\n]*'",
            r"#[^\n]*",  # comments
            r"[\[\]\n]",
        )
    )
)
_TOML_POSITION = re.compile(r"^(?P<what>.*?) \(at line (?P<line>\d+), column (?P<column>\d+)\)$")


@dataclass(frozen=True)
class ConfigFile:
    """The ``inboxd.toml`` read: its values, and its text to point at a setting's line."""

    path: Path | None = None  # None: there is no file (the defaults and the environment)
    text: str = ""
    values: dict[str, Any] = field(default_factory=dict)

    def line_of(self, key: str) -> int | None:
        """The line setting ``key`` (``key = ...`` or a ``[key...]`` table), or None."""
        name = re.escape(key)
        found = re.search(
            rf"^[ \t]*(?:(?:{name}|\"{name}\"|'{name}')[ \t]*=|\[+[ \t]*{name}\b)",
            self.text,
            re.MULTILINE,
        )
        return self.text.count("\n", 0, found.start()) + 1 if found else None

    def where(self, key: str) -> str:
        line = self.line_of(key)
        return f"{self.path} line {line}" if line else str(self.path)


_CONFIG: ContextVar[ConfigFile | None] = ContextVar("inboxd_config", default=None)


def debug_requested() -> bool:
    """``INBOXD_DEBUG=1``: errors show their traceback (asked before any setting is read)."""
    return os.environ.get("INBOXD_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def read_config_file(root: Path | None = None) -> ConfigFile:
    """``INBOXD_CONFIG``, else ``inboxd.toml`` in the root (flag, ``INBOXD_ROOT`` or cwd).

    A file that is named but missing, a folder, unreadable, not UTF-8 or not TOML is a
    ``ConfigError`` saying where: a configuration silently ignored is worse than none.
    """
    explicit = os.environ.get("INBOXD_CONFIG")
    path = Path(explicit or Path(root or os.environ.get("INBOXD_ROOT") or ".") / "inboxd.toml")
    if explicit and not path.exists():
        raise ConfigError(
            f"INBOXD_CONFIG names {path}, which does not exist; create it or unset INBOXD_CONFIG"
        )
    if path.is_dir():
        raise ConfigError(f"{path} is a directory, not a settings file; remove or rename it")
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):  # no file, or a root that is not a folder
        return ConfigFile()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path} line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
            "save the file as UTF-8"
        ) from None
    try:
        return ConfigFile(path, text, tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_syntax(path, text, str(exc))) from None


def _toml_syntax(path: Path, text: str, message: str) -> str:
    """tomllib's complaint, with the line of an array left open when that is the cause."""
    position = _TOML_POSITION.match(message)
    opened = _unclosed_array_line(text)
    if opened is not None and (position is None or opened <= int(position["line"])):
        return f"{path} line {opened}: unclosed array (a '[' without its ']'); close it"
    if position is None:
        return f"{path}: {_sentence(message)}; fix the TOML syntax"
    return (
        f"{path} line {position['line']}, column {position['column']}: "
        f"{_sentence(position['what'])}; fix the TOML syntax"
    )


def _unclosed_array_line(text: str) -> int | None:
    """The line of the first value array no ``]`` closes (table headers aside), or None."""
    open_lines: list[int] = []
    in_header = False
    for token in _TOML_TOKEN.finditer(text):
        kind = token.group()
        if kind == "\n":
            in_header = False
        elif kind == "[" and not open_lines:
            line_start = text.rfind("\n", 0, token.start()) + 1
            in_header = in_header or not text[line_start : token.start()].strip()
            if not in_header:
                open_lines.append(text.count("\n", 0, token.start()) + 1)
        elif kind == "[":
            open_lines.append(text.count("\n", 0, token.start()) + 1)
        elif kind == "]" and open_lines and not in_header:
            open_lines.pop()
    return open_lines[0] if open_lines else None


def _sentence(message: str) -> str:
    """A library's message as the middle of ours: no "Value error, ", lower-case start."""
    message = message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def plain_folder_name(name: str) -> str:
    """``name`` when it can be one folder under inbox/ and outbox/; ValueError otherwise."""
    if (
        not name
        or name.startswith(".")
        or any(c in name for c in "/\\")
        or not name.isprintable()
        or name != name.strip()
    ):
        raise ValueError(
            f"{name!r} is not a plain folder name (no '/', no leading '.', no control "
            "characters or surrounding spaces)"
        )
    return name


def _list_from_text(value: Any, separator: str | None) -> Any:
    """A list setting given as text (the environment): a JSON list, or items split at
    ``separator`` (None: at white space); anything else as it is."""
    if not isinstance(value, str):
        return value
    if value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f'not a JSON list ({exc.msg}); give droid,claude or ["droid", "claude"]'
            ) from None
    return [part.strip() for part in value.split(separator) if part.strip()]


class FileMapping(BaseModel):
    """What a small training file's name stands for, when the file does not say."""

    model_config = ConfigDict(extra="forbid")

    indicator: str | None = None
    category: str | None = None


class Settings(BaseSettings):
    """Everything the daemon can be told. See docs/operations.md, "Configuration"."""

    # a setting it does not know is an error (a typo must not pass for the default)
    model_config = SettingsConfigDict(env_prefix="INBOXD_", extra="forbid")

    root: Path = Field(default_factory=Path.cwd)
    database_url: str | None = None  # default: sqlite:///<root>/var/inboxd.db
    agents: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["droid", "claude", "gemini"], min_length=1
    )
    orchestrator: str = "claude"  # its status carries the database totals and gap figures
    refiner: str = "gemini"  # receives refinement batches; its status carries the queue
    ignore_patterns: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_IGNORE)
    )
    # quiet time before a file without a close event is taken
    settle_seconds: float = Field(default=0.5, ge=0, le=3600)
    # periodic catch-up scan; events are hints, the folder is truth
    rescan_seconds: float = Field(default=60.0, gt=0)
    polling: bool = False  # for network shares and platforms without inotify
    dedup_policy: Literal["keep-first", "prefer-longer"] = "keep-first"
    prefer_longer_ratio: float = Field(default=1.2, ge=1)
    rag_distance_threshold: float = Field(default=0.5, ge=0, le=2)  # a cosine distance
    # near-duplicates (docs/near-duplicates.md): flag = stored and marked, skip = counted as
    # a duplicate and not stored, off = not looked for (`inboxd dedup --rebuild` catches up)
    near_duplicate_policy: Literal["flag", "skip", "off"] = "flag"
    # the Jaccard similarity of two questions' words (same anchors) that makes them one;
    # 0.5 chosen from the labelled set in tests/data/near_duplicates/
    near_duplicate_threshold: float = Field(default=0.5, gt=0, le=1)
    # what is compared: the question, or question + answer (anchors: the question's)
    near_duplicate_scope: Literal["question", "question-answer"] = "question"
    # pairs per transaction of `inboxd dedup --rebuild` (a killed run loses at most these)
    near_duplicate_rebuild_chunk: int = Field(default=2000, ge=1)
    # the refinement hand-off: marked pairs handed with their mark (flag) or not handed (skip)
    handoff_near_duplicates: Literal["flag", "skip"] = "flag"
    max_file_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
    # JSON Lines files this large are read a line at a time (memory stays flat); smaller
    # ones are read whole, which is faster
    stream_min_bytes: int = Field(default=16 * 1024 * 1024, ge=0)
    # such a file is read and its pairs prepared (keys, flags, fingerprints) by a second
    # process while this one stores them: two cores at work (false: all in this process)
    stream_worker: bool = True
    # group commit: under a burst the worker imports the files already due together, each
    # with its own savepoint, in one transaction of at most this many files (1: one by one)
    group_max_files: int = Field(default=256, ge=1, le=100_000)
    # ... and stops adding files to a group once they reach this many bytes on disk
    group_max_bytes: int = Field(default=16 * 1024 * 1024, ge=1)
    # seconds one statement waits for a lock held by another writer
    db_busy_timeout: float = Field(default=5.0, ge=0)
    # then the file waits in the queue ("waiting" in the status)
    db_retry_seconds: float = Field(default=10.0, ge=0)
    # an agent's status is rewritten at most this often in a burst
    status_interval: float = Field(default=0.25, ge=0)
    # an idle daemon looks this often whether another daemon or command handled a file (0:
    # never), and then rewrites every agent's status: other hosts' imports show here too
    status_refresh_seconds: float = Field(default=10.0, ge=0)
    crash_at: str | None = None  # test-only: kill -9 the process at this pipeline point
    refinement_batch_size: int = Field(default=5000, ge=1)
    target_per_indicator: int = Field(default=100, ge=1, le=MAX_TARGET_PER_INDICATOR)
    recent_files_in_status: int = Field(default=20, ge=0)
    # var/backups/ keeps this many, the oldest pruned after each backup inboxd takes
    backup_keep: int = Field(default=10, ge=1)
    category_rules: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_CATEGORY_RULES.items()}
    )
    fallback_category: str = FALLBACK_CATEGORY
    file_mappings: dict[str, FileMapping] = Field(default_factory=dict)  # by file name
    log_level: str = "info"
    # dataset snapshots (`inboxd dataset`, docs/formats.md "Dataset snapshots")
    datasets_dir: Path = Path("var/datasets")  # inside the root
    dataset_formats: Annotated[list[DatasetFormat], NoDecode] = Field(
        default_factory=lambda: list(DATASET_FORMATS), min_length=1
    )
    review_min_score: float = Field(default=0.5, ge=0, le=1)  # below: in review.jsonl
    review_tier_below: Literal["premium", "standard", "low"] = "standard"
    snapshot_on_close: bool = False  # a snapshot at every batch close, named after the batch
    # the dashboard (`inboxd run --http`, `inboxd serve`; docs/dashboard.md): the token a
    # browser (once, in its login form) or a scraper (a bearer header) gives; without one the
    # page listens on loopback only. Secret: never shown in a log line or an error
    http_token: SecretStr | None = None
    # an agent with no delivery for this many seconds is silent: marked on the dashboard,
    # and told of (notify_events: agent_silent) while it has open assignments
    silent_after: float = Field(default=6 * 3600.0, gt=0)
    # notifications (docs/notifications.md): apprise URLs (none: nothing is sent), and what for
    notify_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    notify_events: Annotated[list[NotifyEvent], NoDecode] = Field(
        default_factory=lambda: list(NOTIFY_EVENTS)
    )
    # a file waiting this long for the database is told of (seconds)
    notify_waiting_after: float = Field(default=300, ge=0)
    notify_check_seconds: float = Field(default=30, gt=0)  # how often the states are looked at
    # a burst: what happens this long after its first alert goes in the same message
    notify_group_seconds: float = Field(default=5, ge=0)
    notify_min_interval: float = Field(default=30, ge=0)  # seconds between two messages
    notify_examples: int = Field(default=5, ge=1, le=100)  # items listed in a grouped message
    notify_retries: int = Field(default=6, ge=1, le=100)  # attempts per message, then dropped
    notify_retry_max_seconds: float = Field(default=60, gt=0)  # the backoff's longest wait

    @field_validator("agents", "ignore_patterns", "dataset_formats", "notify_events", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        """``droid,claude`` or a JSON list, from the environment."""
        return _list_from_text(value, ",")

    @field_validator("notify_urls", mode="before")
    @classmethod
    def _split_spaces(cls, value: Any) -> Any:
        """URLs separated by spaces, or a JSON list, from the environment (a URL may hold
        a comma: ``mailto://...?to=a@x,b@y``)."""
        return _list_from_text(value, None)

    @field_validator("notify_urls")
    @classmethod
    def _apprise_urls(cls, urls: list[str]) -> list[str]:
        """Each URL one apprise takes (apprise is imported only when there is one)."""
        if urls:
            from daemon.alerts.delivery import unknown_urls

            bad = unknown_urls(urls)
            if bad:
                raise ValueError(
                    f"{', '.join(bad)}: not a notification URL apprise knows; see "
                    "https://github.com/caronc/apprise/wiki (json://host:port/path, "
                    "tgram://token/chat, slack://..., ntfys://topic, mailtos://...)"
                )
        return urls

    @field_validator("agents")
    @classmethod
    def _agent_folders(cls, agents: list[str]) -> list[str]:
        """Each agent is a folder under inbox/ and outbox/: a plain name, listed once."""
        for agent in agents:
            plain_folder_name(agent)
        twice = sorted({a for a in agents if agents.count(a) > 1})
        if twice:
            raise ValueError(f"{', '.join(map(repr, twice))} listed more than once")
        return agents

    @field_validator("orchestrator", "refiner")
    @classmethod
    def _agent_folder(cls, agent: str) -> str:
        return plain_folder_name(agent)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, url: str | None) -> str | None:
        """A URL SQLAlchemy can parse, for a database inboxd works with."""
        if url is None:
            return None
        from sqlalchemy.engine import make_url  # only for a URL given: `inboxd status` may not
        from sqlalchemy.exc import ArgumentError  # need SQLAlchemy at all (docs/performance.md)

        try:
            backend = make_url(url).get_backend_name()
        except ArgumentError:
            raise ValueError(
                "not a database URL; give sqlite:////path/to/inboxd.db or "
                "postgresql+psycopg://user@host/dbname"
            ) from None
        if backend not in DATABASE_BACKENDS:
            raise ValueError(
                f"unsupported database {backend!r}; inboxd works with sqlite and postgresql "
                "(postgresql+psycopg://user@host/dbname)"
            )
        return url

    @field_validator("datasets_dir")
    @classmethod
    def _inside_root(cls, path: Path) -> Path:
        """Relative to the root, and inside it: inboxd writes nothing outside the root."""
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise ValueError(
                "give a folder inside the root, relative to it (e.g. var/datasets); a folder "
                "on another disk can be mounted there"
            )
        return path

    @field_validator("http_token")
    @classmethod
    def _token(cls, token: SecretStr | None) -> SecretStr | None:
        """Long enough not to be guessed, and typable in a header and a form as it is."""
        if token is None:
            return None
        value = token.get_secret_value()
        if len(value) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"too short ({len(value)} characters); give at least {MIN_TOKEN_LENGTH}, "
                "e.g. the output of: python3 -c 'import secrets; print(secrets.token_urlsafe())'"
            )
        if not value.isascii() or not value.isprintable() or any(c.isspace() for c in value):
            raise ValueError("give printable ASCII characters only, without spaces")
        return token

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, level: str) -> str:
        if level.lower() not in LOG_LEVELS:
            raise ValueError(f"unknown level; use one of {', '.join(LOG_LEVELS)}")
        return level.lower()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config = _CONFIG.get() or read_config_file()
        toml = InitSettingsSource(settings_cls, init_kwargs=config.values)
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
    def dataset_dir(self) -> Path:
        return self.root_path / self.datasets_dir

    @property
    def default_database(self) -> Path:
        """The SQLite file used when no ``database_url`` is given."""
        return self.var_dir / "inboxd.db"

    @property
    def url(self) -> str:
        return self.database_url or f"sqlite:///{self.default_database}"


def load_settings(**overrides: Any) -> Settings:
    """Settings with command-line flags (non-None overrides) on top.

    Whatever is wrong is a ``ConfigError`` naming where each bad value came from.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    config = read_config_file(given.get("root"))
    token = _CONFIG.set(config)
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(_problem(error, given, config) for error in exc.errors())
        raise ConfigError(problems) from exc
    finally:
        _CONFIG.reset(token)


def _problem(error: ErrorDetails, given: Mapping[str, Any], config: ConfigFile) -> str:
    """One of pydantic's errors as a person reads it: where the value came from, what is
    wrong with it (``inboxd.toml line 2: settle_seconds = -1: input should be ...``)."""
    loc = [str(part) for part in error["loc"]] or ["settings"]
    name, label = loc[0], ".".join(loc)  # file_mappings.x.json.indicator, for a nested one
    what = _sentence(error["msg"])
    if error["type"] == "extra_forbidden":
        known = Settings.model_fields if len(loc) == 1 else FileMapping.model_fields
        close = difflib.get_close_matches(loc[-1], list(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else " (see docs/operations.md)"
        where = config.where(name) if name in config.values else "settings"
        return f"{where}: unknown setting {label!r}{hint}"
    variable = next((v for v in os.environ if v.upper() == f"INBOXD_{name.upper()}"), None)
    if name in given:
        return f"{_FLAGS.get(name, name)} {_shown(name, given[name])}: {what}"
    if variable is not None:
        return f"{variable}={_shown(name, os.environ[variable])}: {what}"
    if name in config.values:
        return f"{config.where(name)}: {label} = {_shown(name, error['input'])}: {what}"
    return f"{label}: {what}"


def _shown(name: str, value: Any) -> str:
    """A value as it is quoted in an error; a database URL without its password, a token
    not at all, the notification URLs by their scheme (their paths hold tokens)."""
    if name == "http_token":
        return "(hidden)"
    if name == "notify_urls":
        urls = value.split() if isinstance(value, str) else value
        if isinstance(urls, list):
            return repr([f"{str(url).partition('://')[0]}://..." for url in urls])
    if name == "database_url" and isinstance(value, str):
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        with contextlib.suppress(ArgumentError):  # not a URL: shown as given
            value = make_url(value).render_as_string(hide_password=True)
    return repr(value)
