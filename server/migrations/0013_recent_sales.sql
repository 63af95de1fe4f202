-- The admins' dashboard opens with the tickets made in the last few minutes
-- (GET /api/v1/reports/recent-sales): read by time, not by scanning every ticket.
CREATE INDEX tickets_created_idx ON tickets (created_at);
