//! The `tc` dialect: `print` renders plan pieces as `tc` text, `read` reads `tc` commands
//! back into plan pieces.

pub mod print;
pub mod read;
