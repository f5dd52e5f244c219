-- The schema of SQLite store files at schema version 3, as the version-3
-- code (git 52a1029, src/webchat_wrapup/stores/sqlite.py) left them: its
-- sqlite_master, in order (SQLite makes sqlite_sequence itself).
-- Kept verbatim: the migration tests build version-3 files from it.
CREATE TABLE agents (
            agent_id TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            state TEXT NOT NULL,
            next_deadline INTEGER,
            claimed_until INTEGER
        );
CREATE INDEX agents_due ON agents (next_deadline)
            WHERE next_deadline IS NOT NULL
        ;
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
            ON history (customer_id, wrap_up_ended_at, sequence)
        ;
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
        , customer_id TEXT) WITHOUT ROWID
        ;
CREATE INDEX held_chats_by_customer ON held_chats (customer_id);
CREATE TABLE command_customers (
            customer_id TEXT NOT NULL,
            command_id TEXT NOT NULL,
            PRIMARY KEY (customer_id, command_id)
        ) WITHOUT ROWID
        ;
CREATE INDEX command_customers_by_command ON command_customers (command_id);
CREATE TABLE erasures (
            erasure_id TEXT PRIMARY KEY,
            erased_at INTEGER NOT NULL,
            erased_by TEXT NOT NULL,
            history_entries INTEGER NOT NULL,
            command_records INTEGER NOT NULL
        );
CREATE TABLE retired_agents (
            agent_id TEXT PRIMARY KEY,
            version INTEGER NOT NULL
        ) WITHOUT ROWID
        ;
