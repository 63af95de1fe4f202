-- Combining the orders of a busy event (issue 12): the orders of one event that arrive
-- while one of its statements runs go together as the next statement, one transaction and
-- one commit for all of them, instead of queueing one by one on the event's row lock.
--
-- boxoffice_place_order learns "nowait": in a batch after its first order, where the
-- event's lock may already be held, it waits for no other lock (the caller's row, picked
-- seats, ticket types under a quota): one that another transaction holds makes the order a
-- "retry", placed again alone by the server. Waiting there could close a circle with an
-- order that holds those rows and waits for the event. Nothing else changes.

CREATE OR REPLACE FUNCTION boxoffice_place_order(req JSONB) RETURNS JSONB
LANGUAGE plpgsql AS $$
DECLARE
    v_event    BIGINT := (req ->> 'event_id')::bigint;
    v_user     BIGINT := (req ->> 'user_id')::bigint;
    v_staff    BOOLEAN := coalesce((req ->> 'staff')::boolean, false);
    v_cap      INTEGER := (req ->> 'hold_cap')::integer;
    v_zone     TEXT := req -> 'best' ->> 'zone';
    v_together BOOLEAN := coalesce((req -> 'best' ->> 'together')::boolean, true);
    ev         events;  -- as first read; then as the order leaves it
    locked     events;
    b          bookings;
    line       RECORD;
    v_type     ticket_types;
    -- one entry per ticket: its line's type, its price (null: the event's), and on a
    -- seated event its seat and zone
    t_types    BIGINT[] := '{}';
    t_prices   NUMERIC[] := '{}';
    picked     BIGINT[] := '{}';
    best_n     INTEGER := 0;
    best_types BIGINT[] := '{}';
    seats      BIGINT[];
    v_best     BIGINT[];
    v_seat     BIGINT;
    v_state    TEXT;
    missing    BIGINT[];
    taken      BIGINT[];
    v_count    INTEGER;
    v_pending  BOOLEAN;
    v_held     INTEGER;
    v_amount   NUMERIC(12, 2);
    v_zones    TEXT[];
    v_quota    BOOLEAN := false;  -- a line's type has a quota
    q          RECORD;
    q_ids      BIGINT[] := '{}';
    q_counts   INTEGER[] := '{}';
    v_new      TEXT;  -- the seats' new state
    v_tickets  JSONB;
    -- In a batch after its first order (boxoffice_place_orders), where the event's lock may
    -- be held already: no waiting for any other lock (a deadlock with an order that holds
    -- it and waits for the event); a row another transaction has locked makes the order
    -- "retry", placed again alone.
    v_nowait   BOOLEAN := coalesce((req ->> 'nowait')::boolean, false);
    v_quotas   INTEGER;
BEGIN
    IF v_cap IS NOT NULL THEN
        -- The caller's held seats are counted under their own row's lock.
        IF v_nowait THEN
            PERFORM 1 FROM users WHERE id = v_user FOR NO KEY UPDATE SKIP LOCKED;
            IF NOT FOUND THEN
                RETURN boxoffice_refusal('retry');
            END IF;
        ELSE
            PERFORM 1 FROM users WHERE id = v_user FOR NO KEY UPDATE;
        END IF;
    END IF;
    SELECT * INTO ev FROM events WHERE id = v_event;
    IF NOT FOUND THEN
        RETURN boxoffice_refusal('not_found');
    ELSIF ev.date <= now() THEN
        RETURN boxoffice_refusal('started');
    END IF;

    -- The lines: each names an on-sale type of the event that the caller may sell.
    FOR line IN
        SELECT n, (l ->> 'type')::bigint AS type_id, (l ->> 'quantity')::integer AS quantity,
               ARRAY(SELECT jsonb_array_elements_text(
                   coalesce(nullif(l -> 'seats', 'null'), '[]')))::bigint[]
                   AS seat_ids
          FROM jsonb_array_elements(req -> 'lines') WITH ORDINALITY AS l(l, n)
    LOOP
        SELECT * INTO v_type FROM ticket_types
         WHERE event_id = v_event
           AND CASE WHEN line.type_id IS NULL THEN is_default ELSE id = line.type_id END;
        IF NOT FOUND THEN
            -- (every event has its default type: none, the event was deleted just now)
            IF NOT EXISTS (SELECT 1 FROM events WHERE id = v_event) THEN
                RETURN boxoffice_refusal('not_found');
            END IF;
            RETURN boxoffice_refusal('unknown_type', jsonb_build_object(
                'line', line.n - 1, 'ticket_type_id', line.type_id));
        ELSIF NOT v_type.on_sale THEN
            RETURN boxoffice_refusal('off_sale', jsonb_build_object(
                'line', line.n - 1, 'ticket_type_id', v_type.id, 'name', v_type.name));
        ELSIF v_type.staff_only AND NOT v_staff THEN
            RETURN boxoffice_refusal('staff_only', jsonb_build_object(
                'line', line.n - 1, 'ticket_type_id', v_type.id, 'name', v_type.name));
        END IF;
        v_quota := v_quota OR v_type.quota IS NOT NULL;
        IF cardinality(line.seat_ids) > 0 THEN
            IF ev.venue_id IS NULL THEN
                RETURN boxoffice_refusal('not_seated', jsonb_build_object('line', line.n - 1));
            END IF;
            picked := picked || line.seat_ids;
            t_types := t_types || array_fill(v_type.id, ARRAY[cardinality(line.seat_ids)]);
        ELSIF ev.venue_id IS NULL THEN
            t_types := t_types || array_fill(v_type.id, ARRAY[line.quantity]);
            t_prices := t_prices || array_fill(v_type.price, ARRAY[line.quantity]);
        ELSE
            best_n := best_n + line.quantity;
            best_types := best_types || array_fill(v_type.id, ARRAY[line.quantity]);
        END IF;
    END LOOP;

    IF ev.venue_id IS NOT NULL THEN
        -- Picked seats: lock exactly those rows, in id order (no two orders deadlock),
        -- each by its primary key (see boxoffice_set_seats).
        IF cardinality(picked) > 0 THEN
            missing := '{}';
            taken := '{}';
            FOR v_seat IN SELECT DISTINCT unnest(picked) ORDER BY 1 LOOP
                IF v_nowait THEN
                    SELECT state INTO v_state FROM event_seats
                     WHERE event_id = v_event AND seat_id = v_seat
                       FOR UPDATE SKIP LOCKED;
                    IF NOT FOUND AND EXISTS (SELECT 1 FROM event_seats
                                              WHERE event_id = v_event AND seat_id = v_seat) THEN
                        RETURN boxoffice_refusal('retry');
                    END IF;
                ELSE
                    SELECT state INTO v_state FROM event_seats
                     WHERE event_id = v_event AND seat_id = v_seat
                       FOR UPDATE;
                END IF;
                IF NOT FOUND THEN
                    missing := missing || v_seat;
                ELSIF v_state <> 'free' THEN
                    taken := taken || v_seat;
                END IF;
            END LOOP;
            IF cardinality(missing) > 0 THEN
                RETURN boxoffice_refusal('unknown_seats', jsonb_build_object(
                    'seat_ids', to_jsonb(missing)));
            ELSIF cardinality(taken) > 0 THEN
                RETURN boxoffice_refusal('seats_taken', jsonb_build_object(
                    'seat_ids', to_jsonb(taken)));
            END IF;
        END IF;
        seats := picked;
        IF best_n > 0 THEN
            v_best := boxoffice_best_seats(v_event, best_n, v_zone, v_together, picked);
            IF v_best IS NULL THEN
                RETURN boxoffice_no_seats(v_event, v_zone, v_together);
            END IF;
            seats := seats || v_best;
            t_types := t_types || best_types;
        END IF;
        -- Each seat's zone, looked up by its primary key (see boxoffice_set_seats), and
        -- each ticket's price for its zone.
        v_zones := ARRAY(SELECT (SELECT es.zone FROM event_seats es
                                  WHERE es.event_id = v_event AND es.seat_id = u.id)
                           FROM unnest(seats) WITH ORDINALITY AS u(id, n) ORDER BY n);
        t_prices := ARRAY(SELECT boxoffice_price(tt, u.zone)
                            FROM unnest(t_types, v_zones) WITH ORDINALITY AS u(type_id, zone, n)
                            JOIN ticket_types tt ON tt.id = u.type_id
                           ORDER BY u.n);
    END IF;
    v_count := cardinality(t_types);
    IF v_count = 0 THEN
        RETURN boxoffice_refusal('empty');
    END IF;

    -- Types under a quota: locked, and checked, before the event.
    IF v_quota THEN
        IF v_nowait THEN
            -- Locked now where no other transaction has them: the loop below then waits
            -- for none.
            SELECT count(*) FILTER (WHERE l.id IS NULL) INTO v_quotas
              FROM ticket_types t
              LEFT JOIN LATERAL (SELECT id FROM ticket_types k WHERE k.id = t.id
                                    FOR NO KEY UPDATE SKIP LOCKED) l ON true
             WHERE t.id = ANY (t_types) AND t.quota IS NOT NULL;
            IF v_quotas > 0 THEN
                RETURN boxoffice_refusal('retry');
            END IF;
        END IF;
        FOR q IN
            SELECT t.id, t.name, t.quota, t.sold, c.n
              FROM ticket_types t
              JOIN (SELECT type_id, count(*)::integer AS n FROM unnest(t_types) AS u(type_id)
                     GROUP BY type_id) c ON c.type_id = t.id
             WHERE t.quota IS NOT NULL
             ORDER BY t.id
               FOR NO KEY UPDATE OF t
        LOOP
            IF q.sold + q.n > q.quota THEN
                RETURN boxoffice_refusal('quota', jsonb_build_object(
                    'ticket_type_id', q.id, 'name', q.name, 'left', q.quota - q.sold));
            END IF;
            q_ids := q_ids || q.id;
            q_counts := q_counts || q.n;
        END LOOP;
    END IF;

    IF ev.venue_id IS NULL THEN
        -- General admission: the event's lock before any write. It waits for any order,
        -- edit or delete in flight and reads the event as it is now: the seats are taken
        -- from that row, and a refusal is said from it, never from the snapshot the
        -- function began with.
        SELECT * INTO locked FROM events WHERE id = v_event FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            RETURN boxoffice_refusal('not_found');
        ELSIF locked.date <= now() THEN
            RETURN boxoffice_refusal('started');
        ELSIF locked.available_seats < v_count THEN
            RETURN boxoffice_refusal('sold_out', jsonb_build_object(
                'available_seats', locked.available_seats));
        END IF;
        -- The event's own price (the default type's) as of the lock.
        ev.price := locked.price;
    END IF;
    v_amount := (SELECT sum(coalesce(p, ev.price)) FROM unnest(t_prices) AS p);
    -- A hold when asked for, or when the caller's priced orders are reservations.
    v_pending := coalesce((req ->> 'hold')::boolean, false)
                 OR (coalesce((req ->> 'reserve')::boolean, false) AND v_amount > 0);
    IF v_pending AND v_cap IS NOT NULL THEN
        SELECT coalesce(sum(quantity), 0) INTO v_held FROM bookings
         WHERE user_id = v_user AND status = 'pending' AND expires_at > now();
        IF v_held + v_count > v_cap THEN
            RETURN boxoffice_refusal('hold_limit', jsonb_build_object('held_seats', v_held));
        END IF;
    END IF;

    -- Every check passed: the writes.
    IF v_quota THEN
        UPDATE ticket_types t SET sold = t.sold + c.n
          FROM unnest(q_ids, q_counts) AS c(id, n)
         WHERE t.id = c.id;
    END IF;
    v_new := CASE WHEN v_pending THEN 'held' ELSE 'sold' END;
    INSERT INTO bookings (event_id, user_id, quantity, customer_name, payment_method, amount,
                          status, expires_at, ticket_code, confirmed_at, confirmed_by)
    VALUES (v_event, v_user, v_count, req ->> 'customer_name', req ->> 'payment_method',
            v_amount,
            CASE WHEN v_pending THEN 'pending' ELSE 'confirmed' END,
            CASE WHEN v_pending
                 THEN now() + make_interval(secs => (req ->> 'hold_seconds')::integer) END,
            CASE WHEN NOT v_pending THEN boxoffice_code() END,
            CASE WHEN NOT v_pending THEN now() END,
            CASE WHEN NOT v_pending THEN v_user END)
    RETURNING * INTO b;
    INSERT INTO tickets (booking_id, event_id, ticket_type_id, seat_id, zone, price, code)
    SELECT b.id, v_event, u.type_id, u.seat_id, u.zone, coalesce(u.price, ev.price),
           CASE WHEN NOT v_pending THEN boxoffice_code() END
      FROM unnest(t_types, seats, v_zones, t_prices)
           WITH ORDINALITY AS u(type_id, seat_id, zone, price, n)
     ORDER BY u.n;
    INSERT INTO audit_log (actor_id, actor, source, action, event_id, booking_id, user_id,
                           details)
    VALUES ((req ->> 'actor_id')::bigint, coalesce(req ->> 'actor', 'system'),
            coalesce(req ->> 'source', ''),
            CASE WHEN v_pending THEN 'booking.hold' ELSE 'booking.create' END,
            v_event, b.id, v_user,
            jsonb_build_object('quantity', b.quantity, 'customer_name', b.customer_name,
                               'payment_method', b.payment_method, 'amount', b.amount,
                               'status', b.status)
            || CASE WHEN seats IS NULL THEN '{}'::jsonb
                    ELSE jsonb_build_object('seat_ids', to_jsonb(seats)) END);
    IF coalesce((req ->> 'tickets')::boolean, false) THEN
        v_tickets := jsonb_build_object('tickets', boxoffice_order_tickets(b.id));
    END IF;
    IF ev.venue_id IS NOT NULL THEN
        PERFORM boxoffice_set_seats(v_event, seats, v_new, b.id);
        -- Seated: the seats are this order's since they were locked, so the order is
        -- written before the event's lock, which every order of the event queues on, and
        -- under it the seats are only counted. A change of the event meanwhile (started,
        -- deleted, its own price edited) rolls the order back: rare, so an error here.
        SELECT * INTO locked FROM events WHERE id = v_event FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            PERFORM boxoffice_abort(boxoffice_refusal('not_found'));
        ELSIF locked.date <= now() THEN
            PERFORM boxoffice_abort(boxoffice_refusal('started'));
        ELSIF locked.available_seats < v_count THEN
            PERFORM boxoffice_abort(boxoffice_refusal('sold_out', jsonb_build_object(
                'available_seats', locked.available_seats)));
        ELSIF locked.price IS DISTINCT FROM ev.price
              AND EXISTS (SELECT 1 FROM unnest(t_prices) AS p WHERE p IS NULL) THEN
            PERFORM boxoffice_abort(boxoffice_refusal('price_changed'));
        END IF;
    END IF;
    UPDATE events
       SET available_seats = locked.available_seats - v_count, version = locked.version + 1,
           updated_at = now()
     WHERE id = v_event
    RETURNING * INTO ev;
    IF ev.venue_id IS NOT NULL THEN
        PERFORM boxoffice_seats_changed(v_event, ev.version, v_new, seats);
    END IF;
    RETURN to_jsonb(b) || jsonb_build_object(
        'available_seats', ev.available_seats, 'event_version', ev.version,
        'venue_id', ev.venue_id) || coalesce(v_tickets, '{}');
END
$$;

-- Place each order of reqs (JSON array) in turn, in one transaction; answers, in order,
-- what boxoffice_place_order answers for each. A refusal of one is an answer like any
-- other and the rest go on; an error (a rare change of the event under a seated order, see
-- boxoffice_abort) rolls back all of them, and the server places each again alone.
CREATE FUNCTION boxoffice_place_orders(reqs JSONB) RETURNS JSONB
LANGUAGE plpgsql AS $$
DECLARE
    req     JSONB;
    n       BIGINT;
    answers JSONB[] := '{}';
BEGIN
    FOR req, n IN SELECT value, ordinality FROM jsonb_array_elements(reqs) WITH ORDINALITY LOOP
        answers := answers || boxoffice_place_order(
            CASE WHEN n > 1 THEN req || '{"nowait": true}' ELSE req END);
    END LOOP;
    RETURN to_jsonb(answers);
END
$$;
