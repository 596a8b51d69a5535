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

/// `tcc apply` under `TCC_LOCK_DIR=dir` (the lock is taken before any kernel access; the plan
/// names an interface that does not exist, so nothing can change even once the lock is held).
fn apply_locked(dir: &std::path::Path, timeout: &str) -> Output {
    let file = dir.join("x.shape");
    std::fs::write(
        &file,
        "interface tcclocktest0 {\n default a\n class a { rate 1mbit }\n}\n",
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_tcc"))
        .args(["apply", file.to_str().unwrap(), "--lock-timeout", timeout])
        .env("NO_COLOR", "1")
        .env("TCC_LOCK_DIR", dir.join("lock"))
        .output()
        .unwrap()
}

fn hold(path: &std::path::Path) -> std::fs::File {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)
        .unwrap();
    writeln!(f, "{}", std::process::id()).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    f
}

#[test]
fn waiting_for_the_lock_times_out_naming_the_holder() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lockdir = dir.path().join("lock");
    std::fs::create_dir(&lockdir).unwrap();
    let _held = hold(&lockdir.join("tcc.lock"));
    let o = apply_locked(dir.path(), "0.3");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("another tcc run holds the lock"), "{err}");
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    assert!(err.contains("--lock-timeout"), "{err}");
}

#[test]
fn a_lock_file_of_another_user_cannot_block_and_unsafe_directories_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lockdir = dir.path().join("lock");
    std::fs::create_dir(&lockdir).unwrap();
    // A lock file owned by `nobody`, held: replaced, not waited for. The run goes on to the
    // kernel and stops at the missing interface.
    let path = lockdir.join("tcc.lock");
    let _held = hold(&path);
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    let o = apply_locked(dir.path(), "5");
    let err = stderr(&o);
    assert!(!err.contains("holds the lock"), "{err}");
    assert!(err.contains("tcclocktest0"), "{err}");
    // A directory others may write in, or owned by another user: refused.
    std::fs::set_permissions(&lockdir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = apply_locked(dir.path(), "5");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("refusing the lock directory"),
        "{}",
        stderr(&o)
    );
    std::fs::set_permissions(&lockdir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&lockdir, Some(65534), None).unwrap();
    let o = apply_locked(dir.path(), "5");
    assert!(stderr(&o).contains("owned by uid 65534"), "{}", stderr(&o));
}
