//! Outgoing e-mail over SMTP (lettre), with the server configured in `[alerts]`: alert mails
//! and invitations sent on behalf of API tokens. Never logs addresses or bodies.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use secrecy::ExposeSecret as _;

use crate::config::{AlertsConfig, SmtpSecurity};

/// Whether `config` names an SMTP server and a sender.
pub fn configured(config: &AlertsConfig) -> bool {
    !config.smtp_host.is_empty() && !config.smtp_from.is_empty()
}

/// Sends one plain-text mail; the error says what failed, never to whom or what.
pub async fn send(
    config: &AlertsConfig,
    to: &str,
    subject: &str,
    body: String,
) -> Result<(), String> {
    let message = Message::builder()
        .from(
            config
                .smtp_from
                .parse()
                .map_err(|e| format!("smtp_from: {e}"))?,
        )
        .to(to
            .parse()
            .map_err(|_| "the recipient is not an address".to_owned())?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| e.to_string())?;
    let builder = match config.smtp_security {
        SmtpSecurity::None => {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.smtp_host)
        }
        SmtpSecurity::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.smtp_host)
                .map_err(|e| e.to_string())?
        }
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.smtp_host)
            .map_err(|e| e.to_string())?,
    };
    let mut builder = builder
        .port(config.smtp_port)
        .timeout(Some(Duration::from_secs(10)));
    if !config.smtp_username.is_empty() {
        builder = builder.credentials(Credentials::new(
            config.smtp_username.clone(),
            config.smtp_password.expose_secret().to_owned(),
        ));
    }
    builder
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
