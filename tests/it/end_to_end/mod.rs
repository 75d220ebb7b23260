//! The `herald` binary end to end, behind proxies for PostgreSQL, RabbitMQ,
//! SMTP and the webhook receiver, under the faults production brings.

mod memory;
mod scenarios;
mod stack;
mod stream;
mod verdict;
