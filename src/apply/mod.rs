//! `tcc apply`, `tcc plan`, `tcc status`, `tcc teardown`: the only code in tcc that talks to
//! the kernel. It reads the live traffic-control state over rtnetlink, compares it with the
//! plan, and sends the difference as one ordered batch with an ACK checked for each message,
//! rolling back to the state read at the start when the kernel refuses anything.

pub mod diff;
pub mod encode;
pub mod exec;
pub mod live;
pub mod nft;
pub mod nl;
