//! One test binary: every test gets its own database, exchange and queues.

mod helpers;
mod logged_worker;
mod proxy;
mod receiver;
mod smtp_sink;

mod batching;
mod dead_letters;
mod dedupe;
mod email;
mod end_to_end;
mod events;
mod expiry;
mod file_mail;
mod health_command;
mod http;
mod key_rotation;
mod lifecycle;
mod local_webhooks;
mod medusa_payloads;
mod openapi;
mod poison;
mod probes;
mod quiet_commands;
mod relay;
mod reset_limit;
mod retention;
mod secrets;
mod settings;
mod shutdown;
mod smtp_session;
mod templates_render;
mod throttle;
mod wake;
mod webhook_secrets;
mod webhooks;
