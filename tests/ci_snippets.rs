//! The commands in docs/ci.md (GitHub Actions and GitLab CI snippets) and in
//! .pre-commit-hooks.yaml, run as written with the built binary on PATH, in a directory with a
//! clean configuration and then with a broken one.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `tcc ...` commands from the YAML blocks of docs/ci.md (`- run: tcc ...` and `- tcc ...`).
fn doc_commands() -> Vec<String> {
    let doc = std::fs::read_to_string(root().join("docs/ci.md")).unwrap();
    let mut in_yaml = false;
    let mut cmds = vec![];
    for line in doc.lines() {
        if line.starts_with("```") {
            in_yaml = line == "```yaml";
            continue;
        }
        if !in_yaml {
            continue;
        }
        let l = line.trim_start().trim_start_matches("- ");
        let l = l.strip_prefix("run: ").unwrap_or(l);
        if l.starts_with("tcc ") {
            cmds.push(l.to_string());
        }
    }
    cmds
}

/// `entry` of every hook in .pre-commit-hooks.yaml.
fn hook_entries() -> Vec<String> {
    let y = std::fs::read_to_string(root().join(".pre-commit-hooks.yaml")).unwrap();
    y.lines()
        .filter_map(|l| l.trim().strip_prefix("entry: "))
        .map(|s| s.to_string())
        .collect()
}

fn sh(dir: &Path, cmd: &str) -> std::process::Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_tcc")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .args(["-c", cmd])
        .current_dir(dir)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

const CLEAN: &str = "interface eth1 {\n    rate 100mbit\n    default bulk\n\n    class web { rate 30mbit; match tcp dport 443 }\n    class bulk { rate 70mbit }\n}\n";
const BROKEN: &str = "interface eth1 {\n    rate 100mbit\n    default bulk\n    class web { rate 60mbit }\n    class bulk { rate 70mbit }\n}\n";

#[test]
fn ci_snippet_commands_pass_on_clean_and_fail_on_broken_configs() {
    let cmds = doc_commands();
    assert!(cmds.len() >= 6, "{cmds:?}");
    for cmd in &cmds {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("net")).unwrap();
        std::fs::write(dir.path().join("net/site.shape"), CLEAN).unwrap();
        let out = sh(dir.path(), cmd);
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(dir.path().join("net/site.shape"), BROKEN).unwrap();
        let out = sh(dir.path(), cmd);
        let piped_to_file = cmd.contains('>');
        if cmd.contains("fmt") {
            continue; // formatting does not judge the content
        }
        if !piped_to_file || !cmd.contains("|| true") {
            assert!(!out.status.success(), "{cmd} must fail on a broken file");
        }
        if cmd.contains("--format github") {
            let s = String::from_utf8_lossy(&out.stdout);
            assert!(
                s.lines()
                    .any(|l| l.starts_with("::error file=net/site.shape,line=5,col=18,")),
                "{s}"
            );
        }
        if cmd.contains("--format sarif") {
            let f = cmd
                .rsplit('>')
                .next()
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap();
            let log: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.path().join(f)).unwrap()).unwrap();
            let results = log["runs"][0]["results"].as_array().unwrap();
            assert!(results.iter().any(|r| r["ruleId"] == "E0201"), "{log:#}");
        }
    }
}

#[test]
fn pre_commit_hooks_run_as_pre_commit_runs_them() {
    let entries = hook_entries();
    assert_eq!(entries.len(), 2, "{entries:?}");
    for entry in &entries {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.shape"), CLEAN).unwrap();
        std::fs::write(dir.path().join("b.shape"), CLEAN.replace("    ", "  ")).unwrap();
        // pre-commit appends the staged file names.
        let out = sh(dir.path(), &format!("{entry} a.shape b.shape"));
        assert!(
            out.status.success(),
            "{entry}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if entry.contains("fmt") {
            assert_eq!(
                std::fs::read_to_string(dir.path().join("b.shape")).unwrap(),
                CLEAN
            );
        } else {
            std::fs::write(dir.path().join("b.shape"), BROKEN).unwrap();
            assert!(!sh(dir.path(), &format!("{entry} a.shape b.shape"))
                .status
                .success());
        }
    }
}
