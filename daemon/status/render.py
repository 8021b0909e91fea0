"""``STATUS.md``: an agent's status view rendered for a person (or an agent reading Markdown).

Rendered from the view's dict, never from the database, so ``STATUS.md`` and ``status.json``
cannot say different things. Every string an agent can choose (a file name, a reason, an
indicator, a claim) goes through ``escaping.markdown``: one name is one line and one cell.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from daemon.status.escaping import markdown


def render_markdown(view: dict[str, Any]) -> str:
    """The same view for a person (or an agent reading Markdown)."""
    s, p = view["sessions"], view["pairs"]
    lines = [
        f"# inboxd status: {markdown(view['agent'])}",
        "",
        f"Updated {view['updated_at']}",
        "",
        "## Next",
        *[f"- {markdown(step)}" for step in view["next"]],
        "",
        "## Sessions",
        f"- assigned: {_nums(s['assigned'])}",
        f"- delivered: {_nums(s['delivered'])}",
        f"- imported: {_nums(s['imported'])}",
        f"- missing: {_nums(s['missing'])}",
    ]
    for number, names in s["missing_indicators"].items():
        lines.append(f"- session {int(number):02d} missing indicators: {_names(names)}")
    for number, names in s["planned_not_delivered"].items():
        lines.append(f"- session {int(number):02d} planned, not delivered: {_names(names)}")
    lines += [
        "",
        "## Pairs",
        f"- imported: {p['imported']}",
        f"- duplicates skipped: {p['duplicates_skipped']}",
        f"- invalid pairs skipped: {p['invalid_skipped']}",
        f"- filtered (RAG distance): {p['filtered']}",
        *_near_duplicates(view["near_duplicates"]),
        "",
        "## Progress claim",
    ]
    prog = view["progress"]
    if prog["claim"]:
        c = prog["claim"]
        lines.append(
            f"- claimed: {c['sessions_complete']}/{c['sessions_total']} sessions "
            f"(current {markdown(c['current_session'])}, "
            f"updated {markdown(c['last_updated'])})"
        )
    else:
        lines.append("- no status.txt received")
    lines.append(
        f"- database: {prog['database']['sessions_with_own_pairs']} sessions with "
        "pairs from this agent"
    )
    sig = view["signal"]
    lines += [
        "",
        "## Completion signal",
        f"- {sig['state']}" + (f" (batch {sig['batch']}, {sig['at']})" if "batch" in sig else ""),
    ]
    if view["rejected"]:
        lines += ["", "## Rejected files"]
        lines += [f"- {markdown(r['reason'])}" for r in view["rejected"]]
    if view.get("waiting_files"):  # the daemon's own list: none in a view of the database
        lines += ["", "## Waiting files (inboxd may not read them)"]
        lines += [f"- {markdown(w['reason'])} (since {w['since']})" for w in view["waiting_files"]]
    lines += [
        "",
        "## Recent files",
        "",
        "| file | kind | outcome | stored | dup | at |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {markdown(r['path'])} | {markdown(r['kind'] or '-')} | {r['outcome']} | "
        f"{r['pairs_stored']} | "
        f"{r['duplicates']} | {r['at']} |"
        for r in view["recent_files"]
    ]
    if "database" in view:
        d, g = view["database"], view["gaps"]
        lines += [
            "",
            "## Whole database",
            f"- pairs: {d['pairs']}, indicators: {d['indicators']}",
            f"- files: {', '.join(f'{k} {v}' for k, v in sorted(d['files'].items()))}",
            f"- duplicates skipped: {d['duplicates_skipped']}; "
            f"duplicate rows found at adoption: {d['known_duplicate_rows']}",
            f"- sessions with pairs: {g['sessions_with_pairs']}/{g['sessions_known']}; "
            f"toward target: {g['pairs_toward_target']}/{g['target_pairs']} pairs",
            f"- missing sessions: {_nums(g['missing_sessions'])}",
        ]
        tiers = ", ".join(f"{markdown(k)} {v}" for k, v in sorted(d["tiers"].items()))
        tiers = tiers or "none yet"
        lines.append(f"- quality tiers: {tiers}")
        snap = view.get("datasets")
        lines.append(_snapshot_line(snap))
    if "refinement" in view:
        q = view["refinement"]
        lines += [
            "",
            "## Refinement queue",
            f"- handed: {q['handed']}, returned: {q['returned']}, pending: {q['pending']}",
            f"- records waiting for their pair: {q['unmatched_records_waiting']}",
        ]
    return "\n".join(lines) + "\n"


def _snapshot_line(snap: dict[str, Any] | None) -> str:
    if not snap:
        return "- no dataset snapshot yet (inboxd dataset snapshot NAME)"
    since = f", added or changed since {markdown(snap['parent'])}" if snap["parent"] else ""
    return (
        f"- last dataset snapshot: {markdown(snap['name'])} ({snap['pairs']} pairs{since}; "
        f"{snap['at']}) in {markdown(snap['path'])}/"
    )


def _names(names: Iterable[str]) -> str:
    return ", ".join(markdown(name) for name in names)


def _nums(numbers: Iterable[int]) -> str:
    shown = [f"{int(n):02d}" for n in numbers]
    return ", ".join(shown) if shown else "none"


def _near_duplicates(near: dict[str, Any]) -> list[str]:
    """The near-duplicates line, and a few examples (agent-written questions: escaped)."""
    kept = {"flag": "stored, marked", "skip": "not stored", "off": "not looked for"}
    lines = [f"- near-duplicates: {near['found']} ({kept.get(near['policy'], near['policy'])})"]
    if near["examples"]:
        lines.append(f"  - e.g. in {markdown(near['last_file'])}:")
    for example in near["examples"]:
        lines.append(
            f"    - {markdown(example['question'])} ~ {markdown(example['resembles'])}"
            f" (similarity {example['similarity']})"
        )
    return lines
