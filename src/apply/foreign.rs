//! Foreign state that changes how an interface's packets are classified, for `tcc plan` and
//! `tcc apply`: state tcc does not own (`dialect::owned`) and leaves alone, but which decides
//! classes in place of, or besides, tcc's own classification. Reported as warnings (W0201..3)
//! with what each does to traffic; nothing here changes anything.
//!
//! HTB takes a packet's class from its priority (`skb->priority`, set by iptables `CLASSIFY`
//! and nft `meta priority set`) when it names a leaf of the qdisc, before it consults any tc
//! filter; the last netfilter rule that sets the priority wins. tcc's own rules run at the
//! postrouting hook with the mangle priority (-150), in the iptables chain `tcc-X` or the
//! nft table `inet tcc_X`.
//!
//! Read: `iptables -S`/`ip6tables -S` of the mangle table (rules reachable from POSTROUTING,
//! FORWARD and OUTPUT that can apply to the interface: no `-o`, or `-o` naming it), `nft list
//! ruleset` (every table but tcc's and iptables-nft's own `mangle` tables, which the first scan
//! reads), and the live root qdisc.

use super::run::Classifier;
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::dialect::owned::{chains, is_tcc_root};
use std::process::{Command, Stdio};

/// Where a foreign rule runs relative to tcc's classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Before it: tcc's rules replace its class for the packets they match; the packets they
    /// do not match keep its class instead of going to the default class.
    Before,
    /// After it: it overrides tcc's class.
    After,
    /// At the same hook and priority: the kernel does not define which runs last.
    Unordered,
}

/// One piece of foreign state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Foreign {
    /// A CLASSIFY rule in a mangle chain outside tcc's.
    Classify {
        tool: &'static str,
        /// The built-in chain it is reached from, and the chain holding it.
        base: String,
        chain: String,
        /// The class it sets (`1:20`).
        class: String,
        order: Order,
    },
    /// A rule setting `meta priority` in another nftables table.
    Priority {
        table: String,
        chain: String,
        class: String,
        order: Order,
    },
    /// A root qdisc that is not tcc's, which applying replaces.
    Root { kind: String, handle: String },
    /// The host's TCP buffer maximum (`net.ipv4.tcp_wmem`/`tcp_rmem`, third field) is below the
    /// window the flows of `class` need (ceil x rtt).
    TcpBuffer {
        class: String,
        window: u64,
        sysctl: &'static str,
        max: u64,
    },
    /// A place that could hold foreign classification but could not be read (no privileges,
    /// or the tool failed): what was not checked, and the tool's words.
    Unread {
        /// `iptables`, `ip6tables` or `nft`.
        tool: &'static str,
        why: String,
    },
}

impl Foreign {
    pub fn code(&self) -> Code {
        match self {
            Foreign::Classify { .. } => Code::ForeignClassify,
            Foreign::Priority { .. } => Code::ForeignPriority,
            Foreign::Root { .. } => Code::ForeignRoot,
            Foreign::TcpBuffer { .. } => Code::TcpBufferBelowWindow,
            Foreign::Unread { tool: "nft", .. } => Code::ForeignPriority,
            Foreign::Unread { .. } => Code::ForeignClassify,
        }
    }

    /// What it does to the traffic of `iface`.
    pub fn message(&self, iface: &str) -> String {
        let effect = |order: Order, class: &str| {
            match order {
            Order::After => "after tcc's classification: it overrides tcc's classification".to_string(),
            Order::Before => format!(
                "before tcc's classification: packets tcc's rules do not match go to class {class} instead of the default class"
            ),
            Order::Unordered => format!(
                "at the same hook and priority as tcc's classification, in an order the kernel does not define: it may override tcc's classification, and packets tcc's rules do not match go to class {class} instead of the default class"
            ),
        }
        };
        match self {
            Foreign::Classify {
                tool,
                base,
                chain,
                class,
                order,
            } => {
                let place = if base == chain {
                    format!("mangle {chain}")
                } else {
                    format!("mangle chain {chain} (reached from {base})")
                };
                format!(
                    "an {tool} CLASSIFY rule in {place} sets class {class} for packets leaving {iface}, {}",
                    effect(*order, class)
                )
            }
            Foreign::Priority {
                table,
                chain,
                class,
                order,
            } => format!(
                "nft table {table} (not tcc's), chain {chain}, sets meta priority {class} for packets leaving {iface}, {}",
                effect(*order, class)
            ),
            Foreign::Root { kind, handle } => format!(
                "the root qdisc of {iface} is {kind} {handle}, not tcc's: applying replaces it, with everything attached to it, by tcc's HTB"
            ),
            Foreign::TcpBuffer {
                class,
                window,
                sysctl,
                max,
            } => format!(
                "flows of class `{class}` need a TCP window of {} ({window} bytes), but this host's net.ipv4.{sysctl} allows at most {max} bytes: a single flow reaches about {:.0}% of the class's ceil",
                crate::plan::qdisc::human_bytes(*window),
                100.0 * *max as f64 / *window as f64
            ),
            Foreign::Unread { tool, why } => {
                let what = if *tool == "nft" {
                    "the nftables ruleset"
                } else {
                    "the mangle table"
                };
                format!(
                    "{what} could not be read with {tool} ({why}): rules there that classify packets leaving {iface} were not checked"
                )
            }
        }
    }

    /// The warning, at `span` (the interface's declaration).
    pub fn diagnostic(&self, iface: &str, span: Span) -> Diagnostic {
        let d = Diagnostic::new(self.code(), span, self.message(iface))
            .label("live state of this interface");
        match self {
            Foreign::Root { .. } => {
                d.help("`tcc teardown` and the scripts' teardowns leave a foreign root alone; remove it yourself if it should go")
            }
            Foreign::Unread { .. } => d.help("run as root (CAP_NET_ADMIN) so that tcc can read it"),
            Foreign::TcpBuffer { sysctl, window, .. } => d.help(format!(
                "raise it on the hosts whose flows cross this class: `sysctl -w net.ipv4.{sysctl}=\"4096 131072 {window}\"` (the sender's tcp_wmem, the receiver's tcp_rmem)"
            )),
            _ => d.help("remove the rule, or make it match other interfaces (`-o`/`oifname`), so that only tcc classifies this interface"),
        }
    }
}

/// The leaves of `iface` with an `rtt` whose window (ceil x rtt) is above this host's
/// net.ipv4.tcp_wmem or tcp_rmem maximum (the third field); nothing when they cannot be read.
pub fn tcp_buffers(iface: &crate::plan::Interface) -> Vec<Foreign> {
    let max = |name: &str| -> Option<u64> {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}"))
            .ok()?
            .split_whitespace()
            .nth(2)?
            .parse()
            .ok()
    };
    let mut out = vec![];
    for sysctl in ["tcp_wmem", "tcp_rmem"] {
        let Some(m) = max(sysctl) else { continue };
        for (c, leaf) in iface.classes.iter().zip(iface.leaves()) {
            let Some(rtt) = c.rtt.filter(|_| leaf) else {
                continue;
            };
            let window = crate::plan::qdisc::bdp_bytes(c.ceil, rtt);
            if m < window {
                out.push(Foreign::TcpBuffer {
                    class: iface.name_of(c),
                    window,
                    sysctl,
                    max: m,
                });
            }
        }
    }
    out
}

/// Everything foreign that changes the classification of `iface`, whose tcc root has major
/// `major`, for `classifier`. `root`: the live root qdisc (kind, handle), `None` when the
/// kernel's default.
pub fn scan(
    iface: &str,
    major: u16,
    classifier: Classifier,
    root: Option<(&str, u32)>,
) -> Vec<Foreign> {
    let mut out = Vec::new();
    for tool in super::xt::TOOLS {
        let Ok(o) = Command::new(tool)
            .args(["-w", "5", "-t", "mangle", "-S"])
            .stdin(Stdio::null())
            .output()
        else {
            continue;
        };
        if o.status.success() {
            out.extend(classify_rules(
                tool,
                &String::from_utf8_lossy(&o.stdout),
                iface,
                major,
                classifier,
            ));
        } else {
            out.push(unread(tool, &o.stderr));
        }
    }
    if let Ok(o) = Command::new("nft")
        .args(["list", "ruleset"])
        .stdin(Stdio::null())
        .output()
    {
        if o.status.success() {
            out.extend(priority_rules(
                &String::from_utf8_lossy(&o.stdout),
                iface,
                major,
                classifier,
            ));
        } else {
            out.push(unread("nft", &o.stderr));
        }
    }
    if let Some((kind, handle)) = root {
        if handle != 0 && !is_tcc_root(kind, (handle >> 16) as u16, Some(major)) {
            out.push(Foreign::Root {
                kind: kind.to_string(),
                handle: super::diff::fmt_handle(handle),
            });
        }
    }
    out
}

/// A tool that ran and failed: what it said (its first line), so the warning can say why.
/// (A tool that is not installed is skipped: nothing can have been written with it.)
fn unread(tool: &'static str, stderr: &[u8]) -> Foreign {
    let text = String::from_utf8_lossy(stderr);
    let why = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("it failed without a message")
        .to_string();
    Foreign::Unread { tool, why }
}

/// `0001:0014` or `1:20` as tc writes it (`1:20`), with its major; `None` when unreadable.
fn class_of(s: &str) -> Option<(u16, String)> {
    let (a, b) = s.split_once(':')?;
    let a = u16::from_str_radix(a, 16).ok()?;
    let b = u16::from_str_radix(b, 16).ok()?;
    Some((a, format!("{a:x}:{b:x}")))
}

/// Whether an interface pattern (`eth0`, `eth+` in iptables, `eth*` in nft) names `iface`.
fn names(pattern: &str, wildcard: char, iface: &str) -> bool {
    match pattern.strip_suffix(wildcard) {
        Some(p) => iface.starts_with(p),
        None => pattern == iface,
    }
}

/// One `-A` line: its chain, whether it can apply to packets leaving `iface` (its `-o`), its
/// target and the class a CLASSIFY sets.
struct XtRule {
    chain: String,
    applies: bool,
    target: Option<String>,
    class: Option<String>,
}

fn xt_rule(line: &str, iface: &str) -> Option<XtRule> {
    let w: Vec<&str> = line.split_whitespace().collect();
    if w.first() != Some(&"-A") || w.len() < 2 {
        return None;
    }
    let mut r = XtRule {
        chain: w[1].to_string(),
        applies: true,
        target: None,
        class: None,
    };
    for i in 2..w.len() {
        let next = w.get(i + 1).copied().unwrap_or("");
        match w[i] {
            "-o" | "--out-interface" => {
                let neg = i > 0 && w[i - 1] == "!";
                if names(next, '+', iface) == neg {
                    r.applies = false;
                }
            }
            "-j" | "--jump" | "-g" | "--goto" => r.target = Some(next.to_string()),
            "--set-class" => r.class = Some(next.to_string()),
            _ => {}
        }
    }
    Some(r)
}

/// The CLASSIFY rules of one tool's `-t mangle -S` listing that can set the class of packets
/// leaving `iface` into tcc's qdisc (major `major`).
pub fn classify_rules(
    tool: &'static str,
    listing: &str,
    iface: &str,
    major: u16,
    classifier: Classifier,
) -> Vec<Foreign> {
    let rules: Vec<XtRule> = listing.lines().filter_map(|l| xt_rule(l, iface)).collect();
    let own = chains(iface);
    // The position of tcc's jump in POSTROUTING, if any.
    let tcc_jump = rules
        .iter()
        .filter(|r| r.chain == "POSTROUTING")
        .position(|r| {
            r.target
                .as_deref()
                .is_some_and(|t| own.iter().any(|c| c == t))
        });
    let mut out = Vec::new();
    for base in ["FORWARD", "OUTPUT", "POSTROUTING"] {
        // Depth-first from the base chain; `top`: the position of the base chain's rule the
        // walk went through. Chains seen once are not walked again (no loops).
        let mut seen = vec![base.to_string()];
        let mut stack: Vec<(String, Option<usize>)> = vec![(base.to_string(), None)];
        while let Some((chain, top)) = stack.pop() {
            if own.contains(&chain) {
                continue;
            }
            for (k, r) in rules.iter().filter(|r| r.chain == chain).enumerate() {
                if !r.applies {
                    continue;
                }
                let top = top.or(Some(k));
                match r.target.as_deref() {
                    Some("CLASSIFY") => {
                        let Some((m, class)) = r.class.as_deref().and_then(class_of) else {
                            continue;
                        };
                        if m != major {
                            continue; // HTB ignores a class of another qdisc
                        }
                        let order = match (base, classifier) {
                            ("POSTROUTING", Classifier::Iptables) => match (top, tcc_jump) {
                                (Some(t), Some(j)) if t < j => Order::Before,
                                _ => Order::After,
                            },
                            ("POSTROUTING", Classifier::Nft) => Order::Unordered,
                            (_, Classifier::U32) => Order::After,
                            _ => Order::Before,
                        };
                        out.push(Foreign::Classify {
                            tool,
                            base: base.to_string(),
                            chain: chain.clone(),
                            class,
                            order,
                        });
                    }
                    Some(t)
                        if rules.iter().any(|x| x.chain == t) && !seen.iter().any(|s| s == t) =>
                    {
                        seen.push(t.to_string());
                        stack.push((t.to_string(), top));
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// The rules of `nft list ruleset` outside tcc's tables (and iptables-nft's `mangle`) that set
/// `meta priority` to a class of tcc's qdisc for packets that may leave `iface`.
pub fn priority_rules(
    ruleset: &str,
    iface: &str,
    major: u16,
    classifier: Classifier,
) -> Vec<Foreign> {
    let mut out = Vec::new();
    let (mut table, mut chain) = (String::new(), String::new());
    let mut skip = false;
    let mut hook: Option<(String, i32)> = None;
    for line in ruleset.lines().map(str::trim) {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.first() == Some(&"table") && w.len() >= 3 {
            table = format!("{} {}", w[1], w[2]);
            skip = (w[2] == "mangle" && (w[1] == "ip" || w[1] == "ip6"))
                || (w[1] == "inet" && w[2].starts_with("tcc_"));
            continue;
        }
        if w.first() == Some(&"chain") && w.len() >= 2 {
            chain = w[1].to_string();
            hook = None;
            continue;
        }
        if w.first() == Some(&"type") {
            let at = |k: &str| w.iter().position(|x| *x == k).and_then(|i| w.get(i + 1));
            let prio = at("priority")
                .map(|p| p.trim_end_matches(';'))
                .map(|p| match p {
                    "raw" => -300,
                    "mangle" => -150,
                    "dstnat" => -100,
                    "filter" => 0,
                    "security" => 50,
                    "srcnat" => 100,
                    n => n.parse().unwrap_or(0),
                });
            hook = at("hook").map(|h| (h.to_string(), prio.unwrap_or(0)));
            continue;
        }
        if skip {
            continue;
        }
        let Some(i) = line.find("meta priority set ") else {
            continue;
        };
        let value = line[i + "meta priority set ".len()..]
            .split_whitespace()
            .next()
            .unwrap_or("");
        let Some((m, class)) = class_of(value) else {
            continue;
        };
        if m != major {
            continue;
        }
        // `oifname "x"` for another interface: not this one's packets.
        if let Some(k) = w.iter().position(|x| *x == "oifname") {
            let (neg, pat) = match w.get(k + 1) {
                Some(&"!=") => (true, w.get(k + 2)),
                p => (false, p),
            };
            if let Some(p) = pat {
                if names(p.trim_matches('"'), '*', iface) == neg {
                    continue;
                }
            }
        }
        let order = match (&hook, classifier) {
            (_, Classifier::U32) => Order::After,
            (Some((h, p)), _) if h == "postrouting" => match p.cmp(&-150) {
                std::cmp::Ordering::Less => Order::Before,
                std::cmp::Ordering::Greater => Order::After,
                std::cmp::Ordering::Equal => Order::Unordered,
            },
            (Some(_), _) => Order::Before,
            // A regular chain, reached by a jump from somewhere: where is not read.
            (None, _) => Order::Unordered,
        };
        out.push(Foreign::Priority {
            table: table.clone(),
            chain: chain.clone(),
            class,
            order,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_rules_reachable_for_the_interface() {
        let listing = "-P POSTROUTING ACCEPT\n-N foo\n-N tcc-eth0\n\
            -A FORWARD -o eth+ -j CLASSIFY --set-class 0001:0021\n\
            -A FORWARD -o wlan0 -j CLASSIFY --set-class 0001:0022\n\
            -A POSTROUTING -o eth0 -j tcc-eth0\n\
            -A POSTROUTING -j foo\n\
            -A foo -p tcp -j CLASSIFY --set-class 0001:0020\n\
            -A foo -j CLASSIFY --set-class 0002:0020\n\
            -A tcc-eth0 -j CLASSIFY --set-class 0001:0010\n";
        let f = classify_rules("iptables", listing, "eth0", 1, Classifier::Iptables);
        let got: Vec<(String, String, Order)> = f
            .iter()
            .map(|x| match x {
                Foreign::Classify {
                    chain,
                    class,
                    order,
                    ..
                } => (chain.clone(), class.clone(), *order),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            got,
            [
                ("FORWARD".into(), "1:21".into(), Order::Before),
                ("foo".into(), "1:20".into(), Order::After),
            ]
        );
        assert!(f[1]
            .message("eth0")
            .contains("in mangle chain foo (reached from POSTROUTING) sets class 1:20 for packets leaving eth0, after tcc's classification: it overrides"));
    }

    #[test]
    fn priority_rules_of_other_tables() {
        let ruleset = "table ip mangle {\n chain foo {\n meta priority set 1:20\n }\n}\n\
            table inet tcc_eth0 {\n chain c {\n meta priority set 1:10\n }\n}\n\
            table inet other {\n chain c {\n type filter hook postrouting priority filter; policy accept;\n\
            oifname \"x\" meta priority set 1:30\n meta priority set 1:31\n oifname \"eth*\" meta priority set 1:32\n }\n}\n";
        let f = priority_rules(ruleset, "eth0", 1, Classifier::Nft);
        let classes: Vec<&str> = f
            .iter()
            .map(|x| match x {
                Foreign::Priority { class, order, .. } => {
                    assert_eq!(*order, Order::After);
                    class.as_str()
                }
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(classes, ["1:31", "1:32"]);
    }
}
