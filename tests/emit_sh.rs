//! Snapshot tests of the `sh` backend on hand-built plans. Review `tests/snapshots/*.snap` by
//! reading them: each is the exact script a user would run.

mod common;

use common::*;
use tcc::diagnostic::Code;
use tcc::emit::{sh, u32_expressible, Classifier, ShOptions};
use tcc::plan::Plan;

fn script(plan: &Plan, classifier: Classifier, teardown: bool) -> String {
    sh(
        plan,
        &ShOptions {
            classifier,
            teardown,
            source_name: "test.tcc".into(),
        },
    )
}

#[test]
fn seed_example_1_iptables() {
    insta::assert_snapshot!(script(&seed_example_1(), Classifier::Iptables, false));
}

#[test]
fn seed_example_1_u32() {
    assert!(u32_expressible(&seed_example_1()).items.is_empty());
    insta::assert_snapshot!(script(&seed_example_1(), Classifier::U32, false));
}

#[test]
fn seed_example_1_teardown() {
    insta::assert_snapshot!(script(&seed_example_1(), Classifier::Iptables, true));
}

#[test]
fn seed_example_3_iptables() {
    insta::assert_snapshot!(script(&seed_example_3(), Classifier::Iptables, false));
}

#[test]
fn seed_example_3_is_not_u32_expressible() {
    let ds = u32_expressible(&seed_example_3());
    assert_eq!(ds.items.len(), 1, "{ds:?}");
    assert_eq!(ds.items[0].code, Code::NotExpressible);
    assert!(ds.items[0].help.as_deref().unwrap().contains("iptables"));
}

#[test]
fn kitchen_sink_iptables() {
    insta::assert_snapshot!(script(&kitchen_sink(), Classifier::Iptables, false));
}

#[test]
fn kernel_plan_u32_script() {
    assert!(u32_expressible(&kernel_plan_u32()).items.is_empty());
    insta::assert_snapshot!(script(&kernel_plan_u32(), Classifier::U32, false));
}

#[test]
fn kernel_plan_iptables_script() {
    insta::assert_snapshot!(script(&kernel_plan(), Classifier::Iptables, false));
}
