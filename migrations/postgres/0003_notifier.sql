-- StatusHawk: what the notifier needs beyond the initial schema.
--
-- * notification_deliveries.payload: the notification to render (the
--   incident event, or a reminder), so a delivery can be retried or resumed
--   by any notifier without the event.
-- * notification_deliveries.next_attempt_at: when the next try is due
--   (back-off or the provider's Retry-After).
-- * notification_deliveries.reason: why a delivery was suppressed (a
--   maintenance window, a disabled channel).
-- * channels.remind_every_minutes: re-notify while an incident stays open.

ALTER TABLE notification_deliveries
    ADD COLUMN payload         jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN reason          text        CHECK (char_length(reason) <= 1000);

COMMENT ON COLUMN notification_deliveries.payload IS 'The notification rendered for the channel (incident event or reminder).';
COMMENT ON COLUMN notification_deliveries.next_attempt_at IS 'When the next try is due (pending deliveries).';
COMMENT ON COLUMN notification_deliveries.reason IS 'Why it was suppressed (maintenance window, disabled channel).';

-- The delivery workers' queue: pending deliveries by due time.
CREATE INDEX notification_deliveries_due_idx
    ON notification_deliveries (next_attempt_at) WHERE status = 'pending';

ALTER TABLE channels
    ADD COLUMN remind_every_minutes integer CHECK (remind_every_minutes BETWEEN 1 AND 10080);

COMMENT ON COLUMN channels.remind_every_minutes IS
    'Re-notify this channel every N minutes while an incident stays open; NULL = no reminders.';
