"""The PostgreSQL stores' schema: its migrations and every statement.

Shared by :class:`~webchat_wrapup.stores.postgres.PostgresStore` and
:class:`~webchat_wrapup.stores.postgres_async.AsyncPostgresStore`, which
speak the same SQL to the same tables.
"""

from __future__ import annotations

import zlib

from psycopg import sql

SCHEMA_VERSION = 4
"""The newest schema this version of the library writes."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE {schema}.agents (
            agent_id TEXT PRIMARY KEY,
            version BIGINT NOT NULL,
            state TEXT NOT NULL,
            next_deadline BIGINT,
            claimed_until BIGINT
        )""",
        """CREATE INDEX agents_due ON {schema}.agents (next_deadline)
            WHERE next_deadline IS NOT NULL""",
        """CREATE TABLE {schema}.policies (
            policy_key TEXT PRIMARY KEY,
            policy TEXT NOT NULL
        )""",
        """CREATE TABLE {schema}.history (
            sequence BIGSERIAL PRIMARY KEY,
            customer_id TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            chat_started_at BIGINT NOT NULL,
            wrap_up_ended_at BIGINT NOT NULL,
            entry TEXT NOT NULL
        )""",
        """CREATE INDEX history_by_customer
            ON {schema}.history (customer_id, wrap_up_ended_at, sequence)""",
        """CREATE TABLE {schema}.commands (
            command_id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            outcome TEXT NOT NULL
        )""",
    ),
    (  # 1 -> 2: when each command ran (for pruning), who holds each chat
        "ALTER TABLE {schema}.commands ADD COLUMN recorded_at BIGINT",
        # Records written before the upgrade are dated at the upgrade (in
        # microseconds), not left undated: an undated record is pruned at
        # the next sweep, and a retry of its command arriving after that
        # would be decided afresh, possibly applied twice.
        """UPDATE {schema}.commands SET recorded_at =
            (extract(epoch FROM transaction_timestamp()) * 1000000)::BIGINT""",
        "CREATE INDEX commands_by_time ON {schema}.commands (recorded_at)",
        """CREATE TABLE {schema}.held_chats (
            chat_id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL
        )""",
        # A damaged state must not stop the upgrade (every server would then
        # fail to open the store), and a failed cast aborts the transaction:
        # only a PL/pgSQL block can catch it (PostgreSQL 16's
        # pg_input_is_valid would do, but 15 is still supported). Dropped
        # below, in the same transaction, so no one else ever sees it.
        """CREATE FUNCTION {schema}.jsonb_or_null(text) RETURNS jsonb
            LANGUAGE plpgsql IMMUTABLE AS $$
            BEGIN
                RETURN $1::jsonb;
            EXCEPTION WHEN data_exception THEN
                RETURN NULL;
            END
            $$""",
        # The chats the stored agents hold, read from the schema-1 form of
        # an agent's state: [agent_id, capacity, status, profile, chats],
        # each chat a list that starts with its id. A migration reads the
        # form of the schema it migrates from, which never changes, so it
        # reads it here rather than through the codec (which may). Schema 1
        # did not enforce one holder per chat: should two agents hold one,
        # the first by agent id keeps the row, and the other keeps its chat
        # until it lets go of it (saves compare with the stored state).
        # Rows that are not this form hold nothing; loading them reports
        # the damage. Each type is checked: jsonb reads a scalar as an array
        # of one (the string "c" -> 0 is "c").
        """INSERT INTO {schema}.held_chats (chat_id, agent_id)
            SELECT DISTINCT ON (chat ->> 0) chat ->> 0, agent_id
            FROM (
                SELECT agent_id, {schema}.jsonb_or_null(state) AS state
                FROM {schema}.agents
            ) AS stored,
            jsonb_array_elements(
                CASE WHEN jsonb_typeof(state) = 'array'
                    AND jsonb_typeof(state -> 4) = 'array'
                THEN state -> 4 ELSE '[]' END
            ) AS chat
            WHERE jsonb_typeof(chat) = 'array'
                AND jsonb_typeof(chat -> 0) = 'string'
            ORDER BY chat ->> 0, agent_id""",
        "DROP FUNCTION {schema}.jsonb_or_null(text)",
    ),
    (  # 2 -> 3: erasing a customer's data, retiring agents
        # Whose each held chat is: an erasure is refused while one is held,
        # and the check must see every app server's saves.
        "ALTER TABLE {schema}.held_chats ADD COLUMN customer_id TEXT",
        "CREATE INDEX held_chats_by_customer ON {schema}.held_chats (customer_id)",
        # As in 1 -> 2: damaged JSON must not stop the upgrade.
        """CREATE FUNCTION {schema}.jsonb_or_null(text) RETURNS jsonb
            LANGUAGE plpgsql IMMUTABLE AS $$
            BEGIN
                RETURN $1::jsonb;
            EXCEPTION WHEN data_exception THEN
                RETURN NULL;
            END
            $$""",
        # Read from the schema-2 form of an agent's state, in which each
        # chat is a list [chat_id, customer_id, ...]. A state too damaged
        # to read leaves it empty (loading the agent reports the damage).
        """UPDATE {schema}.held_chats AS held SET customer_id = chat ->> 1
            FROM (
                SELECT agent_id, {schema}.jsonb_or_null(state) AS state
                FROM {schema}.agents
            ) AS stored,
            jsonb_array_elements(
                CASE WHEN jsonb_typeof(state) = 'array'
                    AND jsonb_typeof(state -> 4) = 'array'
                THEN state -> 4 ELSE '[]' END
            ) AS chat
            WHERE stored.agent_id = held.agent_id
                AND jsonb_typeof(chat) = 'array'
                AND chat ->> 0 = held.chat_id
                AND jsonb_typeof(chat -> 1) = 'string'""",
        # The customers whose data each command record carries, so an
        # erasure finds the records by customer. One command may carry
        # several (due expiries of other chats come first).
        """CREATE TABLE {schema}.command_customers (
            customer_id TEXT NOT NULL,
            command_id TEXT NOT NULL,
            PRIMARY KEY (customer_id, command_id)
        )""",
        """CREATE INDEX command_customers_by_command
            ON {schema}.command_customers (command_id)""",
        # Only for the join below: a history of millions of rows would
        # otherwise be scanned for the events' chats.
        "CREATE INDEX history_by_chat ON {schema}.history (chat_id)",
        # Records written before the upgrade, read from the schema-2 form of
        # an outcome: [agent_id, version, events, entries], each event a
        # list [type, agent_id, at, chat_id, ...] (chat_assigned and
        # wrap_up_completed then name the customer), each entry an object
        # with its customer_id. An event such as a classification names
        # only its chat, whose customer is found where the chat is now: held
        # by the record's agent, or in that agent's history. Should a chat
        # id have come back for another customer, the record is found by
        # both: erasing either deletes it, which only means a retry of that
        # command is decided afresh, as after the retention.
        """INSERT INTO {schema}.command_customers (customer_id, command_id)
            WITH records AS (
                SELECT command_id, agent_id,
                    {schema}.jsonb_or_null(outcome) AS outcome
                FROM {schema}.commands
            ), events AS (
                SELECT command_id, agent_id, event
                FROM records, jsonb_array_elements(
                    CASE WHEN jsonb_typeof(outcome) = 'array'
                        AND jsonb_typeof(outcome -> 2) = 'array'
                    THEN outcome -> 2 ELSE '[]' END
                ) AS event
                WHERE jsonb_typeof(event) = 'array'
            )
            SELECT event ->> 4, command_id FROM events
            WHERE event ->> 0 IN ('chat_assigned', 'wrap_up_completed')
                AND jsonb_typeof(event -> 4) = 'string'
            UNION
            SELECT entry ->> 'customer_id', command_id
            FROM records, jsonb_array_elements(
                CASE WHEN jsonb_typeof(outcome) = 'array'
                    AND jsonb_typeof(outcome -> 3) = 'array'
                THEN outcome -> 3 ELSE '[]' END
            ) AS entry
            WHERE jsonb_typeof(entry -> 'customer_id') = 'string'
            UNION
            SELECT held.customer_id, events.command_id
            FROM events JOIN {schema}.held_chats AS held
                ON held.chat_id = events.event ->> 3
                AND held.agent_id = events.agent_id
            WHERE held.customer_id IS NOT NULL
            UNION
            SELECT history.customer_id, events.command_id
            FROM events JOIN {schema}.history AS history
                ON history.chat_id = events.event ->> 3
                AND history.agent_id = events.agent_id""",
        "DROP INDEX {schema}.history_by_chat",
        "DROP FUNCTION {schema}.jsonb_or_null(text)",
        # That an erasure happened, never what it erased.
        """CREATE TABLE {schema}.erasures (
            erasure_id TEXT PRIMARY KEY,
            erased_at BIGINT NOT NULL,
            erased_by TEXT NOT NULL,
            history_entries BIGINT NOT NULL,
            command_records BIGINT NOT NULL
        )""",
        # The version each retired agent had: the agent added again goes on
        # from it, so no version of one agent id is ever written twice.
        """CREATE TABLE {schema}.retired_agents (
            agent_id TEXT PRIMARY KEY,
            version BIGINT NOT NULL
        )""",
    ),
    (
        # The event feed. Positions (and the history's sequence) are drawn
        # only under the feed's lock, held to commit, so they are given in
        # commit order: see PostgresStore._append_feed.
        """CREATE TABLE {schema}.events (
            position BIGSERIAL PRIMARY KEY,
            recorded_at BIGINT NOT NULL,
            agent_id TEXT NOT NULL,
            customer_id TEXT,
            event TEXT NOT NULL
        )""",
        """CREATE INDEX events_by_customer ON {schema}.events (customer_id)
            WHERE customer_id IS NOT NULL""",
        "ALTER TABLE {schema}.erasures ADD COLUMN events BIGINT NOT NULL DEFAULT 0",
    ),
)
"""The statements that take a schema from version ``n`` to ``n + 1``, at
index ``n``; each one executed as it is, with ``{schema}`` quoted in."""


def channel(schema: str) -> str:
    """The notification channel of a schema's feed: short, whatever the
    schema's length (channel names are cut at 63 bytes)."""
    return f"webchat_wrapup_{zlib.crc32(schema.encode()):08x}"


def signed(key: int) -> int:
    """An unsigned 32-bit number as the signed ``int4`` an advisory lock takes."""
    return key - (1 << 32) if key >= 1 << 31 else key


class Statements:
    """The store's SQL, with the schema name quoted once."""

    def __init__(self, schema: str) -> None:
        # Rendered once: a Composed query is rendered again on every execute.
        # The name is a plain identifier (checked), so quoting it is enough.
        name = f'"{schema}"'

        def q(text: str) -> str:
            return text.format(schema=name)

        self.load = q("SELECT version, state FROM {schema}.agents WHERE agent_id = %s")
        self.load_settled = q(
            "SELECT version, state FROM {schema}.agents WHERE agent_id = %s FOR SHARE"
        )
        self.policy = q("SELECT policy FROM {schema}.policies WHERE policy_key = %s")
        self.insert_policy = q(
            "INSERT INTO {schema}.policies VALUES (%s, %s) ON CONFLICT DO NOTHING"
        )
        # A new agent, or one added again after it was retired: it goes on
        # from the version it was retired at, and the mark is removed.
        self.insert_agent = q(
            "WITH retired AS (DELETE FROM {schema}.retired_agents "
            "WHERE agent_id = %(agent)s RETURNING version) "
            "INSERT INTO {schema}.agents SELECT %(agent)s, "
            "1 + coalesce((SELECT version FROM retired), 0), %(state)s, %(due)s, "
            "NULL ON CONFLICT DO NOTHING RETURNING version"
        )
        self.lock_agent_id = "SELECT pg_advisory_xact_lock(%s, %s)"
        # Locked as returned, so in agent order.
        self.lock_agents = q(
            "SELECT agent_id FROM {schema}.agents WHERE agent_id = ANY(%s::text[]) "
            "ORDER BY agent_id FOR UPDATE"
        )
        set_agent = (
            "UPDATE {schema}.agents SET version = %(next)s, state = %(state)s, "
            "next_deadline = %(due)s, claimed_until = NULL "
            "WHERE agent_id = %(agent)s AND version = %(version)s"
        )
        updated = f"WITH updated AS ({set_agent} RETURNING agent_id)"
        # Each runs only if the UPDATE did (it reads `updated`). Released by
        # agent too: a chat two agents held under schema 1 keeps its row for
        # the one the migration chose.
        released = (
            "released AS (DELETE FROM {schema}.held_chats "
            "WHERE agent_id = (SELECT agent_id FROM updated) "
            "AND chat_id = ANY(%(released)s::text[]))"
        )
        taken = (
            "taken AS (INSERT INTO {schema}.held_chats "
            "SELECT chat_id, agent_id, customer_id FROM updated, "
            "unnest(%(taken)s::text[], %(taken_customers)s::text[]) "
            "AS chats (chat_id, customer_id))"
        )
        linked = (
            "linked AS (INSERT INTO {schema}.command_customers "
            "SELECT customer_id, %(command)s FROM updated, "
            "unnest(%(customers)s::text[]) AS customer_id)"
        )
        recorded = (
            "INSERT INTO {schema}.commands (command_id, agent_id, fingerprint, "
            "outcome, recorded_at) SELECT %(command)s, agent_id, %(fingerprint)s, "
            "%(outcome)s, %(recorded)s FROM updated"
        )
        self.update_agent = q(set_agent)
        self.update_and_release = q(
            f"{updated}, {released} SELECT agent_id FROM updated"
        )
        # The feed's part of a one-statement save: the lock is taken only
        # once every other write of the statement is done (the scalar
        # subqueries read them to the end first), so nothing waits while
        # holding it; then the events are inserted, in order, and the
        # notification goes out on commit.
        fed = (
            "fed AS (INSERT INTO {schema}.events (recorded_at, agent_id, "
            "customer_id, event) SELECT e.recorded_at, e.agent_id, e.customer_id, "
            "e.event FROM locked, unnest(%(event_at)s::bigint[], "
            "%(event_agents)s::text[], %(event_customers)s::text[], "
            "%(events)s::text[]) WITH ORDINALITY "
            "AS e (recorded_at, agent_id, customer_id, event, n) ORDER BY e.n)"
        )

        def locked(*writes: str) -> str:
            done = " AND ".join(f"(SELECT count(*) FROM {w}) >= 0" for w in writes)
            return (
                "locked AS (SELECT pg_advisory_xact_lock(%(feed_a)s, %(feed_b)s), "
                f"pg_notify(%(channel)s, '') FROM updated WHERE {done})"
            )

        recorded_returning = f"recorded AS ({recorded} RETURNING 1)"
        linked_returning = (
            "linked AS (INSERT INTO {schema}.command_customers "
            "SELECT customer_id, %(command)s FROM updated, "
            "unnest(%(customers)s::text[]) AS customer_id RETURNING 1)"
        )
        released_returning = (
            "released AS (DELETE FROM {schema}.held_chats "
            "WHERE agent_id = (SELECT agent_id FROM updated) "
            "AND chat_id = ANY(%(released)s::text[]) RETURNING 1)"
        )
        taken_returning = (
            "taken AS (INSERT INTO {schema}.held_chats "
            "SELECT chat_id, agent_id, customer_id FROM updated, "
            "unnest(%(taken)s::text[], %(taken_customers)s::text[]) "
            "AS chats (chat_id, customer_id) RETURNING 1)"
        )
        self.update_and_record = q(f"{updated}, {linked} {recorded}")
        self.update_hold_and_record = q(
            f"{updated}, {released}, {taken}, {linked} {recorded}"
        )
        self.update_record_and_feed = q(
            f"{updated}, {linked_returning}, {recorded_returning}, "
            f"{locked('linked', 'recorded')}, {fed} "
            "SELECT count(*) FROM recorded"
        )
        self.update_hold_record_and_feed = q(
            f"{updated}, {released_returning}, {taken_returning}, "
            f"{linked_returning}, {recorded_returning}, "
            f"{locked('released', 'taken', 'linked', 'recorded')}, {fed} "
            "SELECT count(*) FROM recorded"
        )
        # A transaction's history entries and events, last in it, in one
        # statement under the feed's lock (see PostgresStore._append_feed).
        self.append_feed = q(
            "WITH locked AS (SELECT pg_advisory_xact_lock(%(feed_a)s, %(feed_b)s), "
            "pg_notify(%(channel)s, '')), "
            "entries AS (INSERT INTO {schema}.history (customer_id, agent_id, "
            "chat_id, chat_started_at, wrap_up_ended_at, entry) "
            "SELECT h.customer_id, h.agent_id, h.chat_id, h.started, h.ended, "
            "h.entry FROM locked, unnest(%(h_customers)s::text[], "
            "%(h_agents)s::text[], %(h_chats)s::text[], %(h_started)s::bigint[], "
            "%(h_ended)s::bigint[], %(h_entries)s::text[]) WITH ORDINALITY "
            "AS h (customer_id, agent_id, chat_id, started, ended, entry, n) "
            "ORDER BY h.n), "
            f"{fed} SELECT 1"
        )
        # The record and the customers it is found by, in one statement;
        # the count is 0 when the command id was already recorded.
        self.insert_command = q(
            "WITH recorded AS (INSERT INTO {schema}.commands (command_id, "
            "agent_id, fingerprint, outcome, recorded_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING "
            "RETURNING command_id), "
            "linked AS (INSERT INTO {schema}.command_customers "
            "SELECT customer_id, command_id FROM recorded, "
            "unnest(%s::text[]) AS customer_id) "
            "SELECT count(*) FROM recorded"
        )
        self.command = q(
            "SELECT agent_id, fingerprint, outcome, recorded_at "
            "FROM {schema}.commands WHERE command_id = %s"
        )
        # Undated records, then the oldest, each group read from the index
        # and stopping at the limit: a single "IS NULL OR <" condition would
        # gather every old record before the limit applies, so a backlog
        # would make each prune slower. SKIP LOCKED: two sweepers pruning
        # at once share the work rather than one waiting for the other. The
        # DELETE finds its rows by key through an array, as the claim does.
        # The records' links to customers go with them.
        self.prune = q(
            "WITH undated AS (SELECT command_id FROM {schema}.commands "
            "WHERE recorded_at IS NULL LIMIT %(limit)s FOR UPDATE SKIP LOCKED), "
            "oldest AS (SELECT command_id FROM {schema}.commands "
            "WHERE recorded_at < %(before)s ORDER BY recorded_at "
            "LIMIT %(limit)s - (SELECT count(*) FROM undated) "
            "FOR UPDATE SKIP LOCKED), "
            "pruned AS (DELETE FROM {schema}.commands WHERE command_id = ANY(ARRAY("
            "SELECT command_id FROM undated UNION ALL SELECT command_id FROM oldest)) "
            "RETURNING command_id), "
            "unlinked AS (DELETE FROM {schema}.command_customers "
            "WHERE command_id = ANY(ARRAY(SELECT command_id FROM pruned))) "
            "SELECT count(*) FROM pruned"
        )
        self.customer_held = q(
            "SELECT agent_id, chat_id FROM {schema}.held_chats "
            "WHERE customer_id = %s ORDER BY agent_id, chat_id LIMIT 1"
        )
        self.erase_history = q("DELETE FROM {schema}.history WHERE customer_id = %s")
        # Each record's links to every customer it names go with it, not
        # only this customer's.
        self.erase_records = q(
            "WITH found AS (SELECT command_id FROM {schema}.command_customers "
            "WHERE customer_id = %s), "
            "unlinked AS (DELETE FROM {schema}.command_customers "
            "WHERE command_id = ANY(ARRAY(SELECT command_id FROM found))), "
            "erased AS (DELETE FROM {schema}.commands "
            "WHERE command_id = ANY(ARRAY(SELECT command_id FROM found)) "
            "RETURNING command_id) "
            "SELECT count(*) FROM erased"
        )
        self.insert_erasure = q(
            "INSERT INTO {schema}.erasures VALUES (%s, %s, %s, %s, %s, %s)"
        )
        self.erasures = q(
            "SELECT erasure_id, erased_at, erased_by, history_entries, "
            "command_records, events FROM {schema}.erasures "
            "ORDER BY erased_at, erasure_id"
        )
        self.erase_events = q("DELETE FROM {schema}.events WHERE customer_id = %s")
        self.listen = sql.SQL("LISTEN {}").format(sql.Identifier(channel(schema)))
        self.events = q(
            "SELECT position, recorded_at, event FROM {schema}.events "
            "WHERE position > %s ORDER BY position LIMIT %s"
        )
        self.last_position = q("SELECT coalesce(max(position), 0) FROM {schema}.events")
        # The oldest first, stopping at the first younger one (as every
        # store does), reading no more than the limit from the key's index.
        self.prune_events = q(
            "WITH oldest AS (SELECT position, recorded_at FROM {schema}.events "
            "ORDER BY position LIMIT %(limit)s), "
            "stop AS (SELECT min(position) AS position FROM oldest "
            "WHERE recorded_at >= %(before)s), "
            "pruned AS (DELETE FROM {schema}.events WHERE position <= "
            "(SELECT max(position) FROM oldest) AND position < coalesce("
            "(SELECT position FROM stop), 9223372036854775807) RETURNING 1) "
            "SELECT count(*) FROM pruned"
        )
        self.history_changes = q(
            "SELECT sequence, entry FROM {schema}.history WHERE sequence > %s "
            "ORDER BY sequence LIMIT %s"
        )
        self.retire = q(
            "WITH gone AS (DELETE FROM {schema}.agents "
            "WHERE agent_id = %(agent)s AND version = %(version)s "
            "RETURNING agent_id, version), "
            "released AS (DELETE FROM {schema}.held_chats "
            "WHERE agent_id = (SELECT agent_id FROM gone)), "
            "kept AS (INSERT INTO {schema}.retired_agents "
            "SELECT agent_id, version FROM gone ON CONFLICT (agent_id) "
            "DO UPDATE SET version = EXCLUDED.version) "
            "SELECT count(*) FROM gone"
        )
        # A chat another agent holds is returned with its holder, its row
        # locked until this transaction ends; one inserted by a transaction
        # still under way makes this wait for it to end.
        self.take_chats = q(
            "INSERT INTO {schema}.held_chats AS held "
            "SELECT chat_id, %s, customer_id "
            "FROM unnest(%s::text[], %s::text[]) AS chats (chat_id, customer_id) "
            "ON CONFLICT (chat_id) DO UPDATE SET agent_id = held.agent_id "
            "RETURNING chat_id, agent_id"
        )
        self.history = q(
            "SELECT entry, wrap_up_ended_at, sequence FROM {schema}.history "
            "WHERE customer_id = %s AND (wrap_up_ended_at, sequence) > (%s, %s) "
            "ORDER BY wrap_up_ended_at, sequence LIMIT %s"
        )
        self.all_history = q(
            "SELECT entry, sequence FROM {schema}.history "
            "ORDER BY wrap_up_ended_at, sequence"
        )
        # Two groups, each walking the due index in deadline order and
        # stopping at its limit: agents never claimed since their last save,
        # then agents whose claim ran out unsaved. One scan ordered by
        # "claimed before" would sort every due row; these sort nothing but
        # the rows they return. The UPDATE finds its rows by key through an
        # array: a join with the groups could be planned as a scan of every
        # agent.
        self.claim = q(
            "WITH never AS (SELECT agent_id, next_deadline FROM {schema}.agents "
            "WHERE next_deadline <= %(now)s AND claimed_until IS NULL "
            "ORDER BY next_deadline LIMIT %(limit)s FOR UPDATE SKIP LOCKED), "
            "ran_out AS (SELECT agent_id, next_deadline FROM {schema}.agents "
            "WHERE next_deadline <= %(now)s AND claimed_until <= %(now)s "
            "ORDER BY next_deadline "
            "LIMIT %(limit)s - (SELECT count(*) FROM never) "
            "FOR UPDATE SKIP LOCKED), "
            "chosen AS (SELECT agent_id, next_deadline, 0 AS claimed_before "
            "FROM never UNION ALL SELECT agent_id, next_deadline, 1 FROM ran_out), "
            "claimed AS (UPDATE {schema}.agents SET claimed_until = %(until)s "
            "WHERE agent_id = ANY(ARRAY(SELECT agent_id FROM chosen))) "
            "SELECT agent_id FROM chosen "
            "ORDER BY claimed_before, next_deadline, agent_id"
        )
