//! Sends alerts out: e-mail over SMTP (lettre) and a signed webhook. Delivery state is in the
//! alert row, so an alert survives a restart and is retried with backoff until sent or given up.
//!
//! The webhook body is JSON; `X-Veil-Timestamp` is the send time (Unix ms) and
//! `X-Veil-Signature` is `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`, so a
//! receiver can refuse forgeries and replays. Alerts carry ids and counts, never customer data.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret as _;

use crate::clock::Clock;
use crate::config::AlertsConfig;
use crate::store::{AlertRow, Store, StoreError};

const MAX_ATTEMPTS: i64 = 10;
const FIRST_RETRY_MS: i64 = 30_000;
const LAST_RETRY_MS: i64 = 3_600_000;

#[derive(Debug, Clone)]
pub struct Deliverer {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: AlertsConfig,
    /// Where the alert can be seen, for the message text.
    pub public_url: String,
    http: reqwest::Client,
}

impl Deliverer {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: AlertsConfig,
        public_url: String,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            store,
            clock,
            config,
            public_url,
            http,
        })
    }

    /// Tries every due delivery once; returns how many went out.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let now = self.clock.now_ms();
        let mut sent = 0;
        for mut alert in self.store.due_alerts(now, 50).await? {
            let mut failed = false;
            if alert.email_state == "pending" {
                match self.email(&alert).await {
                    Ok(()) => {
                        alert.email_state = "sent".into();
                        sent += 1;
                    }
                    Err(err) => {
                        tracing::warn!(alert = %alert.id, error = %err, "alert e-mail failed");
                        failed = true;
                    }
                }
            }
            if alert.webhook_state == "pending" {
                match self.webhook(&alert, now).await {
                    Ok(()) => {
                        alert.webhook_state = "sent".into();
                        sent += 1;
                    }
                    Err(err) => {
                        tracing::warn!(alert = %alert.id, error = %err, "alert webhook failed");
                        failed = true;
                    }
                }
            }
            if failed {
                alert.attempts += 1;
                let wait = (FIRST_RETRY_MS << alert.attempts.min(10)).min(LAST_RETRY_MS);
                alert.next_attempt_at = now + wait;
                if alert.attempts >= MAX_ATTEMPTS {
                    for state in [&mut alert.email_state, &mut alert.webhook_state] {
                        if state == "pending" {
                            "failed".clone_into(state);
                        }
                    }
                }
            }
            self.store.update_alert_delivery(&alert).await?;
        }
        Ok(sent)
    }

    fn text(&self, alert: &AlertRow) -> String {
        format!(
            "Veil raised an alert.\n\nRule: {}\nActor: {}\nWhat: {}\nAudit entry: {}\nTime (Unix ms): {}\n\nSee {}/admin/alerts\n",
            alert.rule, alert.actor, alert.detail, alert.seq, alert.at, self.public_url
        )
    }

    async fn email(&self, alert: &AlertRow) -> Result<(), String> {
        let c = &self.config;
        crate::mail::send(
            c,
            &c.email_to,
            &format!("Veil alert: {}", alert.rule),
            self.text(alert),
        )
        .await
        .map_err(|e| {
            if e.starts_with("the recipient") {
                "email_to is not an address".to_owned()
            } else {
                e
            }
        })
    }

    async fn webhook(&self, alert: &AlertRow, now: i64) -> Result<(), String> {
        let body = serde_json::to_vec(&serde_json::json!({
            "id": alert.id,
            "rule": alert.rule,
            "actor": alert.actor,
            "detail": alert.detail,
            "seq": alert.seq,
            "at": alert.at,
        }))
        .map_err(|e| e.to_string())?;
        let signature = sign_webhook(
            self.config.webhook_secret.expose_secret().as_bytes(),
            now,
            &body,
        );
        let response = self
            .http
            .post(&self.config.webhook_url)
            .header("content-type", "application/json")
            .header("x-veil-timestamp", now.to_string())
            .header("x-veil-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", response.status()))
        }
    }
}

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn sign_webhook(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    veil_crypto::sign_hub_body(secret, &signed)
}
