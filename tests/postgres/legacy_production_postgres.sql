-- tests/files/legacy_production.sql translated to PostgreSQL: the production schema
-- as it would look had the users kept it on a PostgreSQL server. Only what PostgreSQL
-- spells differently changes: INTEGER PRIMARY KEY AUTOINCREMENT -> SERIAL PRIMARY KEY,
-- and booleans written as 0/1 -> false/true. Same rows, same ids, same duplicate.
CREATE TABLE crypto_indicators (
    id SERIAL PRIMARY KEY,
    indicator_name TEXT NOT NULL,
    indicator_category TEXT,
    session_number INTEGER,
    description TEXT,
    created_at TIMESTAMP,
    updated_at TIMESTAMP
);
CREATE TABLE qa_pairs (
    qa_id SERIAL PRIMARY KEY,
    indicator_id INTEGER REFERENCES crypto_indicators(id),
    indicator_name TEXT,
    pair_number INTEGER,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    difficulty_level TEXT,
    answer_length INTEGER,
    has_formula BOOLEAN,
    has_examples BOOLEAN,
    has_sources BOOLEAN,
    crypto_specific BOOLEAN,
    created_date TEXT
);
INSERT INTO crypto_indicators (indicator_name, indicator_category, session_number, description, created_at, updated_at)
VALUES ('Funding Rate', 'Derivatives', 1, 'Funding Rate - Session 1', '2025-11-01 10:00:00', '2025-11-01 10:00:00'),
       ('SMA', 'Price-Based Technical Indicators', 2, 'SMA - Session 2', '2025-11-02 10:00:00', '2025-11-02 10:00:00');
INSERT INTO qa_pairs (indicator_id, indicator_name, pair_number, question, answer, difficulty_level, answer_length, has_formula, has_examples, has_sources, crypto_specific, created_date)
VALUES (1, 'Funding Rate', 1, 'What is a perpetual futures funding rate?', 'A periodic payment between longs and shorts that keeps the perpetual price near spot.', 'intermediate', 84, false, false, false, true, '2025-11-01'),
       (1, 'Funding Rate', 2, 'Why do funding rates spike in bull markets?', 'Longs crowd in and pay shorts to hold their positions.', 'intermediate', 54, false, false, false, true, '2025-11-01'),
       (1, 'Funding Rate', 3, 'why do funding rates spike in bull markets?', 'An older duplicate that already exists in production.', 'intermediate', 52, false, false, false, true, '2025-11-01'),
       (2, 'SMA', 1, 'What is the Simple Moving Average (SMA)?', 'The average of the last N closes.', 'beginner', 33, false, false, false, true, '2025-11-02');
