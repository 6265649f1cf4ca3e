//! The one integration-test binary. Each test starts the real app (see `helpers::TestApp`).
//! With `TEST_POSTGRES_URL` set, every test runs on a fresh PostgreSQL database instead of
//! SQLite.

mod api;
mod cli;
mod helpers;
mod outbound;
mod privacy;
mod webhook;
