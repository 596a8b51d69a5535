//! The `nft` dialect: `print` renders plan pieces as `nft` text, `read` reads `nft` commands
//! back into plan pieces.

pub mod file;
pub mod print;
pub mod read;
