//! One test binary: every test gets its own database, exchange and queues.

mod helpers;
mod proxy;
mod receiver;

mod dead_letters;
mod dedupe;
mod events;
mod faults;
mod secrets;
mod settings;
mod shutdown;
mod webhooks;
