-- Seated events in the events API (issue 10): live updates carry the event's venue_id, and
-- moving an event to another plan (or between general admission and seated) is an
-- "updated" change, not a "seats" one, so clients re-read what the event is.
CREATE OR REPLACE FUNCTION boxoffice_notify_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    kind TEXT;
    row events;
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('boxoffice_events', json_build_object(
            'type', 'deleted', 'id', OLD.id, 'version', OLD.version + 1)::text);
        RETURN OLD;
    END IF;
    row := NEW;
    IF TG_OP = 'INSERT' THEN
        kind := 'created';
    ELSIF (NEW.title, NEW.description, NEW.date, NEW.venue, NEW.price, NEW.venue_id)
          IS NOT DISTINCT FROM
          (OLD.title, OLD.description, OLD.date, OLD.venue, OLD.price, OLD.venue_id) THEN
        kind := 'seats';
    ELSE
        kind := 'updated';
    END IF;
    PERFORM pg_notify('boxoffice_events', json_build_object(
        'type', kind,
        'id', row.id,
        'version', row.version,
        'event', json_build_object(
            'id', row.id, 'title', row.title, 'description', row.description,
            'date', row.date, 'venue', row.venue, 'total_seats', row.total_seats,
            'available_seats', row.available_seats, 'price', row.price::text,
            'checked_in', row.checked_in, 'venue_id', row.venue_id,
            'version', row.version, 'created_at', row.created_at, 'updated_at', row.updated_at
        ))::text);
    RETURN NEW;
END
$$;

-- Ticket types count their active tickets when a quota is set, and a type is deleted only
-- while no ticket was sold as it (the foreign key's check): both look tickets up by type.
CREATE INDEX tickets_type_idx ON tickets (ticket_type_id);
