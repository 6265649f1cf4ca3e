//! Alert rules over the audit log: what a compromised account or a curious insider does.
//!
//! `Alerter::run_once` reads the entries after its cursor (kept in `settings`, so several nodes
//! share it), applies every rule, stores the alerts and then moves the cursor. Alert ids are
//! `rule-seq`, so a batch evaluated twice (a crash, two nodes) stores each alert once. Thresholds
//! come from `[alerts]` in the configuration (documented in `veil.example.toml`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{AuditError, AuditLog};
use crate::clock::Clock;
use crate::config::AlertsConfig;
use crate::store::{AlertRow, AuditCount, AuditKey, AuditRow, Store, StoreError};

const CURSOR: &str = "alert_cursor";
/// The setting that keeps the latest verification's outcome.
const LAST_VERIFICATION: &str = "audit_last_verification";
const BATCH: i64 = 2_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// Actions that hand data out in bulk.
pub const EXPORT_ACTIONS: &[&str] = &["audit.export", "conversation.export", "contact.export"];
pub const VIEW_ACTION: &str = "conversation.view";
pub const REVEAL_ACTION: &str = "contact.reveal_phone";
pub const LOGIN_OK: &str = "login.success";
pub const LOGIN_FAILED: &str = "login.failure";

/// The rules, by the name alerts carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    ViewsAboveBaseline,
    BulkExport,
    ManyReveals,
    NewNetworkLogin,
    FailedLogins,
    OffHours,
    TokenNewAddress,
    /// `verify` found the log changed, shortened or rolled back.
    LogBroken,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Self::ViewsAboveBaseline => "views_above_baseline",
            Self::BulkExport => "bulk_export",
            Self::ManyReveals => "many_reveals",
            Self::NewNetworkLogin => "new_network_login",
            Self::FailedLogins => "failed_logins",
            Self::OffHours => "off_hours",
            Self::TokenNewAddress => "token_new_address",
            Self::LogBroken => "audit_log_broken",
        }
    }
}

/// The network an address belongs to for "new network" rules: /24 for IPv4, /64 for IPv6.
pub fn network_of(ip: &str) -> Option<ipnet::IpNet> {
    let ip: IpAddr = ip.parse().ok()?;
    let prefix = if ip.is_ipv4() { 24 } else { 64 };
    ipnet::IpNet::new(ip, prefix).ok().map(|n| n.trunc())
}

/// What the latest scheduled or requested verification found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastVerification {
    pub at: i64,
    pub entries: u64,
    pub checkpoints: usize,
    pub problem: Option<String>,
    pub first_bad_entry: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Alerter {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: AlertsConfig,
}

struct Found {
    rule: Rule,
    actor: String,
    detail: String,
    seq: i64,
    at: i64,
}

impl Alerter {
    /// Evaluates the entries after the cursor; returns how many alerts were raised.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let cursor_text = self.store.setting(CURSOR).await?;
        let cursor: i64 = cursor_text
            .as_deref()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let rows = self.store.audit_range(cursor, BATCH).await?;
        let Some(last) = rows.last().map(|r| r.seq) else {
            return Ok(0);
        };
        let mut found = Vec::new();
        self.per_actor_counts(&rows, &mut found).await?;
        for row in &rows {
            self.per_entry(row, &mut found).await?;
        }
        let mut raised = 0;
        for f in found {
            if self.raise(f).await? {
                raised += 1;
            }
        }
        self.store
            .swap_setting(
                CURSOR,
                cursor_text.as_deref(),
                &(last + 1).to_string(),
                self.clock.now_ms(),
            )
            .await?;
        Ok(raised)
    }

    /// Rules that count an actor's recent entries: once per actor per batch, at their last entry.
    #[allow(clippy::too_many_lines, reason = "one match, rule by rule")]
    async fn per_actor_counts(
        &self,
        rows: &[AuditRow],
        found: &mut Vec<Found>,
    ) -> Result<(), StoreError> {
        let mut last_by: HashMap<(&str, &str), &AuditRow> = HashMap::new();
        for row in rows {
            let kind = if row.action == VIEW_ACTION {
                "view"
            } else if row.action == REVEAL_ACTION {
                "reveal"
            } else if EXPORT_ACTIONS.contains(&row.action.as_str()) {
                "export"
            } else if row.action == LOGIN_FAILED {
                "failed"
            } else {
                continue;
            };
            let key = if kind == "failed" {
                row.target.as_str()
            } else {
                row.actor.as_str()
            };
            last_by.insert((kind, key), row);
        }
        let c = &self.config;
        for ((kind, key), row) in last_by {
            let count = |actions: &'static [&'static str], since: i64| AuditCount {
                key: if kind == "failed" {
                    AuditKey::Target(key)
                } else {
                    AuditKey::Actor(key)
                },
                actions,
                since,
                until: row.at + 1,
            };
            match kind {
                "view" => {
                    let recent = self
                        .store
                        .count_audit(&count(&[VIEW_ACTION], row.at - HOUR))
                        .await?;
                    let days = i64::try_from(c.baseline_days.max(1)).unwrap_or(7);
                    let mut before = count(&[VIEW_ACTION], row.at - days * DAY);
                    before.until = row.at - HOUR;
                    let past = self.store.count_audit(&before).await?;
                    let hours = days * i64::try_from(c.working_hours_per_day.max(1)).unwrap_or(8);
                    let baseline = past / hours.max(1);
                    let factor = i64::try_from(c.views_baseline_factor).unwrap_or(3);
                    let threshold = i64::try_from(c.views_per_hour_min)
                        .unwrap_or(50)
                        .max(factor * baseline);
                    if recent > threshold {
                        found.push(Found {
                            rule: Rule::ViewsAboveBaseline,
                            actor: key.to_owned(),
                            detail: format!("{recent} conversations opened in the last hour; usual is about {baseline} an hour (threshold {threshold})"),
                            seq: row.seq,
                            at: row.at,
                        });
                    }
                }
                "reveal" => {
                    let recent = self
                        .store
                        .count_audit(&count(&[REVEAL_ACTION], row.at - HOUR))
                        .await?;
                    if recent >= i64::try_from(c.reveals_per_hour).unwrap_or(10) {
                        found.push(Found {
                            rule: Rule::ManyReveals,
                            actor: key.to_owned(),
                            detail: format!(
                                "{recent} phone numbers revealed in the last hour (threshold {})",
                                c.reveals_per_hour
                            ),
                            seq: row.seq,
                            at: row.at,
                        });
                    }
                }
                "export" => {
                    let recent = self
                        .store
                        .count_audit(&count(EXPORT_ACTIONS, row.at - HOUR))
                        .await?;
                    if recent >= i64::try_from(c.exports_per_hour).unwrap_or(3) {
                        found.push(Found {
                            rule: Rule::BulkExport,
                            actor: key.to_owned(),
                            detail: format!(
                                "{recent} exports in the last hour (threshold {})",
                                c.exports_per_hour
                            ),
                            seq: row.seq,
                            at: row.at,
                        });
                    }
                }
                _ => {
                    let window = i64::try_from(c.failed_login_minutes).unwrap_or(15) * 60_000;
                    let recent = self
                        .store
                        .count_audit(&count(&[LOGIN_FAILED], row.at - window))
                        .await?;
                    if recent >= i64::try_from(c.failed_logins).unwrap_or(10) {
                        found.push(Found {
                            rule: Rule::FailedLogins,
                            actor: key.to_owned(),
                            detail: format!(
                                "{recent} failed sign-ins in {} minutes (threshold {})",
                                c.failed_login_minutes, c.failed_logins
                            ),
                            seq: row.seq,
                            at: row.at,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Rules about one entry: where it came from and when.
    async fn per_entry(&self, row: &AuditRow, found: &mut Vec<Found>) -> Result<(), StoreError> {
        let by_user = row.actor.starts_with("user:");
        let by_token = row.actor.starts_with("token:");
        if (row.action == LOGIN_OK && by_user) || by_token {
            let actions: &[&str] = if by_token { &[] } else { &[LOGIN_OK] };
            let earlier = self
                .store
                .audit_ips(&row.actor, actions, row.seq, 1_000)
                .await?;
            let here = network_of(&row.ip);
            let known = earlier.iter().any(|ip| network_of(ip) == here);
            if !earlier.is_empty() && !known {
                let (rule, what) = if by_token {
                    (Rule::TokenNewAddress, "API token used")
                } else {
                    (Rule::NewNetworkLogin, "sign-in")
                };
                found.push(Found {
                    rule,
                    actor: row.actor.clone(),
                    detail: format!(
                        "{what} from a network not seen before ({})",
                        here.map(|n| n.to_string()).unwrap_or_default()
                    ),
                    seq: row.seq,
                    at: row.at,
                });
            }
        }
        if by_user && self.config.off_hours && !self.within_working_hours(row.at) {
            found.push(Found {
                rule: Rule::OffHours,
                actor: row.actor.clone(),
                detail: format!("{} outside working hours", row.action),
                seq: row.seq,
                at: row.at,
            });
        }
        Ok(())
    }

    /// Stores an alert unless the same rule fired for the same actor within the hour; whether
    /// it was stored.
    async fn raise(&self, f: Found) -> Result<bool, StoreError> {
        if self
            .store
            .alert_since(f.rule.name(), &f.actor, f.at - HOUR)
            .await?
        {
            return Ok(false);
        }
        let alert = AlertRow {
            id: format!("{}-{}", f.rule.name(), f.seq),
            at: f.at,
            rule: f.rule.name().to_owned(),
            actor: f.actor,
            detail: f.detail,
            seq: f.seq,
            email_state: state_for(!self.config.email_to.is_empty()),
            webhook_state: state_for(!self.config.webhook_url.is_empty()),
            attempts: 0,
            next_attempt_at: 0,
            acknowledged_by: None,
            acknowledged_at: None,
        };
        self.store.insert_alert(&alert).await
    }

    /// Verifies the whole log, keeps the outcome (in `settings`, so every node shows it) and
    /// raises an `audit_log_broken` alert when it fails.
    pub async fn verify_log(&self, audit: &AuditLog) -> Result<LastVerification, AuditError> {
        let report = audit.verify(None).await?;
        let now = self.clock.now_ms();
        let last = LastVerification {
            at: now,
            entries: report.entries,
            checkpoints: report.checkpoints,
            problem: report.problem.clone(),
            first_bad_entry: report.first_bad_entry,
        };
        let text = serde_json::to_string(&last).map_err(|e| AuditError::Invalid(e.to_string()))?;
        let old = self.store.setting(LAST_VERIFICATION).await?;
        // Another node may have stored a newer result meanwhile; either is a true one.
        self.store
            .swap_setting(LAST_VERIFICATION, old.as_deref(), &text, now)
            .await?;
        if let Some(problem) = report.problem {
            self.raise(Found {
                rule: Rule::LogBroken,
                actor: "system".to_owned(),
                detail: problem,
                seq: report
                    .first_bad_entry
                    .unwrap_or_else(|| i64::try_from(report.entries).unwrap_or(i64::MAX)),
                at: now,
            })
            .await?;
        }
        Ok(last)
    }

    /// The outcome of the latest verification, if any ran.
    pub async fn last_verification(&self) -> Result<Option<LastVerification>, StoreError> {
        Ok(self
            .store
            .setting(LAST_VERIFICATION)
            .await?
            .and_then(|text| serde_json::from_str(&text).ok()))
    }

    /// Whether `at` falls in the configured working hours and days (local to the configured offset).
    pub fn within_working_hours(&self, at: i64) -> bool {
        let c = &self.config;
        let local = at + i64::from(c.utc_offset_minutes) * 60_000;
        let days_since_epoch = local.div_euclid(DAY);
        // 1970-01-01 was a Thursday (ISO day 4).
        let weekday = u8::try_from((days_since_epoch + 3).rem_euclid(7) + 1).unwrap_or(1);
        let minute = u32::try_from(local.rem_euclid(DAY) / 60_000).unwrap_or(0);
        c.working_days.contains(&weekday)
            && minute >= u32::from(c.work_start_hour) * 60
            && minute < u32::from(c.work_end_hour) * 60
    }
}

fn state_for(configured: bool) -> String {
    if configured { "pending" } else { "none" }.to_owned()
}

impl Alerter {
    /// The newest alerts.
    pub async fn alerts(&self, limit: i64) -> crate::store::StoreResult<Vec<AlertRow>> {
        self.store.alerts(limit).await
    }

    /// Newest first, after the cursor `before` (time and id).
    pub async fn alerts_before(
        &self,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> crate::store::StoreResult<Vec<AlertRow>> {
        self.store.alerts_before(before, limit).await
    }

    /// Marks an alert seen by `by`; `false` when there is no such alert.
    pub async fn acknowledge_alert(
        &self,
        id: &str,
        by: &str,
        at: i64,
    ) -> crate::store::StoreResult<bool> {
        self.store.acknowledge_alert(id, by, at).await
    }

    pub async fn count_open_alerts(&self) -> crate::store::StoreResult<i64> {
        self.store.count_open_alerts().await
    }
}
