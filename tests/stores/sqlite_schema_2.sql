-- The schema of SQLite store files at schema version 2, as the version-2
-- code (git 6d61437, src/webchat_wrapup/stores/sqlite.py) left them: its
-- sqlite_master, in order (SQLite makes sqlite_sequence itself).
-- Kept verbatim: the migration tests build version-2 files from it.
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
        , recorded_at INTEGER);
CREATE INDEX commands_by_time ON commands (recorded_at);
CREATE TABLE held_chats (
            chat_id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL
        ) WITHOUT ROWID;
PRAGMA user_version = 2;
