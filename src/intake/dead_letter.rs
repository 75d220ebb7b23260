//! Events that can never succeed: published (with publisher confirm) to
//! `<queue>.dead-letter` with their routing key, body and properties intact
//! plus `x-herald-error`; listed and replayed from there by operators.

use crate::error::Rejection;
use crate::settings::Settings;
use anyhow::{Context as _, bail};
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel};
use serde_json::json;

pub const ERROR_HEADER: &str = "x-herald-error";

/// Publishes a rejected delivery to the dead-letter exchange and waits for
/// the broker's confirm. The caller acks the original only after this.
pub async fn publish(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    properties: &BasicProperties,
    body: &[u8],
    reason: &Rejection,
) -> anyhow::Result<()> {
    let mut headers = properties.headers().clone().unwrap_or_default();
    headers.insert(
        ERROR_HEADER.into(),
        AMQPValue::LongString(LongString::from(reason.0.as_str())),
    );
    let props = properties
        .clone()
        .with_headers(headers)
        .with_delivery_mode(2);
    let confirm = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            props,
        )
        .await?
        .await?;
    if !confirm.is_ack() {
        bail!("the broker did not confirm the dead letter");
    }
    Ok(())
}

fn header_text(headers: &Option<FieldTable>, key: &str) -> Option<String> {
    match headers.as_ref()?.inner().get(key)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

/// Prints up to `limit` dead letters as JSON lines, leaving them in place:
/// they are fetched unacknowledged and return to the queue when the channel
/// closes.
pub async fn list(
    channel: &Channel,
    settings: &Settings,
    limit: u32,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let queue = settings.dead_letter_name();
    let mut out = Vec::new();
    while out.len() < limit as usize {
        let Some(msg) = channel
            .basic_get(queue.as_str().into(), BasicGetOptions::default())
            .await?
        else {
            break;
        };
        let d = &msg.delivery;
        out.push(json!({
            "routing_key": d.routing_key.as_str(),
            "message_id": d.properties.message_id().as_ref().map(|m| m.to_string()),
            "error": header_text(d.properties.headers(), ERROR_HEADER),
            "body": String::from_utf8_lossy(&d.data),
        }));
    }
    channel
        .close(200, "listed".into())
        .await
        .context("closing the listing channel")?;
    Ok(out)
}

/// Re-publishes up to `limit` dead letters to the exchange with their
/// original routing key (confirmed), then removes each from the dead-letter
/// queue. Bounded by the queue's length at the start, so an event that fails
/// again is not replayed twice in one call.
pub async fn replay(channel: &Channel, settings: &Settings, limit: u32) -> anyhow::Result<u32> {
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let queue = settings.dead_letter_name();
    let mut replayed = 0;
    let mut remaining = u32::MAX;
    while replayed < limit && remaining > 0 {
        let Some(msg) = channel
            .basic_get(queue.as_str().into(), BasicGetOptions::default())
            .await?
        else {
            break;
        };
        remaining = remaining.min(msg.message_count);
        let d = &msg.delivery;
        let mut headers = d.properties.headers().clone().unwrap_or_default();
        let mut cleaned = FieldTable::default();
        for (k, v) in headers.inner() {
            if k.as_str() != ERROR_HEADER
                && !k.as_str().starts_with("x-death")
                && !k.as_str().starts_with("x-first-death")
                && !k.as_str().starts_with("x-last-death")
            {
                cleaned.insert(k.clone(), v.clone());
            }
        }
        headers = cleaned;
        let props = d.properties.clone().with_headers(headers);
        let confirm = channel
            .basic_publish(
                settings.exchange.as_str().into(),
                d.routing_key.clone(),
                BasicPublishOptions::default(),
                &d.data,
                props,
            )
            .await?
            .await?;
        if !confirm.is_ack() {
            bail!("the broker did not confirm a replayed event; it stays in {queue}");
        }
        d.acker.ack(BasicAckOptions::default()).await?;
        replayed += 1;
    }
    Ok(replayed)
}
