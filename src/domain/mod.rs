//! Values parsed at the boundary: once one of these exists it is valid, and
//! nothing downstream checks it again.

mod email;
mod event_id;
mod role;
mod token;

pub use email::EmailAddress;
pub use event_id::EventId;
pub use role::Role;
pub use token::{Token, TokenHash};
