//! Throttling of guesses: growing waits after a few free failures, a long lock after many, and for
//! accounts a hard stop that only an administrator lifts. Pure policy; counters live in the store
//! (`login_throttle`), keyed so that unknown accounts throttle exactly like real ones.

/// What one kind of key allows.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures allowed without any wait.
    pub free: i64,
    /// First wait, doubled per further failure.
    pub base_wait_secs: i64,
    /// Longest wait.
    pub max_wait_secs: i64,
    /// After this many consecutive failures nothing is accepted until an admin resets the key.
    pub hard_stop: Option<i64>,
    /// A counter whose last failure is this old starts again from zero (`None`: never; an
    /// account's count ends only with a successful sign-in or an admin's unlock).
    pub forget_after_secs: Option<i64>,
}

/// Per account (keyed by a blind index of the e-mail, known or not).
pub const ACCOUNT: Policy = Policy {
    free: 5,
    base_wait_secs: 2,
    max_wait_secs: 15 * 60,
    hard_stop: Some(100),
    forget_after_secs: None,
};

/// Per client address (IPv6 by /64).
pub const CLIENT: Policy = Policy {
    free: 20,
    base_wait_secs: 1,
    max_wait_secs: 15 * 60,
    hard_stop: None,
    forget_after_secs: Some(24 * 3600),
};

/// Second-factor codes per user: three tries, then wait out the 30-second step, growing; after
/// 20 wrong codes in a row (hours of waiting) nothing is accepted until an administrator unlocks.
pub const SECOND_FACTOR: Policy = Policy {
    free: 3,
    base_wait_secs: 30,
    max_wait_secs: 15 * 60,
    hard_stop: Some(20),
    forget_after_secs: Some(3600),
};

/// A key's counter as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counter {
    pub failures: i64,
    pub last_failure_at: i64,
}

/// The verdict before an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Try again in this many seconds.
    Wait(i64),
    /// Locked until an administrator resets it.
    Stopped,
}

impl Policy {
    /// Whether an attempt may be made now.
    pub fn verdict(&self, counter: Counter, now: i64) -> Verdict {
        if self.is_stale(counter, now) {
            return Verdict::Allowed;
        }
        if self.stopped(counter) {
            return Verdict::Stopped;
        }
        let over = counter.failures - self.free;
        if over < 0 {
            return Verdict::Allowed;
        }
        let shift = u32::try_from(over.min(30)).unwrap_or(30);
        let wait = self
            .base_wait_secs
            .saturating_mul(1i64 << shift)
            .min(self.max_wait_secs);
        let until = counter.last_failure_at.saturating_add(wait);
        if now >= until {
            Verdict::Allowed
        } else {
            Verdict::Wait(until - now)
        }
    }
}

impl Policy {
    /// Whether the counter has reached the hard stop (only an administrator lifts it).
    pub fn stopped(&self, counter: Counter) -> bool {
        self.hard_stop.is_some_and(|stop| counter.failures >= stop)
    }

    /// Whether the counter has been forgotten (it is cleared before the next attempt counts).
    pub fn is_stale(&self, counter: Counter, now: i64) -> bool {
        // A hard stop is never forgotten.
        counter.failures > 0
            && !self.stopped(counter)
            && self
                .forget_after_secs
                .is_some_and(|after| now - counter.last_failure_at >= after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_then_cap_then_stop() {
        let at = |failures| Counter {
            failures,
            last_failure_at: 1000,
        };
        assert_eq!(ACCOUNT.verdict(at(4), 1000), Verdict::Allowed);
        assert_eq!(ACCOUNT.verdict(at(5), 1000), Verdict::Wait(2));
        assert_eq!(ACCOUNT.verdict(at(6), 1000), Verdict::Wait(4));
        assert_eq!(ACCOUNT.verdict(at(6), 1004), Verdict::Allowed);
        assert_eq!(ACCOUNT.verdict(at(20), 1000), Verdict::Wait(900));
        assert_eq!(ACCOUNT.verdict(at(99), 1000 + 900), Verdict::Allowed);
        assert_eq!(ACCOUNT.verdict(at(100), 1_000_000), Verdict::Stopped);
        assert_eq!(CLIENT.verdict(at(1000), 1_000_000), Verdict::Allowed);
        assert_eq!(SECOND_FACTOR.verdict(at(3), 1010), Verdict::Wait(20));
        assert_eq!(SECOND_FACTOR.verdict(at(19), 1000 + 3600), Verdict::Allowed);
        assert_eq!(
            SECOND_FACTOR.verdict(at(20), 1000 + 86_400),
            Verdict::Stopped,
            "a stopped second factor is not forgotten"
        );
    }

    #[test]
    fn client_and_code_counters_are_forgotten_accounts_are_not() {
        let old = Counter {
            failures: 40,
            last_failure_at: 0,
        };
        assert!(CLIENT.is_stale(old, 24 * 3600));
        assert!(!CLIENT.is_stale(old, 24 * 3600 - 1));
        let few = Counter {
            failures: 10,
            last_failure_at: 0,
        };
        assert!(SECOND_FACTOR.is_stale(few, 3600));
        assert!(!SECOND_FACTOR.is_stale(old, 3600), "past its hard stop");
        let stopped = Counter {
            failures: 100,
            last_failure_at: 0,
        };
        assert!(!ACCOUNT.is_stale(stopped, 365 * 24 * 3600));
        assert_eq!(ACCOUNT.verdict(stopped, 365 * 24 * 3600), Verdict::Stopped);
    }
}
