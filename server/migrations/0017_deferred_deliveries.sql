-- Bookings first (issue 13, docs/webhooks.md "Bookings first"): while an instance is
-- placing orders its sender claims only deliveries due for p_defer seconds, so that a
-- rush's orders do not wait behind the sending of their own deliveries. As 0015's claim
-- otherwise.
DROP FUNCTION boxoffice_claim_webhooks(INTEGER, DOUBLE PRECISION);
CREATE FUNCTION boxoffice_claim_webhooks(p_limit INTEGER, p_lease DOUBLE PRECISION,
                                         p_defer DOUBLE PRECISION)
RETURNS TABLE (id BIGINT, delivery_id UUID, endpoint_id BIGINT, url TEXT, secret TEXT,
               event_type TEXT, body TEXT, attempts INTEGER)
LANGUAGE sql AS $$
    WITH due AS (
        SELECT d.id
          FROM webhook_deliveries d
          JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.status = 'pending' AND e.status = 'active'
           AND d.next_at <= now() - make_interval(secs => p_defer)
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
