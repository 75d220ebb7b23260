//! Builds the MIME message: multipart/alternative, text then HTML, UTF-8,
//! From, To, Subject, Date, and a Message-ID stable across retries.

use super::Rendered;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use uuid::Uuid;

pub fn build(
    from: &Mailbox,
    recipient: &str,
    outbox_id: Uuid,
    rendered: Rendered,
) -> Result<Message, String> {
    let to: Mailbox = recipient
        .parse()
        .map_err(|e| format!("recipient is not a valid address: {e}"))?;
    let domain = from.email.domain();
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(rendered.subject)
        .message_id(Some(format!("<{outbox_id}@{domain}>")))
        .date_now()
        .multipart(MultiPart::alternative_plain_html(
            rendered.text,
            rendered.html,
        ))
        .map_err(|e| format!("cannot build the message: {e}"))
}
