"""``research_report_<indicator>_<stamp>.txt``: Q&A pairs out of a captured terminal session.

The capture is decoded and stripped of escape codes and spinner redraws first
(``strip_terminal`` keeps one line per original line, so line numbers still point into the
file). Then: a question starts with ``Q1:``, ``Q1.``, ``Question 1:`` or ``**Question 1:**``
(bold and a Markdown heading mark tolerated); its answer starts with ``A:`` or ``Answer:``
(``**A:**``, ``A1:``) and runs to the next question or the end.
Lines that start with a box-drawing, block or braille character are banners, footers and
spinners, never part of a question or an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from handlers.base import FileContext, Handler, Rejected, session_from_folders
from handlers.models import QABatch, QAPair, SkippedPair
from handlers.text import (
    clean_indicator,
    decode_text,
    first_int,
    indicator_from_filename,
    split_key_value,
    strip_terminal,
)

_BOLD = r"(?:\*\*|__)?"
_LEAD = rf"^[ \t]*(?:#{{1,6}}[ \t]+)?{_BOLD}"  # indentation, a Markdown heading mark, bold
# After the number: ``:`` (space optional) or ``.`` followed by a space, so "Q1.5" is no question.
_QUESTION_RE = re.compile(
    rf"{_LEAD}(?:Q|Question[ \t]*)([0-9]{{1,9}}){_BOLD}[ \t]*"
    rf"(?::{_BOLD}[ \t]*|\.{_BOLD}(?:[ \t]+|$))(.*)$",
    re.IGNORECASE,
)
_ANSWER_RE = re.compile(
    rf"{_LEAD}(?:A|Answer)(?:[ \t]*[0-9]{{1,9}})?{_BOLD}[ \t]*:{_BOLD}[ \t]*(.*)$",
    re.IGNORECASE,
)
_STAMP_RE = re.compile(r"(?:[_-][0-9]+)+$")
_PREFIX = "research_report_"


def _is_decoration(line: str) -> bool:
    """Banners (``╔═══╗``, ``║ TITLE ║``), footers (``── 3 stored ──``), spinners (``⠹ ...``)."""
    stripped = line.lstrip()
    if not stripped:
        return False
    first = ord(stripped[0])
    return 0x2500 <= first <= 0x259F or 0x2800 <= first <= 0x28FF


@dataclass
class _Entry:
    """A question being read: its number order, line, and the lines seen so far."""

    line: int
    question: list[str] = field(default_factory=list)
    answer: list[str] | None = None  # None until an ``A:`` line is seen


def parse(data: bytes, ctx: FileContext) -> QABatch | Rejected:
    """Extract the pairs; reject a report in which no question is found."""
    decoded = decode_text(data, allow_cp1252=True)
    if isinstance(decoded, Rejected):
        return decoded
    header, entries = _read_entries(strip_terminal(decoded).split("\n"))
    if not entries:
        return Rejected(
            "no questions found: expected lines starting Q1:, Q1., Question 1: or **Question 1:**"
        )

    session = first_int(header.get("session", ""))
    if session is None:
        session = session_from_folders(ctx.rel_path)
    indicator = clean_indicator(header.get("indicator", "")) or _indicator_from_name(ctx.name)

    pairs: list[QAPair] = []
    skipped: list[SkippedPair] = []
    for position, entry in enumerate(entries, start=1):
        # Like the JSON handlers' pairs, each carries the file's indicator and session.
        found = _pair_or_skip(entry, position, indicator, session)
        if isinstance(found, SkippedPair):
            skipped.append(found)
        else:
            pairs.append(found)
    if not pairs:
        first = skipped[0]
        return Rejected(
            f"no usable pair ({len(skipped)} question(s) skipped): {first.reason}", first.line
        )
    return QABatch(pairs=pairs, skipped=skipped, indicator=indicator, session=session)


def _read_entries(lines: list[str]) -> tuple[dict[str, str], list[_Entry]]:
    """The header's ``Key: value`` pairs (before the first question) and the questions read."""
    header: dict[str, str] = {}
    entries: list[_Entry] = []
    for number, line in enumerate(lines, start=1):
        if _is_decoration(line):
            continue
        q = _QUESTION_RE.match(line)
        if q:
            entries.append(_Entry(line=number, question=[_unpaired_bold(q.group(2))]))
            continue
        if not entries:
            _read_header(line, header)
            continue
        current = entries[-1]
        if current.answer is None:
            a = _ANSWER_RE.match(line)
            if a:
                current.answer = [_unpaired_bold(a.group(1))]
            else:
                current.question.append(line)
        else:
            current.answer.append(line)
    return header, entries


def _pair_or_skip(
    entry: _Entry, position: int, indicator: str | None, session: int | None
) -> QAPair | SkippedPair:
    """One question read as a pair, or skipped saying what is missing."""
    question = _join(entry.question)
    answer = _join(entry.answer or [])
    if not question:
        return SkippedPair(position=position, line=entry.line, reason="empty question")
    if not answer:
        reason = "no answer" if entry.answer is None else "empty answer"
        return SkippedPair(
            position=position,
            line=entry.line,
            reason=f"{reason}: expected a line starting 'A:' or 'Answer:' after it",
        )
    return QAPair(
        question=question,
        answer=answer,
        position=position,
        line=entry.line,
        indicator=indicator,
        session=session,
    )


def _read_header(line: str, header: dict[str, str]) -> None:
    """``Session: 02 | Indicator: MACD | Queries: 3``: the first value of each key wins."""
    for part in line.split("|"):
        kv = split_key_value(part)
        if kv is not None:
            header.setdefault(kv[0].lower(), kv[1])


def _unpaired_bold(text: str) -> str:
    """``What is RSI?**`` (the line was bold as a whole) -> ``What is RSI?``."""
    text = text.rstrip()
    for mark in ("**", "__"):
        if text.endswith(mark) and text.count(mark) % 2:
            return text[: -len(mark)].rstrip()
    return text


def _join(lines: list[str]) -> str:
    """Wrapped lines joined by a space; a blank line between paragraphs is kept as one."""
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return "\n\n".join(" ".join(p) for p in paragraphs if p)


def _indicator_from_name(name: str) -> str | None:
    """``research_report_macd_20251102_1412.txt`` -> ``MACD``; None when nothing is left."""
    stem = PurePosixPath(name).stem
    if stem.lower().startswith(_PREFIX):
        stem = stem[len(_PREFIX) :]
    stem = _STAMP_RE.sub("", stem).strip("_- ")
    return indicator_from_filename(stem) if stem else None


HANDLER = Handler(
    name="research_report",
    box="outbox",
    patterns=("research_report_*.txt",),
    parse=parse,
    importer="qa",
    description="a captured terminal research session; Q&A extracted, escape codes removed",
    carries_pairs=True,
)
