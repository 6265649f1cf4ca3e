//! Veil: a self-hosted, privacy-first WhatsApp Business inbox.
//!
//! See ARCHITECTURE.md for the map. In short: `http` receives webhooks and API calls, `whatsapp`
//! speaks Meta's formats, `inbound` seals and commits what arrives (group commit), `outbound`
//! sends through a durable outbox, `media` fetches and seals files, `inbox` opens data for
//! authorised readers, `keys` holds the key hierarchy, and `store` is the only module with SQL.

pub mod app;
pub mod assignment;
pub mod audit;
pub mod bench;
pub mod clamd;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod desk;
pub mod error;
pub mod guard;
pub mod guard_cli;
pub mod http;
pub mod i18n;
pub mod identity;
pub mod inbound;
pub mod inbox;
pub mod keys;
pub mod live;
pub mod mail;
pub mod media;
pub mod outbound;
pub mod screen;
pub mod seed;
pub mod store;
pub mod whatsapp;
