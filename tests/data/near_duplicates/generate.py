"""The labelled set for near-duplicate detection (issue 18): ``labelled.jsonl`` beside this file.

Each line is ``{"a", "b", "indicator_a", "indicator_b", "duplicate", "kind"}`` (the
indicator each question was delivered under, as an import knows it). Duplicates (``kind:
paraphrase``) are one question said again the way agents repeat themselves: clauses
reordered, punctuation and case changed, context words added, words swapped for synonyms from
a small list. Negatives are the ones a text similarity alone would merge: the same template
with another indicator, another number or another timeframe (``"RSI above 70"`` vs ``"RSI
above 30"``), plus a share of other questions about the same indicator (whose long names make
short questions look alike). Seeded, so the committed file is what this writes:

    python -m tests.data.near_duplicates.generate          # rewrites labelled.jsonl
    python -m tests.data.near_duplicates.generate --check  # exit 1 when it differs
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from handlers.text import question_key

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "labelled.jsonl"
SEED = 18

INDICATORS = [
    "RSI",
    "MACD",
    "EMA",
    "SMA",
    "Bollinger Bands",
    "Stochastic Oscillator",
    "ATR",
    "OBV",
    "VWAP",
    "ADX",
    "Ichimoku Cloud",
    "MFI",
    "CCI",
    "Williams %R",
    "Parabolic SAR",
    "Keltner Channels",
    "Pi Cycle Top",
    "Hash Ribbons",
    "Puell Multiple",
    "Funding Rate",
]
NUMBERS = ["14", "20", "30", "50", "70", "80", "100", "200", "9", "26"]
TIMEFRAMES = ["1-hour", "4-hour", "daily", "weekly", "15-minute", "monthly"]

# {i}: indicator, {n}: number, {t}: timeframe. Each template: its clauses in order (joined by
# ", " when reordered the clause before the comma moves to the end) and the slots it has.
TEMPLATES = [
    "What does {i} measure",
    "How is {i} calculated",
    "What does it mean when {i} rises above {n}",
    "How do traders use {i} on the {t} chart",
    "Why is a {n}-period {i} a common setting",
    "What are the limitations of {i} for {t} trading",
    "How reliable are {i} signals during high volatility",
    "Can {i} identify trend reversals in a sideways market",
    "How should {i} be combined with volume analysis",
    "What is a bullish divergence on {i}",
    "When does {i} give false signals on the {t} timeframe",
    "Is a reading of {n} on {i} a sell signal",
    "How do you set a stop loss with {i} on {t} candles",
    "What happens to {i} when price makes a new high",
    "Which settings of {i} suit scalping with a {n} period",
    "How does {i} behave after a {n} percent crash",
]
# clause moves: (leading phrase pattern, how the question reads with it at the front)
FRONTED = {
    "on the {t} chart": "On the {t} chart, ",
    "for {t} trading": "For {t} trading, ",
    "during high volatility": "During high volatility, ",
    "in a sideways market": "In a sideways market, ",
    "on the {t} timeframe": "On the {t} timeframe, ",
    "on {t} candles": "On {t} candles, ",
    "with a {n} period": "With a {n} period, ",
    "after a {n} percent crash": "After a {n} percent crash, ",
    "when price makes a new high": "When price makes a new high, ",
    "with volume analysis": "Together with volume analysis, ",
}
SYNONYMS = {
    "measure": ["gauge", "indicate", "show"],
    "calculated": ["computed", "worked out", "derived"],
    "use": ["apply", "employ", "read"],
    "traders": ["investors", "analysts"],
    "identify": ["detect", "spot"],
    "reliable": ["trustworthy", "dependable"],
    "limitations": ["weaknesses", "drawbacks", "limits"],
    "common": ["popular", "standard"],
    "combined": ["paired", "used together"],
    "signals": ["alerts", "signal"],
    "false": ["misleading", "wrong"],
    "reading": ["value", "level"],
    "suit": ["fit", "work for"],
    "crash": ["drop", "selloff"],
}
CONTEXT_BEFORE = ["In crypto markets, ", "For bitcoin, ", "Briefly, ", "In practice, ", ""]
CONTEXT_AFTER = [
    " in crypto markets",
    " for bitcoin traders",
    " in practice",
    " exactly",
    " for altcoins",
    " in cryptocurrency trading",
]


@dataclass(frozen=True)
class Slots:
    indicator: str
    number: str
    timeframe: str

    def fill(self, template: str) -> str:
        return template.format(i=self.indicator, n=self.number, t=self.timeframe)


def reorder(template: str, rng: random.Random) -> str:
    """Move a trailing clause to the front ("On the 4-hour chart, how do traders use RSI")."""
    for clause, fronted in FRONTED.items():
        if template.endswith(" " + clause) and rng.random() < 0.8:
            rest = template[: -len(clause) - 1]
            return fronted + rest[0].lower() + rest[1:]
    return template


def swap_synonyms(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for index, word in enumerate(words):
        if word in SYNONYMS and rng.random() < 0.6:
            words[index] = rng.choice(SYNONYMS[word])
    return " ".join(words)


def add_context(text: str, rng: random.Random) -> str:
    before = rng.choice(CONTEXT_BEFORE)
    if before:
        text = before + text[0].lower() + text[1:]
    if not before or rng.random() < 0.3:
        text += rng.choice(CONTEXT_AFTER)
    return text


def punctuate(text: str, rng: random.Random) -> str:
    """Case and punctuation: what agents vary without meaning anything by it."""
    text += rng.choice(["?", "?", "??", "", " ?", "?!"])
    case = rng.random()
    if case < 0.2:
        text = text.lower()
    elif case < 0.3:
        text = text.upper()
    elif case < 0.4:
        text = text.title()
    if rng.random() < 0.3:
        text = "  " + text.replace(" ", "  ", 1)
    return text


def paraphrase(template: str, slots: Slots, rng: random.Random) -> str:
    """One to four of the changes, at random, always at least one visible one."""
    text = reorder(template, rng) if rng.random() < 0.5 else template
    text = swap_synonyms(text, rng) if rng.random() < 0.6 else text
    text = slots.fill(text)
    if rng.random() < 0.6:
        text = add_context(text, rng)
    return punctuate(text, rng)


def other(values: list[str], taken: str, rng: random.Random) -> str:
    return rng.choice([value for value in values if value != taken])


def hard_negative(template: str, slots: Slots, rng: random.Random) -> tuple[str, Slots, str]:
    """The same template with one of its slots changed (its number or timeframe when it has
    one, more often than its indicator: those are the closer calls)."""
    kinds = ["indicator"] + ["number"] * ("{n}" in template) + ["timeframe"] * ("{t}" in template)
    kind = rng.choice(kinds if len(kinds) == 1 else kinds[1:] * 2 + kinds[:1])
    changed = {
        "indicator": Slots(other(INDICATORS, slots.indicator, rng), slots.number, slots.timeframe),
        "number": Slots(slots.indicator, other(NUMBERS, slots.number, rng), slots.timeframe),
        "timeframe": Slots(slots.indicator, slots.number, other(TIMEFRAMES, slots.timeframe, rng)),
    }[kind]
    # often lightly reworded too: a negative must not be told apart by its wording alone
    text = paraphrase(template, changed, rng) if rng.random() < 0.5 else changed.fill(template)
    return text + ("?" if not text.endswith("?") else ""), changed, kind


def generate(seed: int = SEED) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for template in TEMPLATES:
        for _ in range(45):
            slots = Slots(rng.choice(INDICATORS), rng.choice(NUMBERS), rng.choice(TIMEFRAMES))
            original = slots.fill(template) + "?"
            roll = rng.random()
            if roll < 0.5:
                said_again = paraphrase(template, slots, rng)
                while question_key(said_again) == question_key(original):  # not exact duplicates
                    said_again = paraphrase(template, slots, rng)
                rows.append(row(original, said_again, slots, slots, True, "paraphrase"))
            elif roll < 0.85:
                negative, changed, kind = hard_negative(template, slots, rng)
                rows.append(row(original, negative, slots, changed, False, kind))
            else:
                another = rng.choice([t for t in TEMPLATES if t != template])
                rows.append(
                    row(original, slots.fill(another) + "?", slots, slots, False, "other-question")
                )
    return rows


def row(a: str, b: str, of_a: Slots, of_b: Slots, duplicate: bool, kind: str) -> dict[str, object]:
    return {
        "a": a,
        "b": b,
        "indicator_a": of_a.indicator,
        "indicator_b": of_b.indicator,
        "duplicate": duplicate,
        "kind": kind,
    }


def render(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def main(argv: list[str]) -> int:
    text = render(generate())
    if "--check" in argv:
        same = OUTPUT.exists() and OUTPUT.read_text("utf-8") == text
        print("labelled.jsonl is current" if same else "labelled.jsonl differs: regenerate it")
        return 0 if same else 1
    OUTPUT.write_text(text, "utf-8")
    print(f"wrote {OUTPUT} ({text.count(chr(10))} pairs)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
