//! Events that can never succeed: published (with publisher confirm) to
//! `<queue>.dead-letter` with their routing key, body and properties intact
//! plus `x-herald-error`; listed and replayed from there by operators.

use crate::error::Rejection;
use crate::settings::Broker;
use anyhow::{Context as _, bail};
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashSet;

pub const ERROR_HEADER: &str = "x-herald-error";

/// Publishes a rejected delivery to the dead-letter exchange and waits for
/// the broker's confirm. The caller acks the original only after this.
/// `mandatory`, so a dead-letter queue that is gone is an error rather than
/// a silent drop; without the original per-message `expiration`, so a dead
/// letter waits for an operator however short the event's own life was.
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
    let props = without_expiration(properties)
        .with_headers(headers)
        .with_delivery_mode(2);
    let confirm = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            body,
            props,
        )
        .await?
        .await?;
    if !confirm.is_ack() {
        bail!("the broker did not confirm the dead letter");
    }
    if confirm.take_message().is_some() {
        bail!("no queue is bound to {exchange:?}; run `herald migrate` to declare it");
    }
    Ok(())
}

/// `properties` less `expiration` (lapin can set a property, not clear one).
fn without_expiration(p: &BasicProperties) -> BasicProperties {
    let mut out = BasicProperties::default();
    macro_rules! keep {
        ($($get:ident => $with:ident),*) => {
            $(if let Some(v) = p.$get() { out = out.$with(v.clone()); })*
        };
    }
    keep!(content_type => with_content_type, content_encoding => with_content_encoding,
          headers => with_headers, delivery_mode => with_delivery_mode, priority => with_priority,
          correlation_id => with_correlation_id, reply_to => with_reply_to,
          message_id => with_message_id, timestamp => with_timestamp, kind => with_type,
          user_id => with_user_id, app_id => with_app_id, cluster_id => with_cluster_id);
    out
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
    broker: &Broker,
    limit: u32,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let queue = broker.dead_letter_name();
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
/// queue. At most the queue's length at the start: an event that fails again
/// lands behind those, so no message is replayed twice in one call (and one
/// seen twice by its id and body stops the run, as a second guard).
pub async fn replay(channel: &Channel, broker: &Broker, limit: u32) -> anyhow::Result<u32> {
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let queue = broker.dead_letter_name();
    let waiting = channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("{queue} does not exist; run `herald migrate`"))?
        .message_count();
    let mut seen = HashSet::new();
    let mut replayed = 0;
    while replayed < limit.min(waiting) {
        let Some(msg) = channel
            .basic_get(queue.as_str().into(), BasicGetOptions::default())
            .await?
        else {
            break;
        };
        let d = &msg.delivery;
        let identity = (
            d.properties.message_id().as_ref().map(|m| m.to_string()),
            Sha256::digest(&d.data),
        );
        if !seen.insert(identity) {
            d.acker
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await?;
            break;
        }
        let mut cleaned = FieldTable::default();
        for (k, v) in d.properties.headers().clone().unwrap_or_default().inner() {
            if k.as_str() != ERROR_HEADER
                && !k.as_str().starts_with("x-death")
                && !k.as_str().starts_with("x-first-death")
                && !k.as_str().starts_with("x-last-death")
            {
                cleaned.insert(k.clone(), v.clone());
            }
        }
        let props = d.properties.clone().with_headers(cleaned);
        let confirm = channel
            .basic_publish(
                broker.exchange.as_str().into(),
                d.routing_key.clone(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                &d.data,
                props,
            )
            .await?
            .await?;
        if !confirm.is_ack() {
            bail!("the broker did not confirm a replayed event; it stays in {queue}");
        }
        if confirm.take_message().is_some() {
            bail!(
                "no queue is bound for {:?} on {:?}; the event stays in {queue}",
                d.routing_key.as_str(),
                broker.exchange
            );
        }
        d.acker.ack(BasicAckOptions::default()).await?;
        replayed += 1;
    }
    Ok(replayed)
}
