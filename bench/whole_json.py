"""The memory baseline of ``bench.memory``: a Q&A delivery read whole with the stdlib's json.

What a straightforward importer does before storing anything: the document with
``json.load`` (decoded by its BOM, as inboxd decodes it), JSON Lines as a list of
``json.loads``. Its peak RSS is the cost of holding the parsed file.

    python bench/whole_json.py FILE
"""

from __future__ import annotations

import json
import sys


def main(path: str) -> None:
    with open(path, "rb") as source:
        head = source.read(4)
    encoding = "utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    with open(path, encoding=encoding) as text:
        if path.endswith(".jsonl"):
            value: object = [json.loads(line) for line in text if line.strip()]
        else:
            value = json.load(text)
    print(type(value).__name__, len(value) if isinstance(value, list | dict) else 0)


if __name__ == "__main__":
    main(sys.argv[1])
