//! Where emails go out: templates rendered with Handlebars, a pool of SMTP
//! connections, and the dispatcher that claims outbox rows and records every
//! attempt through `store::email_outbox`, deciding what each attempt means.

mod context;
mod dispatcher;
mod mailer;
mod message;
pub mod rate_limit;
mod smtp_pool;
pub mod templates;

pub use context::{human_duration, render_context, sample_data};
pub use dispatcher::{EmailDispatcher, EmailSettings};
pub use mailer::{Mailer, SendOutcome};
pub use templates::{Rendered, Templates};
