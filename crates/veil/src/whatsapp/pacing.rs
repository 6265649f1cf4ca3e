//! Pacing: a token bucket per business number (messages per second) and one per recipient
//! (Meta's pair rate, about one message every six seconds with a small burst). Time is passed in,
//! so tests need no waiting.

use std::collections::HashMap;

use crate::clock::Millis;

#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    last: Millis,
}

/// Pacing state for one process.
#[derive(Debug)]
pub struct Pacer {
    per_number_rate: f64,
    pair_burst: f64,
    pair_refill_ms: f64,
    numbers: HashMap<String, Bucket>,
    pairs: HashMap<String, Bucket>,
}

/// The answer for one send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Send now; the tokens are taken.
    Go,
    /// Wait at least this long.
    WaitMs(Millis),
}

impl Pacer {
    pub fn new(messages_per_second: u32, pair_burst: u32, pair_refill_ms: u64) -> Self {
        #[allow(
            clippy::cast_precision_loss,
            reason = "configured intervals are far below 2^52 ms"
        )]
        let pair_refill_ms = pair_refill_ms.max(1) as f64;
        Self {
            per_number_rate: f64::from(messages_per_second.max(1)),
            pair_burst: f64::from(pair_burst.max(1)),
            pair_refill_ms,
            numbers: HashMap::new(),
            pairs: HashMap::new(),
        }
    }

    /// Asks to send one message from `number` to `recipient` at `now`.
    pub fn try_send(&mut self, number: &str, recipient: &str, now: Millis) -> Pace {
        let number_capacity = self.per_number_rate;
        let per_ms = self.per_number_rate / 1000.0;
        let pair_capacity = self.pair_burst;
        let pair_per_ms = 1.0 / self.pair_refill_ms;
        let number_bucket = self.numbers.entry(number.to_owned()).or_insert(Bucket {
            tokens: number_capacity,
            last: now,
        });
        let number_wait = wait_for(number_bucket, number_capacity, per_ms, now);
        let pair_bucket = self.pairs.entry(recipient.to_owned()).or_insert(Bucket {
            tokens: pair_capacity,
            last: now,
        });
        let pair_wait = wait_for(pair_bucket, pair_capacity, pair_per_ms, now);
        if number_wait > 0 || pair_wait > 0 {
            return Pace::WaitMs(number_wait.max(pair_wait));
        }
        if let Some(b) = self.numbers.get_mut(number) {
            b.tokens -= 1.0;
        }
        if let Some(b) = self.pairs.get_mut(recipient) {
            b.tokens -= 1.0;
        }
        Pace::Go
    }

    /// Meta said 131056 (pair rate): empty this recipient's bucket so the next try waits a refill.
    pub fn pair_refused(&mut self, recipient: &str, now: Millis) {
        self.pairs.insert(
            recipient.to_owned(),
            Bucket {
                tokens: 0.0,
                last: now,
            },
        );
    }
}

/// Refills `bucket` to `now` and returns how long until one token is there (0 = now).
fn wait_for(bucket: &mut Bucket, capacity: f64, per_ms: f64, now: Millis) -> Millis {
    #[allow(
        clippy::cast_precision_loss,
        reason = "millisecond differences are far below 2^52"
    )]
    let elapsed = now.saturating_sub(bucket.last).max(0) as f64;
    bucket.tokens = (bucket.tokens + elapsed * per_ms).min(capacity);
    bucket.last = now;
    if bucket.tokens >= 1.0 {
        0
    } else {
        #[allow(
            clippy::cast_possible_truncation,
            reason = "the wait is at most one refill interval"
        )]
        let wait = ((1.0 - bucket.tokens) / per_ms).ceil() as Millis;
        wait.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_rate_caps_sends_per_second() {
        let mut pacer = Pacer::new(10, 1000, 1);
        let sent = (0..50)
            .filter(|i| pacer.try_send("n", &format!("r{i}"), 0) == Pace::Go)
            .count();
        assert_eq!(sent, 10);
        assert!(matches!(pacer.try_send("n", "x", 0), Pace::WaitMs(w) if w <= 100));
        assert_eq!(pacer.try_send("n", "x", 100), Pace::Go);
    }

    #[test]
    fn pair_rate_allows_a_burst_then_one_per_refill() {
        let mut pacer = Pacer::new(80, 2, 6_000);
        assert_eq!(pacer.try_send("n", "r", 0), Pace::Go);
        assert_eq!(pacer.try_send("n", "r", 0), Pace::Go);
        assert_eq!(pacer.try_send("n", "r", 0), Pace::WaitMs(6_000));
        assert_eq!(
            pacer.try_send("n", "other", 0),
            Pace::Go,
            "another recipient is not held up"
        );
        assert_eq!(pacer.try_send("n", "r", 6_000), Pace::Go);
        pacer.pair_refused("r", 7_000);
        assert_eq!(pacer.try_send("n", "r", 7_000), Pace::WaitMs(6_000));
    }
}
