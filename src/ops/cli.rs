//! `herald emails …` and `herald events …`: the delivery log and the email
//! outbox from the command line, printed as the API answers them (JSON).

use super::resend;
use crate::settings::{Database, Keys, Lifetimes, RateLimit};
use crate::store::delivery_log;
use crate::store::email_outbox::{EmailStatus, EmailTemplate, read};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use serde::Serialize;
use uuid::Uuid;

#[derive(Args, Debug)]
pub struct EmailsArgs {
    #[command(subcommand)]
    pub command: EmailsCommand,
    #[command(flatten)]
    pub database: Database,
    #[command(flatten)]
    pub keys: Keys,
    #[command(flatten)]
    pub lifetimes: Lifetimes,
    /// Invite and reset emails per recipient (`5/h`, `20/d`; `0` turns the limit off).
    #[arg(long, env = "HERALD_EMAIL_RATE_LIMIT", global = true, value_name = "HERALD_EMAIL_RATE_LIMIT",
          default_value = "5/h", value_parser = crate::settings::parse_rate_limit)]
    pub email_rate_limit: RateLimit,
}

#[derive(Subcommand, Debug)]
pub enum EmailsCommand {
    /// Print emails, newest first, one JSON object per line.
    List {
        /// Only those to this address (ignoring case).
        #[arg(long)]
        recipient: Option<String>,
        /// pending, sent, failed, dropped or expired.
        #[arg(long, value_parser = PossibleValuesParser::new(EmailStatus::WORDS.iter().copied())
            .try_map(|s| s.parse::<EmailStatus>()))]
        status: Option<EmailStatus>,
        /// invite, password_reset or welcome.
        #[arg(long, value_parser = PossibleValuesParser::new(EmailTemplate::WORDS.iter().copied())
            .try_map(|s| s.parse::<EmailTemplate>()))]
        template: Option<EmailTemplate>,
        /// 1 to 100.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=100))]
        limit: i64,
        /// How many to skip (for the next page).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
        offset: i64,
    },
    /// Print one email with every attempt (time, outcome, SMTP code and reply).
    Show {
        /// The email's id (see `emails list`).
        id: Uuid,
    },
    /// Send an email again: an invite gets a new token (the old link stops
    /// working), a reset a fresh token (older ones stop working), a welcome
    /// email is queued again. Prints the new email.
    Resend {
        /// The email's id (see `emails list`).
        id: Uuid,
    },
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    #[command(subcommand)]
    pub command: EventsCommand,
    #[command(flatten)]
    pub database: Database,
}

#[derive(Subcommand, Debug)]
pub enum EventsCommand {
    /// Everything one event caused: its emails and webhook deliveries, with every attempt.
    Show {
        /// The event's id (see `events list`).
        id: String,
    },
    /// Print processed events, newest first, one JSON object per line.
    List {
        /// A person's address: events that emailed it or concern an invite to it.
        #[arg(long)]
        email: Option<String>,
        /// Only this event type.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// 1 to 100.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=100))]
        limit: i64,
        /// How many to skip (for the next page).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
        offset: i64,
    },
}

pub async fn emails(args: EmailsArgs) -> anyhow::Result<()> {
    args.database.check()?;
    let pool = crate::store::existing(&args.database.url, crate::store::ADMIN_POOL).await?;
    match args.command {
        EmailsCommand::List {
            recipient,
            status,
            template,
            limit,
            offset,
        } => {
            let filter = read::Filter {
                recipient,
                status,
                template,
                limit,
                offset,
            };
            let (page, count) = read::list(&pool, &filter).await?;
            lines(&page)?;
            eprintln!("{} of {count}", page.len());
        }
        EmailsCommand::Show { id } => match read::get(&pool, id).await? {
            Some(email) => pretty(&email)?,
            None => anyhow::bail!("no email {id}"),
        },
        EmailsCommand::Resend { id } => {
            let ctx = resend::context(&args.lifetimes, &args.keys, args.email_rate_limit)?;
            let email = resend::resend(&pool, &ctx, id).await?;
            pretty(&email)?;
        }
    }
    pool.close().await;
    Ok(())
}

pub async fn events(args: EventsArgs) -> anyhow::Result<()> {
    args.database.check()?;
    let pool = crate::store::existing(&args.database.url, crate::store::ADMIN_POOL).await?;
    match args.command {
        EventsCommand::Show { id } => match delivery_log::for_event(&pool, &id).await? {
            Some(log) => pretty(&log)?,
            None => anyhow::bail!("no processed event {id:?}"),
        },
        EventsCommand::List {
            email,
            event_type,
            limit,
            offset,
        } => {
            let filter = delivery_log::EventFilter {
                email,
                event_type,
                limit,
                offset,
            };
            let (page, count) = delivery_log::events(&pool, &filter).await?;
            lines(&page)?;
            eprintln!("{} of {count}", page.len());
        }
    }
    pool.close().await;
    Ok(())
}

fn pretty(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn lines<T: Serialize>(items: &[T]) -> anyhow::Result<()> {
    for item in items {
        println!("{}", serde_json::to_string(item)?);
    }
    Ok(())
}
