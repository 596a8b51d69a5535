//! One lint-level mechanism for every command that prints diagnostics: `--allow`, `--warn`,
//! `--deny` and `# tcc: allow CODE` comments work the same for `check`, `compile`, `plan`,
//! `apply`, `explain` and `graph`. The built binary, run as a user runs it. Each case: the
//! arguments, the expected exit status, what stderr must and must not contain.

use std::path::Path;
use std::process::Command;

const H0002: &str = "corpus/invalid/H0002-quantum-set.shape";
const W0104: &str = "corpus/invalid/W0104-unused.shape";
const E0307: &str = "corpus/invalid/E0307-not-expressible.shape";
const S0002: &str = "corpus/script-lint/S0002-ipv4-only.sh";

struct Case {
    args: &'static [&'static str],
    status: i32,
    has: &'static [&'static str],
    lacks: &'static [&'static str],
}

const fn case(
    args: &'static [&'static str],
    status: i32,
    has: &'static [&'static str],
    lacks: &'static [&'static str],
) -> Case {
    Case {
        args,
        status,
        has,
        lacks,
    }
}

const CASES: &[Case] = &[
    // compile: hints and warnings are printed, and can be allowed or denied.
    case(&["compile", H0002], 0, &["H0002"], &[]),
    case(&["compile", "--allow", "H0002", H0002], 0, &[], &["H0002"]),
    case(
        &["compile", "--deny", "H0002", H0002],
        1,
        &["error[H0002]", "1 error"],
        &[],
    ),
    case(
        &["compile", "--allow", "warnings", W0104],
        0,
        &[],
        &["W0104"],
    ),
    case(
        &["compile", "--deny", "warnings", W0104],
        1,
        &["error[W0104]"],
        &[],
    ),
    case(
        &["compile", "--allow", "E0201", H0002],
        2,
        &["cannot be allowed"],
        &[],
    ),
    case(
        &["compile", "--allow", "H9999", H0002],
        2,
        &["unknown diagnostic code"],
        &[],
    ),
    // plan and apply: the same flags, checked before any kernel access.
    case(
        &["plan", "--deny", "H0002", H0002],
        1,
        &["error[H0002]"],
        &[],
    ),
    case(
        &["apply", "--dry-run", "--deny", "H0002", H0002],
        1,
        &["error[H0002]"],
        &[],
    ),
    case(
        &["apply", "--deny", "H0002", H0002],
        1,
        &["error[H0002]"],
        &[],
    ),
    // E0307's help names a classifier the command accepts.
    case(
        &["plan", "--classifier", "u32", E0307],
        1,
        &["E0307", "`--classifier nft`", "`--classifier iptables`"],
        &[],
    ),
    case(
        &["apply", "--classifier", "u32", E0307],
        1,
        &["E0307", "`--classifier nft`", "`--classifier iptables`"],
        &[],
    ),
    case(
        &["compile", "--classifier", "u32", E0307],
        1,
        &["E0307", "`--classifier iptables`"],
        &["--classifier nft"],
    ),
    // explain: the script lints too.
    case(&["explain", S0002], 0, &["S0002", "H0002"], &[]),
    case(
        &["explain", "--allow", "S0002", "--allow", "H0002", S0002],
        0,
        &[],
        &["S0002", "H0002"],
    ),
    case(
        &["explain", "--deny", "S0002", S0002],
        1,
        &["error[S0002]"],
        &[],
    ),
    // graph.
    case(
        &["graph", "--deny", "warnings", W0104],
        1,
        &["error[W0104]"],
        &[],
    ),
    case(&["graph", W0104], 0, &["warning[W0104]"], &[]),
    case(&["graph", "--allow", "W0104", W0104], 0, &[], &["W0104"]),
    // check, for comparison: the same flags.
    case(
        &["check", "--deny", "H0002", H0002],
        1,
        &["error[H0002]"],
        &[],
    ),
];

fn run(args: &[&str], dir: &Path) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_tcc"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run tcc");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn every_command_takes_the_lint_flags() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failures = vec![];
    for c in CASES {
        let (status, err) = run(c.args, root);
        let bad = status != c.status
            || c.has.iter().any(|h| !err.contains(h))
            || c.lacks.iter().any(|l| err.contains(l));
        if bad {
            failures.push(format!(
                "tcc {}: exit {status} (want {}), stderr:\n{err}",
                c.args.join(" "),
                c.status
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}

/// `# tcc: allow CODE` in the file quiets the code for every command, not only `check`.
#[test]
fn in_file_suppressions_work_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("fast.shape");
    std::fs::write(
        &f,
        "interface eth1 { # tcc: allow H0002\n    default a\n    class a { rate 500mbit }\n}\n",
    )
    .unwrap();
    let f = f.to_str().unwrap();
    for args in [
        vec!["compile", f],
        vec!["check", f],
        vec!["graph", f],
        vec!["plan", "--deny", "H0002", f],
    ] {
        let (_, err) = run(&args, dir.path());
        assert!(!err.contains("H0002"), "tcc {}: {err}", args.join(" "));
    }
    // A comment tcc cannot follow is a diagnostic (W0107) for compile too.
    std::fs::write(
        dir.path().join("bad.shape"),
        "# tcc: allow W9999\ninterface eth1 {\n    default a\n    class a { rate 1mbit }\n}\n",
    )
    .unwrap();
    let (status, err) = run(&["compile", "bad.shape", "--deny", "W0107"], dir.path());
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("error[W0107]"), "{err}");
}
