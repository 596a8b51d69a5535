//! Any text as a shell script -> `tcc explain`: reading, lowering to a plan, the checker, the
//! description in words, JSON and DOT, and the `.shape` import. None of it may panic, hang or
//! overflow the stack, whatever the script; when the script's plan is clean, the imported
//! `.shape` must itself parse without a syntax error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut sources = tcc::report::Sources::new();
    let id = sources.add("fuzz.sh", text);
    let ex = tcc::explain::explain(id, text, &["eth0".to_string(), "1000".to_string()]);
    let _ = tcc::report::to_plain_string(&sources, &ex.diags.items);
    let _ = tcc::explain::describe::text(&ex, &sources, id);
    let _ = tcc::explain::describe::json(&ex, &sources);
    let _ = tcc::explain::describe::dot(&ex);
    let _ = tcc::emit::graph::svg(&ex.plan, "fuzz");
    if !ex.diags.has_errors() {
        let shape = tcc::explain::to_shape::to_shape(&ex.plan, "fuzz.sh");
        if let Err(d) = tcc::syntax::parse(0, &shape) {
            panic!("the import does not parse: {}\n{shape}", d.message);
        }
    }
});
