//! The web UI, rendered on the server (askama escapes every value): the page chrome, signing in
//! and the account, the inbox, administration, the guard's policy and the auditor's page.

pub mod account;
pub mod admin;
pub mod audit;
pub mod inbox;
pub mod layout;
pub mod text;
