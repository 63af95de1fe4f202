-- Who took the money for a sale: the seller of a direct sale, or whoever confirmed a hold.
-- A customer's hold paid at the counter, or a colleague's hold confirmed at another
-- window, is the sale of the till that took the payment.
ALTER TABLE bookings ADD COLUMN confirmed_by BIGINT REFERENCES users (id);

-- Sales made before this migration: the audit log knows who confirmed a hold.
UPDATE bookings b
   SET confirmed_by = coalesce(
         (SELECT a.actor_id FROM audit_log a
           WHERE a.booking_id = b.id AND a.action = 'booking.confirm'
           ORDER BY a.id DESC LIMIT 1),
         b.user_id)
 WHERE b.confirmed_at IS NOT NULL;

-- Shift reports read the sales and the cancellations of a period.
CREATE INDEX bookings_confirmed_at_idx ON bookings (confirmed_at);
CREATE INDEX bookings_cancelled_at_idx ON bookings (cancelled_at);

-- Audit records of a booking name its owner, so an account's history includes what staff
-- did to its bookings; browsing by account reads this index.
UPDATE audit_log a SET user_id = b.user_id
  FROM bookings b
 WHERE a.booking_id = b.id AND a.user_id IS NULL;
CREATE INDEX audit_log_user_idx ON audit_log (user_id, id);
