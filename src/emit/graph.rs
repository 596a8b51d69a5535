//! `tcc graph`: the class tree as a picture. A self-contained SVG (no Graphviz needed) where each
//! class shows its name, classid, rate, ceil and what it matches, with bars proportional to
//! rate (solid) and ceil (outline); and Graphviz DOT for those who have it.

use crate::plan::units::format_rate;
use crate::plan::{Class, Interface, Match, Plan};

/// A short text for one match, in the language's own words: `tcp dst 1.2.3.4 dport 80, 443`.
pub fn describe_match(m: &Match) -> String {
    if m.criteria.is_empty() {
        "all traffic".to_string()
    } else {
        m.to_source()
    }
}

/// What each class of `iface` matches (one entry per filter, in priority order).
fn matches_of(iface: &Interface) -> Vec<Vec<String>> {
    let mut v = vec![Vec::new(); iface.classes.len()];
    for f in &iface.filters {
        if f.class < v.len() {
            v[f.class].push(describe_match(&f.m));
        }
    }
    v
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o += "&amp;",
            '<' => o += "&lt;",
            '>' => o += "&gt;",
            '"' => o += "&quot;",
            '\'' => o += "&#39;",
            // A newline in a tooltip (`<title>`) is a line break; other control characters
            // (only a name could hold one) are shown as `?`.
            '\n' => o += "&#10;",
            c if c.is_control() => o.push('?'),
            c => o.push(c),
        }
    }
    o
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let t: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{t}…")
    }
}

const ROW: f64 = 58.0;
const INDENT: f64 = 22.0;
const LEFT: f64 = 16.0;
const BOX_W: f64 = 450.0;
const BAR_X: f64 = 490.0;
const BAR_W: f64 = 360.0;
const WIDTH: f64 = 880.0;
const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f",
];

/// The plan as an SVG document. Pure text, no scripts or external references.
pub fn svg(plan: &Plan, title: &str) -> String {
    let plan = &plan.trees();
    let mut body = String::new();
    let mut y = 44.0;
    for iface in &plan.interfaces {
        let scale = iface
            .classes
            .iter()
            .map(|c| c.ceil.max(c.rate))
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let matches = matches_of(iface);
        body += &format!(
            "<text x=\"{LEFT}\" y=\"{:.0}\" class=\"iface\">interface {} — htb {:x}: ({} classes{})</text>\n",
            y + 18.0,
            esc(&iface.name),
            iface.handle,
            iface.classes.len(),
            match iface.default {
                Some(d) => format!(", default {}", esc(&iface.classes[d].name)),
                None => ", no default".to_string(),
            }
        );
        body += &format!(
            "<text x=\"{BAR_X}\" y=\"{:.0}\" class=\"axis\">0</text><text x=\"{:.0}\" y=\"{:.0}\" class=\"axis\" text-anchor=\"end\">{}</text>\n",
            y + 18.0,
            BAR_X + BAR_W,
            y + 18.0,
            format_rate(scale as u64)
        );
        y += 30.0;
        let leaves = iface.leaves();
        let mut row_y = vec![0.0; iface.classes.len()];
        for (i, c) in iface.classes.iter().enumerate() {
            let depth = iface.depth(i) - 1;
            let x = LEFT + depth as f64 * INDENT;
            row_y[i] = y;
            // Tree connector from the parent.
            if let Some(p) = c.parent {
                let px = LEFT + (iface.depth(p) - 1) as f64 * INDENT + 8.0;
                body += &format!(
                    "<path d=\"M{px:.0},{:.0} V{:.0} H{x:.0}\" class=\"edge\"/>\n",
                    row_y[p] + 46.0,
                    y + 23.0
                );
            }
            let color = PALETTE[i % PALETTE.len()];
            let is_default = iface.default == Some(i);
            body += &class_row(iface, i, c, x, y, color, leaves[i], is_default, &matches[i]);
            // Bars: ceil as an outline, rate solid, both proportional to the largest ceil.
            let rw = (c.rate as f64 / scale * BAR_W).max(1.0);
            let cw = (c.ceil as f64 / scale * BAR_W).max(1.0);
            body += &format!(
                "<rect x=\"{BAR_X}\" y=\"{:.0}\" width=\"{cw:.1}\" height=\"16\" class=\"ceil\" stroke=\"{color}\"/>\n\
                 <rect x=\"{BAR_X}\" y=\"{:.0}\" width=\"{rw:.1}\" height=\"16\" fill=\"{color}\"><title>rate {} ceil {}</title></rect>\n\
                 <text x=\"{BAR_X}\" y=\"{:.0}\" class=\"small\">rate {} · ceil {}</text>\n",
                y + 6.0,
                y + 6.0,
                format_rate(c.rate),
                format_rate(c.ceil),
                y + 38.0,
                format_rate(c.rate),
                format_rate(c.ceil),
            );
            y += ROW;
        }
        y += 20.0;
    }
    let height = y + 10.0;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {WIDTH:.0} {height:.0}\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n\
         <title>{}</title>\n\
         <style>\n\
         .title {{ font-size: 18px; font-weight: bold; fill: #222; }}\n\
         .iface {{ font-size: 15px; font-weight: bold; fill: #333; }}\n\
         .name {{ font-size: 14px; font-weight: bold; fill: #111; }}\n\
         .id {{ font-size: 12px; fill: #555; font-family: DejaVu Sans Mono, monospace; }}\n\
         .small {{ font-size: 11px; fill: #444; }}\n\
         .match {{ font-size: 11px; fill: #1a5e1a; font-family: DejaVu Sans Mono, monospace; }}\n\
         .axis {{ font-size: 11px; fill: #777; }}\n\
         .box {{ fill: #fafafa; stroke-width: 1.5; }}\n\
         .inner {{ fill: #f0f0f0; stroke-dasharray: 4 2; stroke-width: 1.5; }}\n\
         .ceil {{ fill: none; stroke-width: 1.5; stroke-dasharray: 3 2; }}\n\
         .edge {{ fill: none; stroke: #999; stroke-width: 1.2; }}\n\
         .badge {{ font-size: 10px; fill: #fff; font-weight: bold; }}\n\
         </style>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n\
         <text x=\"{LEFT}\" y=\"26\" class=\"title\">{}</text>\n{body}</svg>\n",
        esc(title),
        esc(&format!("tcc graph: {title}"))
    )
}

#[allow(clippy::too_many_arguments)]
fn class_row(
    iface: &Interface,
    i: usize,
    c: &Class,
    x: f64,
    y: f64,
    color: &str,
    leaf: bool,
    is_default: bool,
    matches: &[String],
) -> String {
    let w = BOX_W - (x - LEFT);
    let mut s = format!(
        "<g><title>{}</title>\n<rect x=\"{x:.0}\" y=\"{y:.0}\" width=\"{w:.0}\" height=\"46\" rx=\"5\" class=\"{}\" stroke=\"{color}\"/>\n",
        esc(format!("{} {}\n{}", c.name, iface.classid(i), matches.join("\n")).trim_end()),
        if leaf { "box" } else { "inner" }
    );
    s += &format!(
        "<text x=\"{:.0}\" y=\"{:.0}\" class=\"name\">{}</text>\n<text x=\"{:.0}\" y=\"{:.0}\" class=\"id\" text-anchor=\"end\">{}{}</text>\n",
        x + 8.0,
        y + 17.0,
        esc(&truncate(&c.name, 30)),
        x + w - 8.0,
        y + 17.0,
        iface.classid(i),
        c.prio.map(|p| format!(" prio {p}")).unwrap_or_default(),
    );
    let what = if !matches.is_empty() {
        // DejaVu Sans Mono at 11px is 6.7px a character.
        let room = ((w - 16.0) / 6.7) as usize;
        let first = truncate(
            &matches[0],
            room.saturating_sub(if matches.len() > 1 { 10 } else { 0 }),
        );
        if matches.len() > 1 {
            format!("{first} (+{} more)", matches.len() - 1)
        } else {
            first
        }
    } else if is_default {
        "unclassified traffic".to_string()
    } else if leaf {
        "(nothing matches)".to_string()
    } else {
        "(its children)".to_string()
    };
    s += &format!(
        "<text x=\"{:.0}\" y=\"{:.0}\" class=\"match\">{}</text>\n",
        x + 8.0,
        y + 36.0,
        esc(&what)
    );
    if is_default {
        s += &format!(
            "<rect x=\"{:.0}\" y=\"{:.0}\" width=\"48\" height=\"14\" rx=\"3\" fill=\"{color}\"/><text x=\"{:.0}\" y=\"{:.0}\" class=\"badge\">default</text>\n",
            x + w - 56.0,
            y + 26.0,
            x + w - 52.0,
            y + 37.0
        );
    }
    s += "</g>\n";
    s
}

fn dot_esc(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' => "\\\"".to_string(),
            '\\' => "\\\\".to_string(),
            c if c.is_control() => "?".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// How a DOT picture is drawn; `tcc graph` and `tcc explain --format dot` differ only in these.
pub struct DotStyle<'a> {
    /// The graph's label, if any.
    pub title: Option<String>,
    /// The default node attributes.
    pub node: &'a str,
    /// One `subgraph cluster_N` per interface, labelled `interface NAME`.
    pub clusters: bool,
    /// Node id prefixes for the root qdisc and the classes: (`q`, `c`) gives `q0` and `c0_1`.
    pub ids: (&'a str, &'a str),
}

/// The one DOT writer: per interface a root qdisc node (`root_label`) and one node per class
/// (`class_label(n, iface, i)`'s lines for class `i` of interface `n`), each under its parent.
/// Labels are given unescaped.
pub fn dot_with(
    plan: &Plan,
    style: &DotStyle<'_>,
    root_label: impl Fn(&Interface) -> String,
    class_label: impl Fn(usize, &Interface, usize) -> Vec<String>,
) -> String {
    let mut s = String::from("digraph tcc {\n");
    if let Some(t) = &style.title {
        s += &format!("  label=\"{}\";\n", dot_esc(t));
    }
    s += &format!("  rankdir=TB;\n  node [{}];\n", style.node);
    let (qp, cp) = style.ids;
    let ind = if style.clusters { "    " } else { "  " };
    for (k, iface) in plan.interfaces.iter().enumerate() {
        if style.clusters {
            s += &format!(
                "  subgraph cluster_{k} {{\n    label=\"{}\";\n",
                dot_esc(&format!("interface {}", iface.name))
            );
        }
        s += &format!(
            "{ind}{qp}{k} [label=\"{}\", shape=ellipse];\n",
            dot_esc(&root_label(iface))
        );
        for (i, c) in iface.classes.iter().enumerate() {
            let label: Vec<String> = class_label(k, iface, i)
                .iter()
                .map(|l| dot_esc(l))
                .collect();
            s += &format!("{ind}{cp}{k}_{i} [label=\"{}\"];\n", label.join("\\n"));
            match c.parent {
                Some(p) => s += &format!("{ind}{cp}{k}_{p} -> {cp}{k}_{i};\n"),
                None => s += &format!("{ind}{qp}{k} -> {cp}{k}_{i};\n"),
            }
        }
        if style.clusters {
            s += "  }\n";
        }
    }
    s += "}\n";
    s
}

/// The plan as Graphviz DOT: one cluster per interface, one box per class.
pub fn dot(plan: &Plan, title: &str) -> String {
    let plan = &plan.trees();
    let style = DotStyle {
        title: Some(format!("tcc graph: {title}")),
        node: "shape=box, style=\"rounded,filled\", fillcolor=\"#fafafa\", fontname=\"Helvetica\"",
        clusters: true,
        ids: ("q", "c"),
    };
    let matches: Vec<Vec<Vec<String>>> = plan.interfaces.iter().map(matches_of).collect();
    dot_with(
        plan,
        &style,
        |iface| format!("htb {:x}:", iface.handle),
        |n, iface, i| {
            let c = &iface.classes[i];
            let mut lines = vec![
                c.name.clone(),
                iface.classid(i),
                format!("rate {} ceil {}", format_rate(c.rate), format_rate(c.ceil)),
            ];
            lines.extend(matches[n][i].iter().cloned());
            if iface.default == Some(i) {
                lines.push("(default)".into());
            }
            lines
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar_width(svg: &str, title: &str) -> f64 {
        let at = svg.find(&format!("<title>{title}</title>")).expect(title);
        let before = &svg[..at];
        let w = &before[before.rfind("width=\"").unwrap() + 7..];
        w[..w.find('"').unwrap()].parse().unwrap()
    }

    #[test]
    fn bars_are_proportional_to_rate() {
        let src = "interface eth0 { rate 1gbit; default b\n class a { rate 200mbit; match tcp }\n class b { rate 700mbit; ceil 1gbit } }\n";
        let (plan, d) = crate::analyze(0, src);
        assert!(!d.has_errors());
        let svg = svg(&plan, "t");
        let (a, b, root) = (
            bar_width(&svg, "rate 200mbit ceil 200mbit"),
            bar_width(&svg, "rate 700mbit ceil 1gbit"),
            bar_width(&svg, "rate 1gbit ceil 1gbit"),
        );
        assert!((root - BAR_W).abs() < 0.1, "{root}");
        assert!((a / root - 0.2).abs() < 0.001, "{a}");
        assert!((b / root - 0.7).abs() < 0.001, "{b}");
        assert!(svg.contains("<rect x=\"490\" y=\"") && svg.contains("default"));
        // Names are escaped, never markup.
        let (plan, _) = crate::analyze(
            0,
            "interface eth0 { rate 1mbit; default \"<b>&\"\n class \"<b>&\" { rate 1mbit } }\n",
        );
        let svg = super::svg(&plan, "t");
        assert!(svg.contains("&lt;b&gt;&amp;") && !svg.contains("<b>"));
    }

    #[test]
    fn tooltips_break_lines_instead_of_showing_question_marks() {
        let src = "interface eth0 { rate 1gbit; default b\n class a { rate 200mbit; match tcp }\n class b { rate 700mbit } }\n";
        let (plan, _) = crate::analyze(0, src);
        let svg = svg(&plan, "t");
        assert!(svg.contains("<title>a 1:10&#10;tcp</title>"), "{svg}");
        assert!(svg.contains("<title>b 1:11</title>"), "{svg}");
        assert!(!svg.contains('?'), "{svg}");
    }
}
