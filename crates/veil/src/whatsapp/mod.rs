//! The WhatsApp Cloud API as Veil speaks it: webhook payloads, the Graph API client, pacing and
//! the 24-hour customer-service window. Meta's JSON shapes stay in this module and `http`.

pub mod graph;
pub mod media_kind;
pub mod pacing;
pub mod webhook;
pub mod window;
