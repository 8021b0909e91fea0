"""docs/datasets.md's example stays true: the demo's snapshot is the one the page shows.

The page runs ``inboxd demo``, ``inboxd scan`` and ``inboxd dataset snapshot demo-v1`` in an
empty folder and shows the ``manifest.json`` and ``DATASET.md`` they write. These tests run
the same commands in-process on a real SQLite file and compare the page with what the code
writes now: a change in what a snapshot holds, or in the shape of its manifest or card,
fails here until the page is redone (run the commands, paste both files whole).

Left out of the comparison, because they belong to the moment or the build, not the data:

- ``created_at`` and the card's "Taken ..." time: when the snapshot was taken;
- ``inboxd_version`` (also in the card's first line): it changes with every release while
  the snapshot stays the same; ``schema_revision`` IS compared (a migration changes what a
  snapshot reads, so the example is looked at again);
- ``sha256`` and ``bytes`` of the data files, ``keys.parquet`` and ``DATASET.md``, and the
  bytes column of the card's file table: the pairs' ``imported_at``, ``refined_at`` and
  ``created_date`` are the time of the scan, the keys' fingerprints cover those values, the
  card names the time, Parquet's compressed size moves with the values, and the DuckDB
  file's size is its engine's block allocation. Their names, order and rows are compared,
  and every hash and size must still have its shape;
- nothing else: ``rag.jsonl`` and ``review.jsonl`` carry no time, so their sizes and
  SHA-256 are compared too.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from daemon.cli.app import EXIT_OK, EXIT_REJECTED
from tests.dataset.support import inboxd
from tests.support import cli_runner

PAGE = Path(__file__).resolve().parents[2] / "docs" / "datasets.md"
NAME = "demo-v1"
# the page's commands (each with --root "$T") and the exit code each must end with
COMMANDS = (
    (("demo",), EXIT_OK),
    (("scan",), EXIT_REJECTED),  # the demo set's four bad files are rejected, on purpose
    (("dataset", "snapshot", NAME), EXIT_OK),
)
OF_THE_MOMENT = ("created_at", "inboxd_version")
TIMELESS_FILES = ("rag.jsonl", "review.jsonl")  # no time in them: hashed and sized the same
UTC_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")
SHA256 = re.compile(r"[0-9a-f]{64}")
CARD_TAKEN = re.compile(r"^Taken \d{4}-\d\d-\d\d \d\d:\d\d UTC by inboxd \S+ ", re.MULTILINE)
CARD_FILE_BYTES = re.compile(r"^(\| `[^`]+` \| [\d,]* \| )[\d,]+( \|)", re.MULTILINE)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page's commands in an empty folder; the snapshot folder they wrote."""
    root = tmp_path_factory.mktemp("docs-example")
    with pytest.MonkeyPatch.context() as patch:  # module scope: runs before the autouse cleanup
        for variable in [name for name in os.environ if name.startswith("INBOXD_")]:
            patch.delenv(variable)
        for args, expected in COMMANDS:
            assert inboxd(*args, "--root", str(root)) == expected, f"inboxd {' '.join(args)}"
    return root / "var" / "datasets" / NAME


def _fenced(fence: str, info: str) -> list[str]:
    """The bodies of the page's fenced blocks opened with ``fence`` + ``info``."""
    pattern = rf"^{fence}{info}\n(.*?)^{fence}$"
    return re.findall(pattern, PAGE.read_text("utf-8"), re.MULTILINE | re.DOTALL)


def documented_manifest() -> dict[str, Any]:
    found = [b for b in _fenced("```", "json") if '"manifest_version"' in b]
    assert len(found) == 1, "docs/datasets.md must show exactly one manifest.json"
    manifest: dict[str, Any] = orjson.loads(found[0])
    return manifest


def documented_card() -> str:
    found = [b for b in _fenced("````", "markdown") if b.startswith("# Dataset snapshot")]
    assert len(found) == 1, "docs/datasets.md must show exactly one DATASET.md (in ````markdown)"
    return found[0]


def written_manifest(folder: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = orjson.loads((folder / "manifest.json").read_bytes())
    return manifest


def _comparable(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest without what belongs to the moment (see the module docstring)."""
    kept = {key: value for key, value in manifest.items() if key not in OF_THE_MOMENT}
    kept["files"] = {
        name: entry if name in TIMELESS_FILES else {"rows": entry["rows"]}
        for name, entry in manifest["files"].items()
    }
    return kept


def _orders(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """The order of every mapping a person reads in order (the card shows them so)."""
    orders = {"manifest": list(manifest), "files": list(manifest["files"])}
    orders |= {f"totals.{name}": list(counts) for name, counts in manifest["totals"].items()}
    return orders | {"quality": list(manifest["quality"])}


def _shape_of_the_moment(manifest: dict[str, Any]) -> list[str]:
    """What is wrong with the fields left out of the comparison: they must keep their shape."""
    wrong = [] if UTC_TIME.fullmatch(manifest["created_at"]) else ["created_at"]
    wrong += [] if isinstance(manifest["inboxd_version"], str) else ["inboxd_version"]
    return wrong + [name for name, entry in manifest["files"].items() if not _file_entry(entry)]


def _file_entry(entry: dict[str, Any]) -> bool:
    """A file's entry: its rows, a positive size and a SHA-256 in hex."""
    hashed = isinstance(entry.get("sha256"), str) and SHA256.fullmatch(entry["sha256"])
    sized = isinstance(entry.get("bytes"), int) and entry["bytes"] > 0
    return set(entry) == {"rows", "bytes", "sha256"} and bool(hashed) and sized


def _card_without_the_moment(card: str) -> str:
    """The card with its time, version and file sizes masked (see the module docstring)."""
    card = CARD_TAKEN.sub("Taken <time> by inboxd <version> ", card)
    return CARD_FILE_BYTES.sub(r"\1<bytes>\2", card)


def test_the_page_shows_the_commands_this_test_runs() -> None:
    """The example is reproducible from the page: the same three commands, in order."""
    shell = "\n".join(_fenced("```", "sh"))
    lines = [f'inboxd {" ".join(args)} --root "$T"' for args, _ in COMMANDS]
    positions = [shell.find(line) for line in lines]
    assert -1 not in positions, f"docs/datasets.md lacks one of {lines}"
    assert positions == sorted(positions), "the page runs the commands in another order"


def test_documented_manifest_is_the_written_one(written: Path) -> None:
    """Names, rows, pairs, totals, quality, filters, split, formats, parent: as the page says."""
    documented, actual = documented_manifest(), written_manifest(written)
    assert _comparable(documented) == _comparable(actual)
    assert _orders(documented) == _orders(actual)
    assert _shape_of_the_moment(documented) == []
    assert _shape_of_the_moment(actual) == []


def test_documented_card_is_the_written_one(written: Path) -> None:
    """The card's counts, quality, gaps, columns and recipes: as the page shows them."""
    documented = documented_card()
    actual = (written / "DATASET.md").read_text("utf-8")
    for section in ("## Counts", "## Quality", "## Known gaps", "## Loading it"):
        assert section in documented, f"the page's card lacks {section}"
    assert _card_without_the_moment(documented) == _card_without_the_moment(actual)


def test_documented_quality_is_what_the_data_holds(written: Path) -> None:
    """The page's quality table counts every pair once, by the score its Parquet row has:
    the demo's refiner scores 2 of the 20 pairs, the other 18 are unscored."""
    table = pq.read_table(written / "pairs.parquet", columns=["quality_score"])
    buckets: Counter[str] = Counter()
    for score in table.column("quality_score").to_pylist():
        low = None if score is None else min(math.floor(score * 10), 9) / 10
        buckets["unscored" if low is None else f"{low:.1f}-{low + 0.1:.1f}"] += 1
    documented = documented_manifest()
    assert documented["quality"] == dict(buckets)
    assert sum(documented["quality"].values()) == documented["pairs"]


def test_the_documented_verify_line_is_what_verify_says(
    written: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``inboxd dataset verify`` on the fresh snapshot: exit 0 and the line the page quotes."""
    said = f"snapshot {NAME}: every file matches its manifest"
    assert said.replace(NAME, "v1") in PAGE.read_text("utf-8")
    with cli_runner(capsys, "--root", str(written.parents[2])) as run:
        code, output = run("dataset", "verify", NAME)
    assert (code, output.strip()) == (EXIT_OK, said)
