//! The corpus, walked as data: every file in `corpus/valid` must compile without errors (its
//! diagnostics and generated scripts are snapshots), and every file in `corpus/invalid` names
//! the code it must produce in its first line (`# expect: E0201`) and snapshots the rendered
//! message. Adding a case is adding a file.

use std::path::Path;
use tcc::diagnostic::{Code, Severity};
use tcc::emit::{self, Classifier, ShOptions};
use tcc::report::{self, Sources};

/// Path relative to the crate root, so rendered messages are the same on every machine.
fn rel(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn header(text: &str, key: &str) -> Option<String> {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| {
            l.strip_prefix(&format!("# {key}:"))
                .map(|v| v.trim().to_string())
        })
}

#[test]
fn valid_corpus_compiles_and_matches_snapshots() {
    insta::glob!("../corpus/valid", "*.shape", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let mut sources = Sources::new();
        let id = sources.add(rel(path), text.clone());
        let (site, diags) = tcc::analyze_site(id, &text);
        let rendered = report::to_plain_string(&sources, &diags.items);
        assert!(!diags.has_errors(), "{} has errors:\n{rendered}", rel(path));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let opts = |classifier, teardown| ShOptions {
            classifier,
            teardown,
            source_name: name.clone(),
        };
        let mut out = format!("### diagnostics\n{rendered}\n");
        // A site file: every host's scripts, under the host's name.
        for host in &site.hosts {
            let plan = &host.plan;
            let of = host
                .name
                .as_ref()
                .map(|n| format!(" of host {n}"))
                .unwrap_or_default();
            if host.name.is_some() {
                out += &format!("## host {}\n", host.name.as_deref().unwrap());
            }
            out += &format!("### sh (iptables){of}\n");
            out += &emit::sh(plan, &opts(Classifier::Iptables, false));
            if emit::u32_expressible(plan).items.is_empty() {
                out += &format!("\n### sh (u32){of}\n");
                out += &emit::sh(plan, &opts(Classifier::U32, false));
            }
            out += &format!("\n### teardown{of}\n");
            out += &emit::sh(plan, &opts(Classifier::Iptables, true));
            if host.name.is_some() {
                out += "\n";
            }
        }
        insta::assert_snapshot!(out);
    });
}

#[test]
fn invalid_corpus_reports_the_expected_code() {
    insta::glob!("../corpus/invalid", "*.shape", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let expect = header(&text, "expect")
            .unwrap_or_else(|| panic!("{} lacks `# expect: CODE`", rel(path)));
        let code =
            Code::parse(&expect).unwrap_or_else(|| panic!("{}: unknown code {expect}", rel(path)));
        let mut sources = Sources::new();
        let id = sources.add(rel(path), text.clone());
        let (plan, mut diags) = tcc::check(id, &rel(path), &text);
        if header(&text, "classifier").as_deref() == Some("u32") && !diags.has_errors() {
            diags.extend(emit::u32_expressible(&plan));
        }
        let rendered = report::to_plain_string(&sources, &diags.items);
        assert!(
            diags.items.iter().any(|d| d.code == code),
            "{} should report {code}, got:\n{rendered}",
            rel(path)
        );
        if code.severity() == Severity::Error {
            assert!(diags.has_errors());
        }
        insta::assert_snapshot!(rendered);
    });
}

#[test]
fn every_diagnostic_code_has_an_invalid_example() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/invalid");
    // Codes about shell scripts (`tcc explain`) have their examples in corpus/script-lint.
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/script-lint");
    // Codes about live state (`tcc plan`/`apply`) in corpus/live, run by tests/kernel_foreign.rs.
    let live = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/live");
    let mut covered = std::collections::HashSet::new();
    for entry in std::fs::read_dir(dir)
        .unwrap()
        .chain(std::fs::read_dir(scripts).unwrap())
        .chain(std::fs::read_dir(live).unwrap())
    {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        if let Some(c) = header(&text, "expect").and_then(|c| Code::parse(&c)) {
            covered.insert(c);
        }
    }
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| !covered.contains(c))
        .map(|c| c.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "codes without an example in corpus/invalid: {missing:?}"
    );
}

#[test]
fn every_diagnostic_code_is_documented() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/diagnostics.md"))
            .unwrap();
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !doc.contains(&format!("## {c}")))
        .collect();
    assert!(
        missing.is_empty(),
        "codes missing from docs/diagnostics.md: {missing:?}"
    );
}

/// Every script generated for the corpus passes `shellcheck -s sh` without findings.
#[test]
fn corpus_scripts_pass_shellcheck() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    if Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "shellcheck is missing, and a skip under CI=true is a failure"
        );
        eprintln!("skipped: shellcheck not installed");
        return;
    }
    let mut failures = vec![];
    insta::glob!("../corpus/valid", "*.shape", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        for host in tcc::analyze_site(0, &text).0.hosts {
            let plan = host.plan;
            let mut variants = vec![(Classifier::Iptables, false), (Classifier::Iptables, true)];
            if emit::u32_expressible(&plan).items.is_empty() {
                variants.push((Classifier::U32, false));
            }
            for (classifier, teardown) in variants {
                let script = emit::sh(
                    &plan,
                    &ShOptions {
                        classifier,
                        teardown,
                        source_name: rel(path),
                    },
                );
                let mut child = Command::new("shellcheck")
                    .args(["-s", "sh", "-"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(script.as_bytes())
                    .unwrap();
                let out = child.wait_with_output().unwrap();
                if !out.status.success() {
                    failures.push(format!(
                        "{} ({classifier:?}, teardown {teardown}):\n{}",
                        rel(path),
                        String::from_utf8_lossy(&out.stdout)
                    ));
                }
            }
        }
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
