//! Every generated script (iptables, u32, teardown) must pass `shellcheck -s sh` cleanly.

mod common;

use tcc::emit::{sh, u32_expressible, Classifier, ShOptions};

#[test]
fn generated_scripts_pass_shellcheck() {
    if !common::have_shellcheck() {
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
            checked += 1;
            if let Err(e) = common::shellcheck(&script) {
                failures.push(format!("{name} ({variant}):\n{e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("shellcheck: {checked} scripts clean");
}
