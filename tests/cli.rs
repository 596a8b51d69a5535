//! The command line as a user runs it: the built binary, real files, exit statuses.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn tcc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tcc"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("run tcc")
}

fn tcc_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tcc"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tcc");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

#[test]
fn check_exits_0_on_a_clean_file() {
    let out = tcc(&["check", "corpus/valid/seed-example-1.shape"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn check_exits_1_on_errors_and_shows_code_place_and_help() {
    let out = tcc(&["check", "corpus/invalid/E0201-oversubscribed.shape"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("error[E0201]"), "{err}");
    // Where the last child's rate is in the file (computed: `tcc fmt` may move it).
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/invalid/E0201-oversubscribed.shape"),
    )
    .unwrap();
    let at = text.find("rate 30mbit").unwrap();
    let line = text[..at].matches('\n').count() + 1;
    let col = at - text[..at].rfind('\n').map_or(0, |p| p + 1) + 1;
    assert!(
        err.contains(&format!(
            "corpus/invalid/E0201-oversubscribed.shape:{line}:{col}"
        )),
        "{err}"
    );
    assert!(err.contains("help:"), "{err}");
}

#[test]
fn warnings_pass_unless_denied() {
    let f = "corpus/invalid/W0102-byte-units.shape";
    assert_eq!(tcc(&["check", f]).status.code(), Some(0));
    assert_eq!(
        tcc(&["check", f, "--deny", "warnings"]).status.code(),
        Some(1)
    );
}

#[test]
fn usage_and_io_problems_exit_2() {
    assert_eq!(tcc(&["check"]).status.code(), Some(2));
    assert_eq!(tcc(&["frobnicate"]).status.code(), Some(2));
    let out = tcc(&["check", "no/such/file.shape"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read `no/such/file.shape`"));
}

#[test]
fn json_output_is_machine_readable() {
    let out = tcc(&[
        "check",
        "--format",
        "json",
        "corpus/invalid/E0202-ceil-below-rate.shape",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["version"], 1);
    let diags = v["diagnostics"].as_array().unwrap();
    let d = diags
        .iter()
        .find(|d| d["code"] == "E0202")
        .expect("an E0202 diagnostic");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["file"], "corpus/invalid/E0202-ceil-below-rate.shape");
    assert_eq!(d["span"]["line"], 4);
    assert_eq!(v["summary"]["errors"], 1);
}

#[test]
fn check_reads_several_files_and_stdin() {
    let out = tcc(&[
        "check",
        "corpus/valid/seed-example-1.shape",
        "corpus/invalid/E0204-zero-rate.shape",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let out = tcc_stdin(
        &["check", "-"],
        "interface eth0 { default a; class a { rate 1mbit } }\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn compile_writes_an_executable_script_to_a_file() {
    let dir = tmpdir();
    let target = dir.path().join("apply.sh");
    let out = tcc(&[
        "compile",
        "corpus/valid/seed-example-1.shape",
        "-o",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let script = std::fs::read_to_string(&target).unwrap();
    assert!(script.starts_with("#!/bin/sh"), "{script}");
    assert!(script.contains("htb"), "{script}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&target).unwrap().permissions().mode() & 0o111,
            0o111
        );
    }
}

#[test]
fn compile_refuses_to_write_anything_when_there_are_errors() {
    let dir = tmpdir();
    let target = dir.path().join("apply.sh");
    let out = tcc(&[
        "compile",
        "corpus/invalid/E0209-default-not-leaf.shape",
        "-o",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!target.exists());
    assert!(text(&out.stderr).contains("E0209"));
}

#[test]
fn compile_to_stdout_and_teardown() {
    let out = tcc(&["compile", "corpus/valid/seed-example-2.shape"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("CLASSIFY"));
    let undo = tcc(&["compile", "--undo", "corpus/valid/seed-example-2.shape"]);
    assert_eq!(undo.status.code(), Some(0));
    assert!(
        text(&undo.stdout).contains("tc qdisc del"),
        "{}",
        text(&undo.stdout)
    );
    assert!(!text(&undo.stdout).contains("CLASSIFY"));
}

#[test]
fn u32_classifier_rejects_what_u32_cannot_express() {
    let dir = tmpdir();
    let f = write(dir.path(), "neg.shape", "interface eth1 { default a; class a { rate 1mbit }\n class b { rate 1mbit; match tcp dst !10.0.0.0/8 } }\n");
    let out = tcc(&["compile", "--classifier", "u32", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("E0307"), "{}", text(&out.stderr));
    let ok = tcc(&[
        "compile",
        "--classifier",
        "u32",
        "corpus/valid/seed-example-2.shape",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("u32"));
}

#[test]
fn help_shows_examples() {
    let out = tcc(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("Examples:"));
}

const GOOD: &str = "interface eth0 {\n    default a\n    class a { rate 1mbit }\n}\n";

#[test]
fn outputs_never_replace_a_device_a_symlink_or_an_input() {
    let dir = tmpdir();
    let input = write(dir.path(), "site.shape", GOOD);
    let input = input.to_str().unwrap();
    // -o /dev/null: refused, and /dev/null stays a character device.
    let o = tcc(&["compile", input, "-o", "/dev/null"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("character device"),
        "{}",
        text(&o.stderr)
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    // A symlink as the target, and one planted at the old predictable temp name: neither is
    // followed.
    let victim = write(dir.path(), "victim", "precious\n");
    let out = dir.path().join("apply.sh");
    std::os::unix::fs::symlink(&victim, dir.path().join(".apply.sh.tcc-tmp")).unwrap();
    let o = tcc(&["compile", input, "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let link = dir.path().join("link.sh");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let o = tcc(&["compile", input, "-o", link.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("symbolic link"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    // -o equal to the input.
    let o = tcc(&["compile", input, "-o", input]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("also an input"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(std::fs::read_to_string(input).unwrap(), GOOD);
    let o = tcc(&["graph", input, "-o", input]);
    assert_eq!(o.status.code(), Some(2));
    // No temp file is left behind.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tcc-tmp") && n != ".apply.sh.tcc-tmp")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn output_permissions_follow_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmpdir();
    let input = write(dir.path(), "site.shape", GOOD);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for (umask, script, data) in [
        ("022", 0o755, 0o644),
        ("077", 0o700, 0o600),
        ("002", 0o775, 0o664),
    ] {
        let sh = dir.path().join(format!("a{umask}.sh"));
        let svg = dir.path().join(format!("a{umask}.svg"));
        for args in [
            vec![
                "compile",
                input.to_str().unwrap(),
                "-o",
                sh.to_str().unwrap(),
            ],
            vec![
                "graph",
                input.to_str().unwrap(),
                "-o",
                svg.to_str().unwrap(),
            ],
        ] {
            let o = Command::new("sh")
                .arg("-c")
                .arg(format!("umask {umask}; exec \"$@\""))
                .arg("sh")
                .arg(env!("CARGO_BIN_EXE_tcc"))
                .args(&args)
                .output()
                .unwrap();
            assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        }
        assert_eq!(mode(&sh), script, "umask {umask}");
        assert_eq!(mode(&svg), data, "umask {umask}");
    }
    // `fmt` in place keeps the file's own mode.
    let messy = write(
        dir.path(),
        "messy.shape",
        "interface eth0 { default a\nclass a { rate 1mbit } }\n",
    );
    std::fs::set_permissions(&messy, std::fs::Permissions::from_mode(0o640)).unwrap();
    let o = tcc(&["fmt", messy.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(mode(&messy), 0o640);
}

#[test]
fn write_errors_are_messages_not_panics() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    for args in [
        vec!["fmt", "-"],
        vec!["compile", "-"],
        vec!["graph", "-"],
        vec!["explain-code", "E0201"],
        vec!["check", "--format", "json", "-"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tcc"))
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(full.try_clone().unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // `explain-code` reads no input and may exit before the write: a broken pipe here is
        // the test's race, not tcc's failure (seen under load).
        let _ = child.stdin.take().unwrap().write_all(GOOD.as_bytes());
        let o = child.wait_with_output().unwrap();
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("cannot write to standard output"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn status_interval_must_be_a_sane_number() {
    for bad in ["inf", "NaN", "-1", "1e300", "soon"] {
        let arg = format!("--interval={bad}");
        let o = tcc(&["status", &arg]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("--interval"), "{bad}: {err}");
        assert!(!err.contains("panicked"), "{bad}: {err}");
    }
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let dir = tmpdir();
    let f = write(dir.path(), "bom.shape", &format!("\u{feff}{GOOD}"));
    let o = tcc(&["check", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = tcc_stdin(&["compile", "-"], &format!("\u{feff}{GOOD}"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}
/// The whole corpus is in the canonical layout: `tcc fmt --check corpus/` lists no file (the
/// files with syntax errors, which fmt refuses, report only errors their header expects).
#[test]
fn the_corpus_is_formatted() {
    let out = tcc(&["fmt", "--check", "corpus/"]);
    assert_eq!(
        text(&out.stdout),
        "",
        "not formatted (run `tcc fmt corpus/`)"
    );
    let err = text(&out.stderr);
    for line in err.lines().filter(|l| l.starts_with("error")) {
        assert!(line.starts_with("error[E0001]"), "{err}");
    }
    for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/valid")).unwrap()
    {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(!err.contains(&name), "{name} is refused by fmt:\n{err}");
    }
}

/// `--live` reads the kernel instead of a file: the two are exclusive, `--interface` needs
/// `--live`, and one of a file or `--live` is needed (usage errors, exit 2).
#[test]
fn explain_live_takes_no_file() {
    for args in [
        &["explain", "--live", "x.sh"][..],
        &["explain", "--interface", "eth0", "x.sh"][..],
        &["explain"][..],
    ] {
        let out = tcc(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

const SITE: &str = "template t {\n    interface eth0 {\n        default a\n        class a { rate 1mbit }\n    }\n}\n\nhost h1 : t { address 10.9.0.1 }\nhost h2 : t { address 10.9.0.2 }\n";

/// A site file: `compile` needs `--host` (or `--emit-dir`), names the hosts when it is
/// missing or wrong; `--host` on a single-host file is refused; `--emit-dir` writes every
/// host's script, the site file, the inventory and the playbook.
#[test]
fn compile_a_site_by_host_or_into_a_directory() {
    let dir = tmpdir();
    let f = write(dir.path(), "site.shape", SITE);
    let fs = f.to_str().unwrap();
    let o = tcc(&["compile", fs]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("site file with 2 hosts"),
        "{}",
        text(&o.stderr)
    );
    assert!(text(&o.stderr).contains("h1 (10.9.0.1), h2 (10.9.0.2)"));
    let o = tcc(&["compile", fs, "--host", "h3"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no host `h3`"));
    for target in ["sh", "nft", "batch"] {
        let o = tcc(&["compile", fs, "--host", "h2", "--target", target]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        assert!(text(&o.stdout).contains("eth0"));
    }
    let single = write(dir.path(), "one.shape", GOOD);
    let o = tcc(&["compile", single.to_str().unwrap(), "--host", "h1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no `host` blocks"));
    let out = dir.path().join("out");
    let o = tcc(&["compile", fs, "--emit-dir", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "h1.sh",
            "h2.sh",
            "inventory.ini",
            "playbook.yml",
            "site.shape"
        ]
    );
    let inv = std::fs::read_to_string(out.join("inventory.ini")).unwrap();
    assert!(
        inv.contains("h2 ansible_host=10.9.0.2 tcc_host=h2"),
        "{inv}"
    );
    let pb = std::fs::read_to_string(out.join("playbook.yml")).unwrap();
    assert!(pb.contains("serial: 1") && pb.contains("any_errors_fatal: true"));
    assert_eq!(
        std::fs::read_to_string(out.join("site.shape")).unwrap(),
        SITE
    );
    // `check` sees the whole site, in every format.
    let o = tcc(&["check", fs, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
}

/// `tcc graph` draws an interface's ingress tree too, as the tree of its ifb device.
#[test]
fn graph_draws_the_ingress_tree() {
    for format in ["dot", "svg"] {
        let o = tcc(&[
            "graph",
            "corpus/valid/home-router-download.shape",
            "--format",
            format,
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let out = text(&o.stdout);
        assert!(out.contains("ifb-wan0"), "{format}: {out}");
        assert!(out.contains("games"), "{format}: {out}");
    }
}
