-- StatusHawk: the W3C trace context of what waits in a table between two
-- hops of a trace, so the trace goes on when it is taken out:
--
-- * event_outbox.traceparent: the evaluator's hop of the result that caused
--   the event; sent as the event's `traceparent` header.
-- * notification_deliveries.traceparent: the notifier's hop of the event
--   the delivery announces; its sending is logged in that trace.

ALTER TABLE event_outbox
    ADD COLUMN traceparent text CHECK (traceparent ~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$');

ALTER TABLE notification_deliveries
    ADD COLUMN traceparent text CHECK (traceparent ~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$');

COMMENT ON COLUMN event_outbox.traceparent IS 'W3C traceparent of the evaluator hop that caused the event (NULL: none).';
COMMENT ON COLUMN notification_deliveries.traceparent IS 'W3C traceparent of the notifier hop that planned it (NULL: none).';
