"""``inboxd dataset``: snapshots of the stored pairs (snapshot, list, verify, diff).

A thin layer over ``daemon.dataset``: options parsed and checked here (a mistake is one line,
exit 2), the work there. pyarrow and DuckDB are imported inside the commands, so no other
command pays for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from daemon.cli.common import DbOpt, RootOpt, existing_database, existing_root
from daemon.cli.help_format import FlagsWithoutType
from daemon.errors import InboxdError, UsageError
from daemon.status.escaping import visible

if TYPE_CHECKING:
    from daemon.config import Settings
    from daemon.dataset.filters import Filters, Split
    from daemon.dataset.manifest import Manifest

dataset_app = typer.Typer(
    name="dataset",
    help="Dataset snapshots: Parquet, JSON Lines, CSV, DuckDB and RAG records, with a manifest.",
    no_args_is_help=True,
    cls=FlagsWithoutType,
)


def _formats(given: list[str], default: list[str]) -> tuple[str, ...]:
    from daemon.config import DATASET_FORMATS  # pydantic: not for `inboxd --help`

    named = [f.strip() for value in given for f in value.split(",") if f.strip()] or default
    unknown = [f for f in named if f not in DATASET_FORMATS]
    if unknown:
        raise UsageError(
            f"--format {unknown[0]!r} is not a format; expected one of {', '.join(DATASET_FORMATS)}"
        )
    return tuple(dict.fromkeys(named))


def _filters(
    tier: list[str],
    min_score: float | None,
    agent: list[str],
    indicator: list[str],
    category: list[str],
    sessions: str | None,
    since: str | None,
    exclude_duplicates: bool,
    exclude_near_duplicates: bool,
) -> Filters:
    from daemon.dataset import filters as f

    if min_score is not None and not 0 <= min_score <= 1:
        raise UsageError(f"--min-score {min_score:g} is out of range; give a number from 0 to 1")
    return f.Filters(
        tiers=f.parse_tiers(tier),
        min_score=min_score,
        agents=f.split_commas(agent),
        indicators=f.split_commas(indicator),
        categories=f.split_commas(category),
        sessions=None if sessions is None else f.parse_sessions(sessions),
        since=None if since is None else f.parse_since(since),
        exclude_duplicates=exclude_duplicates,
        exclude_near_duplicates=exclude_near_duplicates,
    )


def _inherit(
    parent: Manifest, filters: Filters, split: Split | None, formats: tuple[str, ...] | None
) -> tuple[Filters, Split | None, tuple[str, ...]]:
    """An incremental snapshot is cut as its parent was, unless told otherwise; its split
    must be its parent's (a pair's split is part of what the parent recorded)."""
    from daemon.dataset.filters import Filters, Split

    theirs = Split.of_described(parent.split)
    if split is not None and split != theirs:
        shown = ",".join(f"{k}={v:g}" for k, v in (parent.split or {}).items()) or "none"
        raise UsageError(
            f"--split must be the parent's ({shown}) in an incremental snapshot; "
            "leave it out to use the parent's"
        )
    if filters == Filters():
        filters = Filters.model_validate(parent.filters)
    return filters, theirs, formats or tuple(parent.formats)


@dataset_app.command("snapshot")
def snapshot(
    name: Annotated[str, typer.Argument(help="The snapshot's name: var/datasets/NAME/.")],
    format_: Annotated[
        list[str] | None,
        typer.Option(
            "--format",
            metavar="FORMATS",
            help="parquet,jsonl,csv,duckdb,rag (default: the setting dataset_formats).",
        ),
    ] = None,
    tier: Annotated[
        list[str] | None, typer.Option("--tier", metavar="TIERS", help="premium,standard,low.")
    ] = None,
    min_score: Annotated[
        float | None, typer.Option("--min-score", help="Quality score at least this.")
    ] = None,
    agent: Annotated[
        list[str] | None, typer.Option("--agent", metavar="AGENTS", help="Delivered by.")
    ] = None,
    indicator: Annotated[
        list[str] | None, typer.Option("--indicator", metavar="NAMES", help="About.")
    ] = None,
    category: Annotated[
        list[str] | None, typer.Option("--category", metavar="NAMES", help="In category.")
    ] = None,
    sessions: Annotated[
        str | None, typer.Option("--sessions", help="A session or range: 1-20.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Imported on or after (UTC): 2025-11-03.")
    ] = None,
    exclude_duplicates: Annotated[
        bool, typer.Option("--exclude-duplicates", help="Leave out pairs marked duplicate_of.")
    ] = False,
    exclude_near_duplicates: Annotated[
        bool,
        typer.Option("--exclude-near-duplicates", help="Leave out pairs marked near_duplicate_of."),
    ] = False,
    split: Annotated[
        str | None, typer.Option("--split", help="train=0.9,validation=0.05,test=0.05")
    ] = None,
    since_snapshot: Annotated[
        str | None,
        typer.Option("--since-snapshot", help="Only pairs added or changed since this one."),
    ] = None,
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="Write it even when no pair matches.")
    ] = False,
    root: RootOpt = None,
    database: DbOpt = None,
) -> None:
    """Write an immutable snapshot of the stored pairs, with its manifest and card."""
    from daemon.cli.progress_bar import progress_reporter
    from daemon.dataset import snapshot as snap
    from daemon.dataset.filters import parse_split

    settings = existing_root(root, database)
    snap.snapshot_folder(settings, name)  # a bad name is said before anything opens
    filters = _filters(
        tier or [],
        min_score,
        agent or [],
        indicator or [],
        category or [],
        sessions,
        since,
        exclude_duplicates,
        exclude_near_duplicates,
    )
    cut = None if split is None else parse_split(split)
    formats = _formats(format_, []) if format_ else None
    if since_snapshot is not None:
        _, parent = snap.open_snapshot(settings, since_snapshot)
        filters, cut, formats = _inherit(parent, filters, cut, formats)
    request = snap.Request(
        name=name,
        formats=formats or _formats([], list(settings.dataset_formats)),
        filters=filters,
        split=cut,
        parent=since_snapshot,
        allow_empty=allow_empty,
    )
    db = existing_database(settings)
    with progress_reporter("reading pairs") as progress:
        manifest = snap.take_snapshot(settings, db.engine, request, progress=progress)
    _said(settings, manifest)


def _said(settings: Settings, manifest: Manifest) -> None:
    where = (settings.datasets_dir / manifest.name).as_posix()
    plural = "" if manifest.pairs == 1 else "s"
    line = f"snapshot {manifest.name}: {manifest.pairs:,} pair{plural} in {where}/"
    if manifest.parent is not None:
        line += f" (since {manifest.parent}: {manifest.removed:,} removed)"
    typer.echo(line)
    for file_name, entry in manifest.files.items():
        rows = "" if entry.rows is None else f"{entry.rows:>12,} rows"
        typer.echo(f"  {file_name:<22} {rows:>17} {entry.bytes:>15,} bytes")


@dataset_app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Each manifest, as JSON.")] = False,
    root: RootOpt = None,
    database: DbOpt = None,
) -> None:
    """The snapshots, oldest first: time, pairs, parent, formats, filters."""
    from daemon.dataset.filters import described_filters
    from daemon.dataset.manifest import list_snapshots

    found = list_snapshots(existing_root(root, database).dataset_dir)
    if as_json:
        shown = [
            s.manifest.model_dump(mode="json")
            if s.manifest
            else {"name": s.name, "problem": s.problem}
            for s in found
        ]
        typer.echo(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode())
        return
    if not found:
        typer.echo("no snapshots yet ('inboxd dataset snapshot NAME' writes one)")
    for s in found:
        if s.manifest is None:
            typer.echo(f"{visible(s.name)}  incomplete: {visible(s.problem or '')}")
            continue
        m = s.manifest
        since = f"  since {m.parent}" if m.parent else ""
        cut = described_filters(m.filters)
        typer.echo(
            f"{m.name}  {m.created_at:%Y-%m-%d %H:%M} UTC  {m.pairs:,} pairs{since}  "
            f"{','.join(m.formats)}{'  ' + visible(cut) if cut else ''}"
        )


@dataset_app.command("verify")
def verify(
    name: Annotated[str, typer.Argument(help="The snapshot to check.")],
    root: RootOpt = None,
    database: DbOpt = None,
) -> None:
    """Recompute every file's SHA-256 against the manifest (exit 1 naming what changed)."""
    from daemon.dataset.snapshot import verify as check

    problems = check(existing_root(root, database), name)
    if problems:
        for problem in problems:
            typer.echo(f"  {visible(problem)}")
        raise InboxdError(
            f"snapshot {name}: {len(problems)} file(s) differ from its manifest: "
            + "; ".join(p.split(":", 1)[0] for p in problems)
        )
    typer.echo(f"snapshot {name}: every file matches its manifest")


@dataset_app.command("diff")
def diff(
    before: Annotated[str, typer.Argument(help="The older snapshot.")],
    after: Annotated[str, typer.Argument(help="The newer snapshot.")],
    show: Annotated[int, typer.Option("--show", min=0, help="Pairs listed of each kind.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
    root: RootOpt = None,
    database: DbOpt = None,
) -> None:
    """Pairs added, removed and changed from one snapshot to another, by question key."""
    from dataclasses import asdict

    from daemon.dataset.compare import diff as compare
    from daemon.dataset.snapshot import open_snapshot

    settings = existing_root(root, database)
    a, _ = open_snapshot(settings, before)
    b, _ = open_snapshot(settings, after)
    found = compare(a, b, show)
    if as_json:
        typer.echo(orjson.dumps(asdict(found), option=orjson.OPT_INDENT_2).decode())
        return
    typer.echo(
        f"{before} -> {after}: {found.added:,} added, {found.removed:,} removed, "
        f"{found.changed:,} changed, {found.unchanged:,} unchanged"
    )
    for change, pairs in found.examples.items():
        for pair in pairs:
            ids = f"qa_id {pair.qa_id_before} -> {pair.qa_id_after}"
            typer.echo(f"  {change:8} {pair.pair}  {ids}")
