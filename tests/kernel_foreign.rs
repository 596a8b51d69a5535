//! Foreign state that changes an interface's classification, on the real kernel: a root qdisc
//! that is not tcc's (W0203), an iptables CLASSIFY rule outside tcc's chains (W0201) and
//! another nft table setting `meta priority` (W0202). `tcc plan` and `tcc apply` report each
//! as a warning saying what it does to traffic, in text and in `plan --format json`; the lint
//! levels hide them (`--allow`) or make them stop `apply` (`--deny`). State for other
//! interfaces or other qdiscs is not reported. Needs root.

mod common;

use common::kernel::{need_root, Bed};
use std::process::Output;

const DEV: &str = "v-0.1";

const PLAN: &str = r#"interface "v-0.1" {
    rate 100mbit
    default bulk
    class web { rate 30mbit; match tcp dport 443 }
    class bulk { rate 10mbit }
}
"#;

fn out(o: &Output) -> String {
    format!(
        "status {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The codes of `plan --format json`'s warnings for the interface.
fn json_codes(o: &Output) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", out(o));
    });
    v["interfaces"][0]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn plan_and_apply_warn_about_foreign_classification() {
    if !need_root() {
        return;
    }
    let bed = Bed::single(&[DEV, "w-2"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("site.shape");
    std::fs::write(&file, PLAN).unwrap();
    let file = file.to_str().unwrap();

    // Nothing foreign: no warning.
    let o = bed.tcc(&["plan", "--format", "json", file]);
    assert_eq!(o.status.code(), Some(3), "{}", out(&o));
    assert!(json_codes(&o).is_empty(), "{}", out(&o));

    // A foreign root (tbf) that apply would replace.
    bed.a_run(&[
        "tc", "qdisc", "add", "dev", DEV, "root", "handle", "8001:", "tbf", "rate", "1mbit",
        "burst", "10k", "latency", "50ms",
    ]);
    let o = bed.tcc(&["plan", file]);
    assert_eq!(o.status.code(), Some(3), "{}", out(&o));
    assert!(
        stderr(&o).contains(
            "warning[W0203]: the root qdisc of v-0.1 is tbf 8001:, not tcc's: applying replaces it"
        ),
        "{}",
        out(&o)
    );
    assert!(stderr(&o).contains("site.shape:1:"), "{}", out(&o));
    assert_eq!(
        json_codes(&bed.tcc(&["plan", "--format", "json", file])),
        ["W0203"]
    );
    let o = bed.tcc(&["plan", "--allow", "W0203", file]);
    assert!(!stderr(&o).contains("W0203"), "{}", out(&o));
    // Denied, apply changes nothing.
    let o = bed.tcc(&["apply", "--deny", "W0203", file]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(stderr(&o).contains("nothing was changed"), "{}", out(&o));
    let q = bed.a_run(&["tc", "qdisc", "show", "dev", DEV]);
    assert!(q.contains("qdisc tbf 8001: root"), "{q}");
    // Warned, apply replaces it; then it is tcc's and nothing is reported.
    let o = bed.tcc(&["apply", file]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(stderr(&o).contains("warning[W0203]"), "{}", out(&o));
    let o = bed.tcc(&["plan", file]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(!stderr(&o).contains("[W02"), "{}", out(&o));

    // A CLASSIFY rule in a chain jumped to from POSTROUTING for every interface, and one
    // only for another interface (not reported), and one for another qdisc (not reported).
    for args in [
        &["-N", "foo"][..],
        &["-A", "POSTROUTING", "-j", "foo"],
        &[
            "-A",
            "foo",
            "-p",
            "tcp",
            "-j",
            "CLASSIFY",
            "--set-class",
            "1:20",
        ],
        &[
            "-A",
            "POSTROUTING",
            "-o",
            "w-2",
            "-j",
            "CLASSIFY",
            "--set-class",
            "1:21",
        ],
        &["-A", "OUTPUT", "-j", "CLASSIFY", "--set-class", "2:22"],
    ] {
        let mut full = vec!["iptables", "-t", "mangle"];
        full.extend_from_slice(args);
        bed.a_run(&full);
    }
    let o = bed.tcc(&["plan", file]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let e = stderr(&o);
    assert!(
        e.contains("warning[W0201]: an iptables CLASSIFY rule in mangle chain foo (reached from POSTROUTING) sets class 1:20 for packets leaving v-0.1"),
        "{}",
        out(&o)
    );
    assert!(!e.contains("1:21") && !e.contains("2:22"), "{}", out(&o));
    assert_eq!(e.matches("W0201]").count(), 1, "{}", out(&o));
    // With the iptables classifier, tcc's jump is appended after the jump to foo: foo's rule
    // runs before tcc's chain; a rule appended after tcc's jump runs after it.
    let o = bed.tcc(&["apply", "--classifier", "iptables", file]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    bed.a_run(&[
        "iptables",
        "-t",
        "mangle",
        "-A",
        "POSTROUTING",
        "-o",
        "v-0.+",
        "-j",
        "CLASSIFY",
        "--set-class",
        "1:23",
    ]);
    let o = bed.tcc(&["plan", "--classifier", "iptables", file]);
    let e = stderr(&o);
    assert!(
        e.contains("sets class 1:20 for packets leaving v-0.1, before tcc's classification: packets tcc's rules do not match go to class 1:20 instead of the default class"),
        "{}",
        out(&o)
    );
    assert!(
        e.contains("CLASSIFY rule in mangle POSTROUTING sets class 1:23 for packets leaving v-0.1, after tcc's classification: it overrides tcc's classification"),
        "{}",
        out(&o)
    );

    // Another nft table setting meta priority after tcc's (postrouting, priority 0).
    bed.a_run(&["nft", "add", "table", "inet", "other"]);
    bed.a_run(&[
        "nft",
        "add",
        "chain",
        "inet",
        "other",
        "c",
        "{ type filter hook postrouting priority 0; policy accept; }",
    ]);
    bed.a_run(&[
        "nft", "add", "rule", "inet", "other", "c", "meta", "priority", "set", "1:30",
    ]);
    bed.a_run(&[
        "nft", "add", "rule", "inet", "other", "c", "oifname", "w-2", "meta", "priority", "set",
        "1:31",
    ]);
    let o = bed.tcc(&["plan", "--format", "json", file]);
    assert_eq!(json_codes(&o), ["W0201", "W0201", "W0202"], "{}", out(&o));
    let o = bed.tcc(&["plan", file]);
    let e = stderr(&o);
    assert!(
        e.contains("warning[W0202]: nft table inet other (not tcc's), chain c, sets meta priority 1:30 for packets leaving v-0.1, after tcc's classification: it overrides tcc's classification"),
        "{}",
        out(&o)
    );
    assert!(!e.contains("1:31"), "{}", out(&o));
    let o = bed.tcc(&["plan", "--allow", "W0201", "--allow", "W0202", file]);
    assert!(!stderr(&o).contains("[W02"), "{}", out(&o));
}

/// Every example of `corpus/live`: after its `# live:` commands (run in the namespace, the
/// interface `eth0`), `tcc plan --format json` reports the code of its `# expect:` line.
#[test]
fn live_corpus_reports_the_expected_code() {
    if !need_root() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/live");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 3);
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let header = |key: &str| -> Vec<String> {
            text.lines()
                .take_while(|l| l.starts_with('#'))
                .filter_map(|l| l.strip_prefix(&format!("# {key}:")))
                .map(|v| v.trim().to_string())
                .collect()
        };
        let bed = Bed::single(&["eth0"]);
        for cmd in header("live") {
            bed.a_run(&["sh", "-c", &cmd]);
        }
        let o = bed.tcc(&["plan", "--format", "json", path.to_str().unwrap()]);
        assert_eq!(
            json_codes(&o),
            header("expect"),
            "{}: {}",
            path.display(),
            out(&o)
        );
    }
}

/// A `tcc plan` that cannot read the mangle table or the ruleset (no CAP_NET_ADMIN) says that
/// it did not check them, rather than reporting nothing as if nothing were there.
#[test]
fn plan_says_what_it_could_not_read() {
    if !need_root() {
        return;
    }
    let bed = Bed::single(&[DEV]);
    let dir = tempfile::tempdir().unwrap();
    // Readable by the unprivileged user below.
    let mut perms = std::fs::metadata(dir.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(dir.path(), perms).unwrap();
    let file = dir.path().join("site.shape");
    std::fs::write(&file, PLAN).unwrap();
    let file = file.to_str().unwrap();
    assert_eq!(bed.tcc(&["apply", file]).status.code(), Some(0));
    // As root everything is read: no warning.
    let o = bed.tcc(&["plan", file]);
    assert!(!out(&o).contains("could not be read"), "{}", out(&o));
    // As nobody: both tools and nft refuse, and each gap is a warning with its code.
    let o = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &bed.a,
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
        ])
        .args(["--clear-groups", env!("CARGO_BIN_EXE_tcc"), "plan", file])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = out(&o);
    for (code, what) in [
        ("W0201", "could not be read with iptables"),
        ("W0201", "could not be read with ip6tables"),
        ("W0202", "the nftables ruleset could not be read with nft"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("warning[{code}]")) && l.contains(what)),
            "{code} {what}:\n{text}"
        );
    }
}
