//! Veil: a self-hosted, privacy-first WhatsApp Business inbox.
//!
//! Read in this order (ARCHITECTURE.md has the map and the rules that keep it):
//! `cli` (entry point) → `app` (starts everything) → `http` (the edge: routes, the gate, `api`,
//! `ui`) → `state` (the one handle handlers get on the domain) → the domain: `inbound`
//! (webhooks in, sealed, group commit), `inbox` (conversations: read side, desk, assignment,
//! stored content, live signals), `outbox` (sends), `media`, `identity`, `audit`, `guard` →
//! `whatsapp` (Meta's formats only) and `keys` → `store` (the only module with SQL) →
//! `config`, `clock`, `i18n`.

pub mod app;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod guard;
pub mod http;
pub mod i18n;
pub mod identity;
pub mod inbound;
pub mod inbox;
pub mod keys;
pub mod mail;
pub mod media;
pub mod outbox;
pub mod state;
pub mod store;
pub mod whatsapp;
