-- A store file written by the schema-3 code (git 52a1029): two agents, a
-- day of commands with ids, an expiry, a chat still held and an erasure.
-- Dumped with sqlite3's iterdump (user_version is 3).
BEGIN TRANSACTION;
CREATE TABLE agents (
            agent_id TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            state TEXT NOT NULL,
            next_deadline INTEGER,
            claimed_until INTEGER
        );
INSERT INTO "agents" VALUES('agent-1',6,'["agent-1",1,"handling_chat",null,[["chat-3","cust-1","44285c76582fa0aa0bc4b661a7aea0b5","active",1793610300000000,null,null,null,0,null,null,null]],[["chat-1","completed_early",1793610000000000]]]',NULL,NULL);
INSERT INTO "agents" VALUES('agent-2',7,'["agent-2",1,"available",null,[],[["chat-2","expired",1793610060000000],["chat-4","completed_early",1793610300000000]]]',NULL,NULL);
CREATE TABLE command_customers (
            customer_id TEXT NOT NULL,
            command_id TEXT NOT NULL,
            PRIMARY KEY (customer_id, command_id)
        ) WITHOUT ROWID
        ;
INSERT INTO "command_customers" VALUES('cust-1','cmd-1');
INSERT INTO "command_customers" VALUES('cust-1','cmd-2');
INSERT INTO "command_customers" VALUES('cust-1','cmd-3');
INSERT INTO "command_customers" VALUES('cust-1','cmd-4');
INSERT INTO "command_customers" VALUES('cust-2','cmd-5');
CREATE TABLE commands (
            command_id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            outcome TEXT NOT NULL
        , recorded_at INTEGER);
INSERT INTO "commands" VALUES('cmd-1','agent-1','ec72a375a8f6669b0182321ceed2487cb2d517dd1a87f3f0af6d60b8ab97becc','["agent-1",2,[["chat_assigned","agent-1",1793610000000000,"chat-1","cust-1","support"],["status_changed","agent-1",1793610000000000,"available","handling_chat","available",null]],[]]',1793610000000000);
INSERT INTO "commands" VALUES('cmd-2','agent-1','edab807ae632a07bccd700172542e5f11fd5a13fbd58cba06e0484ac681dbb99','["agent-1",3,[["chat_classified","agent-1",1793610000000000,"chat-1",["refund",null,null],null]],[]]',1793610000000000);
INSERT INTO "commands" VALUES('cmd-3','agent-1','4d5e06de4ec01143cdae80b90beea3a946ee9fb802db4009f49aeeca5306c213','["agent-1",4,[["chat_ended","agent-1",1793610000000000,"chat-1","customer"],["wrap_up_started","agent-1",1793610000000000,"chat-1",1793610060000000,3],["status_changed","agent-1",1793610000000000,"handling_chat","wrap_up","available",null]],[]]',1793610000000000);
INSERT INTO "commands" VALUES('cmd-4','agent-1','ecc59707ef26b1d4d0288d0e3c3faa6cbdd1d2bee5386f900caa4bdb0010fae4','["agent-1",5,[["wrap_up_completed","agent-1",1793610000000000,"chat-1","cust-1","completed_early",["refund",null,null]],["status_changed","agent-1",1793610000000000,"wrap_up","available","available",null]],[{"schema_version":1,"customer_id":"cust-1","chat_id":"chat-1","agent_id":"agent-1","queue_id":"support","classification":{"label":"refund","code":null,"group":null},"additional_text":null,"chat_started_at":"2026-11-02T09:00:00Z","chat_ended_at":"2026-11-02T09:00:00Z","ended_by":"customer","wrap_up_started_at":"2026-11-02T09:00:00Z","wrap_up_ended_at":"2026-11-02T09:00:00Z","ending":"completed_early","extensions_used":0,"abuse":null,"pause_count":0,"paused_seconds":0.0,"leg":1,"transferred_to_agent":null,"transferred_to_queue":null}]]',1793610000000000);
INSERT INTO "commands" VALUES('cmd-5','agent-2','9d9b1cf72848b091607668a3cdf0ab7e6574e86beb5d6bbc2799fb78780da02f','["agent-2",2,[["chat_assigned","agent-2",1793610000000000,"chat-2","cust-2","support"],["status_changed","agent-2",1793610000000000,"available","handling_chat","available",null]],[]]',1793610000000000);
CREATE TABLE erasures (
            erasure_id TEXT PRIMARY KEY,
            erased_at INTEGER NOT NULL,
            erased_by TEXT NOT NULL,
            history_entries INTEGER NOT NULL,
            command_records INTEGER NOT NULL
        );
INSERT INTO "erasures" VALUES('986affd5-0790-4d9e-be94-d720acd8ba18',1793610300000000,'dpo-1',1,0);
CREATE TABLE held_chats (
            chat_id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL
        , customer_id TEXT) WITHOUT ROWID
        ;
INSERT INTO "held_chats" VALUES('chat-3','agent-1','cust-1');
CREATE TABLE history (
            sequence INTEGER PRIMARY KEY AUTOINCREMENT,
            customer_id TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            chat_started_at INTEGER NOT NULL,
            wrap_up_ended_at INTEGER NOT NULL,
            entry TEXT NOT NULL
        );
INSERT INTO "history" VALUES(1,'cust-1','agent-1','chat-1',1793610000000000,1793610000000000,'{"schema_version":1,"customer_id":"cust-1","chat_id":"chat-1","agent_id":"agent-1","queue_id":"support","classification":{"label":"refund","code":null,"group":null},"additional_text":null,"chat_started_at":"2026-11-02T09:00:00Z","chat_ended_at":"2026-11-02T09:00:00Z","ended_by":"customer","wrap_up_started_at":"2026-11-02T09:00:00Z","wrap_up_ended_at":"2026-11-02T09:00:00Z","ending":"completed_early","extensions_used":0,"abuse":null,"pause_count":0,"paused_seconds":0.0,"leg":1,"transferred_to_agent":null,"transferred_to_queue":null}');
INSERT INTO "history" VALUES(2,'cust-2','agent-2','chat-2',1793610000000000,1793610060000000,'{"schema_version":1,"customer_id":"cust-2","chat_id":"chat-2","agent_id":"agent-2","queue_id":"support","classification":null,"additional_text":null,"chat_started_at":"2026-11-02T09:00:00Z","chat_ended_at":"2026-11-02T09:00:00Z","ended_by":"customer","wrap_up_started_at":"2026-11-02T09:00:00Z","wrap_up_ended_at":"2026-11-02T09:01:00Z","ending":"expired","extensions_used":0,"abuse":null,"pause_count":0,"paused_seconds":0.0,"leg":1,"transferred_to_agent":null,"transferred_to_queue":null}');
CREATE TABLE policies (
            policy_key TEXT PRIMARY KEY,
            policy TEXT NOT NULL
        );
INSERT INTO "policies" VALUES('44285c76582fa0aa0bc4b661a7aea0b5','{"classification":{"additional_text_max_length":4000,"choices":{"kind":"free_text","max_length":100,"min_length":1},"on_expiry":"complete_unclassified","required":false,"timeout_default":null},"queue_id":"support","schema_version":1,"wrap_up":{"countdown_seconds":60,"early_exit_allowed":true,"enabled":true,"extension_seconds":60,"max_extensions":3,"max_paused_seconds":null,"pause_allowed":true}}');
CREATE TABLE retired_agents (
            agent_id TEXT PRIMARY KEY,
            version INTEGER NOT NULL
        ) WITHOUT ROWID
        ;
CREATE INDEX agents_due ON agents (next_deadline)
            WHERE next_deadline IS NOT NULL
        ;
CREATE INDEX history_by_customer
            ON history (customer_id, wrap_up_ended_at, sequence)
        ;
CREATE INDEX commands_by_time ON commands (recorded_at);
CREATE INDEX held_chats_by_customer ON held_chats (customer_id);
CREATE INDEX command_customers_by_command ON command_customers (command_id);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('history',3);
COMMIT;
