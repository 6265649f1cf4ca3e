//! The 24-hour customer-service window: free-form messages are allowed for 24 hours after the
//! customer's last message; outside it only templates may be sent.

use crate::clock::Millis;

/// Length of the window.
pub const WINDOW_MS: Millis = 24 * 60 * 60 * 1000;

/// Whether a conversation's window is open, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub open: bool,
    pub closes_at: Option<Millis>,
}

/// The window given the customer's last inbound message time.
pub fn window(last_inbound_at: Option<Millis>, now: Millis) -> Window {
    match last_inbound_at.filter(|t| *t > 0) {
        Some(at) => {
            let closes_at = at.saturating_add(WINDOW_MS);
            Window {
                open: now < closes_at,
                closes_at: Some(closes_at),
            }
        }
        None => Window {
            open: false,
            closes_at: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(last: Option<Millis>, now: Millis, open: bool) {
        assert_eq!(window(last, now).open, open, "last={last:?} now={now}");
    }

    #[test]
    fn window_is_open_for_exactly_24_hours() {
        check(None, 5, false);
        check(Some(0), 5, false);
        check(Some(1_000), 1_000, true);
        check(Some(1_000), 1_000 + WINDOW_MS - 1, true);
        check(Some(1_000), 1_000 + WINDOW_MS, false);
        assert_eq!(window(Some(1), 2).closes_at, Some(1 + WINDOW_MS));
    }
}
