"""Near-duplicates found on import: the flag and skip policies, within a file and across files,
hard negatives left alone, the ledger's details, and a restart that finds the same matches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daemon.cli.app import EXIT_OK
from daemon.config import Settings, load_settings
from daemon.errors import ConfigError
from daemon.ingest.handoff import hand_off
from daemon.store.engine import Database
from daemon.store.models import utcnow
from daemon.web.board import Board
from tests.neardup.conftest import marks, rows, write_pairs
from tests.support import Run, cli_runner, read_status

FIRST = [
    "What does RSI measure?",
    "How is RSI calculated on the daily chart?",
    "What does it mean when RSI rises above 70?",
]
SECOND = [
    "In crypto markets, what does the RSI measure exactly?",  # FIRST[0] again
    "On the daily chart, how is RSI calculated??",  # FIRST[1] again, clauses reordered
    "What does it mean when RSI rises above 30?",  # another number: not a near-duplicate
    "How is RSI calculated on the weekly chart?",  # another timeframe: not one either
    "Why do traders watch RSI divergences?",  # a new question
]


def near_details(root: Path, name: str) -> dict[str, object]:
    (details,) = rows(root, f"SELECT details FROM files WHERE rel_path LIKE '%{name}'")[0]
    value = json.loads(details)["near_duplicates"]
    assert isinstance(value, dict)
    return value


def test_flag_stores_a_near_duplicate_marked_with_the_pair_it_resembles(
    run: Run, root: Path
) -> None:
    write_pairs(root, "rsi_1_qa_pairs.json", FIRST)
    write_pairs(root, "rsi_2_qa_pairs.json", SECOND)
    assert run("scan")[0] == EXIT_OK
    marked = {question: of for question, of, _ in marks(root)}
    assert len(marked) == len(FIRST) + len(SECOND)  # flag: every pair stored
    assert marked[SECOND[0]] == FIRST[0]
    assert marked[SECOND[1]] == FIRST[1]
    assert [marked[q] for q in SECOND[2:]] == [None, None, None]
    assert [marked[q] for q in FIRST] == [None, None, None]
    details = near_details(root, "rsi_2_qa_pairs.json")
    assert details["policy"] == "flag"
    assert details["count"] == 2
    examples = details["examples"]
    assert isinstance(examples, list)
    assert [(e["question"], e["resembles"]) for e in examples] == [
        (SECOND[0], FIRST[0]),
        (SECOND[1], FIRST[1]),
    ]


def test_similarity_is_stored_with_the_mark(run: Run, root: Path) -> None:
    write_pairs(root, "a_qa_pairs.json", ["What does RSI measure?"])
    write_pairs(root, "b_qa_pairs.json", ["What does RSI measure for beginners?"])
    assert run("scan")[0] == EXIT_OK
    (_, (_, of, similarity)) = marks(root)
    assert of == "What does RSI measure?"
    assert similarity == pytest.approx(2 / 3)  # {rsi, measure} of {rsi, measure, beginner}


def test_skip_counts_a_near_duplicate_as_a_duplicate_and_does_not_store_it(
    run: Run, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INBOXD_NEAR_DUPLICATE_POLICY", "skip")
    write_pairs(root, "rsi_1_qa_pairs.json", FIRST)
    write_pairs(root, "rsi_2_qa_pairs.json", SECOND)
    assert run("scan")[0] == EXIT_OK
    stored = [question for question, _, _ in marks(root)]
    assert stored == FIRST + SECOND[2:]
    ((delivered, stored_count, duplicate),) = rows(
        root,
        "SELECT pairs_delivered, pairs_stored, pairs_duplicate FROM files"
        " WHERE rel_path LIKE '%rsi_2_qa_pairs.json'",
    )
    assert (delivered, stored_count, duplicate) == (5, 3, 2)
    assert near_details(root, "rsi_2_qa_pairs.json")["count"] == 2


def test_a_near_duplicate_inside_one_file_is_found(run: Run, root: Path) -> None:
    write_pairs(root, "rsi_1_qa_pairs.json", [FIRST[0], SECOND[0], SECOND[2]])
    assert run("scan")[0] == EXIT_OK
    assert [of for _, of, _ in marks(root)] == [None, FIRST[0], None]
    examples = near_details(root, "rsi_1_qa_pairs.json")["examples"]
    assert isinstance(examples, list)
    (example,) = examples
    assert example["of"] == rows(root, "SELECT min(qa_id) FROM qa_pairs")[0][0]


def test_skip_inside_one_file_keeps_the_first(
    run: Run, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INBOXD_NEAR_DUPLICATE_POLICY", "skip")
    write_pairs(root, "rsi_1_qa_pairs.json", [FIRST[0], SECOND[0], SECOND[2]])
    assert run("scan")[0] == EXIT_OK
    assert [q for q, _, _ in marks(root)] == [FIRST[0], SECOND[2]]


def test_off_looks_for_nothing_and_indexes_nothing(
    run: Run, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INBOXD_NEAR_DUPLICATE_POLICY", "off")
    write_pairs(root, "rsi_1_qa_pairs.json", FIRST + SECOND)
    assert run("scan")[0] == EXIT_OK
    assert [of for _, of, _ in marks(root)] == [None] * 8
    assert rows(root, "SELECT count(*) FROM near_signatures") == [(0,)]


def test_every_stored_pair_is_in_the_index(run: Run, root: Path) -> None:
    write_pairs(root, "rsi_1_qa_pairs.json", FIRST + SECOND)
    assert run("scan")[0] == EXIT_OK
    assert rows(root, "SELECT count(*) FROM near_signatures") == [(8,)]
    # the bands are held in memory since 0009, not stored
    assert rows(root, "SELECT count(*) FROM sqlite_master WHERE name = 'near_bands'") == [(0,)]


def test_after_a_restart_the_stored_index_finds_the_same_matches(
    run: Run,
    root: Path,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A second command starts from the database alone (a new engine, nothing kept in
    memory): it finds what one command taking both files finds."""
    write_pairs(root, "rsi_1_qa_pairs.json", FIRST)
    assert run("scan")[0] == EXIT_OK
    write_pairs(root, "rsi_2_qa_pairs.json", SECOND)
    assert run("scan")[0] == EXIT_OK
    after_restart = marks(root)
    # the same two files taken in one run
    other = tmp_path_factory.mktemp("one-run")
    for box in ("inbox", "outbox"):
        (other / box / "droid").mkdir(parents=True)
    write_pairs(other, "rsi_1_qa_pairs.json", FIRST)
    write_pairs(other, "rsi_2_qa_pairs.json", SECOND)
    with cli_runner(capsys, "--root", str(other)) as run_other:
        assert run_other("scan")[0] == EXIT_OK
    assert after_restart == marks(other)
    assert [of for _, of, _ in after_restart].count(None) == 6


def test_the_threshold_setting_decides(
    run: Run, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INBOXD_NEAR_DUPLICATE_THRESHOLD", "0.9")
    write_pairs(root, "a_qa_pairs.json", ["What does RSI measure?"])
    write_pairs(root, "b_qa_pairs.json", ["What does RSI measure for beginners?"])  # 0.67
    assert run("scan")[0] == EXIT_OK
    assert [of for _, of, _ in marks(root)] == [None, None]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("POLICY", "drop", "'flag', 'skip' or 'off'"),
        ("THRESHOLD", "0", "greater than 0"),
        ("SCOPE", "answer", "'question' or 'question-answer'"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    root: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(f"INBOXD_NEAR_DUPLICATE_{name}", value)
    with pytest.raises(ConfigError) as raised:
        load_settings(root=root)
    message = str(raised.value)
    assert message.startswith(f"INBOXD_NEAR_DUPLICATE_{name}='{value}'")
    assert expected in message
    assert "\n" not in message


def test_the_agents_status_shows_its_near_duplicates_with_examples(run: Run, root: Path) -> None:
    write_pairs(root, "rsi_1_qa_pairs.json", FIRST)
    write_pairs(root, "rsi_2_qa_pairs.json", [*SECOND, "What does *RSI* measure for beginners?"])
    assert run("scan")[0] == EXIT_OK
    status = read_status(root, "droid")
    assert status["pairs"]["near_duplicates"] == 3
    near = status["near_duplicates"]
    assert (near["policy"], near["found"]) == ("flag", 3)
    assert near["last_file"] == "outbox/droid/rsi_2_qa_pairs.json"
    assert near["examples"][0] == {
        "question": SECOND[0],
        "resembles": FIRST[0],
        "similarity": 1.0,
    }
    markdown = (root / "inbox" / "droid" / "STATUS.md").read_text("utf-8")
    assert "- near-duplicates: 3 (stored, marked)" in markdown
    assert r"What does \*RSI\* measure for beginners?" in markdown  # agent text: escaped
    assert read_status(root, "claude")["database"]["near_duplicates_marked"] == 3


def test_under_skip_the_status_counts_what_was_not_stored(
    run: Run, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INBOXD_NEAR_DUPLICATE_POLICY", "skip")
    write_pairs(root, "rsi_1_qa_pairs.json", FIRST + SECOND)
    assert run("scan")[0] == EXIT_OK
    status = read_status(root, "droid")
    assert status["pairs"]["near_duplicates"] == 2
    assert status["pairs"]["duplicates_skipped"] == 2
    assert [e["question"] for e in status["near_duplicates"]["examples"]] == SECOND[:2]
    markdown = (root / "inbox" / "droid" / "STATUS.md").read_text("utf-8")
    assert "- near-duplicates: 2 (not stored)" in markdown


def test_the_gap_report_counts_unique_and_near_duplicate_pairs_per_indicator(
    run: Run, root: Path
) -> None:
    write_pairs(root, "rsi_1_qa_pairs.json", FIRST)
    write_pairs(root, "rsi_2_qa_pairs.json", SECOND)
    write_pairs(root, "mfi_qa_pairs.json", ["What does MFI measure?"], indicator="MFI")
    assert run("scan")[0] == EXIT_OK
    code, report = run("report", "gap")
    assert code == EXIT_OK
    assert "- found on import (marked or skipped): 2" in report
    assert "| MFI | 1 | 1 | 0 |" in report
    assert "| RSI | 8 | 6 | 2 |" in report


@pytest.mark.parametrize(("handoff", "handed"), [("flag", 8), ("skip", 6)])
def test_the_refiner_is_handed_near_duplicates_marked_or_not_at_all(
    run: Run, root: Path, handoff: str, handed: int
) -> None:
    write_pairs(root, "rsi_1_qa_pairs.json", FIRST + SECOND)
    assert run("scan")[0] == EXIT_OK
    settings = Settings(root=root, handoff_near_duplicates=handoff)
    db = Database(settings.url)
    try:
        with db.transaction() as session:
            (batch,) = hand_off(session, settings, utcnow())
    finally:
        db.dispose()
    records = [json.loads(line) for line in (root / batch["file"]).read_text().splitlines()]
    assert len(records) == handed
    marked = {r["question"]: r.get("near_duplicate_of") for r in records}
    ids = dict(rows(root, "SELECT question, qa_id FROM qa_pairs"))
    if handoff == "flag":
        assert marked[SECOND[0]] == ids[FIRST[0]]
        assert marked[SECOND[1]] == ids[FIRST[1]]
        assert sum(1 for of in marked.values() if of is not None) == 2
    else:
        assert SECOND[0] not in marked and SECOND[1] not in marked


def test_a_snapshot_carries_the_marks_and_can_leave_near_duplicates_out(
    run: Run, root: Path
) -> None:
    write_pairs(root, "rsi_1_qa_pairs.json", FIRST + SECOND)
    assert run("scan")[0] == EXIT_OK
    for name, options in (("all", ()), ("unique", ("--exclude-near-duplicates",))):
        code, out = run("dataset", "snapshot", name, "--format", "jsonl", *options)
        assert code == EXIT_OK, out
    folder = root / "var" / "datasets"
    every = [json.loads(line) for line in (folder / "all/pairs.jsonl").read_text().splitlines()]
    unique = [json.loads(line) for line in (folder / "unique/pairs.jsonl").read_text().splitlines()]
    ids = dict(rows(root, "SELECT question, qa_id FROM qa_pairs"))
    marked = {r["question"]: (r["near_duplicate_of"], r["near_similarity"]) for r in every}
    assert marked[SECOND[0]] == (ids[FIRST[0]], 1.0)
    assert marked[SECOND[2]] == (None, None)
    assert sorted(r["question"] for r in unique) == sorted(FIRST + SECOND[2:])
    manifest = json.loads((folder / "unique/manifest.json").read_text())
    assert manifest["filters"] == {"exclude_near_duplicates": True}
    review = [json.loads(line) for line in (folder / "all/review.jsonl").read_text().splitlines()]
    reasons = {r["question"]: r["reasons"] for r in review}
    assert reasons[SECOND[0]] == [f"a near-duplicate of pair {ids[FIRST[0]]} (similarity 1.00)"]


def test_the_dashboard_card_counts_the_agents_near_duplicates(run: Run, root: Path) -> None:
    write_pairs(root, "rsi_1_qa_pairs.json", FIRST)
    write_pairs(root, "rsi_2_qa_pairs.json", SECOND)
    assert run("scan")[0] == EXIT_OK
    db = Database(load_settings(root=root).url)
    try:
        cards = {
            card["agent"]: card for card in Board(load_settings(root=root), db).overview()["cards"]
        }
    finally:
        db.dispose()
    assert cards["droid"]["near_duplicates"] == 2
    assert cards["claude"]["near_duplicates"] == 0
