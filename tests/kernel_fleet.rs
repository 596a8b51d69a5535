//! A site rolled out with real Ansible over real SSH: three hosts, each a network namespace
//! (`Bed::single`) reached from the test's namespace over its own veth and address, each with
//! its own `sshd` (Debian's openssh-server, key authentication with a key this test makes).
//! `tcc compile --emit-dir` writes the inventory and playbook; `ansible-playbook` (ansible-core
//! from PyPI in the virtualenv `.ci/run` makes, or `$TCC_ANSIBLE_PLAYBOOK`) runs them.
//!
//! Checked: the playbook applies every host's tree (read back per namespace), a second run
//! changes nothing (PLAY RECAP `changed=0`), `--check` after an edit reports the pending change
//! per host and changes nothing, and a host that fails stops the rollout with the hosts after
//! it untouched. Also `tcc plan` without `--host` picks the host by the machine's addresses.

mod common;

use common::kernel::{need_root, parse_tc_classes, run, Bed};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// Where `.ci/run` installs ansible-core.
const VENV_PLAYBOOK: &str = "/opt/tcc-ansible/bin/ansible-playbook";
const SSHD: &str = "/usr/sbin/sshd";

fn playbook_bin() -> Option<PathBuf> {
    let p = std::env::var_os("TCC_ANSIBLE_PLAYBOOK")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(VENV_PLAYBOOK));
    p.exists().then_some(p)
}

/// The tools this test needs, or a loud skip (a failure under `CI=true`).
fn need_tools() -> Option<PathBuf> {
    let pb = playbook_bin();
    let have_sshd = Path::new(SSHD).exists();
    if pb.is_none() || !have_sshd {
        let msg = format!(
            "kernel_fleet needs ansible-playbook ({VENV_PLAYBOOK} or $TCC_ANSIBLE_PLAYBOOK: {}) and {SSHD} ({}): .ci/run installs both",
            if pb.is_some() { "found" } else { "MISSING" },
            if have_sshd { "found" } else { "MISSING" },
        );
        assert!(
            !common::kernel::ci(),
            "{msg}; a skip under CI=true is a failure"
        );
        eprintln!("SKIPPED: {msg}");
        return None;
    }
    pb
}

/// Three hosts with sshd, cleaned up on drop (sshds first, then the namespaces).
struct Fleet {
    dir: tempfile::TempDir,
    beds: Vec<Bed>,
    addrs: Vec<String>,
    sshds: Vec<Child>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for c in &mut self.sshds {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn keygen(path: &Path) {
    run(&[
        "ssh-keygen",
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-f",
        path.to_str().unwrap(),
    ]);
}

impl Fleet {
    fn new(n: usize) -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id");
        keygen(&key);
        std::fs::copy(
            dir.path().join("id.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        // One /30 per host in 10.213.P.0/24, P from the process id (two runs rarely collide).
        let p = std::process::id() % 250 + 1;
        let mut fleet = Fleet {
            dir,
            beds: vec![],
            addrs: vec![],
            sshds: vec![],
        };
        for i in 0..n {
            let bed = Bed::single(&["eth1"]);
            let root_addr = format!("10.213.{p}.{}", 4 * i + 1);
            let addr = format!("10.213.{p}.{}", 4 * i + 2);
            let root_dev = format!("tf{}h{i}", std::process::id() % 100_000);
            bed.link_to_root(&root_dev, &root_addr, "mgmt0", &addr);
            let d = fleet.dir.path();
            let hostkey = d.join(format!("hostkey{i}"));
            keygen(&hostkey);
            let conf = d.join(format!("sshd{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "ListenAddress {addr}\nPort 22\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\nPermitRootLogin yes\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n",
                    hostkey.display(),
                    d.join(format!("sshd{i}.pid")).display(),
                    d.join("authorized_keys").display()
                ),
            )
            .unwrap();
            let child = Command::new("ip")
                .args(["netns", "exec", &bed.a, SSHD, "-D", "-e", "-f"])
                .arg(&conf)
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(d.join(format!("sshd{i}.log"))).unwrap())
                .spawn()
                .unwrap();
            fleet.sshds.push(child);
            fleet.beds.push(bed);
            fleet.addrs.push(addr);
        }
        for a in &fleet.addrs {
            let sa: std::net::SocketAddr = format!("{a}:22").parse().unwrap();
            let up = (0..100).any(|_| {
                std::net::TcpStream::connect_timeout(&sa, std::time::Duration::from_millis(100))
                    .is_ok()
                    || {
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        false
                    }
            });
            assert!(up, "sshd on {a} did not come up");
        }
        fleet
    }

    /// The site file: every host takes the template; `limit` is each host's share of `wan`.
    fn site(&self, limit: &str) -> String {
        let mut s = format!(
            "path wan {{ rate 300mbit; rtt 40ms }}\n\n\
             template node {{\n    interface eth1 {{\n        rate 1gbit\n        default bulk\n        \
             class transfer {{ rate {limit}; ceil {limit}; path wan; match tcp dst 198.51.100.4 }}\n        \
             class bulk {{ rate 500mbit }}\n    }}\n}}\n\n"
        );
        for (i, a) in self.addrs.iter().enumerate() {
            s += &format!("host h{i} : node {{ address {a} }}\n");
        }
        s
    }

    /// Write the site file and `tcc compile --emit-dir out/`.
    fn compile(&self, limit: &str) -> PathBuf {
        let site = self.dir.path().join("site.shape");
        std::fs::write(&site, self.site(limit)).unwrap();
        let out = self.dir.path().join("out");
        let o = Command::new(env!("CARGO_BIN_EXE_tcc"))
            .args(["compile", site.to_str().unwrap(), "--emit-dir"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    }

    /// Run the playbook (with `extra` flags such as `--check`): status and output.
    fn playbook(&self, pb: &Path, out: &Path, extra: &[&str]) -> (bool, String) {
        let d = self.dir.path();
        let o = Command::new(pb)
            .arg("-i")
            .arg(out.join("inventory.ini"))
            .arg(out.join("playbook.yml"))
            .args(["-e", &format!("tcc_path={}", env!("CARGO_BIN_EXE_tcc"))])
            .args(extra)
            .env("ANSIBLE_HOST_KEY_CHECKING", "False")
            .env(
                "ANSIBLE_SSH_ARGS",
                "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o ControlMaster=no",
            )
            .env("ANSIBLE_PRIVATE_KEY_FILE", d.join("id"))
            .env("ANSIBLE_REMOTE_USER", "root")
            .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
            .env("ANSIBLE_LOCAL_TEMP", d.join("ansible-local"))
            .env("ANSIBLE_REMOTE_TMP", d.join("ansible-remote"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_CONFIG", d.join("no-ansible.cfg"))
            .env("LC_ALL", "C.UTF-8")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.success(), text)
    }

    /// The rate of class 1:10 (`transfer`, the first auto id) on host `i`'s eth1, if any.
    fn transfer_rate(&self, i: usize) -> Option<u64> {
        let text = self.beds[i].a_run(&["tc", "class", "show", "dev", "eth1"]);
        parse_tc_classes(&text).get("1:10").map(|c| c.rate)
    }
}

/// `changed=N` per host from the PLAY RECAP.
fn recap(text: &str) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    let Some(at) = text.find("PLAY RECAP") else {
        return out;
    };
    for line in text[at..].lines().skip(1) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() > 2 && words[1] == ":" {
            if let Some(c) = words.iter().find_map(|w| w.strip_prefix("changed=")) {
                out.insert(words[0].to_string(), c.parse().unwrap());
            }
        }
    }
    out
}

#[test]
fn ansible_rolls_a_site_out_host_by_host() {
    if !need_root() {
        return;
    }
    let Some(pb) = need_tools() else { return };
    let fleet = Fleet::new(3);
    let hosts = ["h0", "h1", "h2"];

    // First run: every host gets its tree.
    let out = fleet.compile("100mbit");
    let (ok, text) = fleet.playbook(&pb, &out, &[]);
    assert!(ok, "first run failed:\n{text}");
    let r = recap(&text);
    for h in hosts {
        assert!(
            r.get(h).copied().unwrap_or(0) > 0,
            "{h} not changed:\n{text}"
        );
    }
    for i in 0..3 {
        assert_eq!(fleet.transfer_rate(i), Some(100_000_000), "host {i}");
    }

    // Second run: nothing to change anywhere.
    let (ok, text) = fleet.playbook(&pb, &out, &[]);
    assert!(ok, "second run failed:\n{text}");
    let r = recap(&text);
    assert_eq!(r.len(), 3, "{text}");
    assert!(
        r.values().all(|&c| c == 0),
        "second run changed something:\n{text}"
    );

    // The site is edited: check mode reports the pending change per host, changes nothing.
    let out = fleet.compile("90mbit");
    let (ok, text) = fleet.playbook(&pb, &out, &["--check"]);
    assert!(ok, "check run failed:\n{text}");
    let r = recap(&text);
    for h in hosts {
        assert!(
            r.get(h).copied().unwrap_or(0) > 0,
            "{h}: no pending change reported:\n{text}"
        );
    }
    assert!(text.contains("1:10"), "the change is not shown:\n{text}");
    for i in 0..3 {
        assert_eq!(
            fleet.transfer_rate(i),
            Some(100_000_000),
            "check mode changed host {i}"
        );
    }

    // h1 fails (its shaped interface is gone): h0 is applied, the rollout stops, h2 untouched.
    fleet.beds[1].ip(&["link", "del", "eth1"]);
    let (ok, text) = fleet.playbook(&pb, &out, &[]);
    assert!(!ok, "the run with a failing host succeeded:\n{text}");
    assert_eq!(fleet.transfer_rate(0), Some(90_000_000), "{text}");
    assert_eq!(
        fleet.transfer_rate(2),
        Some(100_000_000),
        "h2 was changed after h1 failed:\n{text}"
    );
    let r = recap(&text);
    assert_eq!(r.get("h2").copied().unwrap_or(0), 0, "{text}");
}

/// Without `--host`, `tcc plan` and `tcc apply` use the host whose address is the machine's
/// own; a machine with no host's address gets an error naming the hosts.
#[test]
fn the_host_is_picked_by_the_machines_address() {
    if !need_root() {
        return;
    }
    let bed = Bed::single(&["eth1"]);
    bed.ip(&["addr", "add", "10.214.0.2/24", "dev", "eth1"]);
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.shape");
    std::fs::write(
        &site,
        "template node {\n    interface eth1 {\n        rate 1gbit\n        default bulk\n        class bulk { rate 500mbit }\n    }\n}\n\nhost one : node { address 10.214.0.1 }\nhost two : node { address 10.214.0.2 }\n",
    )
    .unwrap();
    let s = site.to_str().unwrap();
    let o = bed.tcc(&["apply", s]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = bed.tcc(&["plan", s]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let classes = parse_tc_classes(&bed.a_run(&["tc", "class", "show", "dev", "eth1"]));
    assert_eq!(classes["1:10"].rate, 500_000_000);
    // --host names another host: its plan is compared (same tree here: nothing to change).
    let o = bed.tcc(&["plan", s, "--host", "one"]);
    assert_eq!(o.status.code(), Some(0));
    let o = bed.tcc(&["plan", s, "--host", "three"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no host `three`"));
    // No host has this machine's address: a clear error, nothing applied.
    bed.ip(&["addr", "del", "10.214.0.2/24", "dev", "eth1"]);
    let o = bed.tcc(&["apply", s]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no host of") && err.contains("one (10.214.0.1)"),
        "{err}"
    );
    // Two hosts' addresses: ambiguous, refused.
    bed.ip(&["addr", "add", "10.214.0.1/24", "dev", "eth1"]);
    bed.ip(&["addr", "add", "10.214.0.2/24", "dev", "eth1"]);
    let o = bed.tcc(&["plan", s]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("several hosts"));
    let o = bed.tcc(&["teardown", s, "--host", "two"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
