//! The architecture's rules, checked on the source tree (`src/**/*.rs`) with a small scanner:
//! comments, strings and `#[cfg(test)]` items are blanked first, then paths are read.
//!
//! - no import cycle between the top-level modules (`cli`, `syntax`, `sema`, ...), built from
//!   `crate::X` paths (also in `use crate::{a, b}` groups) and `super::` paths that leave the
//!   top-level module; `crate::item` for an item of `lib.rs` is an edge to the crate root `lib`;
//! - no module but `cli` names `crate::cli`;
//! - no `Result<_, String>` outside `src/cli/` and `src/main.rs` (signatures, closures, type
//!   aliases, fields: any spelling of the type);
//! - no source file over 600 lines without a `//! Size: reason` line in its top comment;
//! - no printing (`println!`, `eprintln!`, `print!`, `eprint!`, `std::io::stdout`/`stderr`)
//!   outside `src/cli/` and `src/main.rs`.
//!
//! The module graph as it is stands in ARCHITECTURE.md between the `module-graph` markers;
//! `UPDATE_ARCHITECTURE=1 cargo test --test architecture` rewrites it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules of the library, in `lib.rs`'s order of the pipeline.
const MODULES: &[&str] = &[
    "cli",
    "diagnostic",
    "syntax",
    "sema",
    "plan",
    "dialect",
    "emit",
    "apply",
    "explain",
    "report",
];

/// The crate root (`lib.rs`) as a node of the graph, for `crate::analyze` and the like.
const ROOT: &str = "lib";

const MAX_LINES: usize = 600;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// One source file: its path relative to the repository, its module path (`src/sema/lower.rs`
/// -> `["sema", "lower"]`, `lib.rs` -> `[]`), its text, and the text with comments, string and
/// char literals and `#[cfg(test)]` items replaced by spaces (newlines kept, so offsets and
/// line numbers are the source's).
struct Source {
    rel: String,
    module: Vec<String>,
    text: String,
    code: Vec<u8>,
}

impl Source {
    fn line_of(&self, offset: usize) -> usize {
        self.text.as_bytes()[..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn line_text(&self, line: usize) -> &str {
        self.text.lines().nth(line - 1).unwrap_or("").trim()
    }

    fn at(&self, offset: usize) -> String {
        let line = self.line_of(offset);
        format!("{}:{line}: {}", self.rel, self.line_text(line))
    }

    fn top(&self) -> Option<&str> {
        self.module.first().map(String::as_str)
    }

    /// `src/cli/**` and `src/main.rs`: the command line, allowed to print and to use strings.
    fn is_cli(&self) -> bool {
        self.top() == Some("cli") || self.rel == "src/main.rs"
    }
}

fn sources() -> Vec<Source> {
    let mut files = Vec::new();
    walk(&root().join("src"), &mut files);
    files.sort();
    let mut out: Vec<Source> = files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let rel = p
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let mut module: Vec<String> = rel
                .trim_start_matches("src/")
                .trim_end_matches(".rs")
                .split('/')
                .map(str::to_string)
                .collect();
            if matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                module.pop();
            }
            let mut code = blank_comments_and_literals(text.as_bytes());
            blank_test_items(&mut code);
            Source {
                rel,
                module,
                text,
                code,
            }
        })
        .collect();
    // Files that are test modules as a whole (`#[cfg(test)] mod tests;`).
    let test_files: BTreeSet<String> = out
        .iter()
        .flat_map(|s| {
            test_mod_decls(&s.text)
                .into_iter()
                .map(|name| {
                    let mut m = s.module.clone();
                    m.push(name);
                    m.join("/")
                })
                .collect::<Vec<_>>()
        })
        .collect();
    out.retain(|s| !test_files.contains(&s.module.join("/")) || s.module.is_empty());
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Replace comments, string literals (plain, byte, raw) and char literals by spaces; lifetimes
/// and labels stay.
fn blank_comments_and_literals(src: &[u8]) -> Vec<u8> {
    let mut out = src.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for b in &mut out[from..to.min(src.len())] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    };
    let n = src.len();
    let mut i = 0;
    while i < n {
        let c = src[i];
        let prev_ident = i > 0 && is_ident(src[i - 1]);
        if c == b'/' && src.get(i + 1) == Some(&b'/') {
            let end = src[i..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(n, |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if c == b'/' && src.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            let mut j = i;
            while j < n {
                if src[j] == b'/' && src.get(j + 1) == Some(&b'*') {
                    depth += 1;
                    j += 2;
                } else if src[j] == b'*' && src.get(j + 1) == Some(&b'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if !prev_ident && (c == b'r' || (c == b'b' && src.get(i + 1) == Some(&b'r'))) && {
            let k = if c == b'r' { i + 1 } else { i + 2 };
            let hashes = src[k..].iter().take_while(|&&b| b == b'#').count();
            src.get(k + hashes) == Some(&b'"')
        } {
            let k = if c == b'r' { i + 1 } else { i + 2 };
            let hashes = src[k..].iter().take_while(|&&b| b == b'#').count();
            let body = k + hashes + 1;
            let mut close = b"\"".to_vec();
            close.extend(std::iter::repeat_n(b'#', hashes));
            let end = src[body..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(n, |p| body + p + close.len());
            blank(&mut out, i, end);
            i = end;
        } else if c == b'"' || (c == b'b' && !prev_ident && src.get(i + 1) == Some(&b'"')) {
            let mut j = if c == b'"' { i + 1 } else { i + 2 };
            while j < n && src[j] != b'"' {
                j += if src[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if c == b'\'' || (c == b'b' && !prev_ident && src.get(i + 1) == Some(&b'\'')) {
            let q = if c == b'\'' { i } else { i + 1 };
            // A char literal: an escape, or one (UTF-8) character then a quote.
            let end = if src.get(q + 1) == Some(&b'\\') {
                let mut j = q + 3;
                while j < n && src[j] != b'\'' {
                    j += 1;
                }
                Some(j + 1)
            } else {
                let len = match src.get(q + 1) {
                    Some(&b) if b < 0x80 => 1,
                    Some(&b) if b >= 0xf0 => 4,
                    Some(&b) if b >= 0xe0 => 3,
                    Some(_) => 2,
                    None => 1,
                };
                (src.get(q + 1 + len) == Some(&b'\'')).then_some(q + 2 + len)
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => i = q + 1, // a lifetime or a label
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The end (exclusive) of the item starting at `from`: its first `;` outside brackets, or the
/// `}` closing its first `{`.
fn item_end(code: &[u8], from: usize) -> usize {
    let mut depth = 0i32;
    let mut j = from;
    while j < code.len() {
        match code[j] {
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth -= 1,
            b';' if depth == 0 => return j + 1,
            b'{' if depth == 0 => return matching(code, j) + 1,
            _ => {}
        }
        j += 1;
    }
    code.len()
}

/// The offset of the bracket closing the one at `open` (or the end of the text).
fn matching(code: &[u8], open: usize) -> usize {
    let (o, c) = match code[open] {
        b'{' => (b'{', b'}'),
        b'(' => (b'(', b')'),
        b'[' => (b'[', b']'),
        _ => (b'<', b'>'),
    };
    let mut depth = 0;
    for (j, &b) in code.iter().enumerate().skip(open) {
        if b == o {
            depth += 1;
        } else if b == c {
            depth -= 1;
            if depth == 0 {
                return j;
            }
        }
    }
    code.len() - 1
}

/// Offsets of every `#[cfg(test)]` (spaces allowed inside) in blanked code.
fn cfg_test_attrs(code: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(p) = code[i..].iter().position(|&b| b == b'#') {
        let start = i + p;
        i = start + 1;
        if code.get(start + 1) != Some(&b'[') {
            continue;
        }
        let end = matching(code, start + 1);
        let inner: String = String::from_utf8_lossy(&code[start + 2..end])
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if inner == "cfg(test)" {
            out.push((start, end + 1));
        }
    }
    out
}

/// Blank every item marked `#[cfg(test)]` (a `mod tests { ... }`, a helper `fn`, a `use`).
fn blank_test_items(code: &mut [u8]) {
    for (start, attr_end) in cfg_test_attrs(code).into_iter().rev() {
        let mut j = attr_end;
        // Further attributes and whitespace before the item itself.
        loop {
            while j < code.len() && code[j].is_ascii_whitespace() {
                j += 1;
            }
            if code.get(j) == Some(&b'#') && code.get(j + 1) == Some(&b'[') {
                j = matching(code, j + 1) + 1;
            } else {
                break;
            }
        }
        let end = item_end(code, j);
        for b in &mut code[start..end] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    }
}

/// Names of `#[cfg(test)] mod NAME;` declarations (test modules in files of their own).
fn test_mod_decls(text: &str) -> Vec<String> {
    let code = blank_comments_and_literals(text.as_bytes());
    let mut out = Vec::new();
    for (_, attr_end) in cfg_test_attrs(&code) {
        let end = item_end(&code, attr_end);
        let item = String::from_utf8_lossy(&code[attr_end..end]).to_string();
        let words: Vec<&str> = item
            .split(|c: char| c.is_whitespace() || c == ';')
            .filter(|w| !w.is_empty())
            .collect();
        if let Some(i) = words.iter().position(|w| *w == "mod") {
            if item.trim_end().ends_with(';') {
                out.push(words[i + 1].to_string());
            }
        }
    }
    out
}

/// Offsets of the identifier `word` (whole word) in blanked code.
fn words<'a>(code: &'a [u8], word: &'a str) -> impl Iterator<Item = usize> + 'a {
    let w = word.as_bytes();
    (0..code.len().saturating_sub(w.len() - 1)).filter(move |&i| {
        &code[i..i + w.len()] == w
            && (i == 0 || !is_ident(code[i - 1]))
            && code.get(i + w.len()).is_none_or(|&b| !is_ident(b))
    })
}

fn skip_ws(code: &[u8], mut i: usize) -> usize {
    while i < code.len() && code[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// `::` at `i` (after whitespace): the offset after it.
fn colons(code: &[u8], i: usize) -> Option<usize> {
    let i = skip_ws(code, i);
    (code.get(i) == Some(&b':') && code.get(i + 1) == Some(&b':')).then_some(i + 2)
}

fn ident_at(code: &[u8], i: usize) -> Option<String> {
    let i = skip_ws(code, i);
    let len = code[i..].iter().take_while(|&&b| is_ident(b)).count();
    (len > 0).then(|| String::from_utf8_lossy(&code[i..i + len]).into_owned())
}

/// The first segments of the path tree after `crate::` (or a `super::` chain reaching the
/// root) at `i`: `a::b` -> [a]; `{a::{b, c}, d, self}` -> [a, d].
fn first_segments(code: &[u8], i: usize) -> Vec<String> {
    let i = skip_ws(code, i);
    if code.get(i) != Some(&b'{') {
        return ident_at(code, i).into_iter().collect();
    }
    let close = matching(code, i);
    let mut out = Vec::new();
    let mut j = i + 1;
    while j < close {
        if let Some(id) = ident_at(code, j) {
            if id != "self" {
                out.push(id);
            }
        }
        // Skip to the next `,` at this level.
        let mut depth = 0;
        while j < close {
            match code[j] {
                b'{' => depth += 1,
                b'}' => depth -= 1,
                b',' if depth == 0 => break,
                _ => {}
            }
            j += 1;
        }
        j += 1;
    }
    out
}

/// The ranges of inline modules (`mod name { ... }`) in blanked code.
fn inline_mods(code: &[u8]) -> Vec<(usize, usize)> {
    words(code, "mod")
        .filter_map(|i| {
            let j = skip_ws(code, i + 3);
            let len = code[j..].iter().take_while(|&&b| is_ident(b)).count();
            let k = skip_ws(code, j + len);
            (len > 0 && code.get(k) == Some(&b'{')).then(|| (k, matching(code, k)))
        })
        .collect()
}

/// One import of another top-level module (or the root): where, and what it names.
struct Edge {
    from: String,
    to: String,
    at: String,
}

fn edges(sources: &[Source]) -> Vec<Edge> {
    let mut out = Vec::new();
    for s in sources {
        let Some(from) = s.top() else { continue };
        if s.rel == "src/main.rs" {
            continue; // the binary: a crate of its own, using the library by name
        }
        let code = &s.code;
        let mut targets: Vec<(usize, String)> = Vec::new();
        for i in words(code, "crate") {
            if i > 0 && code[..i].ends_with(b"$") {
                continue;
            }
            if let Some(after) = colons(code, i + 5) {
                for seg in first_segments(code, after) {
                    targets.push((i, seg));
                }
            }
        }
        let mods = inline_mods(code);
        for i in words(code, "super") {
            // Only the first `super` of a chain.
            let before = &code[..i];
            let trimmed = before
                .iter()
                .rposition(|b| !b.is_ascii_whitespace())
                .map(|p| &before[..=p]);
            if trimmed.is_some_and(|t| t.ends_with(b"::")) {
                continue;
            }
            let mut hops = 0;
            let mut j = i;
            while let Some(after) = code[j..]
                .starts_with(b"super")
                .then(|| colons(code, j + 5))
                .flatten()
            {
                hops += 1;
                j = skip_ws(code, after);
            }
            let depth = s.module.len() + mods.iter().filter(|(a, b)| *a < i && i < *b).count();
            if hops == depth {
                for seg in first_segments(code, j) {
                    targets.push((i, seg));
                }
            }
        }
        for (i, seg) in targets {
            let to = if MODULES.contains(&seg.as_str()) {
                seg
            } else {
                ROOT.to_string()
            };
            if to != from {
                out.push(Edge {
                    from: from.to_string(),
                    to,
                    at: s.at(i),
                });
            }
        }
    }
    // The root's own uses: in lib.rs, paths start at the root without `crate::`.
    if let Some(lib) = sources.iter().find(|s| s.rel == "src/lib.rs") {
        for m in MODULES {
            for i in words(&lib.code, m) {
                let is_decl = lib.code[..i].ends_with(b"mod ");
                let is_path =
                    colons(&lib.code, i + m.len()).is_some() && !lib.code[..i].ends_with(b"::");
                if is_path && !is_decl {
                    out.push(Edge {
                        from: ROOT.to_string(),
                        to: m.to_string(),
                        at: lib.at(i),
                    });
                }
            }
        }
    }
    out
}

type Graph = BTreeMap<String, BTreeSet<String>>;

fn graph(edges: &[Edge]) -> Graph {
    let mut g = Graph::new();
    for e in edges {
        g.entry(e.from.clone()).or_default().insert(e.to.clone());
    }
    g
}

/// The strongly connected components with more than one node (each is at least one cycle),
/// with one cycle through each.
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&String> = g.keys().chain(g.values().flatten()).collect();
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(n) = stack.pop() {
            for m in g.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    stack.push(m.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for n in &nodes {
        if done.contains(*n) || !reachable[n].contains(*n) {
            continue;
        }
        let component: BTreeSet<String> = reachable[n]
            .iter()
            .filter(|m| reachable[m].contains(*n))
            .cloned()
            .collect();
        done.extend(component.iter().cloned());
        // A shortest cycle through n (breadth-first inside the component).
        let mut prev: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([(*n).clone()]);
        'bfs: while let Some(x) = queue.pop_front() {
            for y in g.get(&x).into_iter().flatten() {
                if y == *n {
                    prev.insert(format!("{y}#end"), x.clone());
                    break 'bfs;
                }
                if component.contains(y) && !prev.contains_key(y) {
                    prev.insert(y.clone(), x.clone());
                    queue.push_back(y.clone());
                }
            }
        }
        let mut cycle = vec![(*n).clone()];
        let mut x = prev[&format!("{n}#end")].clone();
        while x != **n {
            cycle.push(x.clone());
            x = prev[&x].clone();
        }
        cycle.push((*n).clone());
        cycle.reverse();
        out.push(cycle);
    }
    out
}

fn fail_with(what: &str, offenders: &[String]) {
    assert!(
        offenders.is_empty(),
        "{what} ({} offender{}):\n  {}\n",
        offenders.len(),
        if offenders.len() == 1 { "" } else { "s" },
        offenders.join("\n  ")
    );
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let edges = edges(&sources());
    let g = graph(&edges);
    let cycles = cycles(&g);
    let mut offenders = Vec::new();
    for cycle in &cycles {
        offenders.push(format!("cycle: {}", cycle.join(" -> ")));
        for pair in cycle.windows(2) {
            for e in edges
                .iter()
                .filter(|e| e.from == pair[0] && e.to == pair[1])
            {
                offenders.push(format!("    {} -> {}: {}", e.from, e.to, e.at));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "{} import cycle(s) between top-level modules (each with the imports that make it):\n  {}\n",
        cycles.len(),
        offenders.join("\n  ")
    );
}

#[test]
fn only_cli_imports_cli() {
    let offenders: Vec<String> = edges(&sources())
        .into_iter()
        .filter(|e| e.to == "cli")
        .map(|e| format!("{} imports cli: {}", e.from, e.at))
        .collect();
    fail_with("modules other than cli importing crate::cli", &offenders);
}

/// The arguments of the generic list opening at `open` (`<`), split at top-level commas.
fn generic_args(code: &[u8], open: usize) -> Option<(Vec<String>, usize)> {
    let mut depth = 0;
    let mut args = Vec::new();
    let mut cur = Vec::new();
    let mut j = open;
    while j < code.len() {
        let b = code[j];
        match b {
            b'<' | b'(' | b'[' => depth += 1,
            b'>' if j > 0 && code[j - 1] == b'-' => {} // `fn() -> T` inside
            b'>' | b')' | b']' => {
                depth -= 1;
                if depth == 0 {
                    args.push(String::from_utf8_lossy(&cur).trim().to_string());
                    return Some((args, j));
                }
            }
            b',' if depth == 1 => {
                args.push(String::from_utf8_lossy(&cur).trim().to_string());
                cur.clear();
                j += 1;
                continue;
            }
            b';' | b'{' => return None,
            _ => {}
        }
        if j > open {
            cur.push(b);
        }
        j += 1;
    }
    None
}

#[test]
fn library_never_returns_string_errors() {
    let sources = sources();
    let lib: Vec<&Source> = sources.iter().filter(|s| !s.is_cli()).collect();
    // `type E = String;` makes `Result<_, E>` a string error too.
    let mut string_names: BTreeSet<String> =
        ["String", "std::string::String", "alloc::string::String"]
            .map(str::to_string)
            .into();
    for s in &lib {
        for i in words(&s.code, "type") {
            let rest = String::from_utf8_lossy(&s.code[i + 4..item_end(&s.code, i + 4)]);
            if let Some((name, ty)) = rest.split_once('=') {
                if string_names.contains(ty.trim().trim_end_matches(';').trim()) {
                    string_names.insert(name.trim().to_string());
                }
            }
        }
    }
    let mut offenders = Vec::new();
    for s in &lib {
        for i in words(&s.code, "Result") {
            let open = skip_ws(&s.code, i + 6);
            if s.code.get(open) != Some(&b'<') {
                continue;
            }
            let Some((args, _)) = generic_args(&s.code, open) else {
                continue;
            };
            let err: String = args
                .get(1)
                .map(|a| a.split_whitespace().collect())
                .unwrap_or_default();
            if string_names.contains(&err) {
                offenders.push(s.at(i));
            }
        }
    }
    fail_with(
        "Result<_, String> in the library (use a typed error or Diagnostics)",
        &offenders,
    );
}

#[test]
fn big_files_say_why() {
    let offenders: Vec<String> = sources()
        .iter()
        .filter_map(|s| {
            let lines = s.text.lines().count();
            let top = s
                .text
                .lines()
                .take_while(|l| l.starts_with("//!") || l.trim().is_empty());
            let reason = top.into_iter().any(|l| l.starts_with("//! Size:"));
            (lines > MAX_LINES && !reason).then(|| format!("{}: {lines} lines", s.rel))
        })
        .collect();
    fail_with(
        &format!(
            "files over {MAX_LINES} lines without a `//! Size: reason` line in their top comment"
        ),
        &offenders,
    );
}

#[test]
fn only_cli_prints() {
    let mut offenders = Vec::new();
    for s in sources().iter().filter(|s| !s.is_cli()) {
        let code = &s.code;
        for mac in ["println", "eprintln", "print", "eprint", "dbg"] {
            for i in words(code, mac) {
                if code.get(skip_ws(code, i + mac.len())) == Some(&b'!') {
                    offenders.push(s.at(i));
                }
            }
        }
        for f in ["stdout", "stderr"] {
            for i in words(code, f) {
                // `out.stderr` (a field) and `.stderr(Stdio::piped())` (a method) are fine;
                // `io::stdout`, `stdout()` (imported) are printing.
                let before = String::from_utf8_lossy(&code[..i]);
                let before = before.trim_end();
                let path = before.ends_with("::");
                let method = before.ends_with('.');
                let call = code.get(skip_ws(code, i + f.len())) == Some(&b'(');
                if !method && (path || call) {
                    offenders.push(s.at(i));
                }
            }
        }
    }
    offenders.sort();
    offenders.dedup();
    fail_with(
        "printing outside src/cli/ and src/main.rs (return the text or Diagnostics instead)",
        &offenders,
    );
}

const START: &str = "<!-- module-graph:start -->";
const END: &str = "<!-- module-graph:end -->";

/// The graph as text: one line per module, "A -> B, C", modules in pipeline order.
fn rendered_graph() -> String {
    let g = graph(&edges(&sources()));
    let order: Vec<&str> = std::iter::once(ROOT)
        .chain(MODULES.iter().copied())
        .collect();
    let rank = |m: &str| order.iter().position(|o| *o == m).unwrap_or(usize::MAX);
    let mut out = String::from("```text\n");
    for m in &order {
        let Some(to) = g.get(*m) else {
            if *m != ROOT {
                out += &format!("{m} -> (nothing)\n");
            }
            continue;
        };
        let mut to: Vec<&str> = to.iter().map(String::as_str).collect();
        to.sort_by_key(|t| rank(t));
        out += &format!("{m} -> {}\n", to.join(", "));
    }
    out += "```\n";
    out
}

#[test]
fn architecture_md_shows_the_module_graph() {
    let path = root().join("ARCHITECTURE.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (Some(s), Some(e)) = (doc.find(START), doc.find(END)) else {
        panic!("ARCHITECTURE.md has no {START} ... {END} block");
    };
    let body_start = s + START.len();
    let current = doc[body_start..e].trim_start_matches('\n');
    let wanted = rendered_graph();
    println!("{wanted}");
    if current == wanted {
        return;
    }
    if std::env::var_os("UPDATE_ARCHITECTURE").is_some() {
        let new = format!("{}\n{wanted}{}", &doc[..body_start], &doc[e..]);
        std::fs::write(&path, new).unwrap();
        return;
    }
    panic!(
        "ARCHITECTURE.md's module graph is not the source's; \
         run with UPDATE_ARCHITECTURE=1 to regenerate.\n--- in ARCHITECTURE.md:\n{current}\n--- from src/:\n{wanted}"
    );
}

/// The scanner itself, on small texts.
#[test]
fn scanner_reads_paths_and_skips_tests_comments_and_strings() {
    let text = "use crate::{plan::{A, B}, diagnostic, self};\n\
                // use crate::cli;\n\
                const S: &str = \"crate::cli\";\n\
                const R: &str = r#\"crate::\"cli\"#;\n\
                fn f<'a>(c: char) -> Result<Vec<u8>, String> { let _ = 'x'; crate::emit::f() }\n\
                #[cfg(test)]\nmod tests {\n use crate::cli;\n fn g() -> Result<(), String> { println!(); }\n}\n\
                fn h() { super::super::apply::x(); }\n";
    let mut code = blank_comments_and_literals(text.as_bytes());
    blank_test_items(&mut code);
    let s = Source {
        rel: "src/sema/x.rs".into(),
        module: vec!["sema".into(), "x".into()],
        text: text.into(),
        code,
    };
    let e = edges(std::slice::from_ref(&s));
    let to: Vec<&str> = e.iter().map(|e| e.to.as_str()).collect();
    assert_eq!(to, ["plan", "diagnostic", "emit", "apply"]);
    let res: Vec<usize> = words(&s.code, "Result").collect();
    assert_eq!(res.len(), 1, "the test module's Result is skipped");
    let (args, _) = generic_args(&s.code, res[0] + 6).unwrap();
    assert_eq!(args, ["Vec<u8>", "String"]);
    assert_eq!(words(&s.code, "println").count(), 0);
    let g: Graph = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]
        .iter()
        .map(|(x, y)| (x.to_string(), BTreeSet::from([y.to_string()])))
        .fold(Graph::new(), |mut g, (x, ys)| {
            g.entry(x).or_default().extend(ys);
            g
        });
    assert_eq!(cycles(&g), [["a", "b", "c", "a"]]);
}
