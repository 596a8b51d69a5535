//! Syntax-error recovery (`syntax::recover`) as properties over the corpus: it never reports an
//! error in a valid file, reports one bad statement once wherever it stands, reports one
//! missing `}` once (no cascade of follow-on errors), and never panics on a broken file.

use proptest::prelude::*;
use std::path::Path;
use tcc::syntax::recover::{self, MAX_ERRORS};
use tcc::syntax::token::{tokens, Kind};

/// The valid corpus and the fuzzer's parsable finds.
fn valid() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v = vec![];
    for dir in ["corpus/valid", "tests/data"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "shape"))
            .collect();
        files.sort();
        for p in files {
            let text = std::fs::read_to_string(&p).unwrap();
            if tcc::syntax::parse(0, &text).is_ok() {
                v.push((p.display().to_string(), text));
            }
        }
    }
    assert!(v.len() >= 10, "the corpus is missing");
    v
}

fn errors(text: &str) -> Vec<tcc::diagnostic::Diagnostic> {
    match tcc::syntax::parse_all(0, text) {
        Ok(_) => vec![],
        Err(d) => d,
    }
}

fn line_of(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

#[test]
fn recovery_reports_nothing_in_valid_files() {
    for (name, text) in valid() {
        let found = recover::errors(0, &text);
        assert!(found.is_empty(), "{name}: {:?}", found[0].message);
    }
}

/// The bodies a `{` opens, except a rule's (whose lines are match criteria, not statements).
fn statement_blocks(text: &str) -> Vec<usize> {
    let toks = tokens(text);
    let mut out = vec![];
    for (i, t) in toks.iter().enumerate() {
        if t.kind != Kind::LBrace {
            continue;
        }
        let head = toks[..i]
            .iter()
            .rev()
            .take_while(|t| !matches!(t.kind, Kind::Newline | Kind::Semi | Kind::LBrace))
            .filter(|t| t.kind == Kind::Word)
            .last();
        if head.is_some_and(|w| w.text != "rule") {
            out.push(t.start + 1);
        }
    }
    out
}

#[test]
fn one_bad_statement_in_any_block_is_one_error_at_its_line() {
    for (name, text) in valid() {
        for at in statement_blocks(&text) {
            let bad = format!("{}\nrate = 1mbit\n{}", &text[..at], &text[at..]);
            let found = errors(&bad);
            let msgs: Vec<_> = found.iter().map(|d| &d.message).collect();
            assert_eq!(found.len(), 1, "{name}, bad line after byte {at}: {msgs:?}");
            assert_eq!(
                line_of(&bad, found[0].primary.start),
                line_of(&bad, at) + 1,
                "{name}, bad line after byte {at}"
            );
        }
    }
}

#[test]
fn bad_statements_in_every_block_are_all_reported() {
    for (name, text) in valid() {
        let blocks = statement_blocks(&text);
        let mut bad = text.clone();
        for &at in blocks.iter().rev() {
            bad.insert_str(at, "\nrate = 1mbit\n");
        }
        let want = blocks.len().min(MAX_ERRORS);
        assert_eq!(errors(&bad).len(), want, "{name}");
    }
}

#[test]
fn one_missing_closing_brace_is_one_error() {
    for (name, text) in valid() {
        for t in tokens(&text).iter().filter(|t| t.kind == Kind::RBrace) {
            let bad = format!("{}{}", &text[..t.start], &text[t.start + 1..]);
            let found = errors(&bad);
            let msgs: Vec<_> = found.iter().map(|d| &d.message).collect();
            assert_eq!(found.len(), 1, "{name}, `}}` at byte {}: {msgs:?}", t.start);
            assert!(found[0].message.starts_with("unclosed `{`"), "{msgs:?}");
        }
    }
}

#[test]
fn a_string_left_open_before_a_block_is_one_error() {
    for (name, text) in valid() {
        // (Not where the line holds another string: the stray `"` would pair with its quote.)
        for at in statement_blocks(&text) {
            if text[at..].lines().next().is_some_and(|l| l.contains('"')) {
                continue;
            }
            let bad = format!("{}\"{}", &text[..at - 1], &text[at - 1..]);
            let found = errors(&bad);
            let msgs: Vec<_> = found.iter().map(|d| &d.message).collect();
            assert_eq!(found.len(), 1, "{name}, `\"` at byte {at}: {msgs:?}");
            assert_eq!(line_of(&bad, found[0].primary.start), line_of(&bad, at));
        }
    }
}

/// A valid file with a few tokens deleted, doubled or swapped for a delimiter.
fn mutate(text: &str, seed: &[u8]) -> String {
    let toks = tokens(text);
    let mut out = String::new();
    for (i, t) in toks.iter().enumerate() {
        let s = seed[i % seed.len()] as usize;
        if (i * 7 + s) % 23 != 0 {
            out += t.text;
            continue;
        }
        match s % 5 {
            0 => {}
            1 => out += &t.text.repeat(2),
            2 => out += ["{", "}", "[", "]", "\"", "=", ";", ",", "\n", "${"][s / 5 % 10],
            3 => out += &format!("{}\n", t.text),
            _ => out += &format!("{} {{", t.text),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Recovery never panics; it reports at least one and at most MAX_ERRORS errors, each in
    /// the file and on character boundaries, in file order.
    #[test]
    fn recovery_is_total_on_broken_files(i in 0usize..100, seed in prop::collection::vec(any::<u8>(), 1..32)) {
        let files = valid();
        let (_, text) = &files[i % files.len()];
        let bad = mutate(text, &seed);
        if let Err(found) = tcc::syntax::parse_all(0, &bad) {
            prop_assert!(!found.is_empty() && found.len() <= MAX_ERRORS);
            for d in &found {
                let s = d.primary;
                prop_assert!(s.start <= s.end && s.end <= bad.len());
                prop_assert!(bad.is_char_boundary(s.start) && bad.is_char_boundary(s.end));
            }
            prop_assert!(found.windows(2).all(|w| w[0].primary.start <= w[1].primary.start));
        }
    }
}
