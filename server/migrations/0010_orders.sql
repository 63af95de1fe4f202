-- Seated events, ticket types, tickets and orders (issue 10).
--
-- One model: a booking is an order, and its tickets are its admissions, one per seat of a
-- seated event. Every change to an order's tickets (place, confirm, cancel, return, expire,
-- check in) is one of the functions below: the rules live in one place, and each change is
-- one round trip and one transaction. Each function makes every check before its first
-- write, so an order gets every one of its seats or none, and a refusal is an answer: a
-- JSON object with the changed order's columns, or "refused" and what the caller needs to
-- say why.

-- An event is general admission (venue_id null: total_seats as given) or seated on a
-- venue's plan: one event_seats row per seat, and total/available_seats count them.
ALTER TABLE events ADD COLUMN venue_id BIGINT REFERENCES venues (id);
CREATE INDEX events_venue_idx ON events (venue_id) WHERE venue_id IS NOT NULL;

-- What a ticket is sold as. Every event has one default type (price null: the event's
-- price), so the one-line bookings of /api/v1/bookings need no type. A seated event's price
-- is per zone: zone_prices {"A": "60.00"}, a zone not named costs price (or the event's).
CREATE TABLE ticket_types (
    id          BIGSERIAL PRIMARY KEY,
    event_id    BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    name        VARCHAR(100) NOT NULL CHECK (length(btrim(name)) > 0),
    price       NUMERIC(10, 2) CHECK (price >= 0),
    zone_prices JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(zone_prices) = 'object'),
    -- Tickets of this type at most; sold counts the active ones, kept only under a quota
    -- (so that the default type's row is never a second hot row of a busy event).
    quota       INTEGER CHECK (quota >= 0),
    sold        INTEGER NOT NULL DEFAULT 0 CHECK (sold >= 0),
    on_sale     BOOLEAN NOT NULL DEFAULT true,
    staff_only  BOOLEAN NOT NULL DEFAULT false,  -- complimentary and house seats
    is_default  BOOLEAN NOT NULL DEFAULT false,
    position    INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT ticket_types_quota CHECK (quota IS NULL OR sold <= quota)
);
CREATE UNIQUE INDEX ticket_types_name_key ON ticket_types (event_id, lower(name));
CREATE UNIQUE INDEX ticket_types_default_key ON ticket_types (event_id) WHERE is_default;

-- A seated event's inventory, made from the plan's current seats when the event is created.
-- row_rank orders the rows best-available prefers (zone rank, then front to back); seats
-- are together when they share a row_rank and their x follow on; centre is the seat's
-- distance from its row's middle (|2x - (first x + last x)|).
CREATE TABLE event_seats (
    event_id   BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    seat_id    BIGINT NOT NULL REFERENCES seats (id),
    zone       TEXT NOT NULL,
    row_rank   INTEGER NOT NULL,
    x          INTEGER NOT NULL,
    centre     INTEGER NOT NULL,
    state      TEXT NOT NULL DEFAULT 'free' CHECK (state IN ('free', 'held', 'sold')),
    booking_id BIGINT,
    PRIMARY KEY (event_id, seat_id),
    CONSTRAINT event_seats_taken CHECK ((state = 'free') = (booking_id IS NULL))
);
-- Best-available reads only free seats of a zone, in preference order.
CREATE INDEX event_seats_free_idx ON event_seats (event_id, zone, row_rank, x)
    WHERE state = 'free';

-- One ticket per admission (a seat of a seated event). released_at: given back (returned,
-- the order cancelled or its hold expired), the seat free again; refund: what was paid back
-- for it. The code is set when the order is confirmed; each ticket is admitted on its own.
CREATE TABLE tickets (
    id              BIGSERIAL PRIMARY KEY,
    booking_id      BIGINT NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    event_id        BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    ticket_type_id  BIGINT NOT NULL REFERENCES ticket_types (id),
    seat_id         BIGINT REFERENCES seats (id),
    zone            TEXT,
    price           NUMERIC(10, 2) NOT NULL CHECK (price >= 0),
    code            TEXT UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    released_at     TIMESTAMPTZ,
    release         TEXT CHECK (release IN ('returned', 'cancelled', 'expired')),
    released_by     BIGINT REFERENCES users (id),
    refund          NUMERIC(10, 2) CHECK (refund >= 0),
    refund_method   TEXT CHECK (refund_method IN ('cash', 'card', 'other')),
    checked_in_at   TIMESTAMPTZ,
    checked_in_by   BIGINT REFERENCES users (id),
    checked_in_gate VARCHAR(64),
    CONSTRAINT tickets_released CHECK ((released_at IS NULL) = (release IS NULL))
);
CREATE INDEX tickets_booking_idx ON tickets (booking_id);
-- A seat is sold once: the database refuses a second active ticket for it.
CREATE UNIQUE INDEX tickets_seat_key ON tickets (event_id, seat_id)
    WHERE released_at IS NULL AND seat_id IS NOT NULL;
-- Shift reports read the refunds of a period.
CREATE INDEX tickets_refunded_idx ON tickets (released_at) WHERE refund IS NOT NULL;

-- Bookings made before this migration: a default type per event and a ticket per seat, at
-- the booking's price, admitted with the booking, released with it.
INSERT INTO ticket_types (event_id, name, is_default) SELECT id, 'Standard', true FROM events;
INSERT INTO tickets (booking_id, event_id, ticket_type_id, price, code, created_at,
                     released_at, release, released_by, refund, refund_method,
                     checked_in_at, checked_in_by, checked_in_gate)
SELECT b.id, b.event_id, t.id, round(b.amount / b.quantity, 2),
       CASE WHEN b.status = 'confirmed' OR b.confirmed_at IS NOT NULL
            THEN upper(replace(gen_random_uuid()::text, '-', '')) END,
       b.created_at,
       CASE WHEN b.status = 'cancelled' THEN coalesce(b.cancelled_at, b.updated_at)
            WHEN b.status = 'expired' THEN b.updated_at END,
       CASE WHEN b.status IN ('cancelled', 'expired') THEN b.status END,
       CASE WHEN b.status = 'cancelled' THEN b.cancelled_by END,
       CASE WHEN b.status = 'cancelled' AND b.confirmed_at IS NOT NULL
            THEN round(b.amount / b.quantity, 2) END,
       CASE WHEN b.status = 'cancelled' AND b.confirmed_at IS NOT NULL THEN b.payment_method END,
       b.checked_in_at, b.checked_in_by, b.checked_in_gate
  FROM bookings b
  JOIN ticket_types t ON t.event_id = b.event_id AND t.is_default
  CROSS JOIN generate_series(1, b.quantity);
-- Admitted counts are now of tickets, not of bookings.
UPDATE events e SET checked_in = (SELECT count(*) FROM tickets t
                                   WHERE t.event_id = e.id AND t.checked_in_at IS NOT NULL)
 WHERE checked_in > 0;


-- --- a new event: its default type, and a seated event's inventory ---------------------

-- A seated event's seats are the plan's current seats: counted before the row is written.
CREATE FUNCTION boxoffice_event_seat_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.venue_id IS NOT NULL THEN
        NEW.total_seats := (SELECT count(*) FROM seats
                             WHERE venue_id = NEW.venue_id AND retired_at IS NULL);
        NEW.available_seats := NEW.total_seats;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER events_seat_count BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION boxoffice_event_seat_count();

-- Stock a seated event with one row per current seat of its venue.
CREATE FUNCTION boxoffice_stock_event(p_event BIGINT, p_venue BIGINT) RETURNS INTEGER
LANGUAGE sql AS $$
    WITH plan AS (
        SELECT s.id, s.zone, s.x,
               dense_rank() OVER (ORDER BY z.rank, s.y, s.section, s.row_label, s.zone) AS row_rank,
               min(s.x) OVER w + max(s.x) OVER w AS ends
          FROM seats s
          JOIN venue_zones z ON z.venue_id = s.venue_id AND z.code = s.zone
         WHERE s.venue_id = p_venue AND s.retired_at IS NULL
        WINDOW w AS (PARTITION BY s.section, s.row_label, s.y, s.zone)
    ), stocked AS (
        INSERT INTO event_seats (event_id, seat_id, zone, row_rank, x, centre)
        SELECT p_event, id, zone, row_rank, x, abs(2 * x - ends) FROM plan
        RETURNING 1
    )
    SELECT count(*)::integer FROM stocked
$$;

CREATE FUNCTION boxoffice_event_created() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ticket_types (event_id, name, is_default) VALUES (NEW.id, 'Standard', true);
    IF NEW.venue_id IS NOT NULL THEN
        PERFORM boxoffice_stock_event(NEW.id, NEW.venue_id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER events_created AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION boxoffice_event_created();


-- --- shared pieces of the order functions ----------------------------------------------

-- A fresh unguessable ticket code: 122 random bits, as 32 hex digits.
CREATE FUNCTION boxoffice_code() RETURNS TEXT
LANGUAGE sql VOLATILE AS $$ SELECT upper(replace(gen_random_uuid()::text, '-', '')) $$;

-- Tell every server instance which seats of a seated event changed, at which version of
-- the event (sent after the events row's own notification, in the same transaction). A
-- change too big for one notification says only that the event's seats must be re-read.
CREATE FUNCTION boxoffice_seats_changed(p_event BIGINT, p_version BIGINT, p_state TEXT,
                                        p_seats BIGINT[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    payload TEXT;
BEGIN
    IF cardinality(p_seats) = 0 THEN
        RETURN;
    END IF;
    payload := json_build_object('id', p_event, 'version', p_version,
                                 'seats', json_build_object(p_state, p_seats))::text;
    IF length(payload) > 7000 THEN
        payload := json_build_object('id', p_event, 'version', p_version, 'resync', true)::text;
    END IF;
    PERFORM pg_notify('boxoffice_seats', payload);
END
$$;

CREATE FUNCTION boxoffice_audit(req JSONB, p_action TEXT, b bookings, p_details JSONB)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_log (actor_id, actor, source, action, event_id, booking_id, user_id,
                           details)
    VALUES ((req ->> 'actor_id')::bigint, coalesce(req ->> 'actor', 'system'),
            coalesce(req ->> 'source', ''), p_action, b.event_id, b.id, b.user_id, p_details);
END
$$;

CREATE FUNCTION boxoffice_order_details(b bookings) RETURNS JSONB
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('quantity', b.quantity, 'customer_name', b.customer_name,
                              'payment_method', b.payment_method, 'amount', b.amount,
                              'status', b.status)
$$;

-- An order's tickets, as the answers show them.
CREATE FUNCTION boxoffice_order_tickets(p_booking BIGINT) RETURNS JSONB
LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- (plpgsql, not sql: its plan is kept for the session, not made again each call)
    RETURN (
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'id', t.id, 'ticket_type_id', t.ticket_type_id, 'ticket_type', tt.name,
                   'seat_id', t.seat_id, 'section', s.section, 'row', s.row_label,
                   'number', s.number, 'zone', t.zone, 'price', t.price, 'code', t.code,
                   'status', CASE WHEN t.released_at IS NOT NULL THEN t.release
                                  WHEN t.checked_in_at IS NOT NULL THEN 'admitted'
                                  ELSE 'valid' END,
                   'released_at', t.released_at, 'refund', t.refund,
                   'checked_in_at', t.checked_in_at, 'checked_in_gate', t.checked_in_gate)
                   ORDER BY t.id), '[]'::jsonb)
          FROM tickets t
          JOIN ticket_types tt ON tt.id = t.ticket_type_id
          LEFT JOIN seats s ON s.id = t.seat_id
         WHERE t.booking_id = p_booking
    );
END
$$;


-- Some seats of an event: their state (and order), each seat found by its primary key.
-- A statement per seat, so that the plan never depends on the statistics: while an event's
-- seats are not yet analyzed it looks like one row, and "seat_id = ANY (...)" was then
-- checked against every seat of the event, under the event's lock.
CREATE FUNCTION boxoffice_set_seats(p_event BIGINT, p_seats BIGINT[], p_state TEXT,
                                    p_booking BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    s BIGINT;
BEGIN
    FOREACH s IN ARRAY p_seats LOOP
        UPDATE event_seats SET state = p_state, booking_id = p_booking
         WHERE event_id = p_event AND seat_id = s;
    END LOOP;
END
$$;


-- --- best available --------------------------------------------------------------------

-- The best window of p_count seats following on in one row (ids and xs left to right, cs
-- their distances from the row's middle): the one nearest the middle, avoiding a window
-- that would leave a single seat alone beside it (a seat nobody buying together can
-- take); null if none.
CREATE FUNCTION boxoffice_best_window(ids BIGINT[], xs INTEGER[], cs INTEGER[], p_count INTEGER)
RETURNS BIGINT[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    n INTEGER := cardinality(ids);
    run_end INTEGER[] := array_fill(0, ARRAY[n]);
    run_start INTEGER := 1;
    best_cost BIGINT;
    best_at INTEGER;
    cost BIGINT;
    w INTEGER;
BEGIN
    -- Where the run of seats following on that each seat is in ends.
    FOR i IN REVERSE n .. 1 LOOP
        run_end[i] := CASE WHEN i < n AND xs[i + 1] = xs[i] + 1 THEN run_end[i + 1] ELSE i END;
    END LOOP;
    FOR i IN 1 .. n LOOP
        IF i > 1 AND xs[i] <> xs[i - 1] + 1 THEN
            run_start := i;
        END IF;
        w := i - p_count + 1;  -- the window w .. i
        IF w >= run_start THEN
            cost := 0;
            FOR j IN w .. i LOOP
                cost := cost + cs[j];
            END LOOP;
            IF w - run_start = 1 OR run_end[i] - i = 1 THEN
                cost := cost + 1000000;  -- leaves an orphan seat
            END IF;
            IF best_cost IS NULL OR cost < best_cost THEN
                best_cost := cost;
                best_at := w;
            END IF;
        END IF;
    END LOOP;
    IF best_at IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN ids[best_at : best_at + p_count - 1];
END
$$;

-- Lock p_count free seats of the event, best first: zones in rank order (or p_zone), rows
-- front to back, and with p_together the window nearest the middle of the first row that
-- has one. Seats another order has locked are skipped, never waited for (SKIP LOCKED), so
-- concurrent buyers take different seats side by side. Answers the locked seat ids, or
-- null when there are too few (boxoffice_no_seats says why). Every read is of one zone,
-- so event_seats_free_idx serves it whole.
CREATE FUNCTION boxoffice_best_seats(p_event BIGINT, p_count INTEGER, p_zone TEXT,
                                     p_together BOOLEAN, p_exclude BIGINT[])
RETURNS BIGINT[]
LANGUAGE plpgsql AS $$
DECLARE
    v_zone TEXT;
    got BIGINT[] := '{}';
    block BIGINT[];
BEGIN
    FOR v_zone IN
        SELECT z.code FROM venue_zones z JOIN events e ON e.venue_id = z.venue_id
         WHERE e.id = p_event AND (p_zone IS NULL OR z.code = p_zone)
         ORDER BY z.rank, z.code
    LOOP
        IF p_together THEN
            block := boxoffice_best_block(p_event, v_zone, p_count, p_exclude);
            IF block IS NOT NULL THEN
                RETURN block;
            END IF;
        ELSE
            SELECT got || coalesce(array_agg(seat_id), '{}') INTO got FROM (
                SELECT seat_id FROM event_seats
                 WHERE event_id = p_event AND zone = v_zone AND state = 'free'
                   AND seat_id <> ALL (p_exclude)
                 ORDER BY row_rank, centre, x
                 LIMIT p_count - cardinality(got)
                   FOR UPDATE SKIP LOCKED) s;
            IF cardinality(got) = p_count THEN
                RETURN got;
            END IF;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- Why best-available found too few seats: "no_block" with the largest block still free
-- (together), or "sold_out" with the free seats left.
CREATE FUNCTION boxoffice_no_seats(p_event BIGINT, p_zone TEXT, p_together BOOLEAN)
RETURNS JSONB
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_together THEN jsonb_build_object('refused', 'no_block', 'largest_block', (
               SELECT coalesce(max(seats), 0) FROM (
                   SELECT count(*) AS seats
                     FROM (SELECT row_rank,
                                  x - row_number() OVER (PARTITION BY row_rank ORDER BY x) AS run
                             FROM event_seats
                            WHERE event_id = p_event AND state = 'free'
                              AND (p_zone IS NULL OR zone = p_zone)) r
                    GROUP BY row_rank, run) runs))
           ELSE jsonb_build_object('refused', 'sold_out', 'available_seats', (
               SELECT count(*) FROM event_seats
                WHERE event_id = p_event AND state = 'free'
                  AND (p_zone IS NULL OR zone = p_zone)))
           END
$$;

-- The best block of p_count free seats side by side in one zone, locked; null if none.
CREATE FUNCTION boxoffice_best_block(p_event BIGINT, p_zone TEXT, p_count INTEGER,
                                     p_exclude BIGINT[])
RETURNS BIGINT[]
LANGUAGE plpgsql AS $$
DECLARE
    batch INTEGER := 64;
    from_rank INTEGER := 0;
    read_last INTEGER;
    read_n INTEGER;
    candidate INTEGER;
    ids BIGINT[];
    xs INTEGER[];
    cs INTEGER[];
    win BIGINT[];
    got BIGINT[];
    lo INTEGER;
BEGIN
    LOOP
        -- The rows of the next batch of free seats that have a run of p_count (runs are
        -- "islands": x less the seat's place in its row is constant along a run), found in
        -- SQL. The batch's last row may be cut short: trusted only when the batch was not
        -- full, else read again at the start of the next one.
        FOR candidate, read_n, read_last IN
            WITH f AS MATERIALIZED (
                SELECT row_rank, x FROM event_seats
                 WHERE event_id = p_event AND zone = p_zone AND state = 'free'
                   AND row_rank >= from_rank AND seat_id <> ALL (p_exclude)
                 ORDER BY row_rank, x
                 LIMIT batch
            )
            SELECT r.row_rank, (SELECT count(*) FROM f), (SELECT max(row_rank) FROM f)
              FROM (SELECT row_rank, x - row_number() OVER (PARTITION BY row_rank ORDER BY x) AS run
                      FROM f) r
             GROUP BY r.row_rank, r.run
            HAVING count(*) >= p_count
             ORDER BY r.row_rank
        LOOP
            CONTINUE WHEN read_n = batch AND candidate = read_last;
            SELECT array_agg(seat_id ORDER BY x), array_agg(x ORDER BY x),
                   array_agg(centre ORDER BY x)
              INTO ids, xs, cs
              FROM event_seats
             WHERE event_id = p_event AND zone = p_zone AND state = 'free'
               AND row_rank = candidate AND seat_id <> ALL (p_exclude);
            -- Try the row's windows, best first.
            LOOP
                win := boxoffice_best_window(ids, xs, cs, p_count);
                EXIT WHEN win IS NULL;
                -- The window's seats follow on in the row: locked as that range of
                -- event_seats_free_idx, one plan whatever the statistics say. (By
                -- "seat_id = ANY (win)", an event whose seats are not yet analyzed looks
                -- like one row, and the primary key was scanned for every seat of it.)
                lo := xs[array_position(ids, win[1])];
                SELECT array_agg(seat_id ORDER BY x) INTO got FROM (
                    SELECT seat_id, x FROM event_seats
                     WHERE event_id = p_event AND zone = p_zone AND state = 'free'
                       AND row_rank = candidate AND x BETWEEN lo AND lo + p_count - 1
                       FOR UPDATE SKIP LOCKED) s;
                IF coalesce(cardinality(got), 0) = p_count THEN
                    RETURN got;
                END IF;
                -- Another order has some of them: drop those, look again in this row (the
                -- ones this order locked stay candidates).
                SELECT coalesce(array_agg(i ORDER BY x), '{}'),
                       coalesce(array_agg(x ORDER BY x), '{}'),
                       coalesce(array_agg(c ORDER BY x), '{}')
                  INTO ids, xs, cs
                  FROM unnest(ids, xs, cs) AS u(i, x, c)
                 WHERE i <> ALL (win) OR i = ANY (coalesce(got, '{}'));
            END LOOP;
        END LOOP;
        -- No row of this batch had one: the next batch, twice as large, from the row that
        -- may be cut (a row that alone filled the batch is read again, whole this time).
        SELECT count(*), max(row_rank) INTO read_n, read_last FROM (
            SELECT row_rank FROM event_seats
             WHERE event_id = p_event AND zone = p_zone AND state = 'free'
               AND row_rank >= from_rank AND seat_id <> ALL (p_exclude)
             ORDER BY row_rank, x
             LIMIT batch) f;
        IF read_n < batch THEN
            RETURN NULL;
        END IF;
        from_rank := read_last;
        batch := batch * 2;
    END LOOP;
END
$$;


-- --- placing an order ------------------------------------------------------------------

-- A refusal: why, and what the caller needs to say it.
CREATE FUNCTION boxoffice_refusal(reason TEXT, details JSONB DEFAULT '{}') RETURNS JSONB
LANGUAGE sql IMMUTABLE AS $$ SELECT jsonb_build_object('refused', reason) || details $$;

-- A refusal found after writing: an error (SQLSTATE BX409) whose message is the refusal,
-- so the transaction rolls back; the caller answers it as any refusal (db.refusal_of).
CREATE FUNCTION boxoffice_abort(refusal JSONB) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'BX409', MESSAGE = refusal::text;
END
$$;

-- A ticket's price: its type's price for its zone, else the type's price; null: the
-- event's price (the default type costs the event's price).
CREATE FUNCTION boxoffice_price(t ticket_types, p_zone TEXT) RETURNS NUMERIC
LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce((t.zone_prices ->> p_zone)::numeric, t.price) $$;

-- req: event_id, user_id, staff, reserve (a priced order is a reservation: a hold), hold,
-- hold_cap (null: not limited), hold_seconds, customer_name, payment_method, the audit's
-- actor_id/actor/source, lines [{type (null: the default), quantity | seats: [ids]}],
-- best {zone, together} for the quantity lines of a seated event, and tickets (answer
-- the order's tickets too).
--
-- Every check comes before the first write, so a refusal is an answer, not an error, and
-- the function needs no subtransaction (but for a seated event's rare changes under the
-- event's lock, see below). Locks are taken in one order by every function: the caller's
-- row, seats (by id), ticket types under a quota, then the event's row, which every order
-- of the event queues on, so as little as possible runs after it.
CREATE FUNCTION boxoffice_place_order(req JSONB) RETURNS JSONB
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
BEGIN
    IF v_cap IS NOT NULL THEN
        -- The caller's held seats are counted under their own row's lock.
        PERFORM 1 FROM users WHERE id = v_user FOR NO KEY UPDATE;
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
                SELECT state INTO v_state FROM event_seats
                 WHERE event_id = v_event AND seat_id = v_seat
                   FOR UPDATE;
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


-- --- giving tickets back ----------------------------------------------------------------

-- Release tickets of order b (every active one when p_tickets is null): their seats are
-- free again, the event counts them back (a new version, and the seats' notification) and
-- types under a quota count them down. A sale's tickets are refunded at their price, by
-- p_method or as the sale was paid; a hold's were never paid for.
CREATE FUNCTION boxoffice_release(b bookings, p_tickets BIGINT[], p_release TEXT, p_by BIGINT,
                                  p_method TEXT, OUT released INTEGER, OUT refund NUMERIC,
                                  OUT available_seats INTEGER, OUT event_version BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    freed BIGINT[];
    types BIGINT[];
    ev    events;
BEGIN
    WITH r AS (
        UPDATE tickets t
           SET released_at = now(), release = p_release, released_by = p_by,
               refund = CASE WHEN b.status = 'confirmed' THEN t.price END,
               refund_method = CASE WHEN b.status = 'confirmed'
                                    THEN coalesce(p_method, b.payment_method) END
         WHERE t.booking_id = b.id AND t.released_at IS NULL
           AND (p_tickets IS NULL OR t.id = ANY (p_tickets))
        RETURNING t.ticket_type_id, t.seat_id, t.refund
    )
    SELECT count(*), coalesce(sum(r.refund), 0),
           coalesce(array_agg(r.seat_id) FILTER (WHERE r.seat_id IS NOT NULL), '{}'),
           coalesce(array_agg(r.ticket_type_id), '{}')
      INTO released, refund, freed, types
      FROM r;
    PERFORM boxoffice_set_seats(b.event_id, freed, 'free', NULL);
    -- Types under a quota before the event: the order every function locks them in.
    UPDATE ticket_types t SET sold = t.sold - c.n
      FROM (SELECT type_id, count(*)::integer AS n FROM unnest(types) AS u(type_id)
             GROUP BY type_id) c
     WHERE t.id = c.type_id AND t.quota IS NOT NULL;
    UPDATE events
       SET available_seats = events.available_seats + released, version = version + 1,
           updated_at = now()
     WHERE id = b.event_id
    RETURNING * INTO ev;
    PERFORM boxoffice_seats_changed(ev.id, ev.version, 'free', freed);
    available_seats := ev.available_seats;
    event_version := ev.version;
END
$$;

-- Why a change to order b was refused: the columns the callers explain it from.
CREATE FUNCTION boxoffice_order_refusal(b bookings) RETURNS JSONB
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', NULL, 'owner_id', b.user_id, 'status_before', b.status,
        'admitted_at', b.checked_in_at, 'lapsed', b.expires_at <= now(),
        'priced', b.amount > 0,
        'started', (SELECT date <= now() FROM events WHERE id = b.event_id))
$$;

-- Cancel a whole order. req: booking_id, user_id, staff, override, actor. Only its owner
-- or staff; an admitted order, or one of a started event, only by staff overriding.
CREATE FUNCTION boxoffice_cancel_order(req JSONB) RETURNS JSONB
LANGUAGE plpgsql AS $$
DECLARE
    v_user     BIGINT := (req ->> 'user_id')::bigint;
    v_override BOOLEAN := coalesce((req ->> 'override')::boolean, false);
    b          bookings;
    r          RECORD;
BEGIN
    SELECT * INTO b FROM bookings WHERE id = (req ->> 'booking_id')::bigint FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('id', NULL, 'owner_id', NULL);
    END IF;
    IF b.status NOT IN ('pending', 'confirmed')
       OR NOT (coalesce((req ->> 'staff')::boolean, false) OR b.user_id = v_user)
       OR NOT (v_override OR (b.checked_in_at IS NULL
                              AND (SELECT date > now() FROM events WHERE id = b.event_id)))
    THEN
        RETURN boxoffice_order_refusal(b);
    END IF;
    r := boxoffice_release(b, NULL, 'cancelled', v_user, NULL);
    UPDATE bookings
       SET status = 'cancelled', updated_at = now(), cancelled_at = now(),
           cancelled_by = v_user, expires_at = NULL
     WHERE id = b.id
    RETURNING * INTO b;
    PERFORM boxoffice_audit(req, 'booking.cancel', b,
        boxoffice_order_details(b) || jsonb_build_object('refund', r.refund)
        || CASE WHEN v_override THEN '{"override": true}'::jsonb ELSE '{}'::jsonb END);
    RETURN to_jsonb(b) || jsonb_build_object(
        'available_seats', r.available_seats, 'event_version', r.event_version,
        'refund', r.refund);
END
$$;

-- Give back some tickets of an order. req: booking_id, ticket_ids, user_id, staff,
-- override, payment_method (how the refund is paid; default: as the sale was), actor.
-- Returning every ticket still held cancels the order.
CREATE FUNCTION boxoffice_return_tickets(req JSONB) RETURNS JSONB
LANGUAGE plpgsql AS $$
DECLARE
    v_user     BIGINT := (req ->> 'user_id')::bigint;
    v_override BOOLEAN := coalesce((req ->> 'override')::boolean, false);
    v_ids      BIGINT[] := ARRAY(SELECT jsonb_array_elements_text(req -> 'ticket_ids'))::bigint[];
    b          bookings;
    r          RECORD;
    mine       BIGINT[];
    gone       BIGINT[];
    used       BIGINT[];
    v_left     INTEGER;
BEGIN
    SELECT * INTO b FROM bookings WHERE id = (req ->> 'booking_id')::bigint FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('id', NULL, 'owner_id', NULL);
    END IF;
    IF NOT (coalesce((req ->> 'staff')::boolean, false) OR b.user_id = v_user)
       OR b.status NOT IN ('pending', 'confirmed') THEN
        RETURN boxoffice_order_refusal(b);
    END IF;
    SELECT coalesce(array_agg(id), '{}'),
           coalesce(array_agg(id) FILTER (WHERE released_at IS NOT NULL), '{}'),
           coalesce(array_agg(id) FILTER (WHERE checked_in_at IS NOT NULL), '{}')
      INTO mine, gone, used
      FROM tickets WHERE booking_id = b.id AND id = ANY (v_ids);
    IF cardinality(mine) < cardinality(v_ids) THEN
        RETURN boxoffice_order_refusal(b) || jsonb_build_object(
            'refused', 'unknown_tickets',
            'ticket_ids', to_jsonb(ARRAY(SELECT unnest(v_ids) EXCEPT SELECT unnest(mine))));
    ELSIF cardinality(gone) > 0 THEN
        RETURN boxoffice_order_refusal(b) || jsonb_build_object(
            'refused', 'already_returned', 'ticket_ids', to_jsonb(gone));
    ELSIF NOT v_override AND cardinality(used) > 0 THEN
        RETURN boxoffice_order_refusal(b) || jsonb_build_object(
            'refused', 'admitted', 'ticket_ids', to_jsonb(used));
    ELSIF NOT v_override AND (SELECT date <= now() FROM events WHERE id = b.event_id) THEN
        RETURN boxoffice_order_refusal(b) || jsonb_build_object('refused', 'started');
    END IF;
    r := boxoffice_release(b, v_ids, 'returned', v_user, req ->> 'payment_method');
    SELECT count(*) INTO v_left FROM tickets WHERE booking_id = b.id AND released_at IS NULL;
    IF v_left = 0 THEN
        UPDATE bookings
           SET status = 'cancelled', updated_at = now(), cancelled_at = now(),
               cancelled_by = v_user, expires_at = NULL
         WHERE id = b.id
        RETURNING * INTO b;
    ELSE
        -- A hold costs what it still holds; a sale keeps what was paid (its tickets carry
        -- the refunds).
        UPDATE bookings
           SET quantity = v_left, updated_at = now(),
               amount = CASE WHEN status = 'pending'
                             THEN (SELECT coalesce(sum(price), 0) FROM tickets
                                    WHERE booking_id = b.id AND released_at IS NULL)
                             ELSE amount END
         WHERE id = b.id
        RETURNING * INTO b;
    END IF;
    PERFORM boxoffice_audit(req, 'booking.return', b,
        boxoffice_order_details(b) || jsonb_build_object(
            'ticket_ids', to_jsonb(v_ids), 'refund', r.refund,
            'refund_method', CASE WHEN r.refund > 0
                                  THEN coalesce(req ->> 'payment_method', b.payment_method) END)
        || CASE WHEN v_override THEN '{"override": true}'::jsonb ELSE '{}'::jsonb END);
    RETURN to_jsonb(b) || jsonb_build_object(
        'available_seats', r.available_seats, 'event_version', r.event_version,
        'returned', r.released, 'refund', r.refund, 'tickets', boxoffice_order_tickets(b.id));
END
$$;

-- Release the seats of holds whose time is up. Several server instances run this; SKIP
-- LOCKED hands each hold to exactly one of them, and a hold being confirmed right now is
-- skipped (its lock is held) and then no longer pending.
CREATE FUNCTION boxoffice_expire_holds(p_batch INTEGER) RETURNS JSONB
LANGUAGE plpgsql AS $$
DECLARE
    b    bookings;
    n    INTEGER := 0;
    evs  BIGINT[] := '{}';
BEGIN
    FOR b IN
        SELECT * FROM bookings
         WHERE status = 'pending' AND expires_at <= now()
         ORDER BY expires_at
         LIMIT p_batch
           FOR UPDATE SKIP LOCKED
    LOOP
        PERFORM boxoffice_release(b, NULL, 'expired', NULL, NULL);
        UPDATE bookings SET status = 'expired', updated_at = now() WHERE id = b.id
        RETURNING * INTO b;
        PERFORM boxoffice_audit('{"actor": "system", "source": "hold expiry"}', 'booking.expire',
                                b, boxoffice_order_details(b));
        n := n + 1;
        evs := evs || b.event_id;
    END LOOP;
    RETURN jsonb_build_object('expired', n,
                              'events', (SELECT count(DISTINCT e) FROM unnest(evs) AS e));
END
$$;


-- --- confirming and admitting -----------------------------------------------------------

-- A hold becomes a sale while it has not lapsed: tickets get their codes, held seats are
-- sold. req: booking_id, user_id, staff, confirm_priced, payment_method, actor.
CREATE FUNCTION boxoffice_confirm_order(req JSONB) RETURNS JSONB
LANGUAGE plpgsql AS $$
DECLARE
    v_user  BIGINT := (req ->> 'user_id')::bigint;
    v_staff BOOLEAN := coalesce((req ->> 'staff')::boolean, false);
    b       bookings;
    ev      events;
    sold    BIGINT[];
BEGIN
    SELECT * INTO b FROM bookings WHERE id = (req ->> 'booking_id')::bigint FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('id', NULL, 'owner_id', NULL);
    END IF;
    IF b.status <> 'pending' OR b.expires_at <= now() OR NOT (v_staff OR b.user_id = v_user)
       OR NOT (coalesce((req ->> 'confirm_priced')::boolean, false) OR b.amount = 0) THEN
        RETURN boxoffice_order_refusal(b);
    END IF;
    UPDATE bookings
       SET status = 'confirmed', expires_at = NULL, ticket_code = boxoffice_code(),
           confirmed_at = now(), confirmed_by = v_user, updated_at = now(),
           -- The confirming staff member's payment method; one stored with the hold is
           -- kept only when they made the hold themselves, never one a user could have set.
           payment_method = coalesce(req ->> 'payment_method',
                                     CASE WHEN v_staff AND b.user_id = v_user
                                          THEN b.payment_method END)
     WHERE id = b.id
    RETURNING * INTO b;
    UPDATE tickets SET code = boxoffice_code() WHERE booking_id = b.id AND released_at IS NULL;
    IF (SELECT venue_id FROM events WHERE id = b.event_id) IS NOT NULL THEN
        sold := ARRAY(SELECT seat_id FROM tickets WHERE booking_id = b.id AND released_at IS NULL);
        PERFORM boxoffice_set_seats(b.event_id, sold, 'sold', b.id);
        UPDATE events SET version = version + 1, updated_at = now() WHERE id = b.event_id
        RETURNING * INTO ev;
        PERFORM boxoffice_seats_changed(ev.id, ev.version, 'sold', sold);
    END IF;
    PERFORM boxoffice_audit(req, 'booking.confirm', b, boxoffice_order_details(b));
    RETURN to_jsonb(b) || jsonb_build_object('tickets', boxoffice_order_tickets(b.id));
END
$$;

-- Admit by code, once: a ticket's code admits that ticket, an order's code every ticket of
-- it not yet in. Concurrent scans queue on the order's lock and only the first admits.
-- req: code, gate, user_id, actor.
CREATE FUNCTION boxoffice_check_in(req JSONB) RETURNS JSONB
LANGUAGE plpgsql AS $$
DECLARE
    v_code TEXT := req ->> 'code';
    v_user BIGINT := (req ->> 'user_id')::bigint;
    b      bookings;
    t      tickets;
    ids    BIGINT[];
    ev     events;
    first_at   TIMESTAMPTZ;
    first_gate TEXT;
    first_by   BIGINT;
BEGIN
    SELECT * INTO b FROM bookings WHERE ticket_code = v_code FOR UPDATE;
    IF FOUND THEN
        ids := ARRAY(SELECT id FROM tickets
                      WHERE booking_id = b.id AND released_at IS NULL AND checked_in_at IS NULL
                      ORDER BY id);
        first_at := b.checked_in_at;
        first_gate := b.checked_in_gate;
        first_by := b.checked_in_by;
    ELSE
        SELECT * INTO t FROM tickets WHERE code = v_code;
        IF NOT FOUND THEN
            RETURN jsonb_build_object('id', NULL, 'known_id', NULL);
        END IF;
        SELECT * INTO b FROM bookings WHERE id = t.booking_id FOR UPDATE;
        SELECT * INTO t FROM tickets WHERE id = t.id;  -- as it is now, under the order's lock
        ids := CASE WHEN t.released_at IS NULL AND t.checked_in_at IS NULL
                    THEN ARRAY[t.id] ELSE '{}' END;
        first_at := t.checked_in_at;
        first_gate := t.checked_in_gate;
        first_by := t.checked_in_by;
    END IF;
    IF b.status <> 'confirmed' OR cardinality(ids) = 0 THEN
        RETURN jsonb_build_object(
            'id', NULL, 'known_id', b.id,
            'status_before', CASE WHEN t.released_at IS NOT NULL THEN t.release
                                  ELSE b.status END,
            'first_checked_in_at', first_at, 'first_gate', first_gate,
            'first_checked_in_by', (SELECT username FROM users WHERE id = first_by));
    END IF;
    UPDATE tickets SET checked_in_at = now(), checked_in_by = v_user,
                       checked_in_gate = req ->> 'gate'
     WHERE id = ANY (ids);
    UPDATE bookings
       SET checked_in_at = coalesce(checked_in_at, now()),
           checked_in_by = coalesce(checked_in_by, v_user),
           checked_in_gate = CASE WHEN checked_in_at IS NULL THEN req ->> 'gate'
                                  ELSE checked_in_gate END,
           updated_at = now()
     WHERE id = b.id
    RETURNING * INTO b;
    UPDATE events SET checked_in = checked_in + cardinality(ids), version = version + 1
     WHERE id = b.event_id
    RETURNING * INTO ev;
    PERFORM boxoffice_audit(req, 'ticket.check_in', b, jsonb_build_object(
        'gate', req ->> 'gate', 'quantity', cardinality(ids), 'ticket_ids', to_jsonb(ids)));
    RETURN to_jsonb(b) || jsonb_build_object(
        'event_checked_in', ev.checked_in, 'event_title', ev.title,
        'admitted', cardinality(ids), 'tickets', boxoffice_order_tickets(b.id));
END
$$;
