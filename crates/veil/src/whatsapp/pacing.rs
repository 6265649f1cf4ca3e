//! Pacing: a rate per business number (messages per second, with a one-second burst) and one per
//! recipient (Meta's pair rate, about one message every six seconds after a small burst).
//!
//! Each rate is a GCRA bucket (the generic cell rate algorithm): one number per bucket, its
//! theoretical arrival time (TAT). A send is allowed when the TAT is no further ahead of now than
//! the burst allows, and moves the TAT one interval on. The buckets live in the database
//! (`NodeStore::pace`), so the limit is per number and recipient, however many nodes send. This
//! module only decides; time is passed in, so tests need no waiting.

use crate::clock::Millis;

/// One rate: an interval between sends and how far ahead of now the TAT may run (the burst).
#[derive(Debug, Clone, Copy)]
struct Rate {
    interval_us: i64,
    tolerance_us: i64,
}

impl Rate {
    fn new(interval_us: i64, burst: u32) -> Self {
        let interval_us = interval_us.max(1);
        Self {
            interval_us,
            tolerance_us: interval_us.saturating_mul(i64::from(burst.max(1)) - 1),
        }
    }

    /// How long until a send fits (0 = now).
    fn wait_us(self, tat_us: i64, now_us: i64) -> i64 {
        tat_us
            .saturating_sub(now_us)
            .saturating_sub(self.tolerance_us)
            .max(0)
    }

    fn after_send(self, tat_us: i64, now_us: i64) -> i64 {
        tat_us.max(now_us).saturating_add(self.interval_us)
    }
}

/// The pacing rules of one installation.
#[derive(Debug, Clone)]
pub struct Pacer {
    number: Rate,
    pair: Rate,
}

/// The answer for one send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Send now; the capacity is taken.
    Go,
    /// Wait at least this long.
    WaitMs(Millis),
}

impl Pacer {
    pub fn new(messages_per_second: u32, pair_burst: u32, pair_refill_ms: u64) -> Self {
        let per_second = messages_per_second.max(1);
        Self {
            number: Rate::new(1_000_000 / i64::from(per_second), per_second),
            pair: Rate::new(
                i64::try_from(pair_refill_ms.max(1))
                    .unwrap_or(i64::MAX / 4_000)
                    .saturating_mul(1000),
                pair_burst,
            ),
        }
    }

    /// The two buckets a send from `number` to `recipient` (a contact id) spends from, in the order
    /// `decide` expects their times.
    pub fn buckets(number: &str, recipient: &str) -> [String; 2] {
        [
            format!("number:{number}"),
            format!("pair:{number}:{recipient}"),
        ]
    }

    /// Given the buckets' times, either the times after one more send (both have room) or how
    /// long to wait, in milliseconds (nothing is spent).
    pub fn decide(&self, tats_us: &[i64], now: Millis) -> Result<Vec<i64>, Millis> {
        let now_us = now.saturating_mul(1000);
        let number_tat = tats_us.first().copied().unwrap_or(0);
        let pair_tat = tats_us.get(1).copied().unwrap_or(0);
        let wait_us = self
            .number
            .wait_us(number_tat, now_us)
            .max(self.pair.wait_us(pair_tat, now_us));
        if wait_us > 0 {
            return Err(wait_us.saturating_add(999) / 1000);
        }
        Ok(vec![
            self.number.after_send(number_tat, now_us),
            self.pair.after_send(pair_tat, now_us),
        ])
    }

    /// The pair bucket's time after Meta refused a send for its pair rate (131056): the next try
    /// waits one full interval.
    pub fn pair_refused_tat(&self, now: Millis) -> i64 {
        now.saturating_mul(1000)
            .saturating_add(self.pair.tolerance_us)
            .saturating_add(self.pair.interval_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `decide` against in-memory buckets, as `NodeStore::pace` does in a transaction.
    struct Buckets(std::collections::HashMap<String, i64>);

    impl Buckets {
        fn try_send(&mut self, pacer: &Pacer, number: &str, recipient: &str, now: Millis) -> Pace {
            let keys = Pacer::buckets(number, recipient);
            let tats: Vec<i64> = keys
                .iter()
                .map(|k| self.0.get(k).copied().unwrap_or(0))
                .collect();
            match pacer.decide(&tats, now) {
                Ok(fresh) => {
                    for (k, t) in keys.into_iter().zip(fresh) {
                        self.0.insert(k, t);
                    }
                    Pace::Go
                }
                Err(wait) => Pace::WaitMs(wait),
            }
        }
    }

    #[test]
    fn number_rate_caps_sends_per_second() {
        let pacer = Pacer::new(10, 1000, 1);
        let mut buckets = Buckets(std::collections::HashMap::new());
        let sent = (0..50)
            .filter(|i| buckets.try_send(&pacer, "n", &format!("r{i}"), 0) == Pace::Go)
            .count();
        assert_eq!(sent, 10);
        assert!(matches!(buckets.try_send(&pacer, "n", "x", 0), Pace::WaitMs(w) if w <= 100));
        assert_eq!(buckets.try_send(&pacer, "n", "x", 100), Pace::Go);
        assert_eq!(
            buckets.try_send(&pacer, "other number", "x", 100),
            Pace::Go,
            "each business number has its own rate"
        );
    }

    #[test]
    fn pair_rate_allows_a_burst_then_one_per_refill() {
        let pacer = Pacer::new(80, 2, 6_000);
        let mut buckets = Buckets(std::collections::HashMap::new());
        assert_eq!(buckets.try_send(&pacer, "n", "r", 0), Pace::Go);
        assert_eq!(buckets.try_send(&pacer, "n", "r", 0), Pace::Go);
        assert_eq!(buckets.try_send(&pacer, "n", "r", 0), Pace::WaitMs(6_000));
        assert_eq!(
            buckets.try_send(&pacer, "n", "other", 0),
            Pace::Go,
            "another recipient is not held up"
        );
        assert_eq!(buckets.try_send(&pacer, "n", "r", 6_000), Pace::Go);
        let [_, pair] = Pacer::buckets("n", "r");
        buckets.0.insert(pair, pacer.pair_refused_tat(7_000));
        assert_eq!(
            buckets.try_send(&pacer, "n", "r", 7_000),
            Pace::WaitMs(6_000)
        );
        assert_eq!(buckets.try_send(&pacer, "n", "r", 13_000), Pace::Go);
    }

    #[test]
    fn a_refused_send_spends_nothing() {
        let pacer = Pacer::new(1, 1, 1_000);
        assert!(pacer.decide(&[0, 0], 0).is_ok());
        let busy_number = pacer.decide(&[1_000_000, 0], 0);
        assert_eq!(busy_number, Err(1_000));
    }
}
