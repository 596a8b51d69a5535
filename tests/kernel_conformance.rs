//! The conformance corpus (`corpus/conformance`, one script per case of the kernel's own
//! tc-testing suite for HTB and u32; see its README) against the real kernel. Each script runs
//! in a fresh namespace; `tcc explain --to shape` imports it; where the import exits 0,
//! `tcc apply --classifier u32` of the import in another fresh namespace must leave exactly what
//! the script left (`tc -d qdisc/class/filter show`, with counters and kernel-allocated handles
//! taken out); where it exits 1, its standard error must name each lost piece the script's
//! `# expect: lost TEXT` lines give. `# expect: exact` says the import must rebuild the state.

mod common;

use common::kernel::{need_root, Bed};
use std::path::Path;
use std::process::Command;

const DEV: &str = "dev0";

/// What the corpus file says its import does.
#[derive(Debug, PartialEq)]
enum Expect {
    Exact,
    Lost(Vec<String>),
}

fn expectation(text: &str, name: &str) -> Expect {
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .collect();
    if lines == ["exact"] {
        return Expect::Exact;
    }
    let lost: Vec<String> = lines
        .iter()
        .map(|l| {
            l.strip_prefix("lost ")
                .unwrap_or_else(|| panic!("{name}: `# expect: {l}`"))
                .to_string()
        })
        .collect();
    assert!(!lost.is_empty(), "{name}: no `# expect:` line");
    Expect::Lost(lost)
}

/// One line of a `tc -d ... show` dump without what the kernel counts or allocates: u32
/// filter handles (`fh 800::800`, `fh 801:`), insertion order, the automatic root tables
/// (`ht 8xx`), `chain 0`, refcounts and the direct-packet counter.
fn normalise_line(line: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut words = line.split_whitespace().peekable();
    while let Some(w) = words.next() {
        match w {
            "fh" | "order" | "refcnt" | "direct_packets_stat" => {
                let v = words.next().unwrap_or("");
                // A table the script named (`fh 42:`) is the script's; the 8xx ones and
                // every node handle are the kernel's.
                let named = w == "fh" && v.ends_with(':') && !v.starts_with('8');
                out.push(format!("{w} {}", if named { v } else { "*" }));
            }
            "ht" if out.last().is_some_and(|l| l == "key") => {
                let v = words.next().unwrap_or("");
                let auto = v.len() == 3 && v.starts_with('8');
                out.push(format!("ht {}", if auto { "*" } else { v }));
            }
            "chain" if words.peek() == Some(&"0") => {
                words.next();
            }
            "not_in_hw" => {}
            _ => out.push(w.to_string()),
        }
    }
    out.join(" ")
}

/// What the kernel holds on `DEV` in the bed's namespace, normalised: qdiscs, classes,
/// egress and ingress filters.
fn dump(bed: &Bed) -> String {
    let mut s = String::new();
    for what in [
        &["qdisc", "show", "dev", DEV][..],
        &["class", "show", "dev", DEV],
        &["filter", "show", "dev", DEV],
        &["filter", "show", "dev", DEV, "ingress"],
    ] {
        let mut args = vec!["tc", "-d"];
        args.extend_from_slice(what);
        let out = Command::new("ip")
            .args(["netns", "exec", &bed.a])
            .args(&args)
            .output()
            .unwrap();
        // `filter show ... ingress` on a device without an ingress qdisc says nothing.
        s += &format!("## {}\n", what.join(" "));
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            s += &normalise_line(line);
            s.push('\n');
        }
    }
    s
}

#[test]
fn normalising_keeps_what_the_script_chose() {
    assert_eq!(
        normalise_line("filter parent 1: protocol ip pref 98 u32 chain 0 fh 801::800 order 2048 key ht 801 bkt 0 link 43: not_in_hw"),
        "filter parent 1: protocol ip pref 98 u32 fh * order * key ht * bkt 0 link 43:"
    );
    assert_eq!(
        normalise_line("filter parent 1: protocol all pref 99 u32 chain 0 fh 42: ht divisor 256"),
        "filter parent 1: protocol all pref 99 u32 fh 42: ht divisor 256"
    );
    assert_eq!(
        normalise_line("filter protocol all pref 99 u32 chain 0 fh 1:40:800 order 2048 key ht 1 bkt 40 *flowid 1:1"),
        "filter protocol all pref 99 u32 fh * order * key ht 1 bkt 40 *flowid 1:1"
    );
    assert_eq!(
        normalise_line("qdisc htb 1: root refcnt 3 r2q 10 default 0x10 direct_packets_stat 2 ver 3.17 direct_qlen 1000"),
        "qdisc htb 1: root refcnt * r2q 10 default 0x10 direct_packets_stat * ver 3.17 direct_qlen 1000"
    );
}

fn tcc_bin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tcc"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn conformance_corpus_rebuilds_or_names_what_it_loses() {
    if !need_root() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    files.sort();
    let (mut exact, mut lost) = (0, 0);
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let expect = expectation(&text, &name);
        let p = path.to_str().unwrap();
        // The original, as tc-testing runs it: a failing command is part of the case.
        let original = Bed::single(&[DEV]);
        Command::new("ip")
            .args(["netns", "exec", &original.a, "sh", p, DEV])
            .output()
            .unwrap();
        let want = dump(&original);
        drop(original);

        let out = tcc_bin(&["explain", p, "--to", "shape", "--", DEV]);
        let shape = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let ctx = format!("{name}\n{stderr}\n{shape}\noriginal:\n{want}");
        match expect {
            Expect::Exact => {
                assert_eq!(out.status.code(), Some(0), "{ctx}");
                assert!(stderr.contains("checked:"), "{ctx}");
                let import = Bed::single(&[DEV]);
                let file = tempfile::Builder::new()
                    .suffix(".shape")
                    .tempfile()
                    .unwrap();
                std::fs::write(file.path(), &shape).unwrap();
                let applied = import.tcc(&[
                    "apply",
                    file.path().to_str().unwrap(),
                    "--classifier",
                    "u32",
                ]);
                assert!(
                    applied.status.success(),
                    "{ctx}\napply: {}",
                    String::from_utf8_lossy(&applied.stderr)
                );
                assert_eq!(dump(&import), want, "{ctx}");
                exact += 1;
            }
            Expect::Lost(pieces) => {
                assert_eq!(out.status.code(), Some(1), "{ctx}");
                for piece in &pieces {
                    assert!(stderr.contains(piece.as_str()), "{ctx}\nnot named: {piece}");
                }
                lost += 1;
            }
        }
    }
    eprintln!("{exact} rebuilt exactly, {lost} name what they lose");
    assert_eq!(exact + lost, files.len());
    assert!(exact >= 9, "{exact}");
}
