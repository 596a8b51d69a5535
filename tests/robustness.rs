//! Hostile inputs end with a clear error or a result, in bounded time and memory, never a stack
//! overflow: 10 MB files, 1000-level nesting, huge and nested loops. These run on test threads
//! (2 MiB stacks, stricter than the binary's main thread) and, for the big file, through the
//! binary. Timings are not asserted here (see bench/); the tests would hang or crash instead.

use std::io::Write;
use std::process::{Command, Stdio};
use tcc::diagnostic::Code;

fn codes(text: &str) -> Vec<Code> {
    let (_, d) = tcc::analyze(0, text);
    d.items.iter().map(|d| d.code).collect()
}

/// `tcc check --format json -` through the binary, with `src` on standard input (written from
/// another thread, so a large input cannot block on a full pipe).
fn check_json(src: String) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tcc"))
        .args(["check", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(src.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    out
}

const IFACE: &str = "interface eth0 { rate 1gbit; default a; class a { rate 1mbit }\n";

#[test]
fn ten_megabytes_through_the_binary() {
    // 10 MB: 70000 classes matching destinations (more than an interface has ids), with
    // comments. (Matches that are not indexed by destination, such as 70000 `dport` matches,
    // make the shadowing check quadratic: see the report of issue 6.)
    let mut src = String::from("interface eth0 {\n rate 100gbit\n default c0\n");
    let mut i: u32 = 0;
    while src.len() < 10 << 20 {
        let pad = if i < 70_000 { "" } else { "#" };
        src += &format!(
            "    {pad}class c{i} {{ rate 1kbit; match dst 10.{}.{}.{} }} # a comment to make the file longer, as real files have\n",
            i >> 16, (i >> 8) & 255, i & 255
        );
        i += 1;
    }
    src += "}\n";
    let out = check_json(src);
    // More classes than minor ids: E0214, reported cleanly.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "E0214"),
        "{}",
        report["summary"]
    );
}

#[test]
fn ten_megabytes_of_one_string() {
    // Over the value budget (1 MiB): refused, not kept.
    let long_string = format!("let x = \"{}\"\n", "a".repeat(10 << 20));
    assert_eq!(codes(&long_string), vec![Code::ValueTooLarge, Code::Unused]);
}

#[test]
fn ten_megabytes_of_one_word() {
    let long_word = format!("let x = {}\n", "a".repeat(10 << 20));
    assert_eq!(codes(&long_word), vec![Code::Unused, Code::ValueTooLarge]);
}

#[test]
fn ten_megabytes_of_garbage() {
    let garbage: String = (0..10 << 20)
        .map(|i: usize| {
            ["{", "[", "\"", "$", "#", "a", " ", "]", "}", ";"][i.wrapping_mul(2654435761) % 10]
        })
        .collect::<String>()
        .replace("aaaa", "\n");
    assert!(
        codes(&garbage).contains(&Code::Syntax) || codes(&garbage).contains(&Code::LoopTooLarge)
    );
    // The layout tools take the same inputs.
    let _ = tcc::syntax::fmt::layout(&garbage);
    let _ = tcc::report::lint::suppressions(&garbage);
}

#[test]
fn thousand_level_nesting_is_refused_with_a_clear_error() {
    for (open, close) in [("class c {", "}"), ("[", "]"), ("for i in [1] {", "}")] {
        let src = format!("{IFACE}{} {} }}\n", open.repeat(1000), close.repeat(1000));
        let c = codes(&src);
        assert_eq!(c, vec![Code::LoopTooLarge], "{open}");
    }
    let src = format!("let x = {}1{}\n", "[".repeat(1000), "]".repeat(1000));
    assert_eq!(codes(&src), vec![Code::LoopTooLarge]);
    // 100k deep as well, and formatting/suppression scanning such input never recurses.
    let deep = format!("{IFACE}{}", "class c { ".repeat(100_000));
    assert_eq!(codes(&deep), vec![Code::LoopTooLarge]);
    assert!(tcc::syntax::fmt::format(&deep).is_err());
    let _ = tcc::syntax::fmt::layout(&deep);
    let _ = tcc::report::lint::suppressions(&deep);
    // A string ending in an escaped backslash closes there: the blocks after it still count
    // (the guard once took the closing quote as escaped and let 200k blocks reach pest).
    let tricky = format!("let x = \"\\\\\"\n{IFACE}{}", "class c { ".repeat(200_000));
    assert_eq!(codes(&tricky), vec![Code::LoopTooLarge]);
}

#[test]
fn huge_and_nested_loops_are_bounded() {
    // One loop of 100k iterations: more than an interface has class ids.
    let src = format!("{IFACE}for i in 1..100000 {{ class \"c${{i}}\" {{ rate 1kbit }} }} }}\n");
    assert!(codes(&src).contains(&Code::LoopTooLarge));
    // Nested loops multiplying to 3.6e9 iterations: stopped by the total budget.
    let src = format!("{IFACE}for i in 1..60000 {{ for j in 1..60000 {{ let x = $j }} }} }}\n");
    assert!(
        codes(&src).contains(&Code::LoopTooLarge),
        "{:?}",
        codes(&src)
    );
    // 100k iterations that are each fine: a result.
    let src = format!("{IFACE}for i in 1..300 {{ for j in 1..333 {{ let x = $j }} }} }}\n");
    assert!(
        !codes(&src).contains(&Code::LoopTooLarge),
        "{:?}",
        codes(&src)
    );
    // Nested loops creating a million classes: stopped at the minor-id limit.
    let src = format!("{IFACE}for i in 1..1000 {{ for j in 1..1000 {{ class \"c${{i}}-${{j}}\" {{ rate 1bit }} }} }} }}\n");
    assert!(
        codes(&src).contains(&Code::IdsExhausted),
        "{:?}",
        codes(&src)
    );
}

#[test]
fn template_and_rule_chains_are_bounded() {
    let mut chain = String::from("template t0 { rate 1mbit }\n");
    let mut rules = String::from("rule r0 { tcp dport 80 }\n");
    for i in 1..100_000 {
        chain.push_str(&format!("template t{i} : t{} {{ }}\n", i - 1));
        rules.push_str(&format!("rule r{i} : r{} {{ }}\n", i - 1));
    }
    chain.push_str(&format!("{IFACE}class c : t99999 {{ }} }}\n"));
    rules.push_str(&format!(
        "{IFACE}default c\nclass c {{ rate 1mbit; match r99999 }} }}\n"
    ));
    assert!(codes(&chain).contains(&Code::LoopTooLarge));
    assert!(codes(&rules).contains(&Code::LoopTooLarge));
    // Diamonds double per level: 2^40 expansions unless the reference budget stops them.
    let mut diamond = String::from("template t0 { rate 1mbit }\nrule r0 { tcp dport 80 }\n");
    for i in 1..40 {
        diamond.push_str(&format!("template t{i} : t{0}, t{0} {{ }}\n", i - 1));
        diamond.push_str(&format!("rule r{i} : r{0}, r{0} {{ }}\n", i - 1));
    }
    diamond.push_str(&format!(
        "{IFACE}default c\nclass c : t39 {{ match r39 }} }}\n"
    ));
    let c = codes(&diamond);
    assert_eq!(
        c.iter().filter(|c| **c == Code::LoopTooLarge).count(),
        2,
        "{c:?}"
    );
    // Ordinary chains are untouched by the bounds.
    let ok = format!(
        "template a {{ rate 1mbit }}\ntemplate b : a {{ }}\nrule x {{ tcp }}\nrule y : x {{ dport 22 }}\n{IFACE}default c\nclass c : b {{ match y }} }}\n"
    );
    assert!(
        !codes(&ok).contains(&Code::LoopTooLarge),
        "{:?}",
        codes(&ok)
    );
}

/// The hostile inputs of issue 10, by name; `bench/robustness.sh` writes the same files and
/// measures time and peak memory for each (`tcc robustness-case NAME` is not a thing: the bench
/// script generates them itself, with the same sizes).
fn issue10_cases() -> Vec<(&'static str, String, Code)> {
    let mut doubling = String::from("let a = \"xxxxxxxx\"\n");
    let mut list = String::from("let a = [1]\n");
    for _ in 0..30 {
        doubling += "let a = \"${a}${a}\"\n";
        list += "let a = [$a, $a]\n";
    }
    doubling += "interface eth0 {\n default c\n class \"${a}\" { rate 1mbit }\n}\n";
    list += IFACE;
    list += "}\n";
    let mut ceil = String::from("interface eth0 {\n default c0\n");
    for i in 0..40_000 {
        ceil += &format!(" class c{i} {{ rate 2mbit; ceil 1mbit }}\n");
    }
    ceil += "}\n";
    let slow = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/fuzz-slow-unknown-property-loop.shape"
    ))
    .unwrap();
    let oom = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/fuzz-oom-nested-loops.shape"
    ))
    .unwrap();
    vec![
        ("fuzz-oom-nested-loops", oom, Code::IdsExhausted),
        (
            "fuzz-slow-unknown-property-loop",
            slow,
            Code::UnknownProperty,
        ),
        ("string-doubling", doubling, Code::ValueTooLarge),
        ("list-doubling", list, Code::ValueTooLarge),
        ("40k-E0202", ceil, Code::CeilBelowRate),
    ]
}

#[test]
fn issue10_inputs_end_with_a_diagnostic_through_the_binary() {
    for (name, src, code) in issue10_cases() {
        let out = check_json(src);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            report["diagnostics"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["code"] == code.as_str()),
            "{name}: {}",
            report["summary"]
        );
    }
}

#[test]
fn values_have_one_budget() {
    // A string doubled 30 times would be 8 GiB; a list doubled 30 times 2^30 items.
    for (name, src, code) in issue10_cases().into_iter().take(2) {
        assert!(codes(&src).contains(&code), "{name}");
    }
    // Values well inside the budget are fine: a 64 KiB string, a list of 10000 ports.
    let big = "x".repeat(65536);
    let ports: Vec<String> = (1..=10000).map(|p| p.to_string()).collect();
    let src = format!(
        "let s = \"{big}\"\nlet p = [{}]\ninterface eth0 {{ default a\n class a {{ rate 1mbit; match tcp dport $p }}\n}}\n",
        ports.join(", ")
    );
    let c = codes(&src);
    assert!(!c.contains(&Code::ValueTooLarge), "{c:?}");
}
