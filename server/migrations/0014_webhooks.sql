-- Webhooks through an outbox (docs/webhooks.md).
--
-- Every change that announces a webhook already writes an audit_log row in its own
-- transaction (the order functions of 0010/0012, the events' CTEs). A trigger on audit_log
-- turns that row into one outbox row per endpoint subscribed to its type, so a change and
-- its deliveries commit or roll back together, for combined batches too, without touching
-- the order functions. With no endpoint registered the trigger costs one index probe.

CREATE TABLE webhook_endpoints (
    id             BIGSERIAL PRIMARY KEY,
    url            TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    events         TEXT[] NOT NULL,
    -- Kept as given, not hashed: the sender signs with it (docs/security.md).
    secret         TEXT NOT NULL,
    -- active: sent to; paused (by an admin): queued, not sent; disabled (by the sender,
    -- after failing for webhook_disable_seconds): neither, its deliveries kept.
    status         TEXT NOT NULL DEFAULT 'active'
                   CHECK (status IN ('active', 'paused', 'disabled')),
    failing_since  TIMESTAMPTZ,      -- the first failed attempt since the last success
    disabled_at    TIMESTAMPTZ,
    created_by     BIGINT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id               BIGSERIAL PRIMARY KEY,
    -- What receivers drop duplicates by (the Boxoffice-Webhook-Id header and body "id").
    delivery_id      UUID NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    endpoint_id      BIGINT NOT NULL REFERENCES webhook_endpoints ON DELETE CASCADE,
    event_type       TEXT NOT NULL,
    -- Deliveries of one subject ('order:12', 'event:7') to one endpoint go in id order:
    -- one is sent only once every earlier one is delivered or failed for good.
    subject          TEXT,
    payload          JSONB NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- When it is due; while an attempt is in flight, when that attempt's lease runs out.
    next_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Retried for BOXOFFICE_WEBHOOK_RETRY_SECONDS (24 h) from here: made, or redelivered.
    retry_from       TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_attempt_at  TIMESTAMPTZ,
    last_status_code INTEGER,
    last_error       TEXT,
    delivered_at     TIMESTAMPTZ
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_at, id)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (endpoint_id, subject, id)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id);

-- The webhook type of an audit action; null: none.
CREATE FUNCTION boxoffice_webhook_type(p_action TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_action
        WHEN 'booking.create'  THEN 'order.created'
        WHEN 'booking.hold'    THEN 'order.created'   -- with status 'pending'
        WHEN 'booking.confirm' THEN 'order.confirmed'
        WHEN 'booking.cancel'  THEN 'order.cancelled'
        WHEN 'booking.return'  THEN 'order.returned'
        WHEN 'booking.expire'  THEN 'hold.expired'
        WHEN 'ticket.check_in' THEN 'ticket.checked_in'
        WHEN 'event.create'    THEN 'event.created'
        WHEN 'event.update'    THEN 'event.updated'
        WHEN 'event.delete'    THEN 'event.deleted'
    END
$$;

-- The payload's "data": the order as it is after the change (with its tickets) or the
-- event, and what the audit record says of the change.
CREATE FUNCTION boxoffice_webhook_data(a audit_log) RETURNS JSONB
LANGUAGE plpgsql STABLE AS $$
DECLARE
    b  bookings;
    ev events;
BEGIN
    IF a.booking_id IS NOT NULL THEN
        SELECT * INTO b FROM bookings WHERE id = a.booking_id;
        RETURN jsonb_build_object(
            'order', jsonb_build_object(
                'id', b.id, 'event_id', b.event_id, 'user_id', b.user_id,
                'status', b.status, 'quantity', b.quantity, 'amount', b.amount,
                'customer_name', b.customer_name, 'payment_method', b.payment_method,
                'code', b.ticket_code, 'expires_at', b.expires_at,
                'created_at', b.created_at, 'tickets', boxoffice_order_tickets(b.id),
                'url', '/api/v1/orders/' || b.id),
            'change', a.details);
    END IF;
    SELECT * INTO ev FROM events WHERE id = a.event_id;
    IF NOT FOUND THEN  -- deleted: the record holds what it was
        RETURN jsonb_build_object('event', a.details || jsonb_build_object('id', a.event_id));
    END IF;
    RETURN jsonb_build_object(
        'event', jsonb_build_object(
            'id', ev.id, 'title', ev.title, 'date', ev.date, 'venue', ev.venue,
            'venue_id', ev.venue_id, 'total_seats', ev.total_seats,
            'available_seats', ev.available_seats, 'price', ev.price,
            'version', ev.version, 'url', '/api/v1/events/' || ev.id),
        'change', a.details);
END
$$;

CREATE FUNCTION boxoffice_webhook_outbox() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_type TEXT;
    v_body JSONB;
BEGIN
    v_type := boxoffice_webhook_type(NEW.action);
    -- The one check when nobody listens: a scan of a tiny (here empty) table.
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints
                    WHERE status IN ('active', 'paused') AND v_type = ANY (events)) THEN
        RETURN NULL;
    END IF;
    v_body := jsonb_build_object('type', v_type, 'created_at', NEW.at,
                                 'data', boxoffice_webhook_data(NEW));
    INSERT INTO webhook_deliveries (endpoint_id, event_type, subject, payload)
    SELECT e.id, v_type,
           CASE WHEN NEW.booking_id IS NOT NULL THEN 'order:' || NEW.booking_id
                ELSE 'event:' || NEW.event_id END,
           v_body
      FROM webhook_endpoints e
     WHERE e.status IN ('active', 'paused') AND v_type = ANY (e.events)
     ORDER BY e.id;
    -- Wake the senders (one notification per transaction: PostgreSQL folds repeats).
    PERFORM pg_notify('boxoffice_webhooks', '');
    RETURN NULL;
END
$$;

-- Only the actions that announce something call the function at all.
CREATE TRIGGER audit_log_webhooks AFTER INSERT ON audit_log
    FOR EACH ROW
    WHEN (NEW.action IN ('booking.create', 'booking.hold', 'booking.confirm', 'booking.cancel',
                         'booking.return', 'booking.expire', 'ticket.check_in',
                         'event.create', 'event.update', 'event.delete'))
    EXECUTE FUNCTION boxoffice_webhook_outbox();

-- Claim up to p_limit due deliveries of active endpoints for this sender: each gets an
-- attempt and a lease (next_at moves past the attempt's timeout; if the sender dies, the
-- delivery is due again then). SKIP LOCKED shares the work between instances; a delivery
-- waits while an earlier one of its subject to the same endpoint is still pending.
CREATE FUNCTION boxoffice_claim_webhooks(p_limit INTEGER, p_lease DOUBLE PRECISION)
RETURNS TABLE (id BIGINT, delivery_id UUID, endpoint_id BIGINT, url TEXT, secret TEXT,
               event_type TEXT, payload JSONB, attempts INTEGER, created_at TIMESTAMPTZ)
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
    RETURNING d.id, d.delivery_id, d.endpoint_id, e.url, e.secret, d.event_type, d.payload,
              d.attempts, d.created_at
$$;

-- An attempt's outcome. A failure is tried again p_retry seconds from now, unless that is
-- past p_window seconds after retry_from: then it failed for good, and an endpoint failing
-- for p_disable seconds is disabled (its deliveries kept). Answers the delivery's status.
CREATE FUNCTION boxoffice_webhook_result(p_id BIGINT, p_ok BOOLEAN, p_code INTEGER,
                                         p_error TEXT, p_retry DOUBLE PRECISION,
                                         p_window DOUBLE PRECISION,
                                         p_disable DOUBLE PRECISION)
RETURNS TEXT
LANGUAGE plpgsql AS $$
DECLARE
    d webhook_deliveries;
BEGIN
    IF p_ok THEN
        UPDATE webhook_deliveries
           SET status = 'delivered', delivered_at = now(), last_status_code = p_code,
               last_error = NULL
         WHERE id = p_id AND status = 'pending'
        RETURNING * INTO d;
        IF FOUND THEN
            UPDATE webhook_endpoints SET failing_since = NULL
             WHERE id = d.endpoint_id AND failing_since IS NOT NULL;
        END IF;
        RETURN 'delivered';
    END IF;
    UPDATE webhook_deliveries
       SET status = CASE WHEN now() + make_interval(secs => p_retry)
                              > retry_from + make_interval(secs => p_window)
                         THEN 'failed' ELSE 'pending' END,
           next_at = now() + make_interval(secs => p_retry),
           last_status_code = p_code, last_error = left(p_error, 500)
     WHERE id = p_id AND status = 'pending'
    RETURNING * INTO d;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, now())
     WHERE id = d.endpoint_id;
    IF d.status = 'failed' THEN
        UPDATE webhook_endpoints
           SET status = 'disabled', disabled_at = now(), updated_at = now()
         WHERE id = d.endpoint_id AND status = 'active'
           AND failing_since <= now() - make_interval(secs => p_disable);
    END IF;
    RETURN d.status;
END
$$;
