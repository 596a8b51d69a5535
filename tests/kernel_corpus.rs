//! Every corpus example, compiled to `sh` (iptables and, where expressible, u32), applied to real
//! interfaces named as in the plan inside a throwaway network namespace, read back and compared
//! with the plan class by class (parent, rate, ceil, prio, quantum) and qdisc by qdisc (handle,
//! default, r2q); then re-applied (same state) and torn down (nothing of tcc left).
//!
//! Needs root: elsewhere it prints a visible skip, and under `CI=true` a skip is a failure.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use tcc::emit::{self, Classifier, ShOptions};
use tcc::plan::{Interface, Plan};

fn need_root() -> bool {
    let uid = Command::new("id").arg("-u").output().expect("id -u");
    if String::from_utf8_lossy(&uid.stdout).trim() == "0" {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "kernel tests need root, and a skip under CI=true is a failure"
    );
    eprintln!("skipped: kernel_corpus needs root");
    false
}

fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace holding one veth pair per interface of the plan; deleted on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str, plan: &Plan) -> Netns {
        let ns = Netns(format!("tcc-kc-{}-{tag}", std::process::id()));
        run(&["ip", "netns", "add", &ns.0]);
        for (i, iface) in plan.interfaces.iter().enumerate() {
            let peer = format!("tccpeer{i}");
            ns.run(&[
                "ip",
                "link",
                "add",
                &iface.name,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
            ]);
            ns.run(&["ip", "link", "set", &iface.name, "up"]);
        }
        ns
    }

    fn run(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", self.0.as_str()];
        full.extend_from_slice(args);
        run(&full)
    }

    fn apply(&self, script: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tcc.sh");
        std::fs::write(&path, script).unwrap();
        self.run(&["sh", path.to_str().unwrap()]);
    }

    /// Everything the scripts may change, without counters.
    fn state(&self, plan: &Plan) -> String {
        let mut s = String::new();
        for iface in &plan.interfaces {
            s += &self.run(&["tc", "-d", "class", "show", "dev", &iface.name]);
            s += &self.run(&["tc", "qdisc", "show", "dev", &iface.name]);
            s += &self.run(&["tc", "filter", "show", "dev", &iface.name]);
        }
        for tool in ["iptables-save", "ip6tables-save"] {
            for line in self
                .run(&[tool, "-t", "mangle"])
                .lines()
                .filter(|l| !l.starts_with('#'))
            {
                s += line.split(" [").next().unwrap();
                s.push('\n');
            }
        }
        s
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// `70Mbit`, `1Gbit`, `1500Kbit`, `12345bit` -> bits per second.
fn parse_rate(s: &str) -> u64 {
    let end = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let mult = match &s[end..] {
        "bit" => 1e0,
        "Kbit" => 1e3,
        "Mbit" => 1e6,
        "Gbit" => 1e9,
        "Tbit" => 1e12,
        u => panic!("unknown unit {u:?} in {s:?}"),
    };
    (s[..end].parse::<f64>().unwrap() * mult).round() as u64
}

/// classid -> "parent P prio N quantum Q rate R ceil C" from `tc -d class show`.
fn live_classes(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("class htb")) {
        let w: Vec<&str> = line.split_whitespace().collect();
        let after = |k: &str| {
            w.iter()
                .position(|x| *x == k)
                .map(|i| w[i + 1])
                .unwrap_or("-")
        };
        let parent = if w.contains(&"root") {
            "root"
        } else {
            after("parent")
        };
        out.insert(
            w[2].to_string(),
            format!(
                "parent {parent} prio {} quantum {} rate {} ceil {}",
                after("prio"),
                after("quantum"),
                parse_rate(after("rate")),
                parse_rate(after("ceil"))
            ),
        );
    }
    out
}

fn planned_classes(iface: &Interface) -> BTreeMap<String, String> {
    let leaves = iface.leaves();
    (0..iface.classes.len())
        .map(|i| {
            let c = &iface.classes[i];
            let parent = c.parent.map_or("root".to_string(), |p| iface.classid(p));
            let r2q_quantum = (c.rate / 8 / iface.r2q as u64).clamp(1000, 200_000);
            let quantum = c.quantum.unwrap_or(r2q_quantum);
            // The kernel shows prio and quantum for leaves only.
            let (prio, quantum) = if leaves[i] {
                (c.prio.unwrap_or(0).to_string(), quantum.to_string())
            } else {
                ("-".into(), "-".into())
            };
            (
                iface.classid(i),
                format!(
                    "parent {parent} prio {prio} quantum {quantum} rate {} ceil {}",
                    c.rate, c.ceil
                ),
            )
        })
        .collect()
}

fn assert_matches_plan(ns: &Netns, plan: &Plan, what: &str) {
    for iface in &plan.interfaces {
        let live = live_classes(&ns.run(&["tc", "-d", "class", "show", "dev", &iface.name]));
        assert_eq!(
            live,
            planned_classes(iface),
            "{what}: classes of {}",
            iface.name
        );
        let q: serde_json::Value =
            serde_json::from_str(&ns.run(&["tc", "-j", "qdisc", "show", "dev", &iface.name]))
                .unwrap();
        let root = q
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["root"] == true)
            .expect("a root qdisc");
        assert_eq!(root["kind"], "htb", "{what}");
        assert_eq!(root["handle"], format!("{:x}:", iface.handle), "{what}");
        let default = iface
            .default
            .map(|d| format!("{:#x}", iface.classes[d].minor));
        assert_eq!(
            root["options"]["default"].as_str().map(String::from),
            default,
            "{what}: default of {}",
            iface.name
        );
        assert_eq!(root["options"]["r2q"], iface.r2q, "{what}: r2q");
    }
}

fn corpus() -> Vec<(String, Plan)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/valid");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "shape"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let (plan, diags) = tcc::analyze(0, &text);
            assert!(!diags.has_errors(), "{}", p.display());
            (p.file_stem().unwrap().to_string_lossy().into_owned(), plan)
        })
        .collect()
}

#[test]
fn every_corpus_example_applies_reads_back_reapplies_and_tears_down() {
    if !need_root() {
        return;
    }
    for (name, plan) in corpus() {
        let mut classifiers = vec![Classifier::Iptables];
        if emit::u32_expressible(&plan).items.is_empty() {
            classifiers.push(Classifier::U32);
        }
        for classifier in classifiers {
            let what = format!("{name} ({classifier:?})");
            let opts = |teardown| ShOptions {
                classifier,
                teardown,
                source_name: name.clone(),
            };
            let ns = Netns::new(&format!("{classifier:?}").to_lowercase(), &plan);
            let apply = emit::sh(&plan, &opts(false));
            ns.apply(&apply);
            assert_matches_plan(&ns, &plan, &what);
            match classifier {
                Classifier::Iptables => {
                    let rules = ns.run(&["iptables-save", "-t", "mangle"]);
                    let classify = rules.lines().filter(|l| l.contains("-j CLASSIFY")).count();
                    let v4_filters = plan
                        .interfaces
                        .iter()
                        .flat_map(|i| &i.filters)
                        .filter(|f| f.m.family() != tcc::plan::Family::V6)
                        .count();
                    assert!(
                        classify >= v4_filters,
                        "{what}: {classify} CLASSIFY rules for {v4_filters} filters:\n{rules}"
                    );
                }
                Classifier::U32 => {
                    for iface in &plan.interfaces {
                        let filters = ns.run(&["tc", "filter", "show", "dev", &iface.name]);
                        for f in &iface.filters {
                            let flowid = format!("flowid {}", iface.classid(f.class));
                            assert!(
                                filters.contains(&flowid),
                                "{what}: no u32 filter with {flowid}:\n{filters}"
                            );
                        }
                    }
                }
            }
            let first = ns.state(&plan);
            ns.apply(&apply);
            assert_eq!(
                ns.state(&plan),
                first,
                "{what}: re-applying changed the state"
            );
            ns.apply(&emit::sh(&plan, &opts(true)));
            let after = ns.state(&plan);
            assert!(
                !after.contains("htb") && !after.contains("tcc"),
                "{what}: teardown left:\n{after}"
            );
        }
    }
}

/// More u32 filters than one-priority-per-filter allows (the kernel runs out of u32 hash tables
/// after 2046): the sh script shares priorities, so 2100 host filters apply and all are there.
#[test]
fn thousands_of_u32_filters_apply() {
    if !need_root() {
        return;
    }
    let n = 2100;
    let mut src = String::from(
        "interface eth0 {\n rate 10gbit\n default other\n class other { rate 1mbit }\n",
    );
    for i in 0..n {
        src += &format!(
            " class \"c{i}\" {{ rate 1mbit; match udp dst 10.{}.{}.1 }}\n",
            i / 256,
            i % 256
        );
    }
    src += "}\n";
    let (plan, diags) = tcc::analyze(0, &src);
    assert!(!diags.has_errors());
    let ns = Netns::new("many", &plan);
    ns.apply(&emit::sh(
        &plan,
        &ShOptions {
            classifier: Classifier::U32,
            teardown: false,
            source_name: "many".into(),
        },
    ));
    let filters = ns.run(&["tc", "filter", "show", "dev", "eth0"]);
    assert_eq!(
        filters.matches("flowid").count(),
        n,
        "every filter is in the kernel"
    );
}
