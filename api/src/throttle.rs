//! A small in-process limiter: at most `max` events per key within a
//! sliding `window` (failed logins per e-mail address, public requests per
//! client address, pings per heartbeat monitor).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts events per key over a sliding window.
pub struct Throttle<K = String> {
    max: usize,
    window: Duration,
    events: Mutex<HashMap<K, VecDeque<Instant>>>,
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    /// At most `max` events per key within `window`.
    pub fn new(max: usize, window: Duration) -> Self {
        Self { max, window, events: Mutex::new(HashMap::new()) }
    }

    /// How long `key` must wait before its next event is allowed, if it
    /// must.
    pub fn wait<Q>(&self, key: &Q, now: Instant) -> Option<Duration>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
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
    pub fn record<Q>(&self, key: &Q, now: Instant)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        self.forget_idle(&mut events, now);
        match events.get_mut(key) {
            Some(times) => times.push_back(now),
            None => {
                events.insert(key.to_owned(), VecDeque::from([now]));
            }
        }
    }

    /// Records an event of `key` if it is allowed now (one lock, for hot
    /// paths); otherwise how long to wait.
    pub fn admit(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        self.forget_idle(&mut events, now);
        let times = events.entry(key.clone()).or_default();
        while times.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
            times.pop_front();
        }
        if times.len() >= self.max {
            return Err(times.front().map_or(Duration::ZERO, |t| self.window - now.duration_since(*t)));
        }
        times.push_back(now);
        Ok(())
    }

    /// Records an event for every key if each is below its own limit now
    /// (all under one lock, so a concurrent burst cannot slip past between
    /// the check and the record); otherwise records nothing and says how
    /// long to wait.
    pub fn admit_all(&self, keys: &[(K, usize)], now: Instant) -> Result<(), Duration> {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        self.forget_idle(&mut events, now);
        let mut wait = None::<Duration>;
        for (key, max) in keys {
            let Some(times) = events.get_mut(key) else { continue };
            while times.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                times.pop_front();
            }
            if times.len() >= *max {
                let until = times
                    .get(times.len() - *max)
                    .map_or(Duration::ZERO, |t| self.window.saturating_sub(now.duration_since(*t)));
                wait = Some(wait.map_or(until, |w| w.max(until)));
            }
        }
        if let Some(wait) = wait {
            return Err(wait);
        }
        for (key, _) in keys {
            events.entry(key.clone()).or_default().push_back(now);
        }
        Ok(())
    }

    /// Takes back the newest event of `key` (an attempt that turned out
    /// legitimate, e.g. a successful login).
    pub fn refund(&self, key: &K) {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(times) = events.get_mut(key) {
            times.pop_back();
            if times.is_empty() {
                events.remove(key);
            }
        }
    }

    /// Now and then forgets keys with no event in the window, so the map
    /// does not grow without bound.
    fn forget_idle(&self, events: &mut HashMap<K, VecDeque<Instant>>, now: Instant) {
        if events.len() > 10_000 {
            let window = self.window;
            events.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < window));
        }
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

    #[test]
    fn admit_records_what_it_allows_and_refuses_the_rest() {
        let throttle: Throttle<u32> = Throttle::new(2, Duration::from_secs(1));
        let start = Instant::now();
        assert_eq!(throttle.admit(&7, start), Ok(()));
        assert_eq!(throttle.admit(&7, start + Duration::from_millis(100)), Ok(()));
        assert_eq!(throttle.admit(&7, start + Duration::from_millis(200)), Err(Duration::from_millis(800)));
        assert_eq!(throttle.admit(&8, start + Duration::from_millis(200)), Ok(()), "other keys are not affected");
        assert_eq!(throttle.admit(&7, start + Duration::from_millis(1_000)), Ok(()), "the window slides");
    }

    #[test]
    fn admit_all_records_every_key_or_none() {
        let throttle: Throttle<&str> = Throttle::new(0, Duration::from_secs(60));
        let start = Instant::now();
        let at = |s| start + Duration::from_secs(s);
        assert_eq!(throttle.admit_all(&[("address", 3), ("account", 1)], at(0)), Ok(()));
        assert_eq!(throttle.admit_all(&[("address", 3), ("account", 1)], at(10)), Err(Duration::from_secs(50)));
        assert_eq!(throttle.admit_all(&[("address", 3), ("other", 1)], at(10)), Ok(()), "the refusal recorded nothing");
        assert_eq!(throttle.admit_all(&[("address", 3)], at(20)), Ok(()));
        assert_eq!(throttle.admit_all(&[("address", 3)], at(30)), Err(Duration::from_secs(30)), "3 in the window");
        throttle.refund(&"address");
        assert_eq!(throttle.admit_all(&[("address", 3)], at(30)), Ok(()), "a refund frees its place");
        assert_eq!(throttle.admit_all(&[("account", 1)], at(61)), Ok(()), "the window slides");
    }
}
