//! Declares (idempotently) what Herald consumes from and dead-letters to.

use crate::events::EVENT_TYPES;
use crate::settings::Broker;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

/// How often the broker redelivers one message before it dead-letters it by
/// itself. Herald never rejects a valid event, so this only catches messages
/// whose handling repeatedly kills the process, or a connection that keeps
/// dropping mid-delivery.
pub const DELIVERY_LIMIT: i64 = 20;

pub async fn declare(channel: &Channel, broker: &Broker) -> lapin::Result<()> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let dead = broker.dead_letter_name();
    channel
        .exchange_declare(
            broker.exchange.as_str().into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await?;
    // Fanout: every dead letter lands in the one queue, keeping its routing key.
    channel
        .exchange_declare(
            dead.as_str().into(),
            ExchangeKind::Fanout,
            durable,
            FieldTable::default(),
        )
        .await?;
    let queue_opts = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    // A classic queue: listing dead letters returns them unacked, which a
    // quorum queue would count against a delivery limit.
    channel
        .queue_declare(dead.as_str().into(), queue_opts, FieldTable::default())
        .await?;
    channel
        .queue_bind(
            dead.as_str().into(),
            dead.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;

    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(DELIVERY_LIMIT),
    );
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(LongString::from(dead.as_str())),
    );
    channel
        .queue_declare(broker.queue.as_str().into(), queue_opts, args)
        .await?;
    for event_type in EVENT_TYPES {
        channel
            .queue_bind(
                broker.queue.as_str().into(),
                broker.exchange.as_str().into(),
                event_type.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}
