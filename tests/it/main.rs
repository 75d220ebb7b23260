//! One test binary: every test gets its own database, exchange and queues.

mod helpers;
mod proxy;
mod receiver;
mod smtp_sink;

mod batching;
mod dead_letters;
mod dedupe;
mod email;
mod end_to_end;
mod events;
mod http;
mod key_rotation;
mod medusa_payloads;
mod poison;
mod probes;
mod relay;
mod reset_limit;
mod secrets;
mod settings;
mod shutdown;
mod smtp_session;
mod throttle;
mod wake;
mod webhook_secrets;
mod webhooks;
