//! The inbox page's view models: plain values the template shows (askama escapes each one).

use crate::http::ui::layout::Nav;
use crate::http::ui::text::Span;
use crate::i18n::Lang;
use crate::inbox::InboxFilter;
use askama::Template;

pub(super) struct Tab {
    pub(super) view: &'static str,
    pub(super) label: String,
    pub(super) href: String,
    pub(super) active: bool,
    pub(super) count: i64,
    pub(super) count_shown: String,
    pub(super) count_text: String,
}

pub(super) struct Row {
    pub(super) id: String,
    pub(super) href: String,
    pub(super) name: String,
    pub(super) masked: String,
    pub(super) when: String,
    pub(super) when_iso: String,
    pub(super) window_class: &'static str,
    pub(super) window_text: String,
    pub(super) status_text: String,
    pub(super) unread: i64,
    pub(super) unread_shown: String,
    pub(super) unread_text: String,
    pub(super) active: bool,
}

pub(super) struct Tick {
    pub(super) status: String,
    pub(super) symbol: &'static str,
    pub(super) label: String,
}

#[allow(
    clippy::struct_excessive_bools,
    reason = "a view model: each flag shows or hides one part of the page"
)]
pub(super) struct MediaItem {
    pub(super) url: String,
    pub(super) inline: bool,
    pub(super) available: bool,
    /// The guard quarantined it; `release`: this viewer may download it after a warning.
    pub(super) quarantined: bool,
    pub(super) release: bool,
    pub(super) filename: String,
    pub(super) alt: String,
    pub(super) state_text: String,
}

pub(super) struct Card {
    pub(super) name: String,
    pub(super) phones: Vec<String>,
}

pub(super) struct Location {
    pub(super) name: String,
    pub(super) address: String,
    pub(super) coordinates: String,
    pub(super) map_url: String,
}

/// The guard's note on one message: its risk, one line per finding kind, and the kinds (for
/// tests and styling).
pub(super) struct GuardNote {
    pub(super) risk: &'static str,
    pub(super) kinds: String,
    pub(super) lines: Vec<String>,
}

pub(super) struct Item {
    pub(super) id: String,
    pub(super) side: &'static str,
    pub(super) kind: String,
    pub(super) author: Option<String>,
    pub(super) quoted: Option<String>,
    pub(super) kind_label: Option<String>,
    pub(super) media: Option<MediaItem>,
    pub(super) body: Vec<Span>,
    /// What the guard found, when an agent should see it.
    pub(super) guard: Option<GuardNote>,
    pub(super) cards: Vec<Card>,
    pub(super) location: Option<Location>,
    pub(super) notice: Option<String>,
    pub(super) when: String,
    pub(super) when_iso: String,
    pub(super) at: i64,
    pub(super) tick: Option<Tick>,
    pub(super) failure: Option<String>,
    /// A scheduled message that has not gone out yet (can be cancelled).
    pub(super) scheduled: bool,
}

/// One option of a select or checkbox list (agents, teams, labels).
pub(crate) struct Choice {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) selected: bool,
}

pub(super) struct Canned {
    pub(super) id: String,
    pub(super) shortcut: String,
    pub(super) text: String,
}

#[allow(
    clippy::struct_excessive_bools,
    reason = "a view model: each flag shows or hides one part of the page"
)]
pub(super) struct Thread {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) masked: String,
    pub(super) revealed: Option<String>,
    pub(super) window_open: bool,
    pub(super) window_class: &'static str,
    pub(super) window_text: String,
    pub(super) status: String,
    pub(super) status_text: String,
    pub(super) items: Vec<Item>,
    pub(super) composer_mode: &'static str,
    pub(super) can_reply: bool,
    pub(super) can_reveal: bool,
    pub(super) can_assign: bool,
    pub(super) assignee_name: String,
    pub(super) agents: Vec<Choice>,
    pub(super) teams: Vec<Choice>,
    pub(super) labels: Vec<Choice>,
    pub(super) canned: Vec<Canned>,
    /// Link to the messages before the oldest shown, when there are more.
    pub(super) earlier_href: Option<String>,
    /// Showing an earlier part: link back to the newest.
    pub(super) latest_href: Option<String>,
    /// When the 24-hour window closes (Unix ms, 0: closed or never opened), for the composer's
    /// scheduling warning.
    pub(super) window_closes_ms: i64,
    pub(super) window_closes_note: String,
}

#[derive(Template)]
#[template(path = "inbox.html")]
pub(super) struct InboxPage {
    pub(super) l: Lang,
    pub(super) title: String,
    pub(super) nav: Nav,
    pub(super) tabs: Vec<Tab>,
    pub(super) filter: InboxFilter,
    pub(super) query: String,
    pub(super) statuses: Vec<(&'static str, String, bool)>,
    pub(super) all_labels: Vec<crate::inbox::LabelRow>,
    pub(super) rows: Vec<Row>,
    pub(super) thread: Option<Thread>,
    pub(super) back_href: String,
    pub(super) templates: Vec<String>,
    pub(super) emoji: &'static [&'static str],
    /// Why the last action was refused, shown above the composer.
    pub(super) error: Option<String>,
}

pub(super) const EMOJI: &[&str] = &[
    "😀", "🙂", "😉", "😊", "🙏", "👍", "👋", "🎉", "❤️", "✅", "📦", "🚚", "⏳", "📞", "💬", "🙌",
];
