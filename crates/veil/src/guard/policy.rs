//! What happens to a finding: a policy per kind and direction (allow, warn, mask, block), and
//! the decision for one message, with values masked where the policy says so.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::identifiers::ascii_digit;
use super::{Finding, Kind, Reason, Risk};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Recorded, not shown.
    Allow,
    /// Shown to the agent with the reasons; links stay inert until the agent confirms.
    Warn,
    /// The value is masked before it is stored or sent (cards keep their last four digits).
    Mask,
    /// Outbound: the message is refused with an explanation. Inbound: the value is masked
    /// entirely (what a customer sent cannot be refused, only not kept).
    Block,
}

impl Action {
    pub const ALL: [Action; 4] = [Action::Allow, Action::Warn, Action::Mask, Action::Block];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Warn => "warn",
            Action::Mask => "mask",
            Action::Block => "block",
        }
    }

    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From a customer.
    Inbound,
    /// From an agent or the API.
    Outbound,
}

/// The actions of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub inbound: Action,
    pub outbound: Action,
}

/// The defaults: a full card number is never stored (masked inbound, blocked outbound with the
/// advice to send a payment link); an agent asking for a card, a CVV or a code is blocked;
/// phishing links are blocked outbound; other identifiers and scam patterns warn; an agent's
/// own e-mail addresses and phone numbers, and pressure words, pass.
pub fn default_rule(kind: Kind) -> Rule {
    use Action::{Allow, Block, Mask, Warn};
    let (inbound, outbound) = match kind {
        Kind::CardNumber => (Mask, Block),
        Kind::CodeRequest | Kind::CardRequest | Kind::PhishingUrl => (Warn, Block),
        Kind::Email | Kind::Phone => (Warn, Allow),
        Kind::Urgency => (Allow, Allow),
        _ => (Warn, Warn),
    };
    Rule { inbound, outbound }
}

/// The policy in force: the defaults with an admin's overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Overrides by kind name.
    #[serde(default)]
    pub overrides: BTreeMap<String, Rule>,
}

impl Policy {
    pub fn rule(&self, kind: Kind) -> Rule {
        self.overrides
            .get(kind.as_str())
            .copied()
            .unwrap_or_else(|| default_rule(kind))
    }

    pub fn action(&self, kind: Kind, direction: Direction) -> Action {
        let rule = self.rule(kind);
        let action = match direction {
            Direction::Inbound => rule.inbound,
            Direction::Outbound => rule.outbound,
        };
        // Patterns (a request, a link) have no value to mask: masking them means warning.
        if action == Action::Mask && !kind.is_value() {
            Action::Warn
        } else {
            action
        }
    }

    /// Sets one kind's rule; the default rule removes the override.
    pub fn set(&mut self, kind: Kind, rule: Rule) {
        if rule == default_rule(kind) {
            self.overrides.remove(kind.as_str());
        } else {
            self.overrides.insert(kind.as_str().to_owned(), rule);
        }
    }
}

/// One finding with the action taken; offsets are into the decided text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decided {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// What the guard decided about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The text to store or send: masked where the policy says so.
    pub text: String,
    pub findings: Vec<Decided>,
    pub risk: Risk,
}

impl Decision {
    /// The kinds that refuse an outbound message.
    pub fn blocking(&self) -> Vec<&str> {
        let mut kinds: Vec<&str> = self
            .findings
            .iter()
            .filter(|f| f.action == Action::Block)
            .map(|f| f.kind.as_str())
            .collect();
        kinds.dedup();
        kinds
    }

    /// Whether an agent should see anything about this message.
    pub fn shown(&self) -> bool {
        self.findings.iter().any(|f| f.action != Action::Allow)
    }
}

/// Applies `policy` to `findings` of `text`.
pub fn decide(policy: &Policy, direction: Direction, text: &str, findings: &[Finding]) -> Decision {
    let mut out = String::with_capacity(text.len());
    let mut decided = Vec::with_capacity(findings.len());
    let mut copied = 0;
    let mut masked_until = 0;
    for f in findings {
        let action = policy.action(f.kind, direction);
        let masks = f.kind.is_value()
            && (action == Action::Mask
                || (action == Action::Block && direction == Direction::Inbound));
        let value = text.get(f.start..f.end).unwrap_or_default();
        let reasons = f
            .reasons
            .iter()
            .map(|r| Reason::as_str(*r).to_owned())
            .collect();
        if masks && f.start >= masked_until && f.start >= copied {
            out.push_str(text.get(copied..f.start).unwrap_or_default());
            let start = out.len();
            let keep = if f.kind == Kind::CardNumber && action == Action::Mask {
                4
            } else {
                0
            };
            out.push_str(&mask(value, keep));
            copied = f.end;
            masked_until = f.end;
            decided.push(Decided {
                kind: f.kind,
                start,
                end: out.len(),
                action,
                reasons,
            });
        } else {
            // Offsets shift by what masking before this finding changed.
            let shift = |at: usize| {
                if at >= copied {
                    out.len() + (at - copied)
                } else {
                    at.min(out.len())
                }
            };
            decided.push(Decided {
                kind: f.kind,
                start: shift(f.start),
                end: shift(f.end),
                action,
                reasons,
            });
        }
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    Decision {
        text: out,
        risk: Risk::of(findings),
        findings: decided,
    }
}

/// `4111 1111 1111 1111` → `•••• •••• •••• 1111` with `keep` = 4: letters and digits become
/// bullets but the last `keep`; separators stay.
pub fn mask(value: &str, keep: usize) -> String {
    let significant = |c: char| c.is_alphanumeric() || ascii_digit(c).is_some();
    let total = value.chars().filter(|c| significant(*c)).count();
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if significant(c) {
                seen += 1;
                if seen + keep > total {
                    return c;
                }
                '•'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::guard::{Scanner, ScannerSettings};

    #[test]
    fn stored_findings_keep_their_kind_names() {
        // Verdicts are sealed into stored content: the kind's name is the stored format.
        let stored = r#"{"kind":"card_number","start":0,"end":4,"action":"mask"}"#;
        let d: Decided = serde_json::from_str(stored).unwrap();
        assert_eq!(d.kind, Kind::CardNumber);
        for kind in Kind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<Kind>(&json).unwrap(), kind);
        }
    }

    fn decide_text(direction: Direction, text: &str) -> Decision {
        let findings = Scanner::new(&ScannerSettings::default()).scan(text);
        decide(&Policy::default(), direction, text, &findings)
    }

    #[test]
    fn inbound_cards_are_stored_masked_to_the_last_four() {
        let d = decide_text(
            Direction::Inbound,
            "card 4111 1111 1111 1111 and mail a@example.org",
        );
        assert_eq!(d.text, "card •••• •••• •••• 1111 and mail a@example.org");
        assert_eq!(d.findings[0].kind, Kind::CardNumber);
        assert_eq!(d.findings[0].action, Action::Mask);
        let card = &d.text[d.findings[0].start..d.findings[0].end];
        assert_eq!(card, "•••• •••• •••• 1111");
        let mail = &d.text[d.findings[1].start..d.findings[1].end];
        assert_eq!(mail, "a@example.org");
        assert_eq!(d.findings[1].action, Action::Warn);
        assert!(d.blocking().is_empty());
    }

    #[test]
    fn outbound_cards_and_requests_are_blocked() {
        let d = decide_text(Direction::Outbound, "Please send me the code you received");
        assert_eq!(d.blocking(), ["code_request"]);
        let d = decide_text(Direction::Outbound, "your card 4111111111111111");
        assert_eq!(d.blocking(), ["card_number"]);
        assert_eq!(
            d.text, "your card 4111111111111111",
            "a refused text is not changed"
        );
        let d = decide_text(Direction::Outbound, "call us on +49 1512 3456789");
        assert!(d.blocking().is_empty() && !d.shown());
    }

    #[test]
    fn overrides_change_the_action_and_defaults_remove_them() {
        let mut policy = Policy::default();
        let rule = Rule {
            inbound: Action::Block,
            outbound: Action::Block,
        };
        policy.set(Kind::Email, rule);
        assert_eq!(
            policy.action(Kind::Email, Direction::Outbound),
            Action::Block
        );
        let text = "mail a@example.org";
        let findings = Scanner::new(&ScannerSettings::default()).scan(text);
        let d = decide(&policy, Direction::Inbound, text, &findings);
        assert_eq!(d.text, "mail •@•••••••.•••");
        policy.set(Kind::Email, default_rule(Kind::Email));
        assert!(policy.overrides.is_empty());
    }

    #[test]
    fn mask_keeps_separators_and_the_tail() {
        assert_eq!(mask("5555-5555-5555-4444", 4), "••••-••••-••••-4444");
        assert_eq!(
            mask("４１１１１１１１１１１１１１１１", 4),
            "••••••••••••１１１１"
        );
        assert_eq!(mask("AB123456C", 0), "•••••••••");
    }
}
