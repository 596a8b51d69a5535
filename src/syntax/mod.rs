//! Syntax: the pest grammar (`grammar/shape.pest`) and the spanned AST it produces.
//! Architecture invariant: nothing here resolves names or computes values; that is `sema`.

pub mod ast;
pub mod fmt;
pub mod lexeme;
pub mod parser;
mod pieces;
pub mod recover;
mod recover_body;
pub mod token;

pub use parser::{parse, parse_all};
