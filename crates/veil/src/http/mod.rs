//! HTTP: the route table, extractors, middleware and handlers. Only this module and `app.rs` know
//! axum. Handlers extract, call one domain function, and render.

pub mod access;
pub mod admin;
pub mod admin_pages;
pub mod api;
pub mod audit;
pub mod audit_pages;
pub mod error;
pub mod guard_pages;
pub mod inbox;
pub mod pages;
pub mod render;
pub mod router;
pub mod routes;
pub mod server;
pub mod webhook;

pub use crate::state::{AppParts, AppState};
