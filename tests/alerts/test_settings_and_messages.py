"""The notification settings (one-line errors, no token shown) and the messages' text."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from daemon.alerts.events import Alert, alert_for, duration
from daemon.alerts.outbox import Group, render
from daemon.config import NOTIFY_EVENTS, load_settings
from daemon.errors import ConfigError
from tests.support import assert_one_error_line, console

SECRET = "123456:SECRETtoken"


@pytest.fixture(autouse=True)
def no_inboxd_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("INBOXD_"):
            monkeypatch.delenv(name)


def test_defaults_send_nothing_and_name_every_event(tmp_path: Path) -> None:
    settings = load_settings(root=tmp_path)
    assert settings.notify_urls == []
    assert settings.notify_events == list(NOTIFY_EVENTS)


def test_urls_from_the_environment_are_split_at_spaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = ["json://127.0.0.1:9/hook", f"tgram://{SECRET}/42", "mailtos://u:p@x.org?to=a@x,b@y"]
    monkeypatch.setenv("INBOXD_NOTIFY_URLS", "  ".join(urls))
    monkeypatch.setenv("INBOXD_NOTIFY_EVENTS", "file_rejected,batch_closed")
    settings = load_settings(root=tmp_path)
    assert settings.notify_urls == urls
    assert settings.notify_events == ["file_rejected", "batch_closed"]


def test_an_unknown_url_is_named_by_place_and_scheme_never_its_token(tmp_path: Path) -> None:
    (tmp_path / "inboxd.toml").write_text(
        f'agents = ["droid"]\nnotify_urls = ["json://127.0.0.1/x", "nope://{SECRET}/1"]\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(root=tmp_path)
    message = str(raised.value)
    assert message.startswith(f"{tmp_path}/inboxd.toml line 2: notify_urls = ")
    assert "item 2 (nope://...): not a notification URL apprise knows" in message
    assert "SECRET" not in message and "\n" not in message


def test_an_unknown_event_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(root=tmp_path, notify_events=["file_rejected", "file_imported"])
    assert str(raised.value) == (
        "notify_events ['file_rejected', 'file_imported']: input should be 'file_rejected', "
        "'batch_closed', 'agent_silent', 'database_waiting' or 'unclean_start'"
    )


def test_a_bad_url_from_the_environment_is_one_error_line(tmp_path: Path) -> None:
    done = console(
        "status", "--root", str(tmp_path), cwd=tmp_path, env={"INBOXD_NOTIFY_URLS": f"x://{SECRET}"}
    )
    assert_one_error_line(done, 2, "INBOXD_NOTIFY_URLS=['x://...']: item 1 (x://...)")
    assert "SECRET" not in done.err


def test_durations_read_as_a_person_says_them() -> None:
    assert [
        duration(s) for s in (0, 59, 60, 3599, 3600, 3 * 3600 + 5 * 60, 2 * 86400 + 4 * 3600)
    ] == [
        "0s",
        "59s",
        "1m",
        "59m",
        "1h00m",
        "3h05m",
        "2d04h",
    ]


def test_a_reason_is_one_short_line_with_no_mention() -> None:
    alert = alert_for(
        {"event": "file.rejected", "agent": "droid", "reason": "@channel\x1b[31m" + "x" * 500}
    )
    assert alert is not None
    assert alert.line.startswith("droid: @\u2060channel\\x1b[31m")
    assert len(alert.line) < 320 and alert.line.endswith("…")


def test_events_no_one_is_told_of_make_no_alert() -> None:
    assert alert_for({"event": "file.imported", "agent": "droid"}) is None
    assert alert_for({"event": "alert.failed"}) is None


def test_a_grouped_message_lists_the_first_few_and_counts_the_rest() -> None:
    rejected = Group(
        count=7,
        first=[Alert("file_rejected", "file rejected (droid)", f"droid: f{n}") for n in range(3)],
    )
    closed = Group(count=1, first=[Alert("batch_closed", "batch 2 closed (claude)", "c", False)])
    message = render({"batch_closed": closed, "file_rejected": rejected}, "inboxd on host")
    assert message.title == "inboxd: 7 files rejected; batch 2 closed (claude)"
    assert message.body.splitlines() == [
        "7 files rejected:",
        "- droid: f0",
        "- droid: f1",
        "- droid: f2",
        "- ... and 4 more (inboxd logs --event 'file.rejected')",
        "",
        "batch 2 closed (claude):",
        "- c",
        "",
        "inboxd on host",
    ]
    assert message.problem and message.alerts == 8
