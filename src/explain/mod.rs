//! `tcc explain`: read the shell scripts people already run (tc, iptables, nft), turn them into
//! the same shaping plan the language lowers into, then explain, lint and import them.
//!
//! `dialect::sh` reads the script into the commands it runs; `dialect::{tc,iptables,nft}` read
//! those commands; `lower` simulates them (`sim`) into a `plan::Plan` (`build`, `merge`, `lint`) and
//! checks it with `sema::check_plan`, so the codes are those of `tcc check`; `describe` explains the plan in words, JSON or DOT;
//! `to_shape` writes it back as an idiomatic `.shape` file.

mod build;
pub mod describe;
pub mod equiv;
mod lint;
pub mod lower;
mod merge;
mod sim;
pub mod to_shape;

pub use lower::Explained;

/// Read `text` (a shell script, file id `file`) with positional parameters `args`.
pub fn explain(file: usize, text: &str, args: &[String]) -> Explained {
    explain_with(file, text, args, &mut crate::dialect::sh::NoFiles)
}

/// `explain`, reading the files the script names (`source`, `tc -batch FILE`, `nft -f FILE`,
/// `iptables-restore < FILE`...) through `files`.
pub fn explain_with(
    file: usize,
    text: &str,
    args: &[String],
    files: &mut dyn crate::dialect::sh::Files,
) -> Explained {
    lower::read_and_lower(file, text, args, files)
}

/// Read `text` in nft's file syntax (a `.nft` file, `nft list ruleset` output), as `nft -f`
/// would run it.
pub fn explain_nft(file: usize, text: &str) -> Explained {
    use crate::diagnostic::Span;
    use crate::dialect::sh::{Command, Input, Script, Word};
    let whole = Span::new(file, 0, text.len());
    let at = Span::new(file, 0, 0);
    let words = ["nft", "-f", "-"]
        .iter()
        .map(|t| Word {
            text: t.to_string(),
            span: at,
        })
        .collect();
    let script = Script {
        commands: vec![Command {
            words,
            span: at,
            conditional: false,
            comment: None,
            stdin: Some(Input {
                text: text.to_string(),
                at: Some(0),
                strip_tabs: false,
                span: whole,
            }),
            input_file: None,
        }],
        // `nft -f` applies the whole file or nothing: never half of it.
        set_e: true,
        ..Script::default()
    };
    lower::lower(script)
}
