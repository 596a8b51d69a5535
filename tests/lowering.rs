//! What the language means: each test is a small source and the plan it must lower to.

use tcc::plan::{Family, Plan, PortRange, Test};

fn plan(src: &str) -> Plan {
    let (plan, diags) = tcc::analyze(0, src);
    let errors: Vec<_> = diags
        .items
        .iter()
        .filter(|d| d.severity() == tcc::diagnostic::Severity::Error)
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect();
    assert!(errors.is_empty(), "unexpected errors: {errors:#?}");
    plan
}

fn codes(src: &str) -> Vec<String> {
    let (_, diags) = tcc::analyze(0, src);
    diags.items.iter().map(|d| d.code.to_string()).collect()
}

/// (name, classid, parent classid, rate, ceil) for every class.
fn tree(p: &Plan) -> Vec<(String, String, String, u64, u64)> {
    let i = &p.interfaces[0];
    (0..i.classes.len())
        .map(|k| {
            let c = &i.classes[k];
            let parent = c
                .parent
                .map_or(format!("{:x}:", i.handle), |p| i.classid(p));
            (c.name.clone(), i.classid(k), parent, c.rate, c.ceil)
        })
        .collect()
}

#[test]
fn interface_rate_becomes_class_1_1_and_ids_count_up_from_0x10() {
    let p = plan("interface eth1 { rate 1gbit; default b\n class a { rate 200mbit }\n class b { rate 700mbit; ceil 1gbit } }");
    assert_eq!(
        tree(&p),
        vec![
            (
                "eth1".into(),
                "1:1".into(),
                "1:".into(),
                1_000_000_000,
                1_000_000_000
            ),
            (
                "a".into(),
                "1:10".into(),
                "1:1".into(),
                200_000_000,
                200_000_000
            ),
            (
                "b".into(),
                "1:11".into(),
                "1:1".into(),
                700_000_000,
                1_000_000_000
            ),
        ]
    );
    assert_eq!(p.interfaces[0].default, Some(2));
}

#[test]
fn explicit_classids_are_hex_and_never_reused_by_automatic_ones() {
    let p = plan("interface e { default a\n class a { classid 1:10; rate 1mbit }\n class b { rate 1mbit }\n class c { classid 1:1a; rate 1mbit } }");
    let ids: Vec<String> = tree(&p).into_iter().map(|t| t.1).collect();
    assert_eq!(ids, ["1:10", "1:11", "1:1a"]);
    assert_eq!(p.interfaces[0].classes[2].minor, 0x1a);
}

#[test]
fn percentages_are_of_the_parent_rate_and_ceil_percentages_of_the_parent_ceil() {
    let p = plan("interface e { rate 100mbit; ceil 200mbit; default x\n class web { rate 20%; ceil 100%\n class x { rate 50%; ceil 50% } } }");
    let t = tree(&p);
    assert_eq!((t[1].3, t[1].4), (20_000_000, 200_000_000));
    assert_eq!((t[2].3, t[2].4), (10_000_000, 100_000_000));
}

#[test]
fn ceil_defaults_to_rate_and_units_follow_tc() {
    let p = plan("interface e { default a\n class a { rate 1.5mbit }\n class b { rate 2kibit }\n class c { rate 1mbps } }");
    let t = tree(&p);
    assert_eq!((t[0].3, t[0].4), (1_500_000, 1_500_000));
    assert_eq!(t[1].3, 2048);
    assert_eq!(t[2].3, 8_000_000, "mbps is megaBYTES per second");
}

#[test]
fn loops_are_inclusive_and_interpolate_names() {
    let p = plan("let d = 1.2.3.4\ninterface e { default x\n for port in 1000..1009 { class \"s-${port}\" { rate 1mbit; match tcp dst $d dport $port } }\n class x { rate 1mbit } }");
    let i = &p.interfaces[0];
    assert_eq!(i.classes.len(), 11);
    assert_eq!(i.classes[9].name, "s-1009");
    assert_eq!(i.filters.len(), 10);
    assert_eq!(i.filters[3].class, 3);
    assert!(i.filters[3]
        .m
        .criteria
        .iter()
        .any(|c| c.test == Test::Dport(vec![PortRange { lo: 1003, hi: 1003 }])));
}

#[test]
fn loops_over_lists() {
    let p = plan("interface e { default x\n for h in [10.0.0.1, 10.0.0.2] { class \"h-${h}\" { rate 1mbit; match dst $h } }\n class x { rate 1mbit } }");
    let names: Vec<&str> = p.interfaces[0]
        .classes
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["h-10.0.0.1", "h-10.0.0.2", "x"]);
}

#[test]
fn templates_are_inherited_and_overridden_by_the_class() {
    let p = plan("template base { rate 10mbit; ceil 20mbit; prio 3 }\ntemplate fast : base { ceil 50mbit }\ninterface e { default a\n class a : fast { prio 1 } }");
    let c = &p.interfaces[0].classes[0];
    assert_eq!((c.rate, c.ceil, c.prio), (10_000_000, 50_000_000, Some(1)));
}

#[test]
fn rules_inherit_and_later_keys_override() {
    let p = plan("rule web { tcp; dport 80, 443 }\nrule alt : web { dport 8080 }\ninterface e { default a\n class a { rate 1mbit; match alt }\n class b { rate 1mbit; match web dport 8443 } }");
    let f = &p.interfaces[0].filters;
    let tests = |k: usize| {
        f[k].m
            .criteria
            .iter()
            .map(|c| c.test.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        tests(0),
        vec![
            Test::Proto(6),
            Test::Dport(vec![PortRange { lo: 8080, hi: 8080 }])
        ]
    );
    assert_eq!(
        tests(1),
        vec![
            Test::Proto(6),
            Test::Dport(vec![PortRange { lo: 8443, hi: 8443 }])
        ]
    );
}

#[test]
fn several_match_lines_are_alternatives_and_negation_is_kept() {
    let p = plan("interface e { default a\n class a { rate 1mbit\n match udp dport 53\n match tcp dst !10.0.0.0/8 } }");
    let f = &p.interfaces[0].filters;
    assert_eq!(f.len(), 2);
    assert!(f[1].m.criteria[1].negated);
    assert_eq!(f[1].m.family(), Family::V4);
    assert_eq!(f[0].m.family(), Family::Any);
}

#[test]
fn dscp_names_and_marks() {
    let p = plan("interface e { default a\n class a { rate 1mbit; match dscp EF\n match dscp AF41 mark 0x10/0xff } }");
    let f = &p.interfaces[0].filters;
    assert_eq!(f[0].m.criteria[0].test, Test::Dscp(46));
    assert_eq!(f[1].m.criteria[0].test, Test::Dscp(34));
    assert_eq!(
        f[1].m.criteria[1].test,
        Test::Mark {
            value: 0x10,
            mask: Some(0xff)
        }
    );
}

#[test]
fn default_may_name_a_classid_in_hex() {
    let p = plan("interface e { default 1:12\n class a { classid 1:12; rate 1mbit } }");
    assert_eq!(p.interfaces[0].default, Some(0));
}

#[test]
fn all_diagnostics_are_collected_not_just_the_first() {
    let c = codes("interface e { default nope\n class a { rate 0mbit }\n class b { rate 10mbit; ceil 5mbit }\n class c { rate 1mbit; prio 9 } }");
    for want in ["E0104", "E0204", "E0202", "E0210"] {
        assert!(c.contains(&want.to_string()), "{want} missing from {c:?}");
    }
}

#[test]
fn quantum_is_filled_in_only_where_htb_would_clamp_it() {
    let p = plan("interface e { default a\n class a { rate 50kbit }\n class b { rate 10mbit }\n class c { rate 1gbit }\n class d { rate 1gbit; quantum 60000 } }");
    let q: Vec<Option<u64>> = p.interfaces[0].classes.iter().map(|c| c.quantum).collect();
    assert_eq!(q, [Some(1000), None, Some(200_000), Some(60_000)]);
}

#[test]
fn statements_may_share_a_line_after_a_closing_brace() {
    let p = plan("interface e { default a; class a { rate 1mbit } class b { rate 1mbit } }");
    assert_eq!(p.interfaces[0].classes.len(), 2);
}

#[test]
fn nested_loops_are_bounded_in_total_not_just_per_loop() {
    let c = codes("interface e { default a; class a { rate 1mbit }\n for x in 1..60000 { for y in 1..60000 { let z = 1 } } }");
    assert!(c.contains(&"E0114".to_string()), "{c:?}");
}

#[test]
fn a_class_may_have_no_body_when_a_template_gives_the_rate() {
    let p =
        plan("template t { rate 5mbit }\ninterface e { default a\n class a : t\n class b : t; }");
    assert_eq!(p.interfaces[0].classes.len(), 2);
    assert_eq!(p.interfaces[0].classes[1].rate, 5_000_000);
}

#[test]
fn absurd_rates_and_empty_lists_are_errors_not_silent() {
    assert_eq!(
        codes("interface e { default a; class a { rate 99999999999999999999gbit } }"),
        ["E0215"]
    );
    assert!(
        codes("interface e { default a; class a { rate 1mbit; match dst [] } }")
            .contains(&"E0107".to_string())
    );
    assert!(
        codes("interface e { default a; class a { rate 1mbit; match tcp dport [] } }")
            .contains(&"E0107".to_string())
    );
}

/// A site: hosts from templates and loops (addresses as strings or list items), the loop
/// variable reaching the template, paths with their rtt, and nested classes on one path
/// counted once.
#[test]
fn site_hosts_templates_loops_and_paths() {
    let src = r#"
path wan { rate 1gbit; rtt 80ms }
path lan { rate 10gbit }
template node {
    interface eth1 {
        rate 1gbit
        default bulk
        class up { rate 400mbit; path wan
            class transfer { rate ${limit}; path wan }
        }
        class bulk { rate 100mbit; path lan }
    }
}
let limit = 300mbit
for n in 1..2 {
    host "n${n}" : node { address "10.0.0.${n}" }
}
for a in [10.1.0.1, 10.1.0.2] {
    host "m-${a}" : node { address $a }
}
"#;
    let (site, diags) = tcc::analyze_site(0, src);
    let codes: Vec<String> = diags.items.iter().map(|d| d.code.to_string()).collect();
    // Four hosts x `up` 400mbit = 1.6 Gbit/s on wan (the nested `transfer` counts within `up`).
    assert_eq!(
        codes.iter().filter(|c| *c == "E0501").count(),
        1,
        "{codes:?}"
    );
    let e = diags
        .items
        .iter()
        .find(|d| d.code.as_str() == "E0501")
        .unwrap();
    assert!(e.message.contains("1.6 Gbit/s"), "{}", e.message);
    let names: Vec<_> = site.hosts.iter().map(|h| h.name.clone().unwrap()).collect();
    assert_eq!(names, ["n1", "n2", "m-10.1.0.1", "m-10.1.0.2"]);
    assert_eq!(site.hosts[1].addresses[0].0.to_string(), "10.0.0.2");
    assert_eq!(site.hosts[3].addresses[0].0.to_string(), "10.1.0.2");
    assert_eq!(site.paths[0].rtt_us, Some(80_000));
    assert_eq!(site.paths[1].rtt_us, None);
    // `transfer` (index 2: root, up, transfer) crosses wan: the rtt hook finds it.
    assert_eq!(site.rtt_us(0, 0, 2), Some(80_000));
    assert_eq!(site.rtt_us(0, 0, 3), None);
    assert_eq!(
        site.hosts[0].plan.interfaces[0].classes[2].rate,
        300_000_000
    );
    // A file without hosts is one unnamed host, and `analyze` gives its plan as before.
    let (one, _) = tcc::analyze_site(0, "interface eth0 { default a; class a { rate 1mbit } }");
    assert!(!one.is_fleet());
    assert_eq!(one.hosts.len(), 1);
    // A site file has no single plan.
    assert!(tcc::analyze(0, src).0.interfaces.is_empty());
}

/// A path's `rtt` sizes the classes on it as their own `rtt` would: a class on the path
/// without one (and its children) takes it, and their leaves without a queue get a `bfifo` of
/// one bandwidth-delay product (200mbit x 80ms = 2 MB, the seed guide's window); a class with
/// its own `rtt` or `qdisc` keeps it, and a class on a path without `rtt` gets none.
#[test]
fn a_paths_rtt_sizes_the_queues_of_its_classes() {
    let src = r#"
path wan { rate 1gbit; rtt 80ms }
path lan { rate 10gbit }
host h1 {
    address 10.0.0.1
    interface eth1 {
        rate 1gbit
        default bulk
        class transfer { rate 200mbit; ceil 200mbit; path wan }
        class group { rate 300mbit; path wan
            class own { rate 100mbit; rtt 10ms }
            class fifo { rate 100mbit; qdisc pfifo limit 50 }
        }
        class bulk { rate 100mbit; path lan }
    }
}
"#;
    let (site, diags) = tcc::analyze_site(0, src);
    assert!(!diags.has_errors(), "{:?}", diags.items);
    let iface = &site.hosts[0].plan.interfaces[0];
    let class = |n: &str| iface.classes.iter().find(|c| c.name == n).unwrap();
    let bfifo = |n: &str| match &class(n).qdisc {
        Some(tcc::plan::qdisc::LeafQdisc::Bfifo { limit }) => *limit,
        q => panic!("{n}: {q:?}"),
    };
    assert_eq!(class("transfer").rtt, Some(80_000));
    assert_eq!(bfifo("transfer"), Some(2_000_000));
    assert_eq!(class("group").rtt, Some(80_000));
    assert_eq!(class("own").rtt, Some(10_000));
    // 100mbit x 10ms = 125 kB, raised to the GSO floor.
    assert_eq!(bfifo("own"), Some(tcc::plan::qdisc::MIN_BFIFO as u32));
    assert!(matches!(
        class("fifo").qdisc,
        Some(tcc::plan::qdisc::LeafQdisc::Pfifo { limit: Some(50) })
    ));
    assert_eq!(class("bulk").rtt, None);
    assert_eq!(class("bulk").qdisc, None);
}
