//! `tcc explain`: every script in `corpus/scripts` has reviewed snapshots of its explanation,
//! its lint and its import; imports of scripts without errors compile back to an equivalent
//! plan; and every `.shape` in `corpus/valid`, compiled to sh with either classifier, reads back
//! to the same plan.

use std::path::Path;
use tcc::emit::{self, Classifier, ShOptions};
use tcc::explain::{self, describe, to_shape};
use tcc::report::{self, Sources};

fn args_of(text: &str) -> Vec<String> {
    text.lines()
        .take(5)
        .find_map(|l| l.strip_prefix("# args:"))
        .map(|a| a.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

fn rel(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn corpus_scripts() {
    insta::glob!("../corpus/scripts", "*.sh", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let mut sources = Sources::new();
        let id = sources.add(rel(path), text.clone());
        let ex = explain::explain(id, &text, &args_of(&text));
        let explanation = describe::text(&ex, &sources, id);
        let lint = report::to_plain_string(&sources, &ex.diags.items);
        let shape = to_shape::to_shape(&ex.plan_as_written, &rel(path));
        let mut s2 = Sources::new();
        let id2 = s2.add("import.shape", shape.clone());
        let (plan2, d2) = tcc::analyze(id2, &shape);
        // What the import cannot carry: a comment at each place, and never "equivalent".
        let lost: Vec<(Option<String>, String)> = ex
            .lost()
            .iter()
            .map(|d| {
                let dev = ex
                    .notes
                    .iter()
                    .find(|n| n.span == d.primary)
                    .and_then(|n| n.device.clone());
                let line = sources.line_col(d.primary.file, d.primary.start).0;
                (dev, format!("line {line} [{}]: {}", d.code, d.message))
            })
            .collect();
        let shape = to_shape::with_losses(&shape, &lost);
        let verdict = if !lost.is_empty() {
            format!(
                "the import is NOT equivalent: {} piece(s) not carried",
                lost.len()
            )
        } else if d2.has_errors() {
            format!(
                "the import does not compile:\n{}",
                report::to_plain_string(&s2, &d2.items)
            )
        } else {
            match to_shape::equivalent(&ex.plan, &plan2) {
                Ok(()) => "the import compiles to an equivalent plan".to_string(),
                Err(e) => format!("the import is NOT equivalent: {e}"),
            }
        };
        if !ex.diags.has_errors() && lost.is_empty() {
            assert_eq!(
                verdict,
                "the import compiles to an equivalent plan",
                "{}",
                rel(path)
            );
        }
        insta::assert_snapshot!(
            "explain",
            format!("{explanation}\n----- lint\n{lint}\n----- import ({verdict})\n{shape}")
        );
        // JSON and DOT are well-formed and mention every interface.
        let json = describe::json(&ex, &sources);
        let dot = describe::dot(&ex);
        for i in &ex.plan.interfaces {
            assert!(json.to_string().contains(&i.name));
            assert!(dot.contains(&i.name));
        }
    });
}

/// Compile a .shape text, emit sh, read it back: the same plan.
pub fn round_trip(name: &str, text: &str, classifier: Classifier) -> Result<(), String> {
    let (plan, diags) = tcc::analyze(0, text);
    if diags.has_errors() {
        return Ok(());
    }
    if classifier == Classifier::U32 && emit::u32_expressible(&plan).has_errors() {
        return Ok(());
    }
    let sh = emit::sh(
        &plan,
        &ShOptions {
            classifier,
            teardown: false,
            source_name: name.into(),
        },
    );
    let ex = explain::explain(0, &sh, &[]);
    let bad: Vec<_> = ex
        .diags
        .items
        .iter()
        .filter(|d| d.code.as_str().starts_with('S') && d.code.as_str() != "S0002")
        .map(|d| d.message.clone())
        .collect();
    if !bad.is_empty() {
        return Err(format!("{name}: reading tcc's own script: {bad:?}\n{sh}"));
    }
    to_shape::equivalent(&plan, &ex.plan).map_err(|e| format!("{name} ({classifier:?}): {e}\n{sh}"))
}

#[test]
fn valid_corpus_round_trips_through_sh() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/valid");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for c in [Classifier::Iptables, Classifier::U32] {
            round_trip(&rel(&path), &text, c).unwrap();
        }
        n += 1;
    }
    assert!(n >= 4);
}

#[test]
fn teardown_scripts_leave_nothing() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/valid");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let (plan, diags) = tcc::analyze(0, &text);
        assert!(!diags.has_errors());
        let sh = emit::sh(
            &plan,
            &ShOptions {
                classifier: Classifier::Iptables,
                teardown: true,
                source_name: "x".into(),
            },
        );
        let ex = explain::explain(0, &sh, &[]);
        assert!(ex.plan.interfaces.is_empty(), "{}", rel(&path));
        assert!(ex.leaves.is_empty(), "{}: {:?}", rel(&path), ex.leaves);
    }
}

/// Every script in `corpus/script-lint` names in its header the code it must produce.
#[test]
fn script_lint_examples_report_their_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/script-lint");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect:"))
            .map(str::trim)
            .unwrap_or_else(|| panic!("{}: no `# expect:` line", rel(&path)));
        let ex = explain::explain(0, &text, &[]);
        assert!(
            ex.diags.items.iter().any(|d| d.code.as_str() == code),
            "{}: expected {code}, got {:?}",
            rel(&path),
            ex.diags
                .items
                .iter()
                .map(|d| d.code.as_str())
                .collect::<Vec<_>>()
        );
        n += 1;
    }
    assert!(n >= 5);
}

/// Where does a packet go in the plan read from `script`? (`None`: no filter matches.)
fn class_of(script: &str, p: &explain::equiv::Packet) -> Option<String> {
    let ex = explain::explain(0, script, &[]);
    let iface = &ex.plan.interfaces[0];
    let fs: Vec<(usize, &tcc::plan::Match)> =
        iface.filters.iter().map(|f| (f.class, &f.m)).collect();
    explain::equiv::classify(&fs, p).map(|c| iface.classid(c))
}

fn tcp(dport: u16, dst: &str) -> explain::equiv::Packet {
    explain::equiv::Packet {
        proto: 6,
        src: "10.0.0.1".parse().unwrap(),
        dst: dst.parse().unwrap(),
        sport: 40000,
        dport,
        dscp: 0,
        mark: 0,
        len: 500,
    }
}

const TREE: &str = "tc qdisc add dev eth0 root handle 1: htb default 30
tc class add dev eth0 parent 1: classid 1:10 htb rate 10mbit
tc class add dev eth0 parent 1: classid 1:20 htb rate 10mbit
tc class add dev eth0 parent 1: classid 1:30 htb rate 10mbit
";

#[test]
fn classify_rules_last_match_wins_unless_returned() {
    // Plain CLASSIFY rules: the last matching rule wins.
    let s = format!(
        "{TREE}iptables -t mangle -A POSTROUTING -o eth0 -p tcp -j CLASSIFY --set-class 1:10
iptables -t mangle -A POSTROUTING -o eth0 -p tcp --dport 22 -j CLASSIFY --set-class 1:20
"
    );
    assert_eq!(class_of(&s, &tcp(22, "10.0.0.2")).as_deref(), Some("1:20"));
    assert_eq!(class_of(&s, &tcp(80, "10.0.0.2")).as_deref(), Some("1:10"));
    // The same rules in the other order: the broad rule comes last and wins for all TCP.
    let s = format!(
        "{TREE}iptables -t mangle -A POSTROUTING -o eth0 -p tcp --dport 22 -j CLASSIFY --set-class 1:20
iptables -t mangle -A POSTROUTING -o eth0 -p tcp -j CLASSIFY --set-class 1:10
"
    );
    assert_eq!(class_of(&s, &tcp(22, "10.0.0.2")).as_deref(), Some("1:10"));
    // With a RETURN companion (as tcc writes), the first rule decides.
    let s = format!(
        "{TREE}iptables -t mangle -N shape
iptables -t mangle -A shape -p tcp --dport 22 -j CLASSIFY --set-class 1:20
iptables -t mangle -A shape -p tcp --dport 22 -j RETURN
iptables -t mangle -A shape -p tcp -j CLASSIFY --set-class 1:10
iptables -t mangle -A POSTROUTING -o eth0 -j shape
"
    );
    assert_eq!(class_of(&s, &tcp(22, "10.0.0.2")).as_deref(), Some("1:20"));
    assert_eq!(class_of(&s, &tcp(80, "10.0.0.2")).as_deref(), Some("1:10"));
    // Rules for another interface do not apply; deleted, flushed and renamed chains follow.
    let s = format!(
        "{TREE}iptables -t mangle -A POSTROUTING -o eth1 -p tcp -j CLASSIFY --set-class 1:10
iptables -t mangle -N new
iptables -t mangle -A new -d 192.0.2.0/24 -j CLASSIFY --set-class 1:20
iptables -t mangle -I POSTROUTING -o eth0 -j new
iptables -t mangle -A POSTROUTING -o eth0 -p tcp --dport 80 -j CLASSIFY --set-class 1:10
iptables -t mangle -D POSTROUTING -o eth0 -p tcp --dport 80 -j CLASSIFY --set-class 1:10
iptables -t mangle -E new old
"
    );
    assert_eq!(class_of(&s, &tcp(80, "10.0.0.2")), None);
    assert_eq!(class_of(&s, &tcp(80, "192.0.2.9")).as_deref(), Some("1:20"));
}

#[test]
fn nft_meta_priority_and_u32_filters() {
    let s = format!(
        "{TREE}nft add rule inet mangle post oifname eth0 tcp dport {{ 80, 443 }} meta priority set 1:10
nft add rule inet mangle post oifname eth0 ip daddr 192.0.2.0/24 meta priority set 1:20 accept
tc filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip protocol 6 0xff match ip dport 22 0xffff flowid 1:30
"
    );
    assert_eq!(class_of(&s, &tcp(443, "10.0.0.2")).as_deref(), Some("1:10"));
    assert_eq!(
        class_of(&s, &tcp(443, "192.0.2.1")).as_deref(),
        Some("1:20")
    );
    assert_eq!(class_of(&s, &tcp(22, "10.0.0.2")).as_deref(), Some("1:30"));
    assert_eq!(class_of(&s, &tcp(25, "10.0.0.2")), None);
}

fn tcc(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tcc"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_explain_formats_import_and_check() {
    // The guide's glued `!` fails on current iptables (S0006, an error): exit status 1.
    let (code, out, err) = tcc(&["explain", "corpus/scripts/seed-example-3.sh"]);
    assert_eq!(code, 1);
    assert!(err.contains("error[S0006]"));
    assert!(out.contains("TCP from ports 80, 20-21 and 1024-5000 to 131.225.0.0/16 goes to 1:1"));
    let (code, out, _) = tcc(&[
        "explain",
        "corpus/scripts/seed-example-1.sh",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["interfaces"][0]["default"], "1:12");
    assert_eq!(v["diagnostics"]["summary"]["errors"], 0);
    let (code, out, _) = tcc(&[
        "explain",
        "corpus/scripts/seed-example-1.sh",
        "--format",
        "dot",
    ]);
    assert_eq!(code, 0);
    assert!(out.starts_with("digraph tcc {") && out.contains("-> i0_1;"));
    let (code, out, _) = tcc(&[
        "explain",
        "corpus/scripts/seed-example-1.sh",
        "--format",
        "svg",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("<svg ") && out.trim_end().ends_with("</svg>"),
        "{out}"
    );
    assert!(
        out.contains("1:11") && out.contains("1:12"),
        "the classes are drawn: {out}"
    );
    // Positional parameters after `--`.
    let (code, out, err) = tcc(&[
        "explain",
        "corpus/scripts/wondershaper.sh",
        "--to",
        "shape",
        "--",
        "ppp0",
        "8000",
        "800",
    ]);
    assert!(
        out.contains("interface ppp0 {") && out.contains("rate 800kbit"),
        "{out}"
    );
    // wondershaper's rates oversubscribe its uplink class: an error, so exit 1.
    assert_eq!(code, 1, "{err}");
    let (code, out, err) = tcc(&[
        "explain",
        "corpus/scripts/seed-example-2.sh",
        "--to",
        "shape",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("for port in 1000..1009 {"));
    assert!(err.contains("checked: `tcc compile` of this file gives the plan"));
    // `tcc check` reads .sh files as scripts.
    let (code, _, err) = tcc(&["check", "corpus/script-lint/S0003-flushes-chain.sh"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning[S0003]"));
    let (code, _, err) = tcc(&["check", "corpus/scripts/lartc-cookbook.sh"]);
    assert_eq!(code, 1);
    assert!(err.contains("error[E0104]") && err.contains("lartc-cookbook.sh:25:"));
    let (code, _, err) = tcc(&["explain", "no/such/file.sh"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read"));
}

#[test]
fn replace_of_an_htb_root_fails_and_del_removes_it() {
    // The kernel refuses to change an HTB root in place (measured): nothing changes, S0006.
    let s = format!("{TREE}tc qdisc replace dev eth0 root handle 1: htb default 20\n");
    let ex = explain::explain(0, &s, &[]);
    let i = &ex.plan.interfaces[0];
    assert_eq!(i.classes.len(), 3);
    assert_eq!(i.default.map(|d| i.classid(d)).as_deref(), Some("1:30"));
    assert!(ex.diags.items.iter().any(|d| d.code.as_str() == "S0006"));
    let s = format!("{TREE}tc qdisc del dev eth0 root\n");
    let ex = explain::explain(0, &s, &[]);
    assert!(ex.plan.interfaces.is_empty());
    assert_eq!(ex.removes, ["eth0"]);
}

/// Inputs the `explain_script` fuzzer found (`tests/data/fuzz-explain-*.sh`) stay fixed: no
/// panic, and a script whose plan is clean imports to a `.shape` that parses.
#[test]
fn fuzzer_finds_stay_fixed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with("fuzz-explain-") && name.ends_with(".sh")) {
            continue;
        }
        seen += 1;
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        let ex = tcc::explain::explain(0, &text, &["eth0".to_string(), "1000".to_string()]);
        if !ex.diags.has_errors() {
            let shape = tcc::explain::to_shape::to_shape(&ex.plan, &name);
            assert!(
                tcc::syntax::parse(0, &shape).is_ok(),
                "{name}: import does not parse:\n{shape}"
            );
        }
    }
    assert!(seen > 0);
    // The first find: a quoted variable made a multi-line "interface name".
    let text = String::from_utf8_lossy(
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/fuzz-explain-ifname.sh"),
        )
        .unwrap(),
    )
    .into_owned();
    let ex = tcc::explain::explain(0, &text, &[]);
    assert!(ex.diags.items.iter().any(|d| d.code.as_str() == "E0212"));
    // The fuzzer's out-of-memory find: nested loops repeating one unreadable port list made
    // 1,296 copies of each warning. The same problem at the same place is said once.
    let text = String::from_utf8_lossy(
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/fuzz-explain-loop-repeats.sh"),
        )
        .unwrap(),
    )
    .into_owned();
    let ex = tcc::explain::explain(0, &text, &[]);
    let mut seen = std::collections::HashSet::new();
    for d in &ex.diags.items {
        assert!(
            seen.insert((d.code, d.primary, d.message.clone())),
            "repeated: {}",
            d.message
        );
    }
    assert!(ex.diags.items.len() < 50, "{}", ex.diags.items.len());
    // Its second out-of-memory find: every command a loop ran copied every diagnostic inside
    // it into its ending (172 MB for a 3 KB script). A command lists each reason once.
    let text = String::from_utf8_lossy(
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/fuzz-explain-memory.sh"),
        )
        .unwrap(),
    )
    .into_owned();
    let ex = tcc::explain::explain(0, &text, &[]);
    let most = ex
        .endings
        .iter()
        .map(|e| e.reasons.len())
        .max()
        .unwrap_or(0);
    assert!(most <= 10, "a command with {most} reasons");
}

/// Issue 9's contract, as a user runs it: `--to shape` of a script with a leaf qdisc exits 1,
/// names the lost piece and comments it in the import; the JSON lists every command's place.
#[test]
fn cli_import_names_what_it_cannot_carry() {
    let (code, out, err) = tcc(&[
        "explain",
        "corpus/script-lint/S0008-not-carried.sh",
        "--to",
        "shape",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("1 piece of the script"), "{err}");
    assert!(
        err.contains(
            "line 7 [S0008]: a `red limit 400000 min 30000 max 90000 avpkt 1000` qdisc on 1:10"
        ),
        "{err}"
    );
    assert!(out.contains("# NOT CARRIED: line 7 [S0008]"), "{out}");
    assert!(!err.contains("checked:"), "{err}");
    let (code, out, _) = tcc(&[
        "explain",
        "corpus/scripts/contract-endings.sh",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let cmds = v["commands"].as_array().unwrap();
    let at = |line: u64| {
        cmds.iter()
            .filter(|c| c["line"] == line)
            .map(|c| c["place"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(at(9), ["modelled"]);
    // A leaf fq_codel is part of the plan since leaf queues are modelled (issue 11).
    assert_eq!(at(11), ["modelled"]);
    assert_eq!(at(23), ["not_shaping"]);
    assert_eq!(v["interfaces"][0]["r2q"], 5);
}

/// An nft rule on `ip daddr` in an `inet` table classifies IPv4 only: not "IPv6 only" (the
/// families were swapped), and it is an nft chain, not an iptables one.
#[test]
fn nft_ip_selector_is_ipv4_and_an_nft_chain() {
    let s = format!(
        "{TREE}nft add table inet t\nnft add rule inet t c oifname eth0 ip daddr 10.0.0.1 meta priority set 1:10\n"
    );
    let ex = explain::explain(0, &s, &[]);
    assert!(
        !ex.diags.items.iter().any(|d| d.code.as_str() == "S0002"),
        "{:?}",
        ex.diags.items
    );
    assert_eq!(ex.leaves[1], "nft chain `inet t c` with 1 rule for IPv4");
}

/// A `.nft` file (as `nft list ruleset` prints it) is read in nft's own syntax, each rule with
/// its line; a map on the port becomes one rule per element.
#[test]
fn cli_explains_an_nft_file() {
    let (code, out, err) = tcc(&["explain", "tests/fixtures/ruleset.nft"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("nft chain `inet shape post` with 5 rules for IPv4"),
        "{out}"
    );
    assert!(
        out.contains("modelled (part of the plan): lines 1-2 and 5-6"),
        "{out}"
    );
    assert!(!err.contains("S0001"), "{err}");
}

/// A script split over files: `. FILE`, `tc -batch FILE`, `iptables-restore < FILE` and
/// `nft -f FILE` are read beside the script (never run), each command ending in its own file's
/// place; a file that is not there is S0001 with the reason, and the import is not called
/// equivalent. `tcc check` reads the same files.
#[test]
fn files_beside_the_script_are_read() {
    let (code, out, err) = tcc(&["explain", "tests/data/beside/setup.sh"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("beside_explain", format!("{out}\n---- stderr\n{err}"));
    assert!(
        out.contains("tests/data/beside/classes.tc lines 1-3"),
        "{out}"
    );
    assert!(
        out.contains("1. traffic to 2001:db8::/32 goes to 1:10 (web)"),
        "{out}"
    );
    assert!(
        out.contains("2. TCP to port 80 goes to 1:10 (web)"),
        "{out}"
    );

    let (code, out, err) = tcc(&["explain", "tests/data/beside/setup.sh", "--to", "shape"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("# NOT CARRIED: line 12 [S0001]: `nft -f missing.nft`"),
        "{out}"
    );
    assert!(out.contains("match tcp dport 80"), "{out}");

    let (code, out, err) = tcc(&["check", "tests/data/beside/setup.sh", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("tests/data/beside/mangle.rules"), "{out}");
    assert!(out.contains("missing.nft"), "{out}");

    // Through standard input, names are looked for in the working directory.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tcc"))
        .args(["explain", "-"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/beside"))
        .env("NO_COLOR", "1")
        .stdin(
            std::fs::File::open(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/beside/setup.sh"
            ))
            .unwrap(),
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("classes.tc lines 1-3"), "{text}");
}

/// A FireQOS-style script with ifb input shaping and fq_codel on every leaf imports as an
/// equivalent `.shape` (exit 0; fq_codel compared on the plan, as this kernel lacks it),
/// with the download tree in an `ingress { }` block; a partial redirect is S0009 and exit 1.
#[test]
fn cli_imports_fireqos_style_input_shaping() {
    let (code, out, err) = tcc(&[
        "explain",
        "corpus/scripts/fireqos-input.sh",
        "--to",
        "shape",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("gives the plan the script sets up"), "{err}");
    assert!(
        out.contains("\n    ingress {\n        r2q 100\n        rate 100mbit\n"),
        "{out}"
    );
    assert!(out.contains("match tcp sport 80, 443"), "{out}");
    // FireQOS's fq_codel on every leaf, both sides: one `qdisc` line per tree.
    assert_eq!(out.matches("qdisc fq_codel").count(), 2, "{out}");
    let (code, _, err) = tcc(&[
        "explain",
        "corpus/script-lint/S0009-ingress-not-followed.sh",
        "--to",
        "shape",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("S0009"), "{err}");
}

/// Issue 9: one budget for all of the script reader's work. Scripts that multiply their work
/// (a fork bomb, a self-calling function in a loop, a doubling variable, 10,000-deep nesting,
/// a huge here-document fed in a loop, a billion-long `seq`) end, through the binary, with
/// S0001 saying where reading stopped; the explanation covers only what was read.
#[test]
fn hostile_scripts_stop_on_the_budget() {
    let deep = |open: &str, mid: &str, close: &str| {
        format!("{}{mid}{}\n", open.repeat(10_000), close.repeat(10_000))
    };
    let mut doubling = String::from("a=x\n");
    for _ in 0..60 {
        doubling.push_str("a=$a$a\n");
    }
    doubling.push_str("tc qdisc add dev $a root htb\n");
    let line = format!(
        "class add dev eth0 parent 1: classid 1:1 htb rate 1mbit {}\n",
        "x".repeat(1 << 20)
    );
    let cases: Vec<(&str, String, &str)> = vec![
        ("fork bomb", ":(){ :|:& };:\n".into(), "reading stopped"),
        (
            "self-calling function in a loop",
            "f() { tc qdisc add dev eth0 root htb; f; f; }\nfor i in $(seq 1 65536); do f; done\n"
                .into(),
            "reading stopped",
        ),
        ("doubling", doubling, "reading stopped"),
        (
            "nested braces",
            deep("{ ", "tc qdisc add dev eth0 root htb", "; }"),
            "reading stopped",
        ),
        (
            "nested if",
            deep("if true; then\n", "tc x\n", "fi\n"),
            "reading stopped",
        ),
        (
            "nested subst",
            format!("echo {}", deep("$(echo ", "x", ")")),
            "reading stopped",
        ),
        (
            "nested default",
            format!("echo x{}", deep("${a:-x", "", "}")),
            "nest too deeply",
        ),
        (
            "nested arithmetic",
            format!("echo $(({}))", deep("(", "1", ")")),
            "cannot evaluate",
        ),
        (
            "seq",
            "for i in $(seq 1 1000000000); do tc qdisc add dev eth0 root htb; done\n".into(),
            "reading stopped",
        ),
        (
            "here-document in a loop",
            format!("for i in $(seq 1 65536); do\ntc -batch - <<EOF\n{line}EOF\ndone\n"),
            "reading stopped",
        ),
    ];
    let dir = std::env::temp_dir().join(format!("tcc-budget-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (k, (what, text, says)) in cases.iter().enumerate() {
        let path = dir.join(format!("{k}.sh"));
        std::fs::write(&path, text).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tcc"))
            .arg("explain")
            .arg(&path)
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.code().is_some(),
            "{what}: killed: {:?}",
            out.status
        );
        assert!(all.contains("S0001"), "{what}: no S0001");
        assert!(all.contains(says), "{what}: does not say `{says}`");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A long plain script is read whole (the budget grows with the text): every line ends in
/// one of the three places. 250,000 lines (the old limit stopped at 200,000 commands).
#[test]
fn long_scripts_are_read_whole() {
    let mut text = String::new();
    for i in 0..250_000 {
        text.push_str(&format!("echo {i}\n"));
    }
    let ex = tcc::explain::explain(0, &text, &[]);
    assert_eq!(ex.endings.len(), 250_000);
    assert!(
        !ex.diags
            .items
            .iter()
            .any(|d| d.message.contains("reading stopped")),
        "{:?}",
        ex.diags.items.first()
    );
}
