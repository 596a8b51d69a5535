//! Every generated script (iptables, u32, teardown) must pass `shellcheck -s sh` cleanly.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use tcc::emit::{sh, u32_expressible, Classifier, ShOptions};

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

#[test]
fn generated_scripts_pass_shellcheck() {
    if Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            !ci(),
            "shellcheck is missing, and a skip under CI=true is a failure"
        );
        eprintln!("skipped: shellcheck not installed");
        return;
    }
    let mut checked = 0;
    let mut failures = Vec::new();
    for (name, plan) in common::all_plans() {
        let mut variants = vec![
            ("iptables", Classifier::Iptables, false),
            ("teardown", Classifier::Iptables, true),
        ];
        if u32_expressible(&plan).items.is_empty() {
            variants.push(("u32", Classifier::U32, false));
        }
        for (variant, classifier, teardown) in variants {
            let script = sh(
                &plan,
                &ShOptions {
                    classifier,
                    teardown,
                    source_name: format!("{name}.tcc"),
                },
            );
            let mut child = Command::new("shellcheck")
                .args(["-s", "sh", "-"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("run shellcheck");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(script.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            checked += 1;
            if !out.status.success() {
                failures.push(format!(
                    "{name} ({variant}):\n{}",
                    String::from_utf8_lossy(&out.stdout)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("shellcheck: {checked} scripts clean");
}
