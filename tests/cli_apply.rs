//! The apply commands as a user runs them, where no kernel state is involved: usage, source
//! errors before any netlink, help text. (Kernel behaviour: tests/kernel_apply.rs.)

use std::process::{Command, Output};

fn tcc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tcc"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_lists_the_commands_and_exit_statuses() {
    let o = tcc(&["--help"]);
    let out = String::from_utf8_lossy(&o.stdout);
    for cmd in ["apply", "plan", "status", "teardown"] {
        assert!(out.contains(cmd), "{cmd} in {out}");
    }
    let o = tcc(&["apply", "--help"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("--dry-run"), "{out}");
    assert!(
        out.contains("exit 0: nothing would change, 3: something would"),
        "{out}"
    );
    assert!(out.contains("--classifier"), "{out}");
}

#[test]
fn source_errors_stop_plan_before_any_kernel_access() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.shape");
    std::fs::write(&bad, "interface eth1 {\n class a { rate 10mbitz }\n}\n").unwrap();
    let o = tcc(&["plan", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("bad.shape:2:"), "{}", stderr(&o));
}

#[test]
fn u32_refuses_what_it_cannot_express() {
    let seed3 = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/corpus/valid/seed-example-3.shape"
    );
    let o = tcc(&["plan", "--classifier", "u32", seed3]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("E0307"), "{}", stderr(&o));
}

#[test]
fn usage_errors() {
    let o = tcc(&["teardown"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--interface"), "{}", stderr(&o));
    let o = tcc(&["plan", "/nonexistent/site.shape"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));
    let seed1 = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/corpus/valid/seed-example-1.shape"
    );
    let o = tcc(&["plan", "--interface", "wlan9", seed1]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("the plan does not shape interface `wlan9`"),
        "{}",
        stderr(&o)
    );
}
