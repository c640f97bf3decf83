/*
 * Citus: the tables spread over the nodes of a Citus cluster
 * (chat.distribute_tables()), run once by a superuser on the coordinator
 * after CREATE EXTENSION stylist_chat there.
 *
 * The layout: every table that carries chat_id is distributed by it and
 * co-located with chat.chats, so that a chat's row, its messages, media,
 * reactions, pins, reports, notifications and KPI rows are on one node and
 * a call that touches one chat touches one node; profiles, bookings and
 * the other tables without chat_id (keys, token state, preferences, the
 * platform's daily KPIs, the filter's rules) are reference tables, a copy
 * on every node.  One chat per pair needs no constraint across nodes: the
 * chat's id is computed from the pair (chat.pair_chat_id()), so the
 * primary key, which Citus enforces on the shard that holds the id, is the
 * pair's key.  Tables only the coordinator reads stay local to it: the
 * staging tables of the legacy migration (chat.consolidate_legacy() runs
 * there) and the filter's rules and their joined patterns (a send is
 * checked there; the trigger that joins the patterns reads the rules, and
 * a trigger of a reference table fires on every node's copy, where it
 * could not read them).
 *
 * Citus propagates CREATE EXTENSION stylist_chat to the workers, where the
 * extension creates its tables too; Citus takes those as the shells of
 * the tables it distributes (it creates no shell for a table an extension
 * owns).  Two settings make that work, for this function's run only:
 * citus.enable_local_reference_table_foreign_keys off, or Citus would
 * first turn the local tables that reference profiles into tables of its
 * metadata and create their shells on the workers, where the extension's
 * tables already stand; and citus.enable_unsafe_triggers on, for the
 * append-only tables' triggers, which fire on each shard for its rows.
 */

CREATE OR REPLACE FUNCTION chat._cluster_tables(OUT table_name regclass, OUT by_chat boolean)
RETURNS SETOF record
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    -- the extension's tables but the filter's and the legacy migration's,
    -- which stay local to the coordinator
    SELECT c.oid::regclass,
           EXISTS (SELECT FROM pg_attribute a
                    WHERE a.attrelid = c.oid AND a.attname = 'chat_id' AND NOT a.attisdropped)
      FROM pg_class c
      JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
                      AND d.refclassid = 'pg_extension'::regclass
      JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'stylist_chat'
     WHERE c.relkind = 'r' AND c.relname NOT LIKE 'legacy\_%'
       AND c.relname NOT IN ('filter_rules', 'filter_state')
$$;

COMMENT ON FUNCTION chat._cluster_tables() IS
'The tables chat.distribute_tables() lays out over a Citus cluster, read from the catalog, and whether each is distributed by chat_id (else a reference table). Internal.';
REVOKE ALL ON FUNCTION chat._cluster_tables() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.distribute_tables()
RETURNS TABLE (table_name regclass, citus_table_type text)
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning      -- not Citus's notice for each table copied
AS $$
DECLARE
    v_table regclass;
    v_by_chat boolean;
    v_function regprocedure;
    v_group integer;
    v_copied regclass[] := '{}';
    v_rows boolean;
    v_failed text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'chat.distribute_tables() needs Citus, and the extension citus is not installed in this database'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Install Citus on every node, CREATE EXTENSION citus, add the workers (citus_add_node()), then call it on the coordinator.';
    END IF;
    EXECUTE 'SELECT groupid FROM pg_catalog.pg_dist_local_group' INTO v_group;
    IF v_group IS DISTINCT FROM 0 THEN
        RAISE EXCEPTION 'chat.distribute_tables() runs on the coordinator, and this node is a worker'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Connect to the coordinator: the tables are distributed from there.';
    END IF;
    PERFORM chat._require_writable('distribute_tables');
    PERFORM set_config('citus.enable_local_reference_table_foreign_keys', 'off', true);
    PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);

    -- references first (profiles before bookings, which refer to them),
    -- then chats, then what refers to it and to its messages
    FOR v_table, v_by_chat IN
        SELECT t.table_name, t.by_chat
          FROM chat._cluster_tables() t
         ORDER BY t.by_chat,
                  t.table_name <> 'chat.profiles'::regclass, t.table_name <> 'chat.bookings'::regclass,
                  t.table_name <> 'chat.chats'::regclass, t.table_name <> 'chat.chat_messages'::regclass,
                  t.table_name::text
    LOOP
        CONTINUE WHEN EXISTS (SELECT FROM pg_dist_partition p WHERE p.logicalrelid = v_table);
        EXECUTE format('SELECT EXISTS (SELECT FROM %s)', v_table) INTO v_rows;
        IF v_rows THEN
            v_copied := v_copied || v_table;
        END IF;
        IF v_by_chat THEN
            IF v_table = 'chat.chats'::regclass THEN
                PERFORM create_distributed_table(v_table, 'chat_id');
            ELSE
                PERFORM create_distributed_table(v_table, 'chat_id', colocate_with => 'chat.chats');
            END IF;
        ELSE
            PERFORM create_reference_table(v_table);
        END IF;
    END LOOP;
    -- the rows copied into the shards (the keys, the singletons) are not
    -- left behind, invisible, in the coordinator's own tables
    FOREACH v_table IN ARRAY v_copied LOOP
        PERFORM truncate_local_data_after_distributing_table(v_table);
    END LOOP;

    -- a call run on a worker takes the ids of the rows it inserts there:
    -- each node its own range, as Citus sets for the tables it creates
    -- (it created none of these; a worker added later gets its ranges
    -- when this function runs again)
    SELECT string_agg(format('%s:%s: %s', r.nodename, r.nodeport, r.result), '; ') INTO v_failed
      FROM run_command_on_workers('SELECT chat._own_id_ranges()') r
     WHERE NOT r.success;
    IF v_failed IS NOT NULL THEN
        RAISE EXCEPTION 'could not give every worker its own range of ids'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = v_failed,
                  HINT = 'Every worker must be up; call chat.distribute_tables() again.';
    END IF;

    -- the calls on one chat that run whole on the chat's node, one round
    -- trip each: the chat's id is their in_chat, and they are delegated
    -- inside the API's functions too (force_delegation: every statement
    -- of theirs names that chat)
    FOREACH v_function IN ARRAY ARRAY[
        'chat._store_message(uuid, uuid, text, uuid, uuid, jsonb, bigint, integer, text, text[], boolean, boolean, bigint, bigint)',
        'chat._chat_page(uuid, uuid, bigint, bigint, integer, boolean)',
        'chat._mark_read_on_chat(uuid, uuid, bigint)',
        'chat._on_chat_node(uuid, uuid, text, jsonb)']::regprocedure[]
    LOOP
        CONTINUE WHEN EXISTS (SELECT FROM pg_dist_object o
                               WHERE o.classid = 'pg_proc'::regclass AND o.objid = v_function
                                 AND o.distribution_argument_index IS NOT NULL);
        PERFORM create_distributed_function(v_function, 'in_chat', colocate_with => 'chat.chats',
                                            force_delegation => true);
    END LOOP;

    RETURN QUERY
    SELECT p.logicalrelid::regclass,
           CASE WHEN p.partmethod = 'h' THEN 'distributed'
                WHEN p.partmethod = 'n' AND p.repmodel = 't' THEN 'reference'
                ELSE 'other' END
      FROM pg_dist_partition p
      JOIN pg_class c ON c.oid = p.logicalrelid
     WHERE c.relnamespace = 'chat'::regnamespace
     ORDER BY 2, c.relname;
END
$$;

COMMENT ON FUNCTION chat.distribute_tables() IS
'On the coordinator of a Citus cluster, once after CREATE EXTENSION: distributes every table with chat_id by chat_id, co-located with chat.chats, and makes the tables without it reference tables (the legacy migration''s staging tables and the filter''s rules stay local to the coordinator); makes chat._store_message(), chat._chat_page(), chat._mark_read_on_chat() and chat._on_chat_node() distributed functions, run whole on the chat''s node; gives every worker its own range of ids for the distributed tables (again after a node is added); returns the tables of the schema Citus now knows and their kind. Calling it again distributes what is not yet. For superusers.';
REVOKE ALL ON FUNCTION chat.distribute_tables() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._own_id_ranges()
RETURNS integer
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_table regclass;
    v_count integer := 0;
BEGIN
    -- Citus refuses an ALTER SEQUENCE of a sequence it has distributed,
    -- as these are on a worker that joined after they were; this one
    -- sets what Citus itself would have set
    PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
    -- the tables chat.distribute_tables() distributes, by the catalog
    -- rather than Citus's metadata: this runs while the coordinator's
    -- transaction that distributes them is still open
    FOR v_table IN
        SELECT t.table_name FROM chat._cluster_tables() t
         WHERE t.by_chat
           AND EXISTS (SELECT FROM pg_attribute a
                        WHERE a.attrelid = t.table_name AND a.attidentity <> '' AND NOT a.attisdropped)
         ORDER BY 1
    LOOP
        PERFORM worker_adjust_identity_column_seq_ranges(v_table);
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;

COMMENT ON FUNCTION chat._own_id_ranges() IS
'On a worker of a Citus cluster: has the identity columns of the distributed tables draw from this node''s own range of ids, as Citus sets for the tables it creates (from group << 48 + 1), and returns how many tables have them. chat.distribute_tables() calls it on every worker. Internal.';
REVOKE ALL ON FUNCTION chat._own_id_ranges() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._distributed()
RETURNS boolean
AS 'MODULE_PATHNAME', 'chat_distributed'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION chat._distributed() IS
'Whether chat.chats is spread over a Citus cluster (chat.distribute_tables()): the readers that span many chats then take one statement per chat. Internal.';
REVOKE ALL ON FUNCTION chat._distributed() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._refuse_on_citus(what text)
RETURNS void
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    IF chat._distributed() THEN
        RAISE EXCEPTION 'chat.%() does not run on a Citus cluster yet', what
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'README, "Growing past one server", says what runs there and what does not yet.';
    END IF;
END
$$;

COMMENT ON FUNCTION chat._refuse_on_citus(text) IS
'Raises 0A000, naming chat.<what>(), where the tables are spread over a Citus cluster: the first call of the functions that do not run there yet (the KPIs, the legacy migration). Internal.';
REVOKE ALL ON FUNCTION chat._refuse_on_citus(text) FROM PUBLIC, chat_service, chat_user;

/*
 * A call on one chat, run whole on the chat's node (src/on_node.c): the
 * API function, on the coordinator of a cluster, hands its name, its chat
 * and its arguments to chat._on_chat(), which sends them with the actor to
 * the chat's node in one call of chat._on_chat_node() and records there,
 * on the coordinator, the events the call returns.  On the node,
 * chat._on_chat_call() runs the API function itself, with the actor the
 * coordinator gave.
 */

CREATE OR REPLACE FUNCTION chat._to_chat_node()
RETURNS boolean
AS 'MODULE_PATHNAME', 'chat_to_chat_node'
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

COMMENT ON FUNCTION chat._to_chat_node() IS
'Whether a call on one chat is sent whole to the chat''s node: where chat.chats is distributed over a Citus cluster, unless the call is already running there. Internal.';
REVOKE ALL ON FUNCTION chat._to_chat_node() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._require_node_ids(tbl regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'chat_require_node_ids'
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

COMMENT ON FUNCTION chat._require_node_ids(regclass) IS
'On a worker of a Citus cluster, raises 55000 unless the identity columns of the table draw from this node''s own range of ids (chat.distribute_tables() sets them): a call on the chat''s node that inserts such a row checks it first. Internal.';
REVOKE ALL ON FUNCTION chat._require_node_ids(regclass) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._on_chat_call(in_chat uuid, in_call text, in_args jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'         -- the API functions' own, for the call that has none of its own
AS $$
DECLARE
    a jsonb := in_args;
BEGIN
    CASE in_call
    WHEN 'react' THEN
        RETURN chat.react(in_chat, (a->>0)::bigint, a->>1);
    WHEN 'unreact' THEN
        RETURN chat.unreact(in_chat, (a->>0)::bigint, a->>1);
    WHEN 'pin' THEN
        PERFORM chat.pin(in_chat, (a->>0)::bigint, a->>1, (a->>2)::timestamptz);
    WHEN 'unpin' THEN
        PERFORM chat.unpin(in_chat, (a->>0)::bigint);
    WHEN 'mark_unread' THEN
        RETURN to_jsonb(chat.mark_unread(in_chat, (a->>0)::bigint));
    WHEN 'archive' THEN
        PERFORM chat.archive(in_chat);
    WHEN 'unarchive' THEN
        PERFORM chat.unarchive(in_chat);
    WHEN 'mute' THEN
        PERFORM chat.mute(in_chat, (a->>0)::timestamptz);
    WHEN 'unmute' THEN
        PERFORM chat.unmute(in_chat);
    WHEN 'clear_history' THEN
        RETURN to_jsonb(chat.clear_history(in_chat));
    WHEN 'block' THEN
        PERFORM chat.block(in_chat);
    WHEN 'unblock' THEN
        PERFORM chat.unblock(in_chat);
    WHEN 'ack_delivered' THEN
        RETURN to_jsonb(chat.ack_delivered(in_chat, (a->>0)::bigint));
    WHEN 'revoke_portfolio_consent' THEN
        PERFORM chat.revoke_portfolio_consent(in_chat, (a->>0)::bigint, (a->>1)::integer);
    -- the calls that take ids on the node
    WHEN 'grant_portfolio_consent' THEN
        PERFORM chat._require_node_ids('chat.portfolio_consents');
        PERFORM chat.grant_portfolio_consent(in_chat, (a->>0)::bigint, (a->>1)::integer);
    WHEN 'report' THEN
        PERFORM chat._require_node_ids('chat.reports');
        RETURN to_jsonb(chat.report(in_chat, a->>0, (a->>1)::bigint, a->>2));
    WHEN 'delete_message' THEN
        PERFORM chat._require_node_ids('chat.orphaned_images');
        PERFORM chat.delete_message(in_chat, (a->>0)::bigint);
    WHEN 'edit_message' THEN
        -- a flag rule's report; the text screened by the coordinator's
        -- rules (this node's are not the filter's: an edit never goes
        -- unscreened)
        IF jsonb_typeof(a->2) IS DISTINCT FROM 'object' THEN
            RAISE EXCEPTION 'an edit run on its chat''s node needs the screening of its text'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        PERFORM chat._require_node_ids('chat.reports');
        PERFORM chat._edit_message(in_chat, (a->>0)::bigint, a->>1, a->2);
    -- an admin's
    WHEN 'hide_message' THEN
        PERFORM chat._require_node_ids('chat.audit_entries');
        PERFORM chat.hide_message(in_chat, (a->>0)::bigint, a->>1);
    WHEN 'set_legal_hold' THEN
        PERFORM chat._require_node_ids('chat.legal_holds');
        RETURN to_jsonb(chat.set_legal_hold(in_chat, a->>0));
    WHEN 'release_legal_hold' THEN
        RETURN to_jsonb(chat.release_legal_hold(in_chat, a->>0));
    WHEN 'approve_held_message' THEN
        RETURN to_jsonb(chat.approve_held_message(in_chat, (a->>0)::bigint));
    WHEN 'reject_held_message' THEN
        PERFORM chat._require_node_ids('chat.orphaned_images');
        PERFORM chat.reject_held_message(in_chat, (a->>0)::bigint, a->>1);
    ELSE
        RAISE EXCEPTION 'chat.%() is not a call that runs on its chat''s node', in_call
            USING ERRCODE = 'invalid_parameter_value';
    END CASE;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION chat._on_chat_call(uuid, text, jsonb) IS
'On the chat''s node, in a call chat._on_chat_node() runs: calls the API function in_call on the chat with the arguments after the chat (a JSON array) and returns its result as JSON. The calls it knows are the ones that may run there. Internal.';
REVOKE ALL ON FUNCTION chat._on_chat_call(uuid, text, jsonb) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._on_chat_node(in_chat uuid, in_actor uuid, in_call text, in_args jsonb)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'chat_on_chat_node'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

COMMENT ON FUNCTION chat._on_chat_node(uuid, uuid, text, jsonb) IS
'Runs chat._on_chat_call(in_chat, in_call, in_args) with in_actor acting, for the call only, and returns {"result": its result, "events": the relay events it recorded, taken out of this transaction}. On a Citus cluster, a distributed function: it runs on the chat''s node. The owner''s alone. Internal.';
REVOKE ALL ON FUNCTION chat._on_chat_node(uuid, uuid, text, jsonb) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._on_chat(in_call text, in_chat uuid, in_args jsonb)
RETURNS text
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
DECLARE
    v_actor uuid := chat.require_actor();      -- 28000 first, as on one server
    p_chat uuid := chat._require_arg(in_chat, 'chat_id');
    v_answer jsonb;
    e record;
BEGIN
    -- one statement, the call alone: Citus sends it to the chat's node
    SELECT n INTO v_answer FROM chat._on_chat_node(p_chat, v_actor, in_call, in_args) n;
    FOR e IN SELECT * FROM jsonb_to_recordset(v_answer->'events')
                        AS x(kind text, chat_id uuid, customer_id uuid, stylist_id uuid,
                             actor_id uuid, seq bigint, at timestamptz) LOOP
        PERFORM chat._relay_event(e.kind, e.chat_id, e.customer_id, e.stylist_id,
                                  e.actor_id, e.seq, e.at);
    END LOOP;
    RETURN v_answer->>'result';
END
$$;

COMMENT ON FUNCTION chat._on_chat(text, uuid, jsonb) IS
'On the coordinator of a Citus cluster: runs the API function in_call on the chat''s node for the actor (chat._on_chat_node()), records the events it returns for this node''s relay, and returns its result as text. Internal.';
REVOKE ALL ON FUNCTION chat._on_chat(text, uuid, jsonb) FROM PUBLIC, chat_service, chat_user;
