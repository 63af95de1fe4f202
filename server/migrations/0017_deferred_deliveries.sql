-- The sender's claim, bounded and deferring (issue 13, docs/webhooks.md).
--
-- Bounded: 0015's claim joined every pending delivery to its endpoint, sorted them all and
-- then took a batch, so each claim cost as much as the whole backlog (7.7 ms for 50 of
-- 5,000). Here each active endpoint's due deliveries are read in order from an index of
-- their own and the scan stops at the batch: a claim costs the batch, however long the
-- backlog, and a paused or disabled endpoint's queue is never walked.
--
-- Deferring ("bookings first"): while an instance is placing orders its sender claims
-- only deliveries due for p_defer seconds, so that a rush's orders do not wait behind the
-- sending of their own deliveries.
DROP INDEX webhook_deliveries_due_idx;
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (endpoint_id, next_at, id)
    WHERE status = 'pending';

DROP FUNCTION boxoffice_claim_webhooks(INTEGER, DOUBLE PRECISION);
CREATE FUNCTION boxoffice_claim_webhooks(p_limit INTEGER, p_lease DOUBLE PRECISION,
                                         p_defer DOUBLE PRECISION)
RETURNS TABLE (id BIGINT, delivery_id UUID, endpoint_id BIGINT, url TEXT, secret TEXT,
               event_type TEXT, body TEXT, attempts INTEGER)
LANGUAGE sql AS $$
    WITH due AS (
        SELECT d.id
          FROM webhook_endpoints e
          CROSS JOIN LATERAL (
              SELECT d.id, d.next_at
                FROM webhook_deliveries d
               WHERE d.endpoint_id = e.id AND d.status = 'pending'
                 AND d.next_at <= now() - make_interval(secs => p_defer)
                 -- The first pending delivery of its subject: the ones before it go
                 -- first. A subquery per row, an index probe, never a join over all.
                 AND (d.subject IS NULL OR d.id = (
                     SELECT min(p.id) FROM webhook_deliveries p
                      WHERE p.endpoint_id = d.endpoint_id AND p.subject = d.subject
                        AND p.status = 'pending'))
               ORDER BY d.next_at, d.id
               LIMIT p_limit
                 FOR UPDATE OF d SKIP LOCKED
          ) d
         WHERE e.status = 'active'
         ORDER BY d.next_at, d.id
         LIMIT p_limit
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
