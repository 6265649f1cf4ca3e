//! The send worker: claims due rows with a lease, paces them, uploads pending files, sends,
//! and records what Meta answered (sent, retry with backoff, failed, or ambiguous).

use serde_json::Value;
use veil_crypto::{Aad, DataKey};

use super::{OutboundError, Outbox, PENDING_MEDIA_ID, SendReport};
use crate::config::OutboundConfig;
use crate::keys::KeyError;
use crate::store::OutboxClaim;
use crate::whatsapp::graph::SendOutcome;
use crate::whatsapp::pacing::Pacer;

impl Outbox {
    /// Sends every due outbox row once. Sends run concurrently; pacing is decided before each.
    pub async fn run_once(&self) -> Result<SendReport, OutboundError> {
        let now = self.clock.now_ms();
        // A claimed send may upload its file and then send, each within the request timeout; a
        // node that died holding the lease frees it soon after.
        let lease_ms = i64::try_from(self.config.request_timeout_ms)
            .unwrap_or(i64::MAX / 4)
            .saturating_mul(2)
            .saturating_add(5_000);
        self.store
            .expire_stuck_sends(now, now.saturating_add(self.reconcile_ms()))
            .await?;
        let claims = self
            .store
            .claim_outbox(now, now.saturating_add(lease_ms), 64)
            .await?;
        let mut report = SendReport::default();
        let mut sends = tokio::task::JoinSet::new();
        for claim in claims {
            let pacer = self.pacer.clone();
            let pace = self
                .store
                .pace(
                    &Pacer::buckets(&self.phone_number_id, &claim.contact_id),
                    &move |tats| pacer.decide(tats, now),
                )
                .await?;
            if let Err(wait) = pace {
                self.store
                    .outbox_retry(
                        &claim.id,
                        now.saturating_add(wait),
                        claim.attempts,
                        None,
                        now,
                    )
                    .await?;
                report.paced += 1;
                continue;
            }
            let this = self.clone();
            sends.spawn(async move {
                let outcome = this.send_one(&claim).await;
                (claim, outcome)
            });
        }
        // Every finished send is recorded before any error is returned: an early return would
        // drop the JoinSet and abort sends that Meta may already have accepted.
        let mut first_error = None;
        while let Some(joined) = sends.join_next().await {
            let Ok((claim, outcome)) = joined else {
                continue;
            };
            let recorded = match outcome {
                Ok(outcome) => self.record(&claim, outcome, now, &mut report).await,
                Err(err) => Err(err),
            };
            if let Err(err) = recorded {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(report), Err)
    }

    fn reconcile_ms(&self) -> i64 {
        i64::try_from(self.config.reconcile_ms).unwrap_or(i64::MAX / 4)
    }

    async fn send_one(&self, claim: &OutboxClaim) -> Result<SendOutcome, OutboundError> {
        let key = match self
            .keys
            .contact_key(self.store.as_ref(), &claim.contact_id)
            .await
        {
            Ok(key) => key,
            Err(KeyError::Shredded) => {
                return Ok(SendOutcome::Rejected {
                    code: 0,
                    title: "contact erased before sending".into(),
                });
            }
            Err(err) => return Err(err.into()),
        };
        let bytes = key
            .open(
                &Aad::field("outbox", "request", &claim.id),
                &claim.request_ct,
            )
            .map_err(KeyError::from)?;
        let mut request: Value =
            serde_json::from_slice(&bytes).map_err(|_| OutboundError::Invalid("stored request"))?;
        if let Some(outcome) = self.upload_pending_media(claim, &key, &mut request).await? {
            return Ok(outcome);
        }
        Ok(self.graph.send(&request).await)
    }

    /// Uploads an outbound file the first time its message is tried, and puts Meta's id in the request.
    async fn upload_pending_media(
        &self,
        claim: &OutboxClaim,
        key: &DataKey,
        request: &mut Value,
    ) -> Result<Option<SendOutcome>, OutboundError> {
        let kind = request
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let pending = request
            .pointer(&format!("/{kind}/id"))
            .and_then(Value::as_str)
            == Some(PENDING_MEDIA_ID);
        if !pending {
            return Ok(None);
        }
        let Some(media) = self.store.media_for_message(&claim.message_id).await? else {
            return Ok(Some(SendOutcome::Rejected {
                code: 0,
                title: "media file missing".into(),
            }));
        };
        let meta_id = match media.meta_media_id {
            Some(id) => id,
            None => {
                // One permit per file in memory, as for uploads coming in.
                let _permit = self
                    .uploads
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| OutboundError::Invalid("shutting down"))?;
                let mut bytes = self.files.read(key, &media.id).await?;
                let mime = media.mime.clone().unwrap_or_default();
                // The opened buffer goes to the request as it is (no second copy of the file).
                let plain = std::mem::take(&mut *bytes);
                match self
                    .graph
                    .upload_media(plain, &mime, &format!("{kind}-{}", media.id))
                    .await
                {
                    Ok(id) => {
                        self.store.set_media_meta_id(&media.id, &id).await?;
                        id
                    }
                    Err(crate::whatsapp::graph::MediaError::Fatal(why)) => {
                        return Ok(Some(SendOutcome::Rejected {
                            code: 131_053,
                            title: why,
                        }));
                    }
                    Err(_) => {
                        return Ok(Some(SendOutcome::Retryable {
                            code: Some(131_053),
                        }));
                    }
                }
            }
        };
        if let Some(slot) = request.pointer_mut(&format!("/{kind}/id")) {
            *slot = Value::String(meta_id);
        }
        Ok(None)
    }

    async fn record(
        &self,
        claim: &OutboxClaim,
        outcome: SendOutcome,
        now: i64,
        report: &mut SendReport,
    ) -> Result<(), OutboundError> {
        let attempts = claim.attempts + 1;
        match outcome {
            SendOutcome::Accepted { wamid } => {
                self.store.outbox_sent(claim, &wamid, now).await?;
                report.sent += 1;
            }
            SendOutcome::Rejected { code, title } => {
                self.store.outbox_failed(claim, code, &title, now).await?;
                report.failed += 1;
            }
            SendOutcome::Ambiguous => {
                tracing::warn!(message = %claim.message_id, "send outcome unknown; waiting for a status webhook before resending");
                self.store
                    .outbox_ambiguous(
                        &claim.id,
                        now.saturating_add(self.reconcile_ms()),
                        attempts,
                        now,
                    )
                    .await?;
                report.ambiguous += 1;
            }
            SendOutcome::Retryable { code } if attempts >= i64::from(self.config.max_attempts) => {
                let title = format!("gave up after {attempts} attempts");
                self.store
                    .outbox_failed(claim, code.unwrap_or(0), &title, now)
                    .await?;
                report.failed += 1;
            }
            SendOutcome::Retryable { code } => {
                let mut delay = backoff_ms(&self.config, attempts);
                if code == Some(131_056) {
                    let [_, pair] = Pacer::buckets(&self.phone_number_id, &claim.contact_id);
                    self.store
                        .set_pace(&pair, self.pacer.pair_refused_tat(now))
                        .await?;
                    delay = delay
                        .max(i64::try_from(self.config.pair_refill_ms).unwrap_or(i64::MAX / 4));
                }
                self.store
                    .outbox_retry(&claim.id, now.saturating_add(delay), attempts, code, now)
                    .await?;
                report.retried += 1;
            }
        }
        Ok(())
    }
}

/// Exponential backoff: base × 2^(attempts−1), capped.
pub fn backoff_ms(config: &OutboundConfig, attempts: i64) -> i64 {
    let exponent = u32::try_from((attempts - 1).clamp(0, 20)).unwrap_or(20);
    let delay = config
        .base_backoff_ms
        .saturating_mul(1u64 << exponent)
        .min(config.max_backoff_ms);
    i64::try_from(delay).unwrap_or(i64::MAX / 4)
}
