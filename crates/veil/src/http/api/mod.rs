//! The JSON API (`/api/v1`): conversations, people and access, and the audit log.

pub mod audit;
pub mod conversations;
pub mod people;
