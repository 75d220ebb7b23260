//! # Herald
//!
//! User-lifecycle notifications for a commerce back end: events in from
//! RabbitMQ, invites and reset tokens in PostgreSQL, emails and webhooks out.
//!
//! # Layout
//!
//! ```text
//! AMQP delivery ─► events::Envelope ─► events::Event ──rejected──► intake::dead_letter, ack
//!                                           │
//!       intake::window, one transaction a window, a fixed number of statements:
//!       store::record_events (the ids) → events::apply_run (invites, resets' limit
//!       and tokens, then emails, a statement each) → webhooks::fan_out_all (delivery
//!       rows) → one NOTIFY → commit → ack. Resends, acceptance and deletion apply
//!       alone between runs, in order.
//!       intake::batch: an event refused, the window again with a savepoint an
//!       event, so that one alone rolls back and is dead-lettered.
//!
//! email_outbox       ─► email::EmailDispatcher (claim with lease, render, SMTP, record;
//!                        the statements in store::email_outbox, rows read typed there)
//! webhook_deliveries ─► webhooks::dispatcher   (claim with lease, sign, POST, record)
//! event_outbox       ─► relay                  (lease, publish with confirm, delete)
//!                        all three on store::runner; records batched by store::recorder;
//!                        the last two tables' statements in store::{webhook_deliveries,
//!                        event_outbox}, rows decoded there (statuses as enums)
//! ```
//!
//! Modules depend downwards only: `commands` → `app` → `console` → `http`, `ops` → `intake` → `events`,
//! `webhooks`, `email` → `store`, `domain`; nothing calls back up.
//!
//! - `cli`, `commands`: the `herald` command line and what each command does.
//! - `settings`: every setting, flag and environment variable, parsed at start-up.
//! - `app`: start-up (database, migrations, topology) and the worker's lifetime.
//! - `intake`: the AMQP side: topology, consumer (and its live `BrokerStatus`), envelope
//!   parsing, the batch with its one-at-a-time fallback, dead letters, publishing.
//! - `events`: the envelope, and one file per event kind, each parsing its data and applying it.
//! - `domain`: newtypes parsed at the boundary (event id, email address, role, token,
//!   invite status), and `text_enum!` for the closed sets of words stored as text.
//! - `email`: templates, the SMTP transport, and the dispatcher that sends outbox rows and
//!   decides what each attempt means (final status, retry schedule, the rate limit's wording).
//! - `console`: `/console`, the operator's pages (sign-in, overview, search, the delivery
//!   log with resend, emails, endpoints, dead letters), server-rendered; mounted by `app`
//!   beside `http`.
//! - `http`: health, readiness, metrics, and `/v1` (tokens, invites, webhook endpoints, the
//!   delivery log, emails and their resend) with its OpenAPI document.
//! - `ops`: operators' tools: the resend of an email (through its kind's event handler) and
//!   the `herald emails` / `herald events` commands; reads in `store::email_outbox::read`
//!   and `store::delivery_log`.
//! - `relay`: events Herald publishes itself (`invite.accepted`, and the announcements
//!   `email.sent`, `email.failed`, `webhook.endpoint.disabled`), via leased `event_outbox` rows.
//! - `store`: the event-id dedupe; `email_outbox`, every statement on `email_outbox` and
//!   `email_attempts` (insert, claim, record, the rate limit's slots, reads, counts) and the
//!   typed values its rows are read into (`EmailStatus`, `EmailTemplate`); the keys that seal
//!   outbox tokens and endpoint secrets (and `keys check`), the dispatch `runner` every outbox
//!   shares, the batched `recorder`, held rows, peer text made recordable, the database and
//!   migrations; `announce` (announcements written with the outcome they tell), `retention`,
//!   `erasure` and `delivery_log` (cross-table jobs and reads, one concern each), `vacuum`
//!   (the queue tables kept lean by the housekeeping job); `webhook_deliveries` (every
//!   statement on the deliveries and their attempts: fan-out insert, claim, record, replay,
//!   reads, counts) and `event_outbox` (its insert and the relay's lease, delete, reschedule).
//! - `error`: rejected forever versus retry later; passing faults are an allowlist; data
//!   exceptions (a value the database cannot take) told without quoting the value.
//! - `webhooks`: endpoints, fan-out in the event's transaction, the signing dispatcher.
//! - `retention`: the housekeeping job: deletes what finished longer ago than
//!   `HERALD_RETENTION`, carries out erasures, vacuums the queue tables.
//! - `retry`, `telemetry`: backoff for passing faults; logs.

pub mod app;
pub mod cli;
pub mod commands;
pub mod console;
pub mod domain;
pub mod email;
pub mod error;
pub mod events;
pub mod http;
pub mod intake;
pub mod ops;
pub mod relay;
pub mod retention;
pub mod retry;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod webhooks;
