//! The `iptables` dialect: `print` renders plan pieces as `iptables` text, `read` reads `iptables` commands
//! back into plan pieces.

pub mod print;
pub mod read;
