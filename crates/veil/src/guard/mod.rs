//! The guard (C7): screens every message, in both directions, for payment and personal data,
//! phishing and scams. Domain logic only: text in, findings out; no IO.

pub mod identifiers;
pub mod validate;
