-- Webhooks cheap for the booking path (issue 13, docs/webhooks.md "Cost").
--
-- 0014 built each order's payload (the order and its tickets as JSON) in the booking's
-- transaction, while the event's row lock is held, and wrote a row with five indexes and
-- a foreign key (a KEY SHARE lock on the endpoint by every booking). Here an order's
-- delivery is only a pointer to its audit record: the audit record is immutable, so the
-- payload built from it when sending describes the change exactly as the change left the
-- order, whenever it is sent. Events (admins' edits, rare) keep their payload from the
-- change, as do pings and the deliveries 0014 wrote.

ALTER TABLE webhook_deliveries
    -- The change an order's delivery announces; its payload is built from it when sent.
    ADD COLUMN audit_id BIGINT,
    ALTER COLUMN payload DROP NOT NULL,
    -- Neither is worth its cost on every booking: a random v4 uuid does not collide, and
    -- deleting an endpoint deletes its deliveries itself (DELETE_WEBHOOK). A delivery
    -- queued by a booking that commits while its endpoint is deleted is never sent (the
    -- claim joins the endpoints) nor listed.
    DROP CONSTRAINT webhook_deliveries_delivery_id_key,
    DROP CONSTRAINT webhook_deliveries_endpoint_id_fkey,
    ADD CONSTRAINT webhook_deliveries_payload_check
        CHECK (payload IS NOT NULL OR audit_id IS NOT NULL);

-- An order's tickets as they were made: what a change cannot alter. Their codes exist
-- once the order is confirmed and never change; a hold's are not made yet.
CREATE FUNCTION boxoffice_webhook_tickets(p_booking BIGINT, p_codes BOOLEAN) RETURNS JSONB
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'id', t.id, 'ticket_type_id', t.ticket_type_id, 'ticket_type', tt.name,
                   'seat_id', t.seat_id, 'section', s.section, 'row', s.row_label,
                   'number', s.number, 'zone', t.zone, 'price', t.price,
                   'code', CASE WHEN p_codes THEN t.code END)
                   ORDER BY t.id), '[]'::jsonb)
          FROM tickets t
          JOIN ticket_types tt ON tt.id = t.ticket_type_id
          LEFT JOIN seats s ON s.id = t.seat_id
         WHERE t.booking_id = p_booking
    );
END
$$;

-- A delivery's payload ("type", "created_at", "data"; the sender adds "id"): the stored
-- one, or for an order's change the order as its audit record says the change left it.
-- Every order action records the order's status, quantity, amount, customer and payment
-- method; a check-in records what it admitted, so the order is as its latest record
-- before the check-in says.
CREATE FUNCTION boxoffice_webhook_payload(d webhook_deliveries) RETURNS JSONB
LANGUAGE plpgsql STABLE AS $$
DECLARE
    a     audit_log;
    b     bookings;
    state JSONB;
BEGIN
    IF d.payload IS NOT NULL THEN
        RETURN d.payload;
    END IF;
    SELECT * INTO a FROM audit_log WHERE id = d.audit_id;
    SELECT * INTO b FROM bookings WHERE id = a.booking_id;
    state := CASE WHEN a.details ? 'status' THEN a.details ELSE (
        SELECT l.details FROM audit_log l
         WHERE l.booking_id = a.booking_id AND l.id < a.id AND l.details ? 'status'
         ORDER BY l.id DESC LIMIT 1) END;
    RETURN jsonb_build_object(
        'type', d.event_type, 'created_at', a.at,
        'data', jsonb_build_object(
            'order', jsonb_build_object(
                'id', a.booking_id, 'event_id', a.event_id, 'user_id', a.user_id,
                'status', state -> 'status', 'quantity', state -> 'quantity',
                'amount', state -> 'amount', 'customer_name', state -> 'customer_name',
                'payment_method', state -> 'payment_method',
                'code', CASE WHEN state ->> 'status' <> 'pending' THEN b.ticket_code END,
                -- A hold's lapse time, while it is still held (confirming clears it).
                'expires_at', CASE WHEN state ->> 'status' = 'pending'
                                   AND b.status = 'pending' THEN b.expires_at END,
                'created_at', b.created_at, 'url', '/api/v1/orders/' || a.booking_id,
                'tickets', boxoffice_webhook_tickets(a.booking_id,
                                                     state ->> 'status' <> 'pending')),
            'change', a.details));
END
$$;

CREATE OR REPLACE FUNCTION boxoffice_webhook_outbox() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_type TEXT := boxoffice_webhook_type(NEW.action);
BEGIN
    IF NEW.booking_id IS NOT NULL THEN
        -- An order's change: a pointer to its audit record (one scan of the endpoints,
        -- which is the whole cost when none is subscribed).
        INSERT INTO webhook_deliveries (endpoint_id, event_type, subject, audit_id)
        SELECT e.id, v_type, 'order:' || NEW.booking_id, NEW.id
          FROM webhook_endpoints e
         WHERE e.status IN ('active', 'paused') AND v_type = ANY (e.events)
         ORDER BY e.id;
    ELSE
        -- An event's edit: rare, and the event changes with every sale, so its payload
        -- is taken now, as 0014 did.
        INSERT INTO webhook_deliveries (endpoint_id, event_type, subject, payload)
        SELECT e.id, v_type, 'event:' || NEW.event_id,
               jsonb_build_object('type', v_type, 'created_at', NEW.at,
                                  'data', boxoffice_webhook_data(NEW))
          FROM webhook_endpoints e
         WHERE e.status IN ('active', 'paused') AND v_type = ANY (e.events)
         ORDER BY e.id;
    END IF;
    IF FOUND THEN
        -- Wake the senders. PostgreSQL folds the repeats of a transaction (a combined
        -- batch of orders) into one notification at commit.
        PERFORM pg_notify('boxoffice_webhooks', '');
    END IF;
    RETURN NULL;
END
$$;

-- The claim answers each delivery's whole body as text, ready to sign and send.
DROP FUNCTION boxoffice_claim_webhooks(INTEGER, DOUBLE PRECISION);
CREATE FUNCTION boxoffice_claim_webhooks(p_limit INTEGER, p_lease DOUBLE PRECISION)
RETURNS TABLE (id BIGINT, delivery_id UUID, endpoint_id BIGINT, url TEXT, secret TEXT,
               event_type TEXT, body TEXT, attempts INTEGER)
LANGUAGE sql AS $$
    WITH due AS (
        SELECT d.id
          FROM webhook_deliveries d
          JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.status = 'pending' AND d.next_at <= now() AND e.status = 'active'
           AND NOT EXISTS (
               SELECT 1 FROM webhook_deliveries p
                WHERE p.endpoint_id = d.endpoint_id AND p.subject = d.subject
                  AND p.status = 'pending' AND p.id < d.id)
         ORDER BY d.next_at, d.id
         LIMIT p_limit
           FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE webhook_deliveries d
       SET attempts = d.attempts + 1, last_attempt_at = now(),
           next_at = now() + make_interval(secs => p_lease)
      FROM due, webhook_endpoints e
     WHERE d.id = due.id AND e.id = d.endpoint_id
    RETURNING d.id, d.delivery_id, d.endpoint_id, e.url, e.secret, d.event_type,
              (jsonb_build_object('id', d.delivery_id) || boxoffice_webhook_payload(d))::text,
              d.attempts
$$;

-- A claimed batch's outcomes, in one statement: p_errors[i] null means delivered. A
-- failure is tried again p_retries[i] seconds from now, unless that is past p_window
-- seconds after retry_from: then it failed for good. An endpoint is failing from its
-- first failure in a batch without a success, and one failing for p_disable seconds when
-- a delivery fails for good is disabled (its deliveries kept). On the usual path (all
-- delivered, nothing failing) the endpoints are not written. Answers the deliveries
-- that failed for good.
DROP FUNCTION boxoffice_webhook_result(BIGINT, BOOLEAN, INTEGER, TEXT, DOUBLE PRECISION,
                                       DOUBLE PRECISION, DOUBLE PRECISION);
CREATE FUNCTION boxoffice_webhook_results(p_ids BIGINT[], p_codes INTEGER[], p_errors TEXT[],
                                          p_retries DOUBLE PRECISION[],
                                          p_window DOUBLE PRECISION,
                                          p_disable DOUBLE PRECISION)
RETURNS TABLE (id BIGINT)
LANGUAGE sql AS $$
    WITH outcome AS (
        SELECT * FROM unnest(p_ids, p_codes, p_errors, p_retries) AS o(id, code, error, retry)
    ), recorded AS (
        UPDATE webhook_deliveries d
           SET status = CASE WHEN o.error IS NULL THEN 'delivered'
                             WHEN now() + make_interval(secs => o.retry)
                                  > d.retry_from + make_interval(secs => p_window)
                             THEN 'failed' ELSE 'pending' END,
               delivered_at = CASE WHEN o.error IS NULL THEN now() ELSE d.delivered_at END,
               next_at = CASE WHEN o.error IS NULL THEN d.next_at
                              ELSE now() + make_interval(secs => o.retry) END,
               last_status_code = o.code, last_error = left(o.error, 500)
          FROM outcome o
         WHERE d.id = o.id AND d.status = 'pending'
        RETURNING d.id, d.endpoint_id, d.status
    ), per_endpoint AS (
        SELECT endpoint_id, bool_or(status = 'delivered') AS answered,
               bool_or(status = 'failed') AS failed_for_good
          FROM recorded GROUP BY endpoint_id
    ), decided AS (
        SELECT p.endpoint_id, p.answered,
               p.failed_for_good AND NOT p.answered AND e.status = 'active'
               AND coalesce(e.failing_since, now())
                   <= now() - make_interval(secs => p_disable) AS disable
          FROM per_endpoint p
          JOIN webhook_endpoints e ON e.id = p.endpoint_id
         WHERE NOT (p.answered AND e.failing_since IS NULL)
    ), endpoints AS (
        UPDATE webhook_endpoints e
           SET failing_since = CASE WHEN v.answered THEN NULL
                                    ELSE coalesce(e.failing_since, now()) END,
               status = CASE WHEN v.disable THEN 'disabled' ELSE e.status END,
               disabled_at = CASE WHEN v.disable THEN now() ELSE e.disabled_at END,
               updated_at = CASE WHEN v.disable THEN now() ELSE e.updated_at END
          FROM decided v
         WHERE e.id = v.endpoint_id
        RETURNING e.id
    )
    SELECT id FROM recorded WHERE status = 'failed'
$$;
