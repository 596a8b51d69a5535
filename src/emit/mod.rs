//! Backends: each takes a checked `Plan` and cannot fail.
//!
//! - `sh`: a POSIX shell script using `tc` and iptables (or tc u32 filters), and its teardown.

pub mod iptables;
pub mod quote;
pub mod sh;
pub mod tc;
pub mod u32;

pub use quote::sh_quote;
pub use sh::{sh, Classifier, ShOptions};
pub use u32::u32_expressible;
