//! The access policy an administrator may change at run time: session timeouts, the
//! re-authentication window and IP allowlists. The configuration file gives the starting values;
//! once saved on the admin pages, the stored policy wins. The second factor is not a setting: it
//! is required of everyone, always.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// The settings row holding the policy (JSON).
pub const SETTING: &str = "access_policy";

/// Who an allowlist may name: the roles and API tokens.
pub const ALLOWLIST_SUBJECTS: [&str; 6] =
    ["owner", "admin", "supervisor", "agent", "auditor", "token"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessPolicy {
    pub session_idle_minutes: u64,
    pub session_absolute_hours: u64,
    pub reauth_minutes: u64,
    /// Per role (or `token`): the networks it may sign in from. Absent: anywhere.
    #[serde(with = "nets")]
    pub ip_allowlist: BTreeMap<String, Vec<IpNet>>,
}

mod nets {
    use std::collections::BTreeMap;

    use ipnet::IpNet;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<String, Vec<IpNet>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let text: BTreeMap<&String, Vec<String>> = map
            .iter()
            .map(|(k, v)| (k, v.iter().map(ToString::to_string).collect()))
            .collect();
        text.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Vec<IpNet>>, D::Error> {
        let text = BTreeMap::<String, Vec<String>>::deserialize(d)?;
        text.into_iter()
            .map(|(k, v)| {
                let nets = v
                    .iter()
                    .map(|n| n.parse::<IpNet>().map_err(serde::de::Error::custom))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((k, nets))
            })
            .collect()
    }
}

impl AccessPolicy {
    pub fn from_config(config: &Config) -> Self {
        Self {
            session_idle_minutes: config.auth.session_idle_minutes,
            session_absolute_hours: config.auth.session_absolute_hours,
            reauth_minutes: config.auth.reauth_minutes,
            ip_allowlist: config.ip_allowlist.clone(),
        }
    }

    /// Rejects values that would lock everyone out or keep sessions forever.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=24 * 60).contains(&self.session_idle_minutes) {
            return Err("the idle timeout must be 1 to 1440 minutes".into());
        }
        if !(1..=24 * 30).contains(&self.session_absolute_hours) {
            return Err("the session lifetime must be 1 to 720 hours".into());
        }
        if !(1..=60).contains(&self.reauth_minutes) {
            return Err("the re-authentication window must be 1 to 60 minutes".into());
        }
        for (who, nets) in &self.ip_allowlist {
            if !ALLOWLIST_SUBJECTS.contains(&who.as_str()) {
                return Err(format!("{who} is not a role or `token`"));
            }
            if nets.is_empty() {
                return Err(format!(
                    "the allowlist of {who} is empty: remove it instead"
                ));
            }
        }
        Ok(())
    }

    /// Parses one allowlist field: networks separated by spaces, commas or lines; a bare address
    /// means that one host. Empty: no restriction.
    pub fn parse_networks(text: &str) -> Result<Vec<IpNet>, String> {
        text.split([' ', ',', '\n', '\r'])
            .filter(|t| !t.is_empty())
            .map(|item| {
                super::network::parse_network(item)
                    .ok_or_else(|| format!("{item} is not a network like 10.0.0.0/8"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_round_trips_and_refuses_lockouts() {
        let mut policy = AccessPolicy {
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            reauth_minutes: 5,
            ip_allowlist: BTreeMap::new(),
        };
        policy.ip_allowlist.insert(
            "agent".into(),
            AccessPolicy::parse_networks("10.0.0.0/8, 2001:db8::/32\n192.0.2.7").unwrap(),
        );
        let json = serde_json::to_string(&policy).unwrap();
        assert_eq!(serde_json::from_str::<AccessPolicy>(&json).unwrap(), policy);
        assert!(policy.validate().is_ok());
        assert!(AccessPolicy::parse_networks("10.0.0.0/33").is_err());
        policy.session_idle_minutes = 0;
        assert!(policy.validate().is_err());
        policy.session_idle_minutes = 30;
        policy.ip_allowlist.insert("robot".into(), Vec::new());
        assert!(policy.validate().is_err());
    }
}
