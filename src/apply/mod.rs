//! `tcc apply`, `tcc plan`, `tcc status`, `tcc teardown`: the only code in tcc that talks to
//! the kernel. It reads the live traffic-control state over rtnetlink, compares it with the
//! plan, and sends the difference as one ordered batch with an ACK checked for each message,
//! rolling back to the state read at the start when the kernel refuses anything.
//!
//! The entry points are `run::plan`, `run::apply`, `status::read` and `teardown::teardown`;
//! they return typed results (`error::ApplyError`) and never print: the command line
//! (`cli::apply`) chooses the words and the exit status.

pub mod addrs;
pub mod diff;
pub mod encode;
pub mod error;
pub mod exec;
pub mod foreign;
pub mod ingress;
pub mod leafq;
pub mod live;
pub mod lock;
pub mod nft;
pub mod nl;
pub mod run;
pub mod snapshot;
pub mod status;
pub mod steer;
pub mod teardown;
pub mod xt;
