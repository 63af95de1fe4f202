-- Live seat updates: every change to an event notifies listeners from inside the statement
-- that made it (a NOTIFY is delivered only if and when its transaction commits), so no code
-- path can change seats without every server instance hearing of it.
-- The payload is the whole event, so a listener never needs to read it back.

CREATE FUNCTION boxoffice_notify_event() RETURNS trigger
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
    ELSIF (NEW.title, NEW.description, NEW.date, NEW.venue, NEW.price)
          IS NOT DISTINCT FROM (OLD.title, OLD.description, OLD.date, OLD.venue, OLD.price) THEN
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
            'version', row.version, 'created_at', row.created_at, 'updated_at', row.updated_at
        ))::text);
    RETURN NEW;
END
$$;

CREATE TRIGGER events_notify
    AFTER INSERT OR UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION boxoffice_notify_event();
