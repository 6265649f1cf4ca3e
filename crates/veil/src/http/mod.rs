//! HTTP: the route table, extractors, middleware and handlers. Only this module and `app.rs` know
//! axum. Handlers extract, call one domain function, and render.

pub mod access;
pub mod api;
pub mod error;
pub mod policy;
pub mod router;
pub mod routes;
pub mod server;
pub mod ui;
pub mod webhook;

pub use crate::state::{AppParts, AppState};
