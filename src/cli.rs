//! The `herald` command line: one subcommand per operator task.

use crate::settings::{
    Broker, Database, Keys, Lifetimes, Listen, LogFormat, Rendering, Settings, Targets,
};
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "herald", version, about = "User-lifecycle notification worker")]
pub struct Cli {
    /// `pretty` or `json`; by default pretty on a terminal, JSON otherwise.
    #[arg(
        long,
        env = "HERALD_LOG_FORMAT",
        global = true,
        value_name = "HERALD_LOG_FORMAT"
    )]
    pub log_format: Option<LogFormat>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Apply migrations, declare the AMQP topology, consume events until SIGINT/SIGTERM.
    Run(Box<Settings>),
    /// Apply migrations, declare the AMQP topology, and exit.
    Migrate(Setup),
    /// Publish one CloudEvents event to the exchange (with publisher confirm); prints its id.
    Publish {
        /// Event type, e.g. invite.created.
        #[arg(value_name = "TYPE")]
        event_type: String,
        /// The event's data, a JSON object.
        #[arg(long)]
        data: String,
        /// Event id (a new UUID when absent).
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        broker: Broker,
    },
    /// Ask a running worker's `/readyz` (at HERALD_HTTP_ADDR) whether it is ready;
    /// exits 0 when it is (for container healthchecks, no curl needed).
    Health {
        /// Give up on an answer after this long (humantime).
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
        #[command(flatten)]
        listen: Listen,
    },
    /// Check or render the email templates.
    #[command(subcommand)]
    Templates(TemplatesCommand),
    /// Inspect or re-publish dead-lettered events.
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(DeadLetters),
    /// Manage webhook endpoints and replay failed deliveries.
    Webhooks(WebhooksArgs),
    /// Inspect emails (every attempt) and send one again.
    Emails(crate::ops::cli::EmailsArgs),
    /// What one event caused, and a person's events.
    Events(crate::ops::cli::EventsArgs),
    /// Inspect HERALD_SECRET_KEY and HERALD_SECRET_KEY_PREVIOUS.
    #[command(subcommand)]
    Keys(KeysCommand),
}

impl Command {
    /// The settings `herald run` was given (tests and the benchmark parse
    /// a `run` command line to get them).
    pub fn into_run_settings(self) -> Option<Settings> {
        match self {
            Command::Run(settings) => Some(*settings),
            _ => None,
        }
    }
}

/// What `migrate` (and `run`, at start) prepares: the database, with the
/// keys to seal endpoint secrets stored in the clear, and the AMQP topology.
#[derive(Args, Debug)]
pub struct Setup {
    #[command(flatten)]
    pub database: Database,
    #[command(flatten)]
    pub broker: Broker,
    #[command(flatten)]
    pub keys: Keys,
}

#[derive(Args, Debug)]
pub struct WebhooksArgs {
    #[command(subcommand)]
    pub command: crate::webhooks::cli::WebhooksCommand,
    #[command(flatten)]
    pub database: Database,
    #[command(flatten)]
    pub keys: Keys,
    #[command(flatten)]
    pub targets: Targets,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// How many sealed values (tokens of unsent emails, webhook endpoint
    /// secrets) each configured key opens, and how many none opens (exit 1).
    Check {
        #[command(flatten)]
        database: Database,
        #[command(flatten)]
        keys: Keys,
    },
}

#[derive(Subcommand, Debug)]
pub enum DeadLetters {
    /// Print dead-lettered events (one JSON object per line) without removing them.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        broker: Broker,
    },
    /// Re-publish dead-lettered events to the exchange with their original routing key.
    Replay {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        broker: Broker,
    },
}

#[derive(Subcommand, Debug)]
pub enum TemplatesCommand {
    /// Compile and render every template with sample data; fails naming the file.
    Check {
        #[command(flatten)]
        rendering: Rendering,
    },
    /// Print the subject, text and HTML of one email.
    Render {
        /// invite, password_reset or welcome.
        name: String,
        /// The email's data, a JSON object (as the event's handler stores it).
        #[arg(long)]
        data: String,
        /// Language variant, e.g. fr or fr-CA (falls back to the default
        /// templates); the data's `locale` when absent. Dates follow it.
        #[arg(long)]
        locale: Option<String>,
        /// The token to put in the link.
        #[arg(long, default_value = "TOKEN")]
        token: String,
        #[command(flatten)]
        rendering: Rendering,
        #[command(flatten)]
        lifetimes: Lifetimes,
    },
}
