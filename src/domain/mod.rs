//! Values parsed at the boundary: once one of these exists it is valid, and
//! nothing downstream checks it again. Each bounds what it will let reach a
//! PostgreSQL column (length, NUL and control characters), and says why in
//! words that never repeat a token.

mod email;
mod event_id;
mod expiry;
mod id;
mod invite_status;
mod metadata;
mod role;
mod text;
mod text_enum;
mod token;

pub use email::EmailAddress;
pub use event_id::EventId;
pub use expiry::ExpiresAt;
pub use id::Id;
pub use invite_status::InviteStatus;
pub use metadata::Metadata;
pub use role::Role;
pub use text::{Locale, Name};
pub use text_enum::NotInSet;
pub(crate) use text_enum::text_enum;
pub use token::{Token, TokenHash};
