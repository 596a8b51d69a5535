//! Property tests: `tcc fmt` is idempotent, canonical and meaning-preserving over the corpus, perturbed
//! corpus files and generated sources; generated configurations with hostile names give scripts
//! that `sh -n` and shellcheck accept and that never execute a name.

use proptest::prelude::*;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use tcc::emit::{sh, u32_expressible, Classifier, ShOptions};

fn corpus() -> Vec<String> {
    let mut v = vec![];
    for dir in ["corpus/valid", "corpus/invalid"] {
        let d = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut files: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        v.extend(files.iter().map(|p| std::fs::read_to_string(p).unwrap()));
    }
    v
}

fn plan_json(text: &str) -> (String, Vec<tcc::diagnostic::Code>) {
    let (plan, d) = tcc::analyze(0, text);
    // Expectations are not serialised (they carry spans); their packets and classes are.
    let expects: Vec<String> = plan
        .interfaces
        .iter()
        .flat_map(|i| &i.expectations)
        .map(|e| format!("{:?} {:?}", e.packet, e.class))
        .collect();
    (
        serde_json::to_string(&plan).unwrap() + &expects.join(";"),
        d.items.iter().map(|d| d.code).collect(),
    )
}

/// The formatter's contract on one input: idempotent, same tokens, same plan and diagnostics.
fn assert_fmt_contract(text: &str) {
    let Ok(once) = tcc::syntax::fmt::format(text) else {
        return; // syntax errors are refused, not formatted
    };
    let twice = tcc::syntax::fmt::format(&once).expect("formatted text parses");
    assert_eq!(twice, once, "not idempotent for:\n{text}");
    assert_eq!(
        tcc::syntax::fmt::significant_tokens(&once),
        tcc::syntax::fmt::significant_tokens(text)
    );
    assert_eq!(
        plan_json(&once),
        plan_json(text),
        "meaning changed for:\n{text}\n---\n{once}"
    );
}

#[test]
fn fmt_contract_holds_on_the_corpus() {
    for text in corpus() {
        assert_fmt_contract(&text);
    }
    // Inputs the fuzzer found (tests/data/fuzz-*.shape).
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for e in std::fs::read_dir(data).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("fuzz-")
        {
            assert_fmt_contract(&std::fs::read_to_string(&p).unwrap());
        }
    }
}

/// Re-space a text at random where whitespace already is, keeping its line breaks (and so its
/// blank lines and which comments stand on their own line): the grammar ignores these changes.
fn perturb(text: &str, seed: &[u8]) -> String {
    let mut out = String::new();
    let mut k = 0;
    let mut next = || {
        k += 1;
        seed[k % seed.len()]
    };
    for t in tcc::syntax::token::tokens(text) {
        use tcc::syntax::token::Kind;
        match t.kind {
            Kind::Space => out += [" ", "  ", "\t", "    ", " \t "][next() as usize % 5],
            Kind::Newline => {
                out += ["\n", "  \n", "\r\n"][next() as usize % 3];
                out += ["", "  ", "\t", "        "][next() as usize % 4];
            }
            _ => out += t.text,
        }
    }
    out
}

/// Re-wrap a formatted text at random: spaces, `\` continuations, `;` or line breaks between
/// statements, blocks joined onto one line or split over several, indentation anything. Kept:
/// the blank lines, and the line break after every comment and before every comment that
/// stands on its own line (the author's choices `fmt` keeps).
fn rewrap(formatted: &str, seed: &[u8]) -> String {
    use tcc::syntax::token::Kind;
    let toks: Vec<_> = tcc::syntax::token::tokens(formatted);
    let mut k = 0;
    let mut next = |n: usize| {
        k += 1;
        seed[k % seed.len()] as usize % n
    };
    // The nearest token that is not a space, before or after `i`.
    let before = |i: usize| {
        toks[..i]
            .iter()
            .rev()
            .find(|t| t.kind != Kind::Space)
            .map(|t| t.kind)
    };
    let after = |i: usize| {
        toks[i + 1..]
            .iter()
            .find(|t| t.kind != Kind::Space)
            .map(|t| t.kind)
    };
    let indent = ["", " ", "\t", "        "];
    let mut out = String::new();
    let mut brackets = 0usize;
    for (i, t) in toks.iter().enumerate() {
        let (b, a) = (before(i), after(i));
        match t.kind {
            Kind::LBracket => {
                brackets += 1;
                out += t.text;
            }
            Kind::RBracket => {
                brackets = brackets.saturating_sub(1);
                out += t.text;
            }
            Kind::Space if a == Some(Kind::Comment) => out += [" ", "   ", "\t"][next(3)],
            Kind::Space
                if matches!(b, Some(Kind::LBrace | Kind::Semi)) || a == Some(Kind::RBrace) =>
            {
                out += [" ", "\n", " \\\n", "\n\t"][next(4)]
            }
            Kind::Space => out += [" ", "  ", "\t", " \\\n  "][next(4)],
            Kind::Semi => out += [";", " ;", ";\n", "\n"][next(4)],
            Kind::Newline => {
                let blank = a == Some(Kind::Newline) || b == Some(Kind::Newline);
                if blank || b == Some(Kind::Comment) || a == Some(Kind::Comment) || a.is_none() {
                    out += "\n";
                } else if brackets > 0 || b == Some(Kind::Comma) {
                    out += [" ", "\n", " \\\n"][next(3)];
                } else if b == Some(Kind::LBrace) || a == Some(Kind::RBrace) {
                    out += [" ", "\n", " ; ", "\n;"][next(4)];
                } else {
                    out += ["\n", ";", " ; ", ";\n", "\n;"][next(5)];
                }
                out += indent[next(4)];
            }
            _ => out += t.text,
        }
    }
    out
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,8}"
}

/// A generated configuration, as text: interfaces, classes (nested), matches, comments.
fn source() -> impl Strategy<Value = String> {
    let class = (
        name(),
        1u32..500,
        0u32..3,
        proptest::option::of(1u16..65535),
        any::<bool>(),
        proptest::option::of("[ -~&&[^\"\\\\$]]{0,12}"),
    );
    (name(), prop::collection::vec(class, 1..6), any::<bool>()).prop_map(
        |(ifname, classes, comments)| {
            let mut s = String::from("# generated\n");
            s += &format!(
                "interface \"{ifname}\" {{\n  rate 1gbit\n  default \"c0-{}\"\n",
                classes[0].0
            );
            for (i, (n, rate, extra, port, nested, comment)) in classes.iter().enumerate() {
                let cname = format!("c{i}-{n}");
                s += &format!(
                    "  class \"{cname}\" {{ rate {rate}kbit; ceil {}kbit",
                    rate + extra * 100
                );
                if let Some(p) = port {
                    if i > 0 {
                        s += &format!("; match tcp dport {p}");
                    }
                }
                // An expectation right after the class (met or not), `->` tight or spaced.
                let expect = match port {
                    Some(p) if i > 0 && *extra == 0 => {
                        format!("\n  expect tcp dport {p}->\"{cname}\"")
                    }
                    Some(p) => format!("\n  expect udp dport {p} -> default"),
                    None => String::new(),
                };
                if *nested && i > 0 {
                    s += &format!("\n    class \"{cname}-in\" {{ rate 1kbit }}\n  ");
                }
                s += " }";
                s += &expect;
                if comments {
                    if let Some(c) = comment {
                        s += &format!(" # {c}");
                    }
                }
                s += "\n";
            }
            s += "}\n";
            s
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn fmt_contract_holds_on_perturbed_corpus(i in 0usize..100, seed in prop::collection::vec(any::<u8>(), 1..32)) {
        let files = corpus();
        let text = &files[i % files.len()];
        let messy = perturb(text, &seed);
        assert_fmt_contract(&messy);
        // Formatting the messy file gives what formatting the original gives.
        if let (Ok(a), Ok(b)) = (tcc::syntax::fmt::format(text), tcc::syntax::fmt::format(&messy)) {
            prop_assert_eq!(a, b);
        }
    }

    /// The canonical layout: any re-spaced, re-wrapped version of a file (statements joined
    /// with `;` or split over lines, blocks joined onto one line or expanded) formats to the
    /// same text as the file, comments kept, plan unchanged.
    #[test]
    fn fmt_is_canonical_whatever_the_layout(i in 0usize..100, seed in prop::collection::vec(any::<u8>(), 1..64)) {
        let files = corpus();
        let Ok(want) = tcc::syntax::fmt::format(&files[i % files.len()]) else {
            return Ok(()); // a syntax error in corpus/invalid
        };
        let messy = rewrap(&want, &seed);
        assert_fmt_contract(&messy);
        let got = tcc::syntax::fmt::format(&messy);
        prop_assert!(got.is_ok(), "re-wrapped text does not parse:\n{}", messy);
        prop_assert_eq!(got.unwrap(), want, "re-wrapped:\n{}", messy);
    }

    #[test]
    fn fmt_is_canonical_on_generated_sources(src in source(), seed in prop::collection::vec(any::<u8>(), 1..64)) {
        let want = tcc::syntax::fmt::format(&src).expect("generated sources parse");
        let messy = rewrap(&want, &seed);
        prop_assert_eq!(tcc::syntax::fmt::format(&messy).expect("re-wrapped parses"), want, "re-wrapped:\n{}", messy);
    }

    #[test]
    fn fmt_contract_holds_on_generated_sources(src in source(), seed in prop::collection::vec(any::<u8>(), 1..16)) {
        assert_fmt_contract(&src);
        assert_fmt_contract(&perturb(&src, &seed));
    }
}

// ---- hostile names ------------------------------------------------------------------------

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

fn run_with_stdin(cmd: &mut Command, input: &str) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Names that try to break out of a shell word.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("eth0;reboot".to_string()),
        Just("$(id)".to_string()),
        Just("`id`".to_string()),
        Just("a'b".to_string()),
        Just("a\\\"b".to_string()),
        Just("x\\ny".to_string()),
        Just("eth0 && touch PWNED".to_string()),
        Just("$(touch PWNED)".to_string()),
        Just("'; touch PWNED; '".to_string()),
        Just("-rf".to_string()),
        Just("${IFS}".to_string()),
        "[ -~]{1,10}".prop_map(|s| s.replace(['"', '\\'], "")),
        name(),
    ]
}

/// A stub `tc`/`iptables`/`ip6tables`/`ip` that accepts everything, so a script can be run
/// without touching the machine; `-D` fails so the script's delete loops end.
fn stub_bin(dir: &Path) {
    for tool in ["tc", "iptables", "ip6tables", "ip"] {
        let p = dir.join(tool);
        std::fs::write(
            &p,
            "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = -D ] && exit 1; done\nexit 0\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn hostile_names_are_rejected_or_quoted_never_executed(ifname in hostile(), cname in hostile(), port in 1u16..65535) {
        let src = format!(
            "interface \"{ifname}\" {{\n rate 10mbit\n default other\n class \"{cname}\" {{ rate 1mbit; match tcp dport {port} }}\n class other {{ rate 1mbit }}\n}}\n"
        );
        let (plan, diags) = tcc::analyze(0, &src);
        if diags.has_errors() {
            return Ok(()); // rejected
        }
        // Accepted: then the interface name is a valid one, and every name is only ever quoted.
        for iface in &plan.interfaces {
            prop_assert!(tcc::plan::check_ifname(&iface.name, Default::default()).is_ok(), "{src}");
        }
        let dir = tempfile::tempdir().unwrap();
        stub_bin(dir.path());
        let mut variants = vec![(Classifier::Iptables, false), (Classifier::Iptables, true)];
        if u32_expressible(&plan).items.is_empty() {
            variants.push((Classifier::U32, false));
        }
        for (classifier, teardown) in variants {
            let script = sh(&plan, &ShOptions { classifier, teardown, source_name: format!("{cname}.shape") });
            let out = run_with_stdin(Command::new("sh").arg("-n"), &script);
            prop_assert!(out.status.success(), "sh -n: {}\n{script}", String::from_utf8_lossy(&out.stderr));
            if have("shellcheck") {
                let out = run_with_stdin(Command::new("shellcheck").args(["-s", "sh", "-"]), &script);
                prop_assert!(out.status.success(), "shellcheck: {}\n{script}", String::from_utf8_lossy(&out.stdout));
            }
            // Run it against stub tools: nothing the names say may happen.
            let path = format!("{}:{}", dir.path().display(), std::env::var("PATH").unwrap_or_default());
            let out = run_with_stdin(Command::new("sh").arg("-s").current_dir(dir.path()).env("PATH", path), &script);
            prop_assert!(out.status.success(), "{}\n{script}", String::from_utf8_lossy(&out.stderr));
            prop_assert!(!dir.path().join("PWNED").exists(), "a name was executed:\n{script}");
        }
    }
}

#[test]
fn hostile_interface_names_are_rejected() {
    for n in [
        "eth0;reboot",
        "$(id)",
        "a'b",
        "x\\ny",
        "eth0 && touch PWNED",
        "`id`",
    ] {
        let src =
            format!("interface \"{n}\" {{ rate 1mbit; default a; class a {{ rate 1mbit }} }}\n");
        let (_, d) = tcc::analyze(0, &src);
        assert!(
            d.items
                .iter()
                .any(|d| d.code == tcc::diagnostic::Code::BadInterfaceName),
            "{n}"
        );
    }
}

/// The re-wrapping above really changes the layout (the property is not vacuous).
#[test]
fn rewrap_changes_the_layout() {
    let want = tcc::syntax::fmt::format(&corpus()[0]).unwrap();
    let mut changed = 0;
    for s in 0u8..20 {
        let messy = rewrap(&want, &[s, s.wrapping_mul(7), 3, s ^ 5]);
        if messy.lines().count() != want.lines().count() {
            changed += 1;
        }
        if s == 3 {
            eprintln!("{messy}");
        }
        assert_eq!(tcc::syntax::fmt::format(&messy).unwrap(), want);
    }
    assert!(changed > 10, "{changed}");
}
