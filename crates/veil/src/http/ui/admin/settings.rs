//! Administration → Channels, and → Inbox (canned replies and labels).

use askama::Template;
use axum::Form;
use axum::extract::Path;
use axum::response::Response;
use serde::Deserialize;

use crate::error::AppError;
use crate::http::AppState;
use crate::http::access::Page;
use crate::http::ui::inbox::Choice;
use crate::http::ui::layout::Nav;
use crate::i18n::Lang;

use super::{Head, NameForm, Section};

struct ChannelLine {
    id: String,
    number: String,
    phone_number_id: String,
    name: String,
    conversations: String,
    teams: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "admin_channels.html")]
pub(super) struct ChannelsPage {
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
    channels: Vec<ChannelLine>,
}

#[derive(Template)]
#[template(path = "admin_inbox.html")]
pub(super) struct InboxSettingsPage {
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
    canned: Vec<crate::inbox::CannedReplyRow>,
    labels: Vec<crate::inbox::LabelRow>,
}

pub(super) async fn channels_page(
    state: &AppState,
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
) -> Result<ChannelsPage, AppError> {
    let teams = state.identity.list_teams().await?;
    let channels = state
        .inbox
        .channels()
        .await?
        .into_iter()
        .map(|c| ChannelLine {
            teams: teams
                .iter()
                .map(|t| Choice {
                    selected: c.team_id.as_deref() == Some(t.id.as_str()),
                    id: t.id.clone(),
                    name: t.name.clone(),
                })
                .collect(),
            conversations: l.number(c.conversations),
            id: c.id,
            number: c.display_phone_number,
            phone_number_id: c.phone_number_id,
            name: c.name,
        })
        .collect();
    Ok(ChannelsPage {
        l,
        title,
        nav,
        head,
        channels,
    })
}

pub(super) async fn inbox_page(
    state: &AppState,
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
) -> Result<InboxSettingsPage, AppError> {
    Ok(InboxSettingsPage {
        l,
        title,
        nav,
        head,
        canned: state.desk.canned_replies().await?,
        labels: state.desk.labels().await?,
    })
}

#[derive(Deserialize)]
pub struct ChannelForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    team: String,
}

/// `POST /admin/channels/{id}`: name, and the team its conversations go to.
pub async fn update_channel(
    page: Page,
    Path(id): Path<String>,
    Form(form): Form<ChannelForm>,
) -> Result<Response, AppError> {
    let team = (!form.team.is_empty()).then_some(form.team.as_str());
    let outcome = page
        .state
        .desk
        .set_channel(&page.principal, &id, &form.name, team)
        .await;
    page.finish(Section::Channels, outcome).await
}

#[derive(Deserialize)]
pub struct CannedForm {
    shortcut: String,
    body: String,
}

/// `POST /admin/canned`
pub async fn add_canned(page: Page, Form(form): Form<CannedForm>) -> Result<Response, AppError> {
    let outcome = page
        .state
        .desk
        .add_canned_reply(&page.principal, &form.shortcut, &form.body)
        .await;
    page.finish(Section::Inbox, outcome).await
}

/// `POST /admin/labels`
pub async fn add_label(page: Page, Form(form): Form<NameForm>) -> Result<Response, AppError> {
    let outcome = page
        .state
        .desk
        .add_label_definition(&page.principal, &form.name)
        .await;
    page.finish(Section::Inbox, outcome).await
}

/// A delete of the replies-and-labels section: `POST /admin/…/{id}/delete`.
macro_rules! inbox_delete {
    ($(#[$doc:meta])* $name:ident, $method:ident) => {
        $(#[$doc])*
        pub async fn $name(page: Page, Path(id): Path<String>) -> Result<Response, AppError> {
            let outcome = page.state
                .desk
                .$method(&page.principal, &id)
                .await;
            page.finish(Section::Inbox, outcome).await
        }
    };
}

inbox_delete!(
    /// `POST /admin/canned/{id}/delete`
    delete_canned,
    delete_canned_reply
);

inbox_delete!(
    /// `POST /admin/labels/{id}/delete`
    delete_label,
    delete_label
);
