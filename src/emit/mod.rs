//! Backends: each takes a checked `Plan` and cannot fail.
//!
//! - `sh`: a POSIX shell script using `tc` and iptables (or tc u32 filters), and its teardown.
//! - `batch`: the same in a few processes: `tc -batch`, `iptables-restore` (or hashed u32).
//! - `nft`: `tc -batch` for the trees, one nftables table per interface for classification.
//! - `tc`, `iptables`, `u32`, `nft` (rulesets), `quote`: the pieces they share.

pub mod batch;
pub mod graph;
pub mod ingress;
mod queues;
pub mod sh;

pub use crate::dialect::sh::quote::sh_quote;
pub use crate::dialect::u32::{u32_expressible, u32_expressible_with, COMPILE_ALTERNATIVE};
pub use batch::{batch, nft, Emitted};
pub use sh::{sh, Classifier, ShOptions};
