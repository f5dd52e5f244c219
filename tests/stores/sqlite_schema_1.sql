-- The schema of SQLite store files at schema version 1, as the version-1
-- code (git 7fe086d, src/webchat_wrapup/stores/sqlite.py) created them.
-- Kept verbatim: the migration tests build version-1 files from it.
CREATE TABLE agents (
    agent_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    next_deadline INTEGER,
    claimed_until INTEGER
);
CREATE INDEX agents_due ON agents (next_deadline)
    WHERE next_deadline IS NOT NULL;
CREATE TABLE policies (
    policy_key TEXT PRIMARY KEY,
    policy TEXT NOT NULL
);
CREATE TABLE history (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    chat_started_at INTEGER NOT NULL,
    wrap_up_ended_at INTEGER NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX history_by_customer
    ON history (customer_id, wrap_up_ended_at, sequence);
CREATE TABLE commands (
    command_id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    outcome TEXT NOT NULL
);
