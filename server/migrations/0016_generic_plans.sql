-- The statements of the order functions run on plans made once per connection (generic
-- plans), never planned again for each call. PostgreSQL plans a function's statement anew
-- for each call while it judges a plan for the given values cheaper than one for any
-- values, which it keeps doing on tables whose statistics are missing or old: a new
-- event's seats, a new database's tickets (before autovacuum's first ANALYZE). Planning
-- then cost more than running (0.7 of 1.4 ms an order); the statements all look rows up
-- by key or by the free-seat index, so one plan suits every value.
-- (Measured with bench/arena.py: 1,742 seats/s, p99 153 ms before; 2,049, p99 135 ms with
-- every connection on generic plans.)
ALTER FUNCTION boxoffice_place_orders(JSONB) SET plan_cache_mode = force_generic_plan;
