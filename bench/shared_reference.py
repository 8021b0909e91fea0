#!/usr/bin/env python3
# Copied from the project's shared baseline, reference/reference_import.py in the team's shared
# folder (issue 16: `make bench` measures the export import against it), so nothing reads that
# folder at run time. One change: the schema is read from tests/files/legacy_production.sql, the
# repository's copy of the shared folder's samples/legacy_production.sql (byte for byte the
# same), instead of the samples folder beside the script's own folder.
# Everything else is the baseline's code as it is: ruff and mypy leave this file alone
# (pyproject.toml), so the copy stays comparable with its original by `diff`.
"""Reference importers: the baselines inboxd's export import is measured against.
  reference: stdlib sqlite3, json, one executemany in one transaction, WAL/NORMAL, same analysis
  seed:      the users' own pattern (per-pair MAX()+1 then one-row INSERT), on the legacy schema
usage: reference_import.py MODE EXPORT.json DB [--index]"""
import hashlib, json, os, re, sqlite3, sys, unicodedata

mode, path, db = sys.argv[1:4]
idx = "--index" in sys.argv
schema = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "files", "legacy_production.sql")).read().split("INSERT INTO")[0]
c = sqlite3.connect(db)
c.executescript(schema)
if idx:
    c.execute("create index ix_qa_ind on qa_pairs(indicator_id)")
data = json.load(open(path, encoding="utf-8"))
F = re.compile(r"[=×÷\+\-]|\bformula\b", re.I); X = re.compile(r"\bexample\b|\bfor instance\b", re.I)
S = re.compile(r"\bsource\b|\baccording to\b", re.I)
OPS = re.compile(r"[=×÷\+\-]")


def analyse(a):
    """The users' three regex flags, same answers, with a cheap substring test first."""
    low = a.lower()
    f = bool(OPS.search(a)) or ("formula" in low and bool(F.search(a)))
    x = ("example" in low or "for instance" in low) and bool(X.search(a))
    s = ("source" in low or "according to" in low) and bool(S.search(a))
    return f, x, s
if mode == "reference":
    c.execute("pragma journal_mode=wal"); c.execute("pragma synchronous=normal")
    c.execute("alter table qa_pairs add column question_key text"); c.execute("create unique index uq_key on qa_pairs(question_key)")
    rows = []; ind = {}
    for s in data["sessions"]:
        t = s["topic"]
        if t not in ind:
            ind[t] = [c.execute("insert into crypto_indicators(indicator_name, session_number) values (?,?)", (t, s["session_id"])).lastrowid, 0]
        for qa in s["qa_pairs"]:
            q, a = qa["question"].strip(), qa["answer"].strip()
            k = hashlib.sha256(" ".join(unicodedata.normalize("NFKC", q).casefold().split()).encode()).hexdigest()
            ind[t][1] += 1
            rows.append((ind[t][0], t, ind[t][1], q, a, "intermediate", len(a), *analyse(a), True, "2025-11-05", k))
    c.executemany("insert into qa_pairs(indicator_id, indicator_name, pair_number, question, answer, difficulty_level, answer_length, has_formula, has_examples, has_sources, crypto_specific, created_date, question_key) values (?,?,?,?,?,?,?,?,?,?,?,?,?) on conflict do nothing", rows)
    c.commit()
else:
    prod = {q[0].strip().lower() for q in c.execute("select question from qa_pairs")}
    n = 0
    for s in sorted(data["sessions"], key=lambda s: s["session_id"]):
        t = s["topic"]
        r = c.execute("select id from crypto_indicators where indicator_name = ?", (t,)).fetchone()
        iid = r[0] if r else c.execute("insert into crypto_indicators(indicator_name, session_number) values (?,?)", (t, s["session_id"])).lastrowid
        for qa in s["qa_pairs"]:
            q, a = qa["question"].strip(), qa["answer"].strip()
            if not q or not a or q.lower() in prod:
                continue
            nxt = c.execute("select coalesce(max(pair_number), 0) + 1 from qa_pairs where indicator_id = ?", (iid,)).fetchone()[0]
            c.execute("insert into qa_pairs(indicator_id, indicator_name, pair_number, question, answer, difficulty_level, answer_length, has_formula, has_examples, has_sources, crypto_specific, created_date) values (?,?,?,?,?,?,?,?,?,?,?,?)",
                      (iid, t, nxt, q, a, "intermediate", len(a), bool(F.search(a)), bool(X.search(a)), bool(S.search(a)), True, "2025-11-05"))
            prod.add(q.lower()); n += 1
        n += 0
    c.commit()
print(c.execute("select count(*) from qa_pairs").fetchone()[0])
