//! `tcc check` as CI uses it, `explain-code`, `fmt`, `graph`, `completions`, `man`: the built
//! binary run as a user runs it.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Line and column (1-based, in characters) where `needle` first occurs in a corpus file: the
/// corpus is reformatted by `tcc fmt`, so positions are computed, never hard-coded.
fn position(file: &str, needle: &str) -> (usize, usize) {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in {file}"));
    let line = text[..at].matches('\n').count() + 1;
    let col = text[..at].rsplit('\n').next().unwrap().chars().count() + 1;
    (line, col)
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tcc_in(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tcc"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tcc");
    let input = stdin.unwrap_or("").to_string();
    let mut pipe = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn tcc(args: &[&str]) -> Output {
    tcc_in(root(), args, None)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

fn validator(schema_path: &str) -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(schema_path)).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

const W0104: &str = "corpus/invalid/W0104-unused.shape";

#[test]
fn directories_files_and_stdin_are_all_checked() {
    let out = tcc(&["check", "--format", "json", "corpus/valid", W0104, "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let files: std::collections::BTreeSet<String> = json(&out)["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["file"].as_str().unwrap().to_string())
        .collect();
    assert!(files.contains(W0104), "{files:?}");
    assert!(
        files.contains("corpus/valid/seed-example-1.shape"),
        "{files:?}"
    );
    // A directory is expanded to its .shape files, sorted.
    let out = tcc(&["check", "--format", "json", "corpus/invalid"]);
    let d = json(&out);
    let names: Vec<&str> = d["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["file"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names
        .iter()
        .any(|n| n.ends_with("E0201-oversubscribed.shape")));
    assert_eq!(out.status.code(), Some(1));
    // Standard input.
    let out = tcc_in(
        root(),
        &["check", "-"],
        Some("interface eth0 { rate 1mbit; class a { rate 2mbit } }\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("<stdin>:1:"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn json_report_follows_its_documented_schema() {
    let v = validator("docs/check-report.schema.json");
    for args in [
        vec!["corpus/invalid"],
        vec!["corpus/valid"],
        vec![W0104, "--deny", "W0104"],
    ] {
        let mut a = vec!["check", "--format", "json"];
        a.extend(args);
        let out = tcc(&a);
        assert_valid(&v, &json(&out));
    }
}

#[test]
fn sarif_is_valid_sarif_2_1_0() {
    let v = validator("tests/data/sarif-schema-2.1.0.json");
    let out = tcc(&[
        "check",
        "--format",
        "sarif",
        "corpus/invalid",
        "corpus/valid",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let log = json(&out);
    assert_valid(&v, &log);
    // The validator does reject what code scanning would reject.
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!v.is_valid(&broken));
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
        0.into();
    assert!(!v.is_valid(&broken));
    let results = log["runs"][0]["results"].as_array().unwrap();
    let rules = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    assert!(results.len() > 40, "{}", results.len());
    for r in results {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"]);
        let loc = &r["locations"][0]["physicalLocation"];
        assert!(loc["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .starts_with("corpus/"));
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
    }
    let e0201 = results.iter().find(|r| r["ruleId"] == "E0201").unwrap();
    assert_eq!(e0201["level"], "error");
    let (line, _) = position("corpus/invalid/E0201-oversubscribed.shape", "rate 30mbit");
    assert_eq!(
        e0201["locations"][0]["physicalLocation"]["region"]["startLine"],
        line
    );
    assert!(e0201["relatedLocations"].as_array().unwrap().len() >= 3);
    // An empty run is valid too.
    let out = tcc_in(
        root(),
        &["check", "--format", "sarif", "-"],
        Some("# nothing\n"),
    );
    assert_valid(&v, &json(&out));
}

#[test]
fn github_format_prints_workflow_commands() {
    let out = tcc(&[
        "check",
        "--format",
        "github",
        "corpus/invalid/E0201-oversubscribed.shape",
        W0104,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let s = text(&out.stdout);
    let lines: Vec<&str> = s.lines().collect();
    let e0201 = lines
        .iter()
        .find(|l| l.contains("title=E0201"))
        .expect("E0201");
    let (line, col) = position("corpus/invalid/E0201-oversubscribed.shape", "rate 30mbit");
    let end = col + "rate 30mbit".len();
    assert!(e0201.starts_with(&format!(
        "::error file=corpus/invalid/E0201-oversubscribed.shape,line={line},col={col},endColumn={end},title=E0201 children's rates exceed the parent's rate::children of `eth1` are guaranteed 110 Mbit/s"
    )), "{s}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("::notice ") && l.contains("title=H0002")),
        "{s}"
    );
    assert!(e0201.contains("%0Ahelp: lower the children's rates"), "{s}");
    assert!(
        lines.iter().any(
            |l| l.starts_with("::warning file=corpus/invalid/W0104-unused.shape,line=2,col=5,")
        ),
        "{s}"
    );
    assert!(lines.iter().all(|l| l.starts_with("::")), "{s}");
}

#[test]
fn lint_levels() {
    // --deny CODE and --deny warnings fail; --allow silences; errors cannot be allowed.
    assert_eq!(tcc(&["check", W0104]).status.code(), Some(0));
    assert_eq!(
        tcc(&["check", W0104, "--deny", "W0104"]).status.code(),
        Some(1)
    );
    assert_eq!(
        tcc(&["check", W0104, "--deny", "warnings"]).status.code(),
        Some(1)
    );
    let out = tcc(&["check", W0104, "--deny", "warnings", "--allow", "w0104"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    let out = tcc(&["check", W0104, "--allow", "E0201"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("E0201 is an error and cannot be allowed"));
    let out = tcc(&["check", W0104, "--allow", "W0140"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown diagnostic code `W0140`"),
        "{}",
        text(&out.stderr)
    );
    // --warn raises a hint to a warning; with --deny warnings that fails.
    let h = "corpus/invalid/H0001-jumbo-mtu.shape";
    assert_eq!(
        tcc(&["check", h, "--deny", "warnings"]).status.code(),
        Some(0)
    );
    let out = tcc(&[
        "check", h, "--warn", "H0001", "--deny", "warnings", "--format", "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let d = json(&out);
    assert!(
        d["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "H0001" && d["severity"] == "error"),
        "{d:#}"
    );
    // The human format shows the raised level.
    let out = tcc(&["check", W0104, "--deny", "W0104"]);
    assert!(
        text(&out.stderr).contains("error[W0104]"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn in_file_suppressions_cover_the_line_or_the_block() {
    let dir = tempfile::tempdir().unwrap();
    let src = "\
let unused_host = 10.1.1.1   # tcc: allow W0104
let other = 10.1.1.2
interface eth1 {             # tcc: allow W0105
    rate 10mbit
    default a
    class a { rate 1mbit; match tcp }
    class b { rate 1mbit; match tcp dport 80 }
}
";
    std::fs::write(dir.path().join("s.shape"), src).unwrap();
    let out = tcc_in(dir.path(), &["check", "--format", "json", "s.shape"], None);
    let d = json(&out);
    let codes: Vec<(String, u64)> = d["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["span"]["line"].as_u64().unwrap(),
            )
        })
        .collect();
    // Line 1 is silenced, line 2 is not; W0105 inside the block is silenced.
    assert_eq!(codes, vec![("W0104".to_string(), 2)], "{d:#}");
    // Without the block suppression the shadowed match is reported.
    std::fs::write(
        dir.path().join("t.shape"),
        src.replace("# tcc: allow W0105", ""),
    )
    .unwrap();
    let d = json(&tcc_in(
        dir.path(),
        &["check", "--format", "json", "t.shape"],
        None,
    ));
    assert!(
        d["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "W0105"),
        "{d:#}"
    );
    // Errors cannot be suppressed, and a malformed directive is reported.
    std::fs::write(
        dir.path().join("u.shape"),
        "interface eth1 { rate 1mbit; default a; class a { rate 2mbit } } # tcc: allow E0201\n",
    )
    .unwrap();
    let out = tcc_in(dir.path(), &["check", "u.shape"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("E0201 is an error and cannot be allowed"),
        "{}",
        text(&out.stderr)
    );
}

/// A suppression comment tcc cannot follow is a diagnostic (W0107) like any other: it goes
/// through the chosen format, not around it, and lint levels apply to it.
#[test]
fn bad_suppressions_follow_the_format() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("b.shape"),
        "interface eth1 { rate 10mbit; default a\n  class a { rate 1mbit } # tcc: allow W0401\n}\n",
    )
    .unwrap();
    let out = tcc_in(dir.path(), &["check", "--format", "json", "b.shape"], None);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "");
    let d = json(&out);
    let found: Vec<(&str, &str, u64)> = d["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap(),
                d["message"].as_str().unwrap(),
                d["span"]["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [("W0107", "unknown diagnostic code `W0401` in suppression", 2)],
        "{d:#}"
    );
    let out = tcc_in(
        dir.path(),
        &["check", "--format", "github", "b.shape"],
        None,
    );
    assert!(text(&out.stdout).contains("W0107"), "{}", text(&out.stdout));
    let out = tcc_in(
        dir.path(),
        &["check", "--deny", "warnings", "b.shape"],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let out = tcc_in(dir.path(), &["check", "--allow", "W0107", "b.shape"], None);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn shell_scripts_are_checked_through_the_explain_reader() {
    let dir = tempfile::tempdir().unwrap();
    let script = "tc qdisc add dev eth0 root handle 1: htb default 10\n\
                  tc class add dev eth0 parent 1: classid 1:1 htb rate 100mbit\n\
                  tc class add dev eth0 parent 1:1 classid 1:10 htb rate 60mbit\n\
                  tc class add dev eth0 parent 1:1 classid 1:20 htb rate 60mbit\n";
    std::fs::write(dir.path().join("a.sh"), script).unwrap();
    let out = tcc_in(dir.path(), &["check", "--format", "json", "a.sh"], None);
    let d = json(&out);
    assert!(
        d["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "E0201" && d["file"] == "a.sh"),
        "{d:#}"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn explain_code_prints_the_explanation_and_the_example() {
    let out = tcc(&["explain-code", "e0201"]);
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    assert!(
        s.starts_with("E0201: children's rates exceed the parent's rate (error)\n"),
        "{s}"
    );
    assert!(
        s.contains("Example (corpus/invalid/E0201-oversubscribed.shape):"),
        "{s}"
    );
    assert!(s.contains("        class video { rate 60mbit }"), "{s}");
    assert!(s.contains("error[E0201]"), "{s}");
    assert_eq!(tcc(&["check", "--explain", "E0201"]).stdout, out.stdout);
    let out = tcc(&["explain-code", "E9999"]);
    assert_eq!(out.status.code(), Some(2));
    let list = text(&tcc(&["explain-code", "--list"]).stdout);
    for c in tcc::diagnostic::Code::ALL {
        assert!(list.contains(c.as_str()), "{c}");
        // Every code has an example embedded.
        assert!(tcc::cli::tools::example(*c).is_some(), "no example for {c}");
    }
}

#[test]
fn fmt_check_and_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let messy = "interface  eth1{\nrate 10mbit # r\n  default a\n\n\n  class a{rate 1mbit}\n}\n";
    let p = dir.path().join("m.shape");
    std::fs::write(&p, messy).unwrap();
    let out = tcc_in(dir.path(), &["fmt", "--check", "."], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("m.shape: not formatted"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        messy,
        "--check must not write"
    );
    assert_eq!(
        tcc_in(dir.path(), &["fmt", "m.shape"], None).status.code(),
        Some(0)
    );
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "interface eth1 {\n    rate 10mbit # r\n    default a\n\n    class a { rate 1mbit }\n}\n"
    );
    assert_eq!(
        tcc_in(dir.path(), &["fmt", "--check", "m.shape"], None)
            .status
            .code(),
        Some(0)
    );
    // Standard input to standard output; a syntax error is refused with its place.
    let out = tcc_in(dir.path(), &["fmt", "-"], Some("let  x =  1\n"));
    assert_eq!(text(&out.stdout), "let x = 1\n");
    let out = tcc_in(dir.path(), &["fmt", "-"], Some("interface {\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("error[E0001]"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn graph_svg_and_dot() {
    let out = tcc(&["graph", "corpus/valid/seed-example-1.shape"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let svg = text(&out.stdout);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    for s in [
        "transfer",
        "bulk",
        "1:11",
        "1:12",
        "rate 200mbit · ceil 200mbit",
        "tcp dst 1.2.3.4",
        "default",
    ] {
        assert!(svg.contains(s), "{s} missing");
    }
    assert!(
        !svg.contains("<script") && !svg.contains("href"),
        "self-contained"
    );
    let out = tcc(&[
        "graph",
        "--format",
        "dot",
        "corpus/valid/seed-example-1.shape",
    ]);
    let dot = text(&out.stdout);
    assert!(dot.starts_with("digraph tcc {"), "{dot}");
    assert!(dot.contains("c0_0 -> c0_1;"), "{dot}");
    // Errors are reported, not drawn.
    let out = tcc(&["graph", "corpus/invalid/E0201-oversubscribed.shape"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn completions_and_man_pages_come_from_the_cli_definition() {
    for shell in ["bash", "zsh", "fish"] {
        let out = tcc(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0));
        let s = text(&out.stdout);
        for word in ["explain-code", "format", "sarif", "completions"] {
            assert!(s.contains(word), "{shell}: {word}");
        }
    }
    let bash = tcc(&["completions", "bash"]).stdout;
    let mut child = Command::new("bash")
        .args(["-n"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bash).unwrap();
    assert!(
        child.wait().unwrap().success(),
        "bash -n on the completion script"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = tcc_in(dir.path(), &["man", "-o", "pages"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let names: Vec<PathBuf> = text(&out.stdout).lines().map(PathBuf::from).collect();
    assert!(names.len() >= 8, "{names:?}");
    let main = std::fs::read_to_string(dir.path().join("pages/tcc.1")).unwrap();
    assert!(main.contains(".TH tcc 1"), "{main}");
    let check = std::fs::read_to_string(dir.path().join("pages/tcc-check.1")).unwrap();
    assert!(check.contains("sarif"), "{check}");
}

#[test]
fn help_shows_examples_and_color_is_honoured() {
    let s = text(&tcc(&["--help"]).stdout);
    assert!(
        s.contains("Examples:") && s.contains("tcc check configs/ --format github"),
        "{s}"
    );
    let s = text(&tcc(&["check", "--help"]).stdout);
    assert!(s.contains("tcc check - < site.shape"), "{s}");
    let f = "corpus/invalid/E0201-oversubscribed.shape";
    let always = tcc(&["--color", "always", "check", f]);
    assert!(
        text(&always.stderr).contains("\u{1b}["),
        "--color always colours"
    );
    let never = tcc(&["--color", "never", "check", f]);
    assert!(!text(&never.stderr).contains("\u{1b}["));
    // NO_COLOR (set by tcc_in) with auto: no colour even though we ask auto explicitly.
    let auto = tcc(&["--color", "auto", "check", f]);
    assert!(!text(&auto.stderr).contains("\u{1b}["));
}

/// `--format json` lists every `expect` line with its outcome: the met one and the failed one
/// (reaching `web` through the match on line 6), and the E0401 diagnostic for the latter.
#[test]
fn json_lists_every_expectation_with_its_outcome() {
    let out = tcc(&[
        "check",
        "--format",
        "json",
        "corpus/invalid/E0401-expectation-failed.shape",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = v["expectations"].as_array().unwrap();
    assert_eq!(e.len(), 2, "{v}");
    assert_eq!(e[0]["packet"], "tcp src 10.0.0.7 dport 22");
    assert_eq!(
        (&e[0]["expected"], &e[0]["reached"]),
        (&"admin".into(), &"admin".into())
    );
    assert_eq!(e[0]["passed"], true);
    assert_eq!(e[0]["decided_by"]["line"], 7);
    assert_eq!(e[1]["packet"], "tcp src 10.0.0.7 dport 443");
    assert_eq!(
        (&e[1]["expected"], &e[1]["reached"]),
        (&"admin".into(), &"web".into())
    );
    assert_eq!(e[1]["passed"], false);
    assert_eq!(e[1]["decided_by"]["line"], 6);
    assert_eq!(e[1]["span"]["line"], 11);
    assert_eq!(v["diagnostics"][0]["code"], "E0401");
    assert_eq!(v["diagnostics"][0]["labels"][0]["span"]["line"], 6);
    // A file without expectations has an empty list.
    let out = tcc(&["check", "--format", "json", "corpus/valid/per-host.shape"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["expectations"], serde_json::json!([]));
}
