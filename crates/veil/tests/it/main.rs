//! The one integration-test binary. Each test starts the real app (see `helpers::TestApp`).
//! With `TEST_POSTGRES_URL` set, every test runs on a fresh PostgreSQL database instead of
//! SQLite.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "test code: a failed unwrap is a failed test, and a scenario reads best in one piece"
)]

mod admin;
mod api;
mod audit;
mod authz;
mod cli;
mod edge;
mod failclosed;
mod guard;
mod helpers;
mod identity;
mod nodes;
mod outbound;
mod privacy;
mod throttle;
mod webhook;
