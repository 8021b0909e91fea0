"""``inboxd dataset snapshot``: what each file holds, compared with the database itself.

Every data format is read back by its own reader (pyarrow, duckdb, csv, json) and compared
row for row with plain SQL over the tables; the RAG records, the review list, the manifest and
the card are checked against the same rows. Filters, splits and ``dataset diff`` run through
the command line in-process on a copy of an imported root (tests/dataset/conftest.py).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from daemon.config import Settings
from daemon.status.escaping import markdown
from tests.dataset.support import (
    ALL_FORMATS,
    MISSING_INDICATOR,
    ODD_CATEGORY,
    ODD_INDICATOR,
    ODD_PAIRS,
    ODD_SESSION,
    Row,
    compared,
    connected,
    copy_root,
    database_rows,
    deliver_json,
    deliver_refinement,
    qa_ids_by_question,
    read_csv,
    read_data_file,
    read_duckdb,
    read_jsonl,
    scan,
    sqlite_url,
    take_snapshot,
)
from tests.support import Run, cli_runner

DATA_FILES = ("pairs.parquet", "pairs.jsonl", "pairs.csv", "pairs.duckdb")
TIERS_BEST_FIRST = ("premium", "standard", "low")
NONE = "(none)"  # how the manifest's totals name a missing value
SPLIT = "train=0.8,validation=0.1,test=0.1"
SPLIT_PARTS = ("train", "validation", "test")
# pairs delivered after the first snapshot, in a session of their own
MORE_FILE = "outbox/droid/session_08/obv_qa_pairs.json"
MORE_PAIRS = [
    {"question": f"What does OBV reading {n} mean?", "answer": f"Volume pressure case {n}."}
    for n in range(1, 4)
]


@pytest.fixture(scope="module")
def full_snapshot(
    imported_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """(root, folder): one snapshot in every format of an unchanged copy, read by many tests."""
    root = copy_root(imported_template, tmp_path_factory.mktemp("full"))
    return root, take_snapshot(root, "full", "--format", ALL_FORMATS)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Iterator[Run]:
    """``inboxd ARGS`` in-process, for commands whose output a test reads (``diff --json``)."""
    with cli_runner(capsys) as invoke:
        yield invoke


def _import_more(root: Path) -> None:
    deliver_json(root, MORE_FILE, {"indicator": "OBV", "session": 8, "qa_pairs": MORE_PAIRS})
    scan(root)


# -- every format, row for row ------------------------------------------------------------


@pytest.mark.parametrize("data_file", DATA_FILES)
def test_each_format_read_by_its_own_reader_equals_the_database(
    full_snapshot: tuple[Path, Path], data_file: str
) -> None:
    root, folder = full_snapshot
    expected = compared(database_rows(sqlite_url(root)))
    assert {row["answer"] for row in expected} >= {pair["answer"] for pair in ODD_PAIRS}
    assert compared(read_data_file(folder / data_file)) == expected


def test_csv_is_rfc_4180_with_a_header_and_crlf_line_ends(full_snapshot: tuple[Path, Path]) -> None:
    """Line breaks inside a value stay inside its quotes; every record ends with CRLF."""
    _, folder = full_snapshot
    raw = (folder / "pairs.csv").read_bytes()
    records = read_csv(folder / "pairs.csv")
    header = raw.split(b"\r\n", 1)[0].decode()
    assert [name.strip('"') for name in header.split(",")] == list(records[0])
    assert raw.endswith(b"\r\n")
    texts = [value for record in records for value in record.values() if isinstance(value, str)]
    assert not any("\r\n" in value for value in texts)  # else the count below is ambiguous
    assert raw.count(b"\r\n") == len(records) + 1
    inner_breaks = sum(value.count("\n") for value in texts)
    assert inner_breaks > 0
    assert raw.replace(b"\r\n", b"").count(b"\n") == inner_breaks


# -- RAG records, review list, manifest ----------------------------------------------------


RAG_RECORD_FIELDS = {"id", "indicator", "category", "sessions", "document", "metadata", "qa_pairs"}
RAG_PAIR_FIELDS = (
    "qa_id",
    "question_key",
    "session",
    "question",
    "answer",
    "quality_score",
    "tier",
)


def _assert_rag_record(record: Row, pairs: list[Row]) -> None:
    """One indicator's record: its pairs (and only those), its sessions, its document."""
    assert set(record) == RAG_RECORD_FIELDS
    assert (record["indicator"], record["category"]) == (
        pairs[0]["indicator"],
        pairs[0]["category"],
    )
    assert sorted(record["qa_pairs"], key=lambda p: p["qa_id"]) == [
        {field: pair[field] for field in RAG_PAIR_FIELDS} for pair in pairs
    ]
    sessions = sorted({p["session"] for p in pairs if p["session"] is not None})
    assert record["sessions"] == sessions
    for pair in pairs:
        assert f"Q: {pair['question']}\nA: {pair['answer']}" in record["document"]
    assert record["metadata"] == {
        "indicator": record["indicator"] or NONE,
        "category": record["category"] or NONE,
        "sessions": ",".join(map(str, sessions)),
        "pairs": len(pairs),
    }


def test_rag_records_hold_each_indicators_pairs_in_the_documented_shape(
    full_snapshot: tuple[Path, Path],
) -> None:
    root, folder = full_snapshot
    by_indicator: dict[str, list[Row]] = defaultdict(list)
    for row in database_rows(sqlite_url(root)):  # ordered by qa_id
        name = row["indicator"]
        by_indicator[NONE if name is None else name.casefold()].append(row)
    records = read_jsonl(folder / "rag.jsonl")
    assert sorted(r["id"] for r in records) == sorted(f"indicator:{k}" for k in by_indicator)
    for record in records:
        _assert_rag_record(record, by_indicator[record["id"].removeprefix("indicator:")])


def _review_reasons(row: Row, min_score: float, tier_below: str) -> dict[str, str]:
    """Why the review list must hold a pair: each kind of reason with a fragment of its text
    (empty: the pair needs no look)."""
    below = TIERS_BEST_FIRST[TIERS_BEST_FIRST.index(tier_below) + 1 :]
    found = {}
    if row["quality_score"] is not None and row["quality_score"] < min_score:
        found["score"] = f"quality score {row['quality_score']:g} is below {min_score:g}"
    if row["tier"] in below:
        found["tier"] = f"tier {row['tier']} is below {tier_below}"
    if row["key_conflict"]:
        found["key_conflict"] = "question key is shared"
    if row["duplicate_of"] is not None:
        found["duplicate"] = f"duplicate of pair {row['duplicate_of']}"
    if row["refinement_notes"]:
        found["notes"] = row["refinement_notes"]
    return found


def test_review_list_holds_exactly_the_pairs_to_look_at_each_with_why(
    full_snapshot: tuple[Path, Path],
) -> None:
    root, folder = full_snapshot
    settings = Settings(root=root)
    expected = {
        row["qa_id"]: reasons
        for row in database_rows(sqlite_url(root))
        if (reasons := _review_reasons(row, settings.review_min_score, settings.review_tier_below))
    }
    kinds = {kind for reasons in expected.values() for kind in reasons}
    assert kinds == {"score", "tier", "key_conflict", "duplicate", "notes"}, "fixture too thin"
    listed = {record["qa_id"]: record for record in read_jsonl(folder / "review.jsonl")}
    assert set(listed) == set(expected)
    for qa_id, fragments in expected.items():
        reasons = listed[qa_id]["reasons"]
        assert len(reasons) == len(fragments), (qa_id, reasons)
        for fragment in fragments.values():
            assert any(fragment in reason for reason in reasons), (qa_id, fragment, reasons)


def _rows_in(path: Path) -> int | None:
    """A file's rows, counted by its own reader (None: the card, not a file of rows)."""
    if path.suffix == ".md":
        return None
    if path.suffix == ".parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    if path.suffix == ".jsonl":
        return len(read_jsonl(path))
    return len(read_data_file(path))


def _quality_bucket(score: float | None) -> str:
    if score is None:
        return "unscored"
    low = min(math.floor(score * 10), 9)
    return f"{low / 10:.1f}-{(low + 1) / 10:.1f}"


def test_manifest_names_every_file_with_its_rows_bytes_and_hash(
    full_snapshot: tuple[Path, Path],
) -> None:
    _, folder = full_snapshot
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["files"]) | {"manifest.json"} == {p.name for p in folder.iterdir()}
    for name, entry in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert entry["bytes"] == len(data), name
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert entry["rows"] == _rows_in(folder / name), name


def test_manifest_totals_add_up_to_the_pairs_by_tier_category_agent_session_and_score(
    full_snapshot: tuple[Path, Path],
) -> None:
    root, folder = full_snapshot
    manifest = json.loads((folder / "manifest.json").read_text())
    rows = database_rows(sqlite_url(root))
    assert manifest["pairs"] == len(rows)
    for column in ("tier", "category", "agent", "session"):
        expected = Counter(NONE if r[column] is None else str(r[column]) for r in rows)
        assert manifest["totals"][column] == dict(expected), column
        assert sum(manifest["totals"][column].values()) == len(rows)
    scores = Counter(_quality_bucket(r["quality_score"]) for r in rows)
    assert scores["unscored"] > 0
    assert manifest["quality"] == dict(scores)


# -- filters ------------------------------------------------------------------------------

# (options, the SQL condition that takes the same pairs, its parameters)
FILTERS: list[tuple[list[str], str, dict[str, Any]]] = [
    (["--tier", "premium"], "q.tier = 'premium'", {}),
    (["--tier", "standard,low"], "q.tier IN ('standard', 'low')", {}),
    (["--min-score", "0.6"], "q.quality_score >= 0.6", {}),
    (["--agent", "claude"], "q.agent = 'claude'", {}),
    (["--indicator", "sma"], "COALESCE(q.indicator_name, i.indicator_name) = 'SMA'", {}),
    (
        ["--indicator", ODD_INDICATOR.upper()],
        "COALESCE(q.indicator_name, i.indicator_name) = :name",
        {"name": ODD_INDICATOR},
    ),
    (
        ["--category", "price-based TECHNICAL indicators"],
        "i.indicator_category = 'Price-Based Technical Indicators'",
        {},
    ),
    (["--sessions", "1-20"], "q.session_number BETWEEN 1 AND 20", {}),
    (["--exclude-duplicates"], "q.duplicate_of IS NULL", {}),
    (
        ["--agent", "droid", "--min-score", "0.5", "--sessions", "2"],
        "q.agent = 'droid' AND q.quality_score >= 0.5 AND q.session_number = 2",
        {},
    ),
]


@pytest.mark.parametrize(
    ("options", "where", "params"), FILTERS, ids=[" ".join(f[0]) for f in FILTERS]
)
def test_a_filter_takes_exactly_the_pairs_its_sql_takes(
    dataset_root: Path, options: list[str], where: str, params: dict[str, Any]
) -> None:
    url = sqlite_url(dataset_root)
    expected = database_rows(url, where, **params)
    assert 0 < len(expected) < len(database_rows(url)), "the filter must take some, not all"
    folder = take_snapshot(dataset_root, "cut", "--format", "parquet", *options)
    assert compared(read_data_file(folder / "pairs.parquet")) == compared(expected)


def test_since_takes_the_pairs_imported_on_or_after_it(dataset_root: Path) -> None:
    """A day takes every pair imported from that day on (adopted pairs were never imported);
    a moment between two scans takes exactly the second scan's pairs."""
    url = sqlite_url(dataset_root)
    with connected(url) as connection:
        first_import = connection.execute(text("SELECT min(processed_at) FROM files")).scalar()
    day = str(first_import)[: len("2025-11-03")]
    moment = datetime.now(UTC).replace(tzinfo=None)  # after the template's imports
    _import_more(dataset_root)
    cases = {  # name: (--since, the same moment as SQLite stores it)
        "day": (day, f"{day} 00:00:00.000000"),
        "moment": (moment.isoformat(), moment.strftime("%Y-%m-%d %H:%M:%S.%f")),
    }
    everything = database_rows(url)
    taken = {}
    for name, (since, stored) in cases.items():
        expected = database_rows(url, "f.processed_at >= :since", since=stored)
        assert 0 < len(expected) < len(everything), name
        folder = take_snapshot(dataset_root, name, "--format", "parquet", "--since", since)
        taken[name] = compared(read_data_file(folder / "pairs.parquet"))
        assert taken[name] == compared(expected), name
    assert [row["question"] for row in taken["moment"]] == [p["question"] for p in MORE_PAIRS]


# -- splits -------------------------------------------------------------------------------


def _splits_of(folder: Path, extension: str) -> dict[int, str]:
    """qa_id -> split, from the per-split files; each row's split column names its file."""
    found: dict[int, str] = {}
    for part in SPLIT_PARTS:
        for row in read_data_file(folder / f"{part}.{extension}"):
            assert row["split"] == part
            assert row["qa_id"] not in found, f"pair {row['qa_id']} in two split files"
            found[row["qa_id"]] = part
    return found


def test_split_files_partition_the_pairs_and_a_pair_keeps_its_split(dataset_root: Path) -> None:
    url = sqlite_url(dataset_root)
    first = take_snapshot(dataset_root, "first", "--format", "parquet", "--split", SPLIT)
    before = _splits_of(first, "parquet")
    assert set(before) == {r["qa_id"] for r in database_rows(url)}
    _import_more(dataset_root)
    second = take_snapshot(
        dataset_root, "second", "--format", "parquet,jsonl,csv,duckdb", "--split", SPLIT
    )
    rows = database_rows(url)
    after = _splits_of(second, "parquet")
    assert set(after) == {r["qa_id"] for r in rows} > set(before)
    assert {qa_id: after[qa_id] for qa_id in before} == before
    for extension in ("jsonl", "csv"):
        assert _splits_of(second, extension) == after, extension
    assert len(set(after.values())) > 1, "the demo pairs should not all fall in one split"
    # the split is the question key's: pairs sharing a key (kept from before adoption) share it
    by_key: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        by_key[row["question_key"]].add(after[row["qa_id"]])
    assert any(r["key_conflict"] for r in rows)
    assert all(len(parts) == 1 for parts in by_key.values())

    duck = second / "pairs.duckdb"
    assert {r["qa_id"]: r["split"] for r in read_duckdb(duck)} == after
    for part in SPLIT_PARTS:
        in_view = {r["qa_id"] for r in read_duckdb(duck, table=part)}
        assert in_view == {qa_id for qa_id, p in after.items() if p == part}, part


# -- diff ---------------------------------------------------------------------------------


def test_diff_counts_the_pairs_added_removed_and_changed(dataset_root: Path, run: Run) -> None:
    url = sqlite_url(dataset_root)
    take_snapshot(dataset_root, "before", "--format", "parquet")
    pairs_before = len(database_rows(url))
    ids = qa_ids_by_question(url)
    rescored = [
        ids["What is gas in Ethereum?"],
        ids["Why does MACD give false signals in ranging crypto markets?"],
    ]
    deliver_refinement(
        dataset_root,
        "refinement_0003.jsonl",
        [{"qa_id": qa_id, "quality_score": 0.7, "tier": "standard"} for qa_id in rescored],
    )
    _import_more(dataset_root)
    take_snapshot(dataset_root, "after", "--format", "parquet")
    added = set(qa_ids_by_question(url).values()) - set(ids.values())
    assert len(added) == len(MORE_PAIRS)

    def diff(a: str, b: str) -> dict[str, Any]:
        code, out = run("dataset", "diff", a, b, "--json", "--root", str(dataset_root))
        assert code == 0, out
        found: dict[str, Any] = json.loads(out)
        return found

    forward = diff("before", "after")
    counts = {k: forward[k] for k in ("added", "removed", "changed", "unchanged")}
    assert counts == {
        "added": len(added),
        "removed": 0,
        "changed": len(rescored),
        "unchanged": pairs_before - len(rescored),
    }
    assert {c["qa_id_after"] for c in forward["examples"]["added"]} == added
    assert {c["qa_id_after"] for c in forward["examples"]["changed"]} == set(rescored)
    backward = diff("after", "before")
    assert (backward["added"], backward["removed"], backward["changed"]) == (
        0,
        len(added),
        len(rescored),
    )


# -- the card -----------------------------------------------------------------------------


def test_card_escapes_agent_names_and_names_counts_gaps_and_loading(
    full_snapshot: tuple[Path, Path],
) -> None:
    root, folder = full_snapshot
    card = (folder / "DATASET.md").read_text("utf-8")
    escaped_category = r"\*cat\* \<i\>odd\</i\> \| c"
    escaped_missing = r"Never \<script\>alert(1)\</script\> Delivered"
    assert (markdown(ODD_CATEGORY), markdown(MISSING_INDICATOR)) == (
        escaped_category,
        escaped_missing,
    )
    assert f"| {escaped_category} | {len(ODD_PAIRS)} |" in card
    assert f"Session {ODD_SESSION} lacks: {escaped_missing}." in card
    for raw in ("<i>", "<script>", "<b>", ODD_INDICATOR):
        assert raw not in card, raw

    rows = database_rows(sqlite_url(root))
    assert f"**{len(rows):,} question-answer pairs**" in card
    for tier, count in Counter(NONE if r["tier"] is None else r["tier"] for r in rows).items():
        assert f"| {tier} | {count:,} |" in card
    assert "- Sessions with no pairs: 3." in card
    assert "- Session 2 lacks: ADX." in card

    for recipe in ("pd.read_parquet(", "pl.read_parquet(", "load_dataset(", "duckdb.connect("):
        assert recipe in card, recipe
    named = re.findall(r'"(var/datasets/[^"]+)"', card)
    assert {Path(p).name for p in named} >= {"pairs.parquet", "pairs.duckdb", "pairs.jsonl"}
    for path in named:
        assert (root / path).is_file(), path
