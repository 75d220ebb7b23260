//! Dead letters: why each was refused and its body, pretty-printed with
//! every token-like value masked; Replay publishes them again
//! (`intake::dead_letter`, as `herald dead-letters`).

use super::Done;
use crate::console::{ConsoleState, CsrfForm, Failure, SignedIn, render};
use crate::intake::{self, dead_letter};
use crate::settings::Broker;
use crate::webhooks::payload::is_secret_key;
use anyhow::Context;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{Html, Redirect};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// Letters shown at once; the rest wait their turn.
const SHOWN: u32 = 50;
/// A body longer than this is cut on the page.
const BODY_CHARS: usize = 8 * 1024;
const MASK: &str = "•••";

#[derive(Serialize)]
struct Letter {
    routing_key: String,
    message_id: String,
    reason: String,
    body: String,
}

/// One short-lived connection for a page or an action: the console reads
/// the queue rarely, and holds nothing open between requests.
async fn with_channel<T>(
    broker: &Broker,
    work: impl AsyncFnOnce(&lapin::Channel) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let conn = tokio::time::timeout(
        Duration::from_secs(5),
        intake::connect(&broker.amqp_url, "console"),
    )
    .await
    .context("RabbitMQ did not answer within 5 s")?
    .context("connecting to RabbitMQ")?;
    let channel = conn.create_channel().await?;
    let result = work(&channel).await;
    let _ = conn.close(200, "done".into()).await;
    result
}

/// How many dead letters wait.
pub async fn waiting(broker: &Broker) -> anyhow::Result<u32> {
    with_channel(broker, async |channel| {
        let queue = channel
            .queue_declare(
                broker.dead_letter_name().as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok(queue.message_count())
    })
    .await
}

pub async fn show(
    State(state): State<ConsoleState>,
    SignedIn(session): SignedIn,
    Query(done): Query<Done>,
) -> Result<Html<String>, Failure> {
    let broker = &state.0.broker;
    let read = async {
        let waiting = waiting(broker).await?;
        let listed = with_channel(broker, async |channel| {
            dead_letter::list(channel, broker, SHOWN).await
        })
        .await?;
        anyhow::Ok((waiting, listed))
    };
    let (waiting, letters, error) = match read.await {
        Ok((waiting, listed)) => (waiting, listed.iter().map(letter).collect(), None),
        Err(e) => (
            0,
            Vec::new(),
            Some(format!("cannot read the dead letters: {e:#}")),
        ),
    };
    state.render(
        "dead_letters",
        "Dead letters",
        Some(&session),
        &json!({
            "notice": render::notice(done.done.as_deref()),
            "error": error,
            "queue": broker.dead_letter_name(),
            "waiting": waiting,
            "shown": letters.len(),
            "more": waiting as usize > letters.len(),
            "letters": letters,
        }),
    )
}

fn letter(listed: &Value) -> Letter {
    let text = |key: &str| listed[key].as_str().unwrap_or("—").to_owned();
    Letter {
        routing_key: text("routing_key"),
        message_id: text("message_id"),
        reason: text("error"),
        body: masked(listed["body"].as_str().unwrap_or_default()),
    }
}

/// JSON pretty-printed with secret-like keys' values masked; anything else
/// with every long run of token characters masked, since a token may sit
/// anywhere in a body that is not JSON.
pub fn masked(body: &str) -> String {
    let shown = match serde_json::from_str::<Value>(body) {
        Ok(mut value) => {
            mask(&mut value);
            serde_json::to_string_pretty(&value).unwrap_or_default()
        }
        Err(_) => mask_runs(body),
    };
    match shown.char_indices().nth(BODY_CHARS) {
        Some((cut, _)) => format!("{}\n… (cut)", &shown[..cut]),
        None => shown,
    }
}

fn mask(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if is_secret_key(key) {
                    *value = Value::String(MASK.into());
                } else {
                    mask(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
        Value::String(s) => *s = mask_runs(s),
        _ => {}
    }
}

/// Masks runs of 32 or more base64url characters: a minted token is 43.
fn mask_runs(text: &str) -> String {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once('\0')) {
        if is_token_char(c) {
            run.push(c);
            continue;
        }
        out.push_str(if run.len() >= 32 { MASK } else { &run });
        run.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

#[derive(Deserialize)]
pub struct ReplayForm {
    #[serde(flatten)]
    csrf: CsrfForm,
    /// `one` (the oldest) or `all`.
    #[serde(default)]
    count: String,
}

pub async fn replay(
    State(state): State<ConsoleState>,
    SignedIn(session): SignedIn,
    Form(form): Form<ReplayForm>,
) -> Result<Redirect, Failure> {
    state.check_csrf(&session, &form.csrf.csrf)?;
    let limit = match form.count.as_str() {
        "one" => 1,
        "all" => u32::MAX,
        _ => return Err(Failure::not_found("count must be one or all")),
    };
    let broker = &state.0.broker;
    let n = with_channel(broker, async |channel| {
        dead_letter::replay(channel, broker, limit).await
    })
    .await
    .map_err(Failure::internal)?;
    tracing::info!(replayed = n, "console replayed dead letters");
    let done = match n {
        0 => "dead-letters-none",
        1 => "dead-letter-replayed",
        _ => "dead-letters-replayed",
    };
    Ok(Redirect::to(&format!("/console/dead-letters?done={done}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_tokens_in_json_and_in_text() {
        let token = "Qm9yZWRPZkdvb2RUb2tlbnNBbmRCYWRPbmVzQWxpa2UxMjM";
        let body = format!(r#"{{"data":{{"token":"abc","note":"t={token}","email":"a@b.c"}}}}"#);
        let shown = masked(&body);
        assert!(!shown.contains("abc") && !shown.contains(token), "{shown}");
        assert!(shown.contains("a@b.c") && shown.contains('\n'));
        let shown = masked(&format!("not json {token} end"));
        assert_eq!(shown, "not json ••• end");
    }
}
