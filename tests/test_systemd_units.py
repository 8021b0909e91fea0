"""The unit files: what the service needs, verified by systemd's own analyzer."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).parents[1] / "systemd"
SYSTEM_UNIT = UNITS / "inboxd.service"
USER_UNIT = UNITS / "inboxd-user.service"
INBOXD = Path(sys.prefix) / "bin" / "inboxd"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
MAX_EXPOSURE = 2.0  # "OK" or better in `systemd-analyze security`

needs_analyzer = pytest.mark.skipif(
    not Path(SYSTEMD_ANALYZE).exists(),
    reason="systemd-analyze is not installed (.ci/run installs the systemd package)",
)


def _directives(unit: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) in order; keys may repeat, as systemd allows."""
    found, section = [], ""
    for raw in unit.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.append((section, key.strip(), value.strip()))
    return found


def _values(unit: Path, section: str, key: str) -> list[str]:
    return [v for s, k, v in _directives(unit) if (s, k) == (section, key)]


def _with_real_binary(unit: Path, tmp_path: Path) -> Path:
    """The unit as installed, but with ExecStart= on this venv's inboxd (verify needs it)."""
    text = re.sub(r"[^\s=]+/\.venv/bin/inboxd", str(INBOXD), unit.read_text())
    assert str(INBOXD) in text
    copy = tmp_path / unit.name
    copy.write_text(text)
    return copy


def _analyze(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    runtime = tmp_path / "runtime"  # a user manager's XDG_RUNTIME_DIR, for --user
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "XDG_RUNTIME_DIR": str(runtime),
        "SYSTEMD_LOG_COLOR": "0",
        "LANG": "C.UTF-8",
    }
    return subprocess.run(
        [SYSTEMD_ANALYZE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=False,
    )


@pytest.mark.parametrize("unit", [SYSTEM_UNIT, USER_UNIT], ids=["system", "user"])
def test_both_units_are_notify_services_with_watchdog_restart_and_reload(unit: Path) -> None:
    assert _values(unit, "Service", "Type") == ["notify"]
    assert _values(unit, "Service", "NotifyAccess") == ["main"]
    assert _values(unit, "Service", "WatchdogSec")
    assert _values(unit, "Service", "Restart") == ["on-failure"]
    assert _values(unit, "Unit", "StartLimitBurst") and _values(
        unit, "Unit", "StartLimitIntervalSec"
    )
    assert _values(unit, "Service", "ExecReload") == ["/bin/kill -HUP $MAINPID"]
    assert _values(unit, "Service", "StateDirectory") == ["inboxd"]
    assert "INBOXD_ROOT=%S/inboxd" in _values(unit, "Service", "Environment")
    (env_file,) = _values(unit, "Service", "EnvironmentFile")
    assert env_file.startswith("-")  # optional
    assert _values(unit, "Service", "UMask") == ["0027"]
    assert _values(unit, "Service", "RestrictAddressFamilies") == ["AF_UNIX"]
    assert "@system-service" in _values(unit, "Service", "SystemCallFilter")
    assert _values(unit, "Service", "NoNewPrivileges") == ["yes"]


@pytest.mark.parametrize("unit", [SYSTEM_UNIT, USER_UNIT], ids=["system", "user"])
def test_exec_start_is_the_venvs_own_inboxd_so_ready_comes_from_the_main_pid(unit: Path) -> None:
    (start,) = _values(unit, "Service", "ExecStart")
    (pre,) = _values(unit, "Service", "ExecStartPre")
    assert re.fullmatch(r"(/|%h/)\S+/\.venv/bin/inboxd run", start)
    assert re.fullmatch(r"(/|%h/)\S+/\.venv/bin/inboxd init", pre)  # migrations, idempotent


def test_system_unit_is_sandboxed() -> None:
    service = dict((k, v) for s, k, v in _directives(SYSTEM_UNIT) if s == "Service")
    expected = {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ReadWritePaths": "%S/inboxd",
        "CapabilityBoundingSet": "",
        "User": "inboxd",
    }
    assert {k: service.get(k) for k in expected} == expected


@needs_analyzer
@pytest.mark.parametrize(
    ("unit", "mode"), [(SYSTEM_UNIT, "--system"), (USER_UNIT, "--user")], ids=["system", "user"]
)
def test_systemd_analyze_verify_says_nothing(unit: Path, mode: str, tmp_path: Path) -> None:
    result = _analyze(tmp_path, mode, "verify", str(_with_real_binary(unit, tmp_path)))
    assert (result.returncode, result.stderr, result.stdout) == (0, "", "")


@needs_analyzer
def test_verify_would_catch_an_unknown_key(tmp_path: Path) -> None:
    """The check above is meaningful: verify exits 0 on unknown keys but says so on stderr."""
    unit = _with_real_binary(SYSTEM_UNIT, tmp_path)
    unit.write_text(unit.read_text().replace("[Service]\n", "[Service]\nProtectSytem=strict\n"))
    result = _analyze(tmp_path, "verify", str(unit))
    assert "Unknown key" in result.stderr


@needs_analyzer
def test_system_unit_exposure_is_ok_or_better(tmp_path: Path) -> None:
    unit = _with_real_binary(SYSTEM_UNIT, tmp_path)
    result = _analyze(tmp_path, "security", "--offline=true", "--threshold=20", str(unit))
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE
    assert result.returncode == 0, result.stdout


# -- the dashboard's drop-in (issue 17) ----------------------------------------------------
HTTP_DROP_IN = UNITS / "inboxd-http.conf"


def _with_drop_in(tmp_path: Path) -> Path:
    """The system unit with the dashboard's drop-in applied: appended to the unit, its
    assignments take effect as a drop-in's do (an empty one resets a list first)."""
    unit = _with_real_binary(SYSTEM_UNIT, tmp_path)
    drop_in = re.sub(r"[^\s=]+/\.venv/bin/inboxd", str(INBOXD), HTTP_DROP_IN.read_text())
    unit.write_text(unit.read_text() + "\n" + drop_in)
    return unit


def test_the_dashboard_drop_in_listens_on_loopback_only() -> None:
    (_reset, start) = _values(HTTP_DROP_IN, "Service", "ExecStart")
    assert re.fullmatch(r"/\S+/\.venv/bin/inboxd run --http 127\.0\.0\.1:\d+", start)
    assert _values(HTTP_DROP_IN, "Service", "IPAddressDeny") == ["any"]
    assert _values(HTTP_DROP_IN, "Service", "IPAddressAllow") == ["localhost"]


@needs_analyzer
def test_the_unit_with_the_dashboard_verifies_and_stays_ok_or_better(tmp_path: Path) -> None:
    unit = _with_drop_in(tmp_path)
    verified = _analyze(tmp_path, "--system", "verify", str(unit))
    assert (verified.returncode, verified.stderr, verified.stdout) == (0, "", "")
    result = _analyze(tmp_path, "security", "--offline=true", "--threshold=20", str(unit))
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE
