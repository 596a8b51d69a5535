//! Backends: each takes a checked `Plan` and cannot fail.
//! (Stub until the shell emitter lands.)
use crate::diagnostic::Diagnostics;
use crate::plan::Plan;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classifier { Iptables, U32 }
pub struct ShOptions { pub classifier: Classifier, pub teardown: bool, pub source_name: String }
pub fn sh(_plan: &Plan, _opts: &ShOptions) -> String { String::new() }
pub fn u32_expressible(_plan: &Plan) -> Diagnostics { Diagnostics::default() }
