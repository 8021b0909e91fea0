"""Shared text helpers, written once: decoding, ANSI stripping, names, the question key."""

from __future__ import annotations

import codecs
import hashlib
import re
import unicodedata

from handlers.contract import Rejected

BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode_text(data: bytes, *, allow_cp1252: bool = False) -> str | Rejected:
    """Decode a delivery: BOM-marked UTF-8/16/32, else UTF-8, else (when allowed) cp1252.

    CRLF and lone CR line ends are kept: callers that care about lines use ``splitlines``.
    A NUL byte in the decoded text means binary data and is rejected.
    """
    encoding = "utf-8"
    body = data
    for bom, name in BOMS:
        if data.startswith(bom):
            encoding, body = name, data[len(bom) :]
            break
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding == "utf-8" and allow_cp1252:
            try:
                text = body.decode("cp1252")
            except UnicodeDecodeError:
                return _decode_rejection(body, exc, encoding)
        else:
            return _decode_rejection(body, exc, encoding)
    if "\x00" in text:
        line, column = line_column(text, text.index("\x00"))
        return Rejected(
            "binary data (a NUL character); expected text in UTF-8, or UTF-16 with a BOM",
            line,
            column,
        )
    return text


def _decode_rejection(body: bytes, exc: UnicodeDecodeError, encoding: str) -> Rejected:
    prefix = body[: exc.start]
    line = prefix.count(b"\n") + 1 if encoding == "utf-8" else None
    column = exc.start - prefix.rfind(b"\n") if encoding == "utf-8" else None
    return Rejected(
        f"invalid {encoding.upper()} at byte {exc.start} ({exc.reason}); "
        "expected UTF-8, or UTF-16 with a BOM",
        line,
        column,
    )


def line_column(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of a character index in text."""
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


# CSI (colours, cursor, erase), OSC (titles, ended by BEL or ST), and two-byte escapes.
_ANSI_RE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    r"|\x1b[@-Z\\-_]"
)


def strip_terminal(text: str) -> str:
    """Turn a captured terminal session into plain text.

    Escape codes are removed; a carriage return inside a line redraws it, so only the text
    after the last ``\\r`` of each line remains (spinners leave their final frame). Other
    control characters but tab and newline go too.
    """
    text = text.replace("\r\n", "\n")
    text = _ANSI_RE.sub("", text)
    lines = []
    for line in text.split("\n"):
        if "\r" in line:
            frames = [f for f in line.split("\r") if f.strip()]
            line = frames[-1] if frames else ""
        lines.append("".join(ch for ch in line if ch == "\t" or ch >= " " or ch > "\x7f"))
    return "\n".join(lines)


def normalize_question(question: str) -> str:
    """NFKC, case folding, trimming and collapsing white space: the form the key hashes."""
    return " ".join(unicodedata.normalize("NFKC", question).casefold().split())


def question_key(question: str) -> str:
    """SHA-256 (hex) of the normalized question: one key, one stored pair."""
    return hashlib.sha256(normalize_question(question).encode("utf-8")).hexdigest()


_NAME_SUFFIXES = ("_qa_pairs", "_training_data", "_training", "_qa")


def indicator_from_filename(name: str) -> str:
    """``sma_qa_pairs.json`` -> ``SMA``; ``pi_cycle_top_qa.jsonl`` -> ``PI CYCLE TOP``.

    The suffixes ``_qa_pairs``, ``_qa``, ``_training_data`` and ``_training`` are dropped;
    names are compared case-insensitively when stored, so upper case is only for display.
    """
    stem = name.split(".", 1)[0]
    lowered = stem.lower()
    for suffix in _NAME_SUFFIXES:
        if lowered.endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
            break
    return " ".join(stem.replace("_", " ").replace("-", " ").split()).upper() or name


def clean_indicator(name: str) -> str:
    """``SMA (Simple Moving Average)`` -> ``SMA``; white space collapsed."""
    name = name.strip()
    if name.endswith(")"):  # a trailing "(...)" gloss; no regex: it backtracks on "((((..."
        start = name.rfind("(")
        if start != -1 and ")" not in name[start:-1]:
            name = name[:start]
    return " ".join(name.split())


# Markdown and "Key: value" helpers shared by the Markdown and plain-text parsers.

_EMPHASIS_RE = re.compile(r"\*\*|__|`")
_HEADING_RE = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*))?")  # ends trimmed in code: linear
# Words separated by blanks, so no two quantifiers compete for the same blanks (linear time).
_KEY_VALUE_RE = re.compile(
    r"[ \t]*(?:[-*+][ \t]+)?(?:\*\*|__)?"
    r"(?P<key>[^\W\d_][\w.#&/()'-]*(?:[ \t]+[\w.#&/()'-]+)*)"
    r"[ \t]*(?:(?:\*\*|__)[ \t]*)?:(?!//)[ \t]*(?:\*\*|__)?(?P<value>.*)"
)
_MAX_KEY = 60
_INT_RE = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[0-9]+")
_MAX_INT_DIGITS = 9  # beyond this a count is noise; it also fits any INTEGER column


def strip_emphasis(text: str) -> str:
    """``**SMA**`` -> ``SMA``: bold, underline-bold and code markers removed, ends trimmed."""
    return _EMPHASIS_RE.sub("", text).strip()


def markdown_heading(line: str) -> tuple[int, str] | None:
    """``## Indicators`` -> ``(2, "Indicators")``: an ATX heading's level and plain text."""
    m = _HEADING_RE.fullmatch(line)
    if not m:
        return None
    text = (m.group(2) or "").strip()
    closed = text.rstrip("#")  # an optional closing sequence: ``## Indicators ##``
    if closed != text and (not closed or closed[-1] in " \t"):
        text = closed.rstrip()
    return len(m.group(1)), strip_emphasis(text)


def split_key_value(line: str) -> tuple[str, str] | None:
    """``Sessions Complete: 12/43`` -> ``("Sessions Complete", "12/43")``.

    Agents write these lines by hand or from templates, so a list bullet and bold markers
    (``- **Key:** value``) are tolerated; a URL (``http://``) is not taken for a key.
    """
    m = _KEY_VALUE_RE.match(line)
    if not m or len(m.group("key")) > _MAX_KEY:
        return None
    return m.group("key").strip(), m.group("value").strip()


def first_int(text: str) -> int | None:
    """The first whole number in text (``"4,300 pairs"`` -> 4300), or None.

    Numbers of more than 9 digits are not counts anyone meant, and are ignored.
    """
    m = _INT_RE.search(text)
    if not m:
        return None
    digits = m.group().replace(",", "")
    return int(digits) if len(digits) <= _MAX_INT_DIGITS else None
