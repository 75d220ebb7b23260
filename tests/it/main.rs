//! One test binary: every test gets its own database, exchange and queues.

mod helpers;
mod proxy;
mod receiver;
mod smtp_sink;

mod batching;
mod dead_letters;
mod dedupe;
mod email;
mod events;
mod faults;
mod http;
mod replicas;
mod secrets;
mod settings;
mod shutdown;
mod wake;
mod webhooks;
