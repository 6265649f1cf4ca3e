//! `veil bench crypto` (sealing, opening, blind indexes, hashing) and `veil bench auth`
//! (password hashing and second-factor checks).

use std::time::Instant;

use secrecy::SecretString;
use veil_crypto::{Aad, DataKey, Keyring};

use super::{micros, percentile, report};

/// `veil bench crypto`: seal/open of a 256-byte field, key unsealing and blind indexes.
pub fn crypto() -> anyhow::Result<()> {
    let keyring = Keyring::generate()?;
    let key = DataKey::generate()?;
    let payload = [7u8; 256];
    let aad = Aad::field(
        "messages",
        "content",
        "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
    );
    let rounds = 200_000u32;
    let sealed = key.seal(&aad, &payload)?;
    report("seal 256 B (AES-256-GCM)", rounds, 256, || {
        key.seal(&aad, &payload).map(|_| ())
    })?;
    report("open 256 B", rounds, 256, || {
        key.open(&aad, &sealed).map(|_| ())
    })?;
    let wrapped = keyring.seal_key(&key, "contacts", "c1")?;
    report("open sealed data key", rounds, 32, || {
        keyring.open_key(&wrapped, "contacts", "c1").map(|_| ())
    })?;
    report("blind index (HMAC-SHA256)", rounds, 13, || {
        let _ = keyring.index_key().blind("wa_id", "4915112345678");
        Ok(())
    })?;
    Ok(())
}

/// Argon2id latency at the default cost, login verifications per second through the bounded
/// hasher under a flood (and how many were turned away with "busy"), and TOTP checks.
pub async fn auth() -> anyhow::Result<()> {
    use crate::identity::password::{HashError, PasswordHashing};
    let config = crate::config::AuthConfig::default();
    let hashing = PasswordHashing::new(&config)?;
    let password = SecretString::from("correct horse battery staple".to_owned());
    let phc = hashing.hash(&password).await?;
    let mut single = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        hashing.verify(&password, Some(&phc)).await?;
        single.push(micros(started.elapsed()));
    }
    single.sort_unstable();
    println!(
        "argon2id verify (m={} KiB, t={}, p={}): median {:.1} ms",
        config.argon2_memory_kib,
        config.argon2_iterations,
        config.argon2_parallelism,
        f64::from(percentile(&single, 0.5)) / 1000.0
    );
    let flood = 200usize;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(flood);
    for _ in 0..flood {
        let (hashing, password, phc) = (hashing.clone(), password.clone(), phc.clone());
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let outcome = hashing.verify(&password, Some(&phc)).await;
            (outcome, started.elapsed())
        }));
    }
    let (mut done, mut busy, mut latencies) = (0u32, 0u32, Vec::new());
    for task in tasks {
        match task.await? {
            (Ok(_), elapsed) => {
                done += 1;
                latencies.push(micros(elapsed));
            }
            (Err(HashError::Busy), _) => busy += 1,
            (Err(e), _) => return Err(e.into()),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pick = |q: f64| f64::from(percentile(&latencies, q)) / 1000.0;
    println!(
        "login flood of {flood} at once (hash_concurrency {}, hash_queue {}): {done} verified, {busy} answered busy (429), {:.1} verifications/s, p50 {:.0} ms, p99 {:.0} ms",
        config.hash_concurrency,
        config.hash_queue,
        f64::from(done) / elapsed,
        pick(0.5),
        pick(0.99)
    );
    totp_checks();
    Ok(())
}

fn totp_checks() {
    let secret = crate::identity::totp::TotpSecret::generate();
    let now = 1_800_000_000;
    let code = secret.code_at(now).unwrap_or_default();
    let rounds = 100_000u32;
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(secret.check(&code, now));
    }
    println!(
        "totp check (3 steps): {:.2} µs",
        started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
    );
}
