//! The consume loop: what the broker has pushed (up to the prefetch) is
//! handled as one batch, committed in PostgreSQL before it is acked. Broker trouble ends the session and a new one starts
//! after a backoff; what was in flight is redelivered and caught by the dedupe.

use super::batch::{self, Parsed};
use super::{BrokerStatus, Envelope, Incoming, connect, dead_letter, topology};
use crate::error::Rejection;
use crate::events::{Context, Event, Outcome};
use crate::retry;
use crate::settings::Settings;
use anyhow::{Context as _, bail};
use futures_util::{FutureExt, StreamExt};
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, field};

/// Consumes until `cancel` fires, reconnecting whenever the broker goes away.
pub async fn consume(
    settings: &Settings,
    pool: &PgPool,
    ctx: &Context,
    status: &BrokerStatus,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let mut backoff = retry::backoff();
    loop {
        let mut session = Session {
            settings,
            pool,
            ctx,
            cancel,
            status,
            connected: false,
        };
        let ended = session.run().await;
        status.down(match &ended {
            Ok(()) => "shutting down".to_owned(),
            Err(e) => format!("{e:#}"),
        });
        match ended {
            Ok(()) => return Ok(()),
            Err(e) => {
                if session.connected {
                    backoff = retry::backoff();
                }
                tracing::warn!(
                    error = format!("{e:#}"),
                    "broker session ended; reconnecting"
                );
                if !retry::pause(backoff.next(), cancel).await {
                    return Ok(());
                }
            }
        }
    }
}

struct Session<'a> {
    settings: &'a Settings,
    pool: &'a PgPool,
    ctx: &'a Context,
    cancel: &'a CancellationToken,
    status: &'a BrokerStatus,
    connected: bool,
}

/// Whether the loop goes on after a delivery.
enum Step {
    Next,
    Stop,
}

impl Session<'_> {
    /// `Ok` only on shutdown; any broker failure is an `Err`.
    async fn run(&mut self) -> anyhow::Result<()> {
        let conn = connect(&self.settings.broker.amqp_url, "consumer")
            .await
            .context("connecting to RabbitMQ")?;
        let setup = conn.create_channel().await?;
        topology::declare(&setup, &self.settings.broker)
            .await
            .context("declaring the topology")?;
        let dead = conn.create_channel().await?;
        dead.confirm_select(ConfirmSelectOptions::default()).await?;
        let channel = conn.create_channel().await?;
        // Credit for one window only. Two windows' worth kept every backlog
        // window full (64 events, against 20 on average) but bought no
        // throughput, and raised the paced p99 from 67-129 ms to 316-388 ms
        // in the bench (two runs each).
        channel
            .basic_qos(self.settings.prefetch, BasicQosOptions::default())
            .await?;
        let mut deliveries = channel
            .basic_consume(
                self.settings.broker.queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        self.connected = true;
        self.status.up();
        tracing::info!(queue = %self.settings.broker.queue, prefetch = self.settings.prefetch, "consuming");
        loop {
            let next = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => break,
                next = deliveries.next() => next,
            };
            let mut batch = vec![received(next)?];
            // Whatever else the broker has already pushed joins the batch.
            while batch.len() < usize::from(self.settings.prefetch) {
                match deliveries.next().now_or_never() {
                    Some(next) => batch.push(received(next)?),
                    None => break,
                }
            }
            metrics::histogram!("herald_intake_window_events").record(batch.len() as f64);
            tracing::debug!(events = batch.len(), "window");
            if let Step::Stop = self.deliver(&batch, &dead).await? {
                break;
            }
        }
        // Unacked deliveries (prefetched, or one abandoned mid-retry) return
        // to the queue when the connection closes.
        let _ = conn.close(200, "shutting down".into()).await;
        tracing::info!("consumer stopped");
        Ok(())
    }

    /// Applies the batch in one transaction, dead-letters what was
    /// rejected (confirmed), then acks the whole batch with one `multiple` ack.
    async fn deliver(&self, batch: &[Delivery], dead: &Channel) -> anyhow::Result<Step> {
        let parsed: Vec<Parsed> = batch.iter().map(|d| self.parse(d)).collect();
        let Some(outcomes) = self.apply(&parsed).await else {
            return Ok(Step::Stop);
        };
        for ((delivery, parsed), outcome) in batch.iter().zip(&parsed).zip(outcomes) {
            let span = tracing::info_span!(
                "event",
                event.id = field::Empty,
                event.type = field::Empty,
                routing_key = %delivery.routing_key,
            );
            if let Ok((envelope, _)) = parsed {
                span.record("event.id", envelope.id.as_str());
                span.record("event.type", envelope.event_type.as_str());
            } else if let Some(id) = rejected_id(delivery) {
                // A rejected event's lines still carry what id it has.
                span.record("event.id", id.as_str());
            }
            self.settle(delivery, outcome, dead)
                .instrument(span)
                .await?;
        }
        let last = batch.last().context("an empty batch")?;
        last.acker
            .ack(BasicAckOptions { multiple: true })
            .await
            .context("acking")?;
        Ok(Step::Next)
    }

    /// Counts and logs one event's outcome, and dead-letters it if rejected.
    async fn settle(
        &self,
        delivery: &Delivery,
        outcome: Result<Outcome, Rejection>,
        dead: &Channel,
    ) -> anyhow::Result<()> {
        let label = match &outcome {
            Ok(Outcome::Processed) => "processed",
            Ok(Outcome::Duplicate) => "duplicate",
            Err(_) => "dead_lettered",
        };
        let event_type = crate::events::EVENT_TYPES
            .into_iter()
            .find(|t| *t == delivery.routing_key.as_str())
            .unwrap_or("other");
        metrics::counter!("herald_events_total", "type" => event_type, "outcome" => label)
            .increment(1);
        match outcome {
            Ok(Outcome::Processed) => tracing::info!("processed"),
            Ok(Outcome::Duplicate) => tracing::info!("already processed; skipped"),
            Err(reason) => {
                tracing::warn!(reason = %reason, "dead-lettering");
                dead_letter::publish(
                    dead,
                    &self.settings.broker.dead_letter_name(),
                    delivery.routing_key.as_str(),
                    &delivery.properties,
                    &delivery.data,
                    &reason,
                )
                .await
                .context("publishing a dead letter")?;
            }
        }
        Ok(())
    }

    fn parse(&self, delivery: &Delivery) -> Result<(Envelope, Event), Rejection> {
        let envelope = Envelope::parse(&Incoming {
            routing_key: delivery.routing_key.as_str(),
            properties: &delivery.properties,
            body: &delivery.data,
        })?;
        let event = Event::parse(&envelope)?;
        Ok((envelope, event))
    }

    /// Applies the batch, waiting out database faults for as long as they
    /// last. `None`: shutdown came while waiting; nothing is acked.
    async fn apply(&self, parsed: &[Parsed]) -> Option<Vec<Result<Outcome, Rejection>>> {
        let mut backoff = retry::backoff();
        loop {
            match batch::apply(self.pool, self.ctx, parsed).await {
                Ok(outcomes) => return Some(outcomes),
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "database unavailable; retrying");
                    if !retry::pause(backoff.next(), self.cancel).await {
                        return None;
                    }
                }
            }
        }
    }
}

/// The id of an event rejected for its data (its envelope parses), else
/// its AMQP `message-id`.
fn rejected_id(delivery: &Delivery) -> Option<String> {
    let envelope = Envelope::parse(&Incoming {
        routing_key: delivery.routing_key.as_str(),
        properties: &delivery.properties,
        body: &delivery.data,
    });
    match envelope {
        Ok(envelope) => Some(envelope.id.as_str().to_owned()),
        Err(_) => delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.to_string()),
    }
}

/// A delivery off the stream, or why the session must end.
fn received(next: Option<lapin::Result<Delivery>>) -> anyhow::Result<Delivery> {
    match next {
        Some(Ok(delivery)) => Ok(delivery),
        Some(Err(e)) => Err(e).context("receiving from RabbitMQ"),
        None => bail!("the broker closed the consumer"),
    }
}
