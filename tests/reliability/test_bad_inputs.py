"""Scenario 11: every kind of bad input, delivered to the running daemon: each is rejected with
its reason (which names the file, in droid's status and in the log) or skipped quietly; the
next good file is still imported within a second; the daemon stays alive.
"""

from __future__ import annotations

import codecs
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from daemon.config import Settings
from daemon.live.service import Daemon
from daemon.store.engine import Database
from tests.reliability.probes import (
    agent_status,
    has_question,
    ledger_rows,
    qa_document,
    unique_question,
    write_then_rename,
)
from tests.support import wait_for

GOOD_FILE_DEADLINE = 1.0  # seconds from the good file's rename to its pairs being stored
SIZE_CAP = 1_000
VANISHING = 100


@dataclass(frozen=True)
class Delivered:
    """What a bad input left in the tree, and what must become of it."""

    rel: str  # as the ledger and the status show it
    expect: Literal["rejected", "imported", "skipped"]
    reason: tuple[str, ...] = ()  # fragments the reason must contain (besides the path)
    never_stored: tuple[str, ...] = ()  # questions that must not reach the database


@dataclass(frozen=True)
class Case:
    id: str
    deliver: Callable[[Path, Path], Delivered]  # (outbox/droid folder, a folder outside)
    settings: dict[str, Any] = field(default_factory=dict)


def _rejected_file(name: str, data: bytes, *reason: str) -> Callable[[Path, Path], Delivered]:
    def deliver(out: Path, _outside: Path) -> Delivered:
        write_then_rename(out / name, data)
        return Delivered(f"outbox/droid/{name}", "rejected", reason)

    return deliver


def _accepted_file(name: str, data: bytes | None = None) -> Callable[[Path, Path], Delivered]:
    """A file that only looks odd (its name, a JSON escape): imported like any other."""

    def deliver(out: Path, _outside: Path) -> Delivered:
        write_then_rename(out / name, data or qa_document(unique_question(name)))
        return Delivered(f"outbox/droid/{name}", "imported")

    return deliver


def _binary() -> bytes:
    data = bytearray(random.Random(11).randbytes(4096))
    data[10:14] = b"\x00\x00\x00\x00"
    return bytes(data)


_UTF16_ODD = (
    codecs.BOM_UTF16_LE
    + json.dumps([{"question": "UTF-16 cut in half?", "answer": "yes"}]).encode("utf-16-le")
    + b"\x7b"
)


def _undecodable_name(out: Path, _outside: Path) -> Delivered:
    path = os.path.join(os.fsencode(out), b"bad\xffname_qa_pairs.json")
    with open(path, "wb") as handle:
        handle.write(qa_document(unique_question("undecodable name")))
    return Delivered("outbox/droid/bad\\xffname_qa_pairs.json", "imported")


def _empty_signal(out: Path, _outside: Path) -> Delivered:
    write_then_rename(out / "ALL_SESSIONS_COMPLETE.txt", b"")
    return Delivered("outbox/droid/ALL_SESSIONS_COMPLETE.txt", "imported")


def _vanishing(out: Path, _outside: Path) -> Delivered:
    """Created, written and deleted at once, many times over.

    Each under its own name: one name created again at once is a file being written while
    an older close event for it waits in the queue (see test_slow_writer.py).
    """
    for i in range(VANISHING):
        path = out / f"flicker_{i}_qa_pairs.json"
        path.write_bytes(qa_document(f"Vanishing question {i}?"))
        path.unlink()
    return Delivered("outbox/droid/flicker_0_qa_pairs.json", "skipped")


def _link_to_file(out: Path, outside: Path) -> Delivered:
    secret = outside / "secret_qa_pairs.json"
    secret.write_bytes(qa_document("Secret outside the root?"))
    os.symlink(secret, out / "secret_qa_pairs.json")
    return Delivered(
        "outbox/droid/secret_qa_pairs.json",
        "rejected",
        ("symbolic link", "refused unread"),
        ("Secret outside the root?",),
    )


def _link_to_folder(out: Path, outside: Path) -> Delivered:
    folder = outside / "elsewhere"
    folder.mkdir()
    (folder / "before_qa_pairs.json").write_bytes(qa_document("Before the link?"))
    os.symlink(folder, out / "linked_folder")
    # written through the link after it exists: still outside the root
    (folder / "after_qa_pairs.json").write_bytes(qa_document("After the link?"))
    return Delivered(
        "outbox/droid/linked_folder",
        "rejected",
        ("symbolic link", "refused unread"),
        ("Before the link?", "After the link?"),
    )


def _oversize(out: Path, _outside: Path) -> Delivered:
    questions = [f"Oversize question {i}: what is the Ulcer index?" for i in range(20)]
    data = qa_document(*questions)
    assert len(data) > SIZE_CAP
    write_then_rename(out / "oversize_qa_pairs.json", data)
    return Delivered(
        "outbox/droid/oversize_qa_pairs.json",
        "rejected",
        ("over the size cap", "not read"),
        tuple(questions),
    )


CASES = [
    Case(
        "nesting-bomb",
        _rejected_file("bomb_qa_pairs.json", b"[" * 100_000, "nested more than 64 levels"),
    ),
    Case("binary-data", _rejected_file("binary_qa_pairs.json", _binary(), "expected UTF-8")),
    Case(
        "invalid-utf8",
        _rejected_file(
            "latin1_qa_pairs.json", b'[{"question": "caf\xe9?", "answer": "yes"}]', "invalid UTF-8"
        ),
    ),
    Case("invalid-utf16", _rejected_file("utf16_qa_pairs.json", _UTF16_ODD, "invalid UTF-16")),
    Case("empty-json", _rejected_file("empty_qa_pairs.json", b"", "empty")),
    Case("empty-jsonl", _rejected_file("empty_qa_pairs.jsonl", b"", "empty")),
    Case(
        "nul-in-string",
        _rejected_file(
            "nul_qa_pairs.json", b'[{"question": "NUL \x00 here?", "answer": "yes"}]', "NUL"
        ),
    ),
    Case(
        "escaped-nul-in-string",
        _accepted_file(  # valid JSON: the NUL is data, not binary
            "escaped_nul_qa_pairs.json", b'[{"question": "NUL \\u0000 escaped?", "answer": "y"}]'
        ),
    ),
    Case("empty-signal", _empty_signal),
    Case("name-spaces-unicode", _accepted_file("odd name ünï cödé 指标_qa_pairs.json")),
    Case("name-newline", _accepted_file("new\nline_qa_pairs.json")),
    Case("name-undecodable-byte", _undecodable_name),
    Case("vanishing-files", _vanishing),
    Case("link-to-file-outside", _link_to_file),
    Case("link-to-folder-outside", _link_to_folder),
    Case("over-size-cap", _oversize, {"max_file_bytes": SIZE_CAP}),
]
PARAMS = [pytest.param(c, id=c.id) for c in CASES] + [
    pytest.param(
        Case("link-to-folder-outside-polling", _link_to_folder, {"polling": True}),
        id="link-to-folder-outside-polling",
    ),
]


def _logged(log_file: Path, event: str, rel: str | None) -> list[dict[str, Any]]:
    """Logged events of one kind, for one path (or all)."""
    events = []
    for line in log_file.read_text("utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:  # the line being written right now
            continue
    return [e for e in events if e.get("event") == event and (rel is None or e.get("path") == rel)]


def _rejection(root: Path, rel: str) -> dict[str, Any] | None:
    rejected: list[dict[str, Any]] = agent_status(root).get("rejected", [])
    for entry in rejected:
        if entry["path"] == rel:
            return entry
    return None


def _recorded_under(db: Database, rel: str) -> list[str]:
    """Ledger paths inside ``rel`` (behind a link, say)."""
    return [r.rel_path for r in ledger_rows(db) if r.rel_path.startswith(rel + "/")]


def _assert_alive(daemon: Daemon) -> None:
    assert daemon._worker is not None and daemon._worker.is_alive(), "the worker thread died"
    assert daemon._observer.is_alive(), "the observer thread died"
    assert daemon.counts["worker_error"] == 0
    assert daemon.counts["failed"] == 0  # a parser's unexpected exception


@pytest.mark.parametrize("case", PARAMS)
def test_bad_input_gets_its_reason_and_the_next_good_file_is_imported_within_a_second(
    settings: Settings,
    db: Database,
    start_daemon: Callable[..., Daemon],
    json_logs: Path,
    tmp_path_factory: pytest.TempPathFactory,
    case: Case,
) -> None:
    daemon = start_daemon(**case.settings)
    root = settings.root_path
    bad = case.deliver(root / "outbox/droid", tmp_path_factory.mktemp("outside"))

    if bad.expect == "rejected":
        wait_for(
            lambda: _rejection(root, bad.rel) or _recorded_under(db, bad.rel),
            timeout=5,
            what=f"{bad.rel!r} in droid's rejected files",
        )
        assert _recorded_under(db, bad.rel) == [], "files behind it were recorded"
        entry = _rejection(root, bad.rel)
        assert entry is not None
        assert entry["reason"].startswith(bad.rel), entry["reason"]
        for fragment in bad.reason:
            assert fragment in entry["reason"]
        assert [e["reason"] for e in _logged(json_logs, "file.rejected", bad.rel)] == [
            entry["reason"]
        ]
    elif bad.expect == "imported":
        wait_for(
            lambda: [r.outcome for r in ledger_rows(db, bad.rel)] == ["imported"],
            timeout=5,
            what=f"{bad.rel!r} to be imported",
        )
        # logged just after the commit
        wait_for(
            lambda: _logged(json_logs, "file.imported", bad.rel),
            timeout=5,
            what=f"{bad.rel!r} in the log",
        )
    else:
        # the events are on their way through watchdog's threads: join() alone may find the
        # queue still empty
        wait_for(lambda: daemon.counts["vanished"] > 0, timeout=5, what="a vanished file")
        assert daemon.join(5)
        # a file read whole before it vanished may be imported; nothing else may be recorded
        flickers = [r for r in ledger_rows(db) if "flicker" in r.rel_path]
        assert {r.outcome for r in flickers} <= {"imported"}
        vanished = [e for e in _logged(json_logs, "file.vanished", None) if "flicker" in e["path"]]
        assert vanished and all(e["reason"] for e in vanished)
    # the catch-up scan (the folder is the truth) neither records it again nor reads past it
    daemon.rescan(reason="test")
    assert daemon.join(5)
    if bad.expect != "skipped":
        assert [r.outcome for r in ledger_rows(db, bad.rel)] == [bad.expect]
    assert _recorded_under(db, bad.rel) == []
    for question in bad.never_stored:
        assert not has_question(db, question)
    _assert_alive(daemon)

    good = unique_question("good after bad")
    renamed = write_then_rename(
        root / f"outbox/droid/good_{case.id}_qa_pairs.json", qa_document(good)
    )
    wait_for(
        lambda: has_question(db, good),
        timeout=GOOD_FILE_DEADLINE - (time.monotonic() - renamed),
        what="the good file after the bad one, within a second of its rename",
    )
    assert daemon.join(5)
    _assert_alive(daemon)
