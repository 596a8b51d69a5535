//! Any text -> parse, lower, check; when valid, every backend and tool must succeed and agree:
//! both classifiers' apply and teardown scripts, graph (SVG, DOT), and `fmt` must be idempotent
//! and keep the plan. Panics (and timeouts, stack overflows) are bugs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcc::emit::{self, Classifier, ShOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (plan, diags) = tcc::analyze(0, text);
    // Rendering diagnostics must work for whatever spans they carry.
    let mut sources = tcc::report::Sources::new();
    sources.add("fuzz.shape", text);
    let _ = tcc::report::to_plain_string(&sources, &diags.items);
    let _ = tcc::report::ci::sarif(&sources, &diags.items, &|d| d.severity());
    let _ = tcc::report::lint::suppressions(text);
    if let Ok(formatted) = tcc::syntax::fmt::format(text) {
        assert_eq!(tcc::syntax::fmt::layout(&formatted), formatted, "fmt is not idempotent");
        assert_eq!(
            tcc::syntax::fmt::significant_tokens(&formatted),
            tcc::syntax::fmt::significant_tokens(text),
            "fmt changed a token"
        );
        let (plan2, diags2) = tcc::analyze(0, &formatted);
        assert_eq!(
            serde_json::to_string(&plan2).unwrap(),
            serde_json::to_string(&plan).unwrap(),
            "fmt changed the plan"
        );
        assert_eq!(
            diags2.items.iter().map(|d| d.code).collect::<Vec<_>>(),
            diags.items.iter().map(|d| d.code).collect::<Vec<_>>(),
            "fmt changed the diagnostics"
        );
    }
    if diags.has_errors() {
        return;
    }
    let _ = tcc::emit::graph::svg(&plan, "fuzz");
    let _ = tcc::emit::graph::dot(&plan, "fuzz");
    for classifier in [Classifier::Iptables, Classifier::U32] {
        if classifier == Classifier::U32 && emit::u32_expressible(&plan).has_errors() {
            continue;
        }
        for teardown in [false, true] {
            let _ = emit::sh(
                &plan,
                &ShOptions {
                    classifier,
                    teardown,
                    source_name: "fuzz.shape".into(),
                },
            );
        }
    }
});
