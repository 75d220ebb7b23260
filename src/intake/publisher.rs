//! Publishing CloudEvents to the exchange, for `herald publish` and tests.

use crate::settings::Broker;
use anyhow::bail;
use chrono::Utc;
use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Channel};
use serde_json::{Value, json};

/// A structured CloudEvent, as Herald publishes them.
pub fn cloud_event(source: &str, event_type: &str, id: &str, data: Value) -> Value {
    json!({
        "specversion": "1.0",
        "id": id,
        "source": source,
        "type": event_type,
        "time": Utc::now().to_rfc3339(),
        "datacontenttype": "application/json",
        "data": data,
    })
}

/// Publishes one CloudEvent built from `data` (`herald publish`, tests).
/// The channel must be in confirm mode.
pub async fn publish_event(
    channel: &Channel,
    broker: &Broker,
    event_type: &str,
    id: &str,
    data: Value,
) -> anyhow::Result<()> {
    if !data.is_object() {
        bail!("--data must be a JSON object");
    }
    let body = cloud_event("herald-cli", event_type, id, data);
    publish_body(channel, broker, event_type, id, &body).await
}

/// Publishes a CloudEvent body and waits for the broker's confirm, with
/// `mandatory` set so an event no queue would receive is reported instead
/// of dropped. The channel must be in confirm mode.
pub async fn publish_body(
    channel: &Channel,
    broker: &Broker,
    event_type: &str,
    id: &str,
    body: &Value,
) -> anyhow::Result<()> {
    publish_body_routed(channel, broker, event_type, id, body, true).await
}

/// As [`publish_body`]; without `mandatory`, an event no queue is bound for
/// is dropped by the broker (an announcement nobody listens to).
pub async fn publish_body_routed(
    channel: &Channel,
    broker: &Broker,
    event_type: &str,
    id: &str,
    body: &Value,
    mandatory: bool,
) -> anyhow::Result<()> {
    let props = BasicProperties::default()
        .with_content_type("application/cloudevents+json".into())
        .with_message_id(id.into())
        .with_delivery_mode(2);
    let confirm = channel
        .basic_publish(
            broker.exchange.as_str().into(),
            event_type.into(),
            BasicPublishOptions {
                mandatory,
                ..Default::default()
            },
            serde_json::to_vec(body)?.as_slice(),
            props,
        )
        .await?
        .await?;
    if !confirm.is_ack() {
        bail!("the broker did not confirm the event");
    }
    if confirm.take_message().is_some() {
        bail!(
            "no queue is bound for {event_type:?} on exchange {:?}; run `herald migrate` first",
            broker.exchange
        );
    }
    Ok(())
}
