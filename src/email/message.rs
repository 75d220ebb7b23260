//! Builds the MIME message: multipart/alternative, text then HTML, UTF-8,
//! From, To, Subject, Date, and a Message-ID stable across retries.

use super::Rendered;
use crate::domain::EmailAddress;
use lettre::Message;
use lettre::message::header::ContentTransferEncoding;
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use uuid::Uuid;

/// How the bodies are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Whatever survives any relay (quoted-printable or base64 beyond ASCII
    /// and short lines): for SMTP, where 8BITMIME is not negotiated.
    Safe,
    /// The text as it is where it allows (UTF-8, no NUL, lines within RFC
    /// 5322's 998 bytes), else as `Safe`: `file://` mail stays readable, its
    /// link copyable with `cat`. Labelled `binary` (RFC 2045: 8-bit data
    /// without the 76-character line rule), since lettre labels `8bit` only
    /// text whose lines are all shorter than 76, and a link is not.
    Readable,
}

pub fn build(
    from: &Mailbox,
    recipient: &EmailAddress,
    outbox_id: Uuid,
    rendered: Rendered,
    encoding: Encoding,
) -> Result<Message, String> {
    // The address is valid; lettre's own grammar may still refuse what
    // RFC 5321 allows, and an address it cannot write is not sent.
    let to: Mailbox = recipient
        .as_str()
        .parse()
        .map_err(|e| format!("the SMTP client cannot write the recipient's address: {e}"))?;
    let domain = from.email.domain();
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(rendered.subject)
        .message_id(Some(format!("<{outbox_id}@{domain}>")))
        .date_now()
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(body(rendered.text, encoding)))
                .singlepart(SinglePart::html(body(rendered.html, encoding))),
        )
        .map_err(|e| format!("cannot build the message: {e}"))
}

/// No NUL or lone CR, and every line within 998 bytes (the CRLF added).
fn fits_as_is(text: &str) -> bool {
    !text.contains('\0')
        && text
            .split('\n')
            .all(|line| line.len() <= 998 && !line.trim_end_matches('\r').contains('\r'))
}

fn body(text: String, encoding: Encoding) -> Body {
    match encoding {
        Encoding::Safe => Body::new(text),
        Encoding::Readable if fits_as_is(&text) => {
            Body::new_with_encoding(text.clone(), ContentTransferEncoding::Binary)
                .unwrap_or_else(|_| Body::new(text))
        }
        Encoding::Readable => Body::new(text),
    }
}
