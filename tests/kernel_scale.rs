//! Scale on a real kernel: more u32 filters than one-priority-per-filter allows (the kernel runs
//! out of u32 hash tables after 2046). The sh backend shares priorities, so 2100 host filters
//! apply and all of them are there. (Every corpus example with every target is covered by
//! `kernel_targets.rs`.)

mod common;

use common::kernel::{need_root, Bed};
use tcc::emit::{self, Classifier, ShOptions};

#[test]
fn thousands_of_u32_filters_apply() {
    if !need_root() {
        return;
    }
    let n = 2100;
    let mut src = String::from(
        "interface eth0 {\n rate 10gbit\n default other\n class other { rate 1mbit }\n",
    );
    for i in 0..n {
        src += &format!(
            " class \"c{i}\" {{ rate 1mbit; match udp dst 10.{}.{}.1 }}\n",
            i / 256,
            i % 256
        );
    }
    src += "}\n";
    let (plan, diags) = tcc::analyze(0, &src);
    assert!(!diags.has_errors());
    let bed = Bed::new("eth0", &[]);
    let opts = ShOptions {
        classifier: Classifier::U32,
        teardown: false,
        source_name: "many".into(),
    };
    bed.apply(&emit::sh(&plan, &opts));
    let filters = bed.a_run(&["tc", "filter", "show", "dev", "eth0"]);
    assert_eq!(
        filters.matches("flowid").count(),
        n,
        "every filter is in the kernel"
    );
}
