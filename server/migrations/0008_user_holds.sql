-- A user may hold only so many seats (BOXOFFICE_MAX_HELD_SEATS): their booking of a priced
-- event sums the seats of their pending holds. This index answers that from the user's own
-- holds, not by reading every pending hold.
CREATE INDEX bookings_user_holds_idx ON bookings (user_id, expires_at) WHERE status = 'pending';
