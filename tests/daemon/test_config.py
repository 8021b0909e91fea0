"""Configuration precedence: flag > ``INBOXD_*`` environment > ``inboxd.toml`` > defaults."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from daemon.config import DEFAULT_IGNORE, Settings, load_settings
from daemon.errors import ConfigError

DEFAULT_AGENTS = ["droid", "claude", "gemini"]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No INBOXD_* from the outer shell, and a cwd without an inboxd.toml."""
    for name in list(os.environ):
        if name.startswith("INBOXD_"):
            monkeypatch.delenv(name)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


def _toml(folder: Path, text: str, name: str = "inboxd.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# -- defaults ------------------------------------------------------------------------------


def test_defaults_without_flags_env_or_toml(root: Path) -> None:
    settings = load_settings(root=root)
    assert settings.agents == DEFAULT_AGENTS
    assert settings.rag_distance_threshold == 0.5
    assert settings.dedup_policy == "keep-first"
    assert settings.orchestrator == "claude"
    assert settings.refiner == "gemini"
    assert settings.ignore_patterns == list(DEFAULT_IGNORE)


def test_default_database_is_sqlite_under_the_roots_var_folder(root: Path) -> None:
    settings = load_settings(root=root)
    assert settings.database_url is None
    assert settings.url == f"sqlite:///{root.resolve()}/var/inboxd.db"


def test_root_defaults_to_the_current_directory(
    monkeypatch: pytest.MonkeyPatch, root: Path
) -> None:
    monkeypatch.chdir(root)
    settings = load_settings()
    assert settings.root_path == root.resolve()
    assert settings.url == f"sqlite:///{root.resolve()}/var/inboxd.db"


def test_inboxd_toml_in_the_current_directory_is_read_when_no_root_is_given(
    monkeypatch: pytest.MonkeyPatch, root: Path
) -> None:
    _toml(root, 'agents = ["droid"]\n')
    monkeypatch.chdir(root)
    assert load_settings().agents == ["droid"]


# -- inboxd.toml ---------------------------------------------------------------------------


def test_inboxd_toml_in_the_root_overrides_defaults(root: Path) -> None:
    _toml(
        root,
        'agents = ["droid", "claude"]\n'
        "rag_distance_threshold = 0.3\n"
        'database_url = "sqlite:///from-toml.db"\n',
    )
    settings = load_settings(root=root)
    assert settings.agents == ["droid", "claude"]
    assert settings.rag_distance_threshold == 0.3
    assert settings.url == "sqlite:///from-toml.db"


def test_toml_leaves_the_fields_it_does_not_name_at_their_defaults(root: Path) -> None:
    _toml(root, "rag_distance_threshold = 0.3\n")
    settings = load_settings(root=root)
    assert settings.agents == DEFAULT_AGENTS
    assert settings.url == f"sqlite:///{root.resolve()}/var/inboxd.db"


def test_inboxd_config_names_a_toml_file_outside_the_root(
    monkeypatch: pytest.MonkeyPatch, root: Path, tmp_path: Path
) -> None:
    _toml(root, 'agents = ["from-root-toml"]\n')
    elsewhere = _toml(tmp_path, 'agents = ["from-config-env"]\n', name="other.toml")
    monkeypatch.setenv("INBOXD_CONFIG", str(elsewhere))
    assert load_settings(root=root).agents == ["from-config-env"]


# -- environment ---------------------------------------------------------------------------


def test_env_beats_toml(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    _toml(root, 'rag_distance_threshold = 0.3\ndatabase_url = "sqlite:///from-toml.db"\n')
    monkeypatch.setenv("INBOXD_RAG_DISTANCE_THRESHOLD", "0.4")
    monkeypatch.setenv("INBOXD_DATABASE_URL", "sqlite:///from-env.db")
    settings = load_settings(root=root)
    assert settings.rag_distance_threshold == 0.4
    assert settings.url == "sqlite:///from-env.db"


def test_env_and_toml_merge_field_by_field(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    _toml(root, 'agents = ["droid", "claude"]\nrag_distance_threshold = 0.3\n')
    monkeypatch.setenv("INBOXD_RAG_DISTANCE_THRESHOLD", "0.4")
    settings = load_settings(root=root)
    assert settings.agents == ["droid", "claude"]  # from the toml
    assert settings.rag_distance_threshold == 0.4  # from the environment


def test_inboxd_root_sets_the_root_and_its_toml_is_read(
    monkeypatch: pytest.MonkeyPatch, root: Path
) -> None:
    _toml(root, 'agents = ["droid"]\n')
    monkeypatch.setenv("INBOXD_ROOT", str(root))
    settings = load_settings()
    assert settings.root_path == root.resolve()
    assert settings.agents == ["droid"]
    assert settings.url == f"sqlite:///{root.resolve()}/var/inboxd.db"


def test_inboxd_agents_is_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch, root: Path
) -> None:
    monkeypatch.setenv("INBOXD_AGENTS", "droid, claude")
    assert load_settings(root=root).agents == ["droid", "claude"]


def test_inboxd_agents_may_also_be_a_json_list(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setenv("INBOXD_AGENTS", '["droid", "gemini"]')
    assert load_settings(root=root).agents == ["droid", "gemini"]


def test_inboxd_agents_beats_the_toml_list(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    _toml(root, 'agents = ["droid", "claude", "gemini"]\n')
    monkeypatch.setenv("INBOXD_AGENTS", "droid,claude")
    assert load_settings(root=root).agents == ["droid", "claude"]


def test_invalid_env_value_is_an_error_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, root: Path
) -> None:
    monkeypatch.setenv("INBOXD_RAG_DISTANCE_THRESHOLD", "close")
    with pytest.raises(ConfigError, match=r"^INBOXD_RAG_DISTANCE_THRESHOLD='close': input should"):
        load_settings(root=root)


# -- flags ---------------------------------------------------------------------------------


def test_flag_beats_env_and_toml(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    _toml(
        root,
        "rag_distance_threshold = 0.3\n"
        'database_url = "sqlite:///from-toml.db"\n'
        'agents = ["from-toml"]\n',
    )
    monkeypatch.setenv("INBOXD_RAG_DISTANCE_THRESHOLD", "0.4")
    monkeypatch.setenv("INBOXD_DATABASE_URL", "sqlite:///from-env.db")
    settings = load_settings(
        root=root,
        rag_distance_threshold=0.2,
        database_url="sqlite:///from-flag.db",
        agents=["from-flag"],
    )
    assert settings.rag_distance_threshold == 0.2
    assert settings.url == "sqlite:///from-flag.db"
    assert settings.agents == ["from-flag"]


def test_a_flag_given_as_none_counts_as_not_given(
    monkeypatch: pytest.MonkeyPatch, root: Path
) -> None:
    _toml(root, 'database_url = "sqlite:///from-toml.db"\n')
    monkeypatch.setenv("INBOXD_RAG_DISTANCE_THRESHOLD", "0.4")
    settings = load_settings(
        root=root, rag_distance_threshold=None, database_url=None, polling=None
    )
    assert settings.rag_distance_threshold == 0.4
    assert settings.url == "sqlite:///from-toml.db"
    assert settings.polling is False


def test_root_flag_beats_inboxd_root_and_its_own_toml_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_root, flag_root = tmp_path / "env-root", tmp_path / "flag-root"
    for folder, agent in ((env_root, "from-env-root"), (flag_root, "from-flag-root")):
        folder.mkdir()
        _toml(folder, f'agents = ["{agent}"]\n')
    monkeypatch.setenv("INBOXD_ROOT", str(env_root))
    settings = load_settings(root=flag_root)
    assert settings.root_path == flag_root.resolve()
    assert settings.agents == ["from-flag-root"]
    assert settings.url == f"sqlite:///{flag_root.resolve()}/var/inboxd.db"


def test_database_flag_beats_the_default_under_the_root(root: Path) -> None:
    settings = load_settings(root=root, database_url="postgresql://inboxd@db/inboxd")
    assert settings.url == "postgresql://inboxd@db/inboxd"
    assert settings.var_dir == root.resolve() / "var"  # archive and logs stay in the root


def test_a_copy_with_another_root_resolves_its_own_root(root: Path, tmp_path: Path) -> None:
    """``root_path`` is cached; a copy must not inherit the original's (it would watch, and
    write its database under, the original root)."""
    original = Settings(root=root)
    assert original.root_path == root.resolve()  # cached now
    other = tmp_path / "elsewhere"
    copy = original.model_copy(update={"root": other})
    assert copy.root_path == other.resolve()
    assert copy.url == f"sqlite:///{other.resolve() / 'var' / 'inboxd.db'}"
    assert original.model_copy().root_path == root.resolve()


# -- the dashboard's settings (issue 17) ---------------------------------------------------
def test_http_token_and_silent_after_from_toml(root: Path) -> None:
    _toml(root, 'http_token = "0123456789abcdef-token"\nsilent_after = 900\n')
    settings = load_settings(root=root)
    assert settings.http_token is not None
    assert settings.http_token.get_secret_value() == "0123456789abcdef-token"
    assert "0123456789abcdef" not in repr(settings)  # a secret: not in a log or a traceback
    assert settings.silent_after == 900
    assert load_settings(root=root / "..").http_token is None  # none by default


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('http_token = "short"', "http_token = (hidden): too short (5 characters)"),
        ('http_token = "with spaces in the token"', "printable ASCII characters only"),
        ("silent_after = 0", "silent_after = 0: input should be greater than 0"),
    ],
)
def test_a_bad_dashboard_setting_is_one_line_naming_it(root: Path, text: str, message: str) -> None:
    _toml(root, text + "\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(root=root)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert 'short"' not in str(raised.value) and "spaces in" not in str(raised.value)
