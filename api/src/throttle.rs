//! A small in-process limiter: at most `max` events per key within a
//! sliding `window` (failed logins per e-mail address).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts events per key over a sliding window.
pub struct Throttle {
    max: usize,
    window: Duration,
    events: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    /// At most `max` events per key within `window`.
    pub fn new(max: usize, window: Duration) -> Self {
        Self { max, window, events: Mutex::new(HashMap::new()) }
    }

    /// How long `key` must wait before its next event is allowed, if it
    /// must.
    pub fn wait(&self, key: &str, now: Instant) -> Option<Duration> {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let times = events.get_mut(key)?;
        while times.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
            times.pop_front();
        }
        if times.is_empty() {
            events.remove(key);
            return None;
        }
        (times.len() >= self.max)
            .then(|| times.front().map_or(Duration::ZERO, |t| self.window - now.duration_since(*t)))
    }

    /// Records an event of `key`; now and then forgets keys with no event
    /// in the window, so the map does not grow without bound.
    pub fn record(&self, key: &str, now: Instant) {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if events.len() > 10_000 {
            let window = self.window;
            events.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        events.entry(key.to_owned()).or_default().push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_waits_once_it_has_used_its_events_and_others_do_not() {
        let throttle = Throttle::new(3, Duration::from_secs(60));
        let start = Instant::now();
        for i in 0..3 {
            assert_eq!(throttle.wait("a", start + Duration::from_secs(i)), None);
            throttle.record("a", start + Duration::from_secs(i));
        }
        assert_eq!(throttle.wait("a", start + Duration::from_secs(10)), Some(Duration::from_secs(50)));
        assert_eq!(throttle.wait("b", start + Duration::from_secs(10)), None, "other keys are not affected");
        assert_eq!(throttle.wait("a", start + Duration::from_secs(61)), None, "the window slides");
    }
}
