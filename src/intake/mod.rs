//! Where events come in: the AMQP topology, the consumer that turns each
//! prefetch window of deliveries into one committed transaction and one ack,
//! and the dead-letter side.

pub mod batch;
mod broker_status;
mod consumer;
pub mod dead_letter;
pub mod publisher;
pub mod topology;
mod window;

pub use crate::events::{Envelope, Incoming, MAX_BODY_BYTES};
pub use broker_status::BrokerStatus;
pub use consumer::consume;

use lapin::{Connection, ConnectionProperties};

/// One AMQP connection, named so operators can tell Herald's apart.
pub async fn connect(amqp_url: &str, role: &str) -> lapin::Result<Connection> {
    let props = ConnectionProperties::default()
        .with_connection_name(format!("herald {role} ({})", std::process::id()).into());
    Connection::connect(amqp_url, props).await
}
