"""Scenario 6 (issue 7): files/s and pairs/s for one and two daemons, PostgreSQL and SQLite.

The several-daemon rows of docs/performance.md, so their figures come from the suite rather
than from a script nobody can rerun. Each case gets fresh roots and a fresh database (a
uniquely named PostgreSQL database, dropped afterwards); the backlog is written before the
daemons (``inboxd run`` children) start and left to age past the settle time, as files that
arrived while the daemons were stopped have, and the rate is files from the first
``daemon.started`` to the last ``file.imported`` across the daemons' JSON logs: the same
window for one daemon and for two. Afterwards the database is checked (one ledger row a file,
every question stored once): a figure from a run that lost or doubled work is worthless, so
a failed check is written first in the row's note.
"""

from __future__ import annotations

import time
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.common import (
    INBOXD,
    Config,
    Row,
    child_env,
    log,
    make_root,
    run_measured,
    running_daemon,
)
from bench.datagen import INDICATORS, answer_pool, small_qa_document, write_json
from daemon.store.engine import Database
from daemon.store.models import FileRecord, QAPairRow

# what docs/several-hosts.md recommends for several daemons on one shared (network) folder
SHARED_FOLDER_ENV = {"INBOXD_POLLING": "1", "INBOXD_SETTLE_SECONDS": "2"}
# a backlog left while the daemons were stopped is at rest: older than any case's settle time,
# so the catch-up scan hands it out at once instead of waiting out a stability window
AT_REST_SECONDS = float(SHARED_FOLDER_ENV["INBOXD_SETTLE_SECONDS"]) + 0.5


@dataclass(frozen=True)
class Case:
    engine: str  # "SQLite" or "PostgreSQL"
    daemons: int
    shared_root: bool = False  # one root polled by every daemon, else a root per daemon

    @property
    def name(self) -> str:
        return f"{self.engine.lower()}-{self.daemons}{'-shared' if self.shared_root else ''}"

    def describe(self, files: int, pairs: int) -> str:
        """The row's measure: the performance table's columns, then what is timed."""
        daemons = "1 daemon" if self.daemons == 1 else f"{self.daemons} daemons"
        if self.engine == "SQLite" and self.daemons > 1:
            daemons += " (one database file)"
        if self.shared_root:
            folders = "one shared root, polling, settle 2 s"
        elif self.daemons > 1:
            folders = f"own roots, {files // self.daemons:,} files each"
        else:
            folders = "own root"
        return (
            f"{self.engine}, {daemons}, {folders}: {files:,} files x {pairs} pairs "
            "waiting at start, first daemon.started -> last file.imported"
        )


CASES = (
    Case("SQLite", 1),
    Case("SQLite", 2),
    Case("PostgreSQL", 1),
    Case("PostgreSQL", 2),
    Case("PostgreSQL", 2, shared_root=True),
)


@dataclass
class Outcome:
    """One case's measurement and its check."""

    seconds: float  # first daemon.started -> last file.imported
    files: int  # file.imported events, all daemons
    pairs: int  # pairs stored, from those events
    per_daemon: list[int]
    problems: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def files_per_second(self) -> float:
        return self.files / self.seconds

    @property
    def pairs_per_second(self) -> float:
        return self.pairs / self.seconds


def backlog(cfg: Config) -> list[tuple[str, dict[str, Any]]]:
    """(path in the root, document): ``hosts_pairs`` unique questions a file, round-robin over
    the first ``hosts_indicators`` indicators (two daemons then meet on every indicator)."""
    if cfg.hosts_indicators > len(INDICATORS):
        raise ValueError(f"at most {len(INDICATORS)} indicators, not {cfg.hosts_indicators}")
    pool = answer_pool(257, 1_000, seed=17)
    files = []
    for i in range(cfg.hosts_files):
        # small_qa_document takes INDICATORS[index % len(INDICATORS)]: this index, unique to
        # the file, keeps file i on indicator i % hosts_indicators
        index = i // cfg.hosts_indicators * len(INDICATORS) + i % cfg.hosts_indicators
        document = small_qa_document(index, pairs=cfg.hosts_pairs, pool=pool, tag="hosts")
        files.append(
            (f"outbox/droid/session_{document['session']:02d}/hosts_{i:05d}.json", document)
        )
    return files


def postgres_server() -> tuple[str | None, str]:
    """(the tests' server URL, "") or (None, the visible reason every PostgreSQL row gives)."""
    try:
        import psycopg
        from sqlalchemy.engine import make_url

        from tests.conftest import PG_SERVER
    except ImportError as exc:
        return None, f"skipped: the PostgreSQL test helpers are not importable ({exc})"
    shown = make_url(PG_SERVER).render_as_string(hide_password=True)
    try:
        with psycopg.connect(PG_SERVER, connect_timeout=3, autocommit=True) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        return None, (
            f"skipped: no PostgreSQL at {shown} ({' '.join(str(exc).split())}); "
            "PG_TEST_SERVER names another server"
        )
    return PG_SERVER, ""


@contextmanager
def case_database(case: Case, work: Path, server: str | None) -> Iterator[str]:
    """A fresh database for one case: a new SQLite file, or a new PostgreSQL database that is
    dropped afterwards (the tests' helper: a unique name, DROP ... WITH (FORCE))."""
    if case.engine == "SQLite":
        yield f"sqlite:///{work / 'inboxd.db'}"
        return
    from tests.conftest import fresh_postgres_database

    assert server is not None
    yield from fresh_postgres_database(server)


def _ts(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["ts"])


def run_case(
    case: Case, files: list[tuple[str, dict[str, Any]]], work: Path, server: str | None
) -> Outcome:
    """Backlog first (at rest), then the daemons; warm stop once every daemon is ready (its
    catch-up queue ran dry)."""
    roots = [
        make_root(work / ("shared" if case.shared_root else f"host_{k}"))
        for k in range(1 if case.shared_root else case.daemons)
    ]
    for k, root in enumerate(roots):
        for rel, document in files[k :: len(roots)]:
            write_json(root / rel, document)
    written = time.monotonic()
    with case_database(case, work, server) as url:
        env = child_env(INBOXD_DATABASE_URL=url, **(SHARED_FOLDER_ENV if case.shared_root else {}))
        # the schema first, once, as the service's ExecStartPre= does: two daemons migrating
        # one fresh SQLite file at once can both create the tables (one then exits 1)
        run_measured(
            [str(INBOXD), "init", "--root", str(roots[0])], output=work / "init.out", env=env
        ).check("inboxd init")
        time.sleep(max(0.0, written + AT_REST_SECONDS - time.monotonic()))
        with ExitStack() as stack:
            daemons = [
                stack.enter_context(
                    running_daemon(roots[k % len(roots)], work / f"daemon-{k}.jsonl", env)
                )
                for k in range(case.daemons)
            ]
            for daemon in daemons:  # ready = the catch-up queue ran dry
                daemon.wait_ready(timeout=300 + len(files))
        # stopped (warm): the logs are complete
        events = [daemon.events() for daemon in daemons]
        problems = check(url, files)
    started = [_ts(e) for found in events for e in found if e.get("event") == "daemon.started"]
    imported = [[e for e in found if e.get("event") == "file.imported"] for found in events]
    last = max((_ts(e) for found in imported for e in found), default=None)
    if not started or last is None:
        raise RuntimeError(f"no daemon.started or file.imported event in {work}/daemon-*.jsonl")
    return Outcome(
        seconds=(last - min(started)).total_seconds(),
        files=sum(len(found) for found in imported),
        pairs=sum(int(e.get("pairs", 0)) for found in imported for e in found),
        per_daemon=[len(found) for found in imported],
        problems=problems,
        errors=[line for daemon in daemons for line in daemon.errors],
    )


def check(url: str, files: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """What is wrong in the database: each file one imported ledger row, each question once."""
    db = Database(url)
    try:
        with db.reader() as db_session:
            ledger = db_session.execute(select(FileRecord.rel_path, FileRecord.outcome)).all()
            stored = Counter(db_session.scalars(select(QAPairRow.question)).all())
    finally:
        db.dispose()
    paths = Counter(row.rel_path for row in ledger)
    expected_paths = {rel for rel, _ in files}
    questions = {pair["question"] for _, document in files for pair in document["qa_pairs"]}
    not_imported = Counter(row.outcome for row in ledger if row.outcome != "imported")
    found = {
        "files without a ledger row": len(expected_paths - paths.keys()),
        "files with several ledger rows": sum(1 for n in paths.values() if n > 1),
        "unexpected ledger rows": len(paths.keys() - expected_paths),
        "questions not stored": len(questions - stored.keys()),
        "questions stored more than once": sum(1 for n in stored.values() if n > 1),
        "unexpected questions": len(stored.keys() - questions),
    }
    problems = [f"{count:,} {what}" for what, count in found.items() if count]
    problems += [f"{count:,} ledger rows {outcome}" for outcome, count in not_imported.items()]
    return problems


def case_row(
    case: Case, files: int, pairs: int, outcome: Outcome, one_daemon: Outcome | None
) -> Row:
    """The case's files/s; pairs/s, the split between daemons and the check in its note."""
    lines = []
    if outcome.problems:
        lines.append(f"CHECK FAILED: {'; '.join(outcome.problems)}")
    lines.append(
        f"{outcome.pairs_per_second:,.0f} pairs/s; {outcome.files:,} files, "
        f"{outcome.pairs:,} pairs in {outcome.seconds:.1f} s"
    )
    if case.daemons > 1:
        lines.append("imported per daemon: " + " + ".join(f"{n:,}" for n in outcome.per_daemon))
    if not outcome.problems:
        lines.append(
            f"checked: {files:,} files one ledger row each, {files * pairs:,} "
            "questions stored once each"
        )
    if outcome.errors:
        lines.append(
            f"{len(outcome.errors)} error lines in the daemon logs, first: "
            f"{outcome.errors[0][:200]}"
        )
    return Row(
        "hosts",
        case.describe(files, pairs),
        outcome.files_per_second,
        "files/s",
        one_daemon.files_per_second if one_daemon else None,
        f"{case.engine}, 1 daemon" if one_daemon else "",
        note=" · ".join(lines),
    )


def run(cfg: Config, shared: dict[str, Any]) -> list[Row]:
    files = backlog(cfg)
    server, why = postgres_server()
    rows: list[Row] = []
    outcomes: dict[str, Outcome] = {}
    for case in CASES:
        measure = case.describe(len(files), cfg.hosts_pairs)
        if case.engine == "PostgreSQL" and server is None:
            log(f"hosts: {case.name} {why}")
            rows.append(Row("hosts", measure, None, "files/s", note=why))
            continue
        log(f"hosts: {measure}")
        try:
            outcome = run_case(case, files, cfg.work / "hosts" / case.name, server)
        except Exception as exc:
            log(f"hosts: {case.name} FAILED: {exc!r}\n{traceback.format_exc()}")
            rows.append(Row("hosts", measure, None, "files/s", note=f"FAILED: {exc!r}"[:300]))
            continue
        outcomes[case.name] = outcome
        log(
            f"hosts: {outcome.files_per_second:.1f} files/s, {outcome.pairs_per_second:.0f} "
            f"pairs/s over {outcome.seconds:.1f} s"
            + (f"; CHECK FAILED: {'; '.join(outcome.problems)}" if outcome.problems else "")
        )
        one_daemon = outcomes.get(Case(case.engine, 1).name) if case.daemons > 1 else None
        rows.append(case_row(case, len(files), cfg.hosts_pairs, outcome, one_daemon))
    shared["hosts"] = {
        "files": len(files),
        "pairs_per_file": cfg.hosts_pairs,
        "indicators": cfg.hosts_indicators,
        "cases": outcomes,
    }
    return rows
