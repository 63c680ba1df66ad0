-- StatusHawk: a maintenance window's occurrences, in one place.
--
-- One-off windows occur once; weekly ones on each of their ISO weekdays at
-- start_time local time in their own time zone, for duration (up to 7
-- days, so an occurrence that began a week before `from_at` may still be
-- running). Every reader asks this function: the notifier ("does a window
-- cover this monitor now?") and the API's uptime and status pages ("which
-- spans of this range were maintenance?"), so the two never disagree.

CREATE FUNCTION maintenance_occurrences(team uuid, from_at timestamptz, to_at timestamptz)
RETURNS TABLE (
    window_id  uuid,
    monitor_id uuid,
    title      text,
    created_at timestamptz,
    starts_at  timestamptz,
    ends_at    timestamptz
)
LANGUAGE sql STABLE AS $$
    SELECT w.id, w.monitor_id, w.title, w.created_at, w.starts_at, w.ends_at
    FROM maintenance_windows w
    WHERE w.team_id = team AND w.kind = 'one_off' AND w.starts_at < to_at AND w.ends_at > from_at
    UNION ALL
    SELECT w.id, w.monitor_id, w.title, w.created_at, o.starts_at, o.ends_at
    FROM maintenance_windows w,
         LATERAL (SELECT (from_at AT TIME ZONE w.timezone)::date - 7 AS first,
                         (to_at AT TIME ZONE w.timezone)::date AS last) r,
         LATERAL generate_series(0, r.last - r.first) AS n(days),
         LATERAL (SELECT r.first + n.days AS day) d,
         LATERAL (SELECT (d.day + w.start_time) AT TIME ZONE w.timezone AS starts_at,
                         (d.day + w.start_time + w.duration) AT TIME ZONE w.timezone AS ends_at) o
    WHERE w.team_id = team AND w.kind = 'weekly'
      AND extract(isodow FROM d.day)::smallint = ANY (w.weekdays)
      AND o.starts_at < to_at AND o.ends_at > from_at
$$;

COMMENT ON FUNCTION maintenance_occurrences(uuid, timestamptz, timestamptz) IS
    'Occurrences of the team''s maintenance windows that overlap [from_at, to_at): one-off ones as they are, weekly ones expanded in their own time zone.';
