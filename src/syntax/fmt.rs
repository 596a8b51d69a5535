//! `tcc fmt`: one canonical layout for `.shape` files, keeping every comment.
//!
//! The formatter works on the comment-preserving token stream of `lex` (the pest grammar drops
//! comments), line by line: the user's line structure stays, indentation becomes four spaces per
//! open `{`/`[` (plus one level for a statement continued after a `,` or `\`), spacing between
//! tokens is normalised, runs of blank lines shrink to one, and trailing comments on consecutive
//! lines are aligned. Only whitespace changes, and only where the grammar ignores it, so the
//! formatted file means exactly the same; `format(format(x)) == format(x)`.

use super::token::{self as lex, Kind, Token};
use crate::diagnostic::Diagnostic;

const INDENT: &str = "    ";

/// One physical line of the input, without its spaces.
struct Line<'a> {
    toks: Vec<Token<'a>>,
    /// Ends in `\` + newline.
    continued: bool,
}

/// Format `text`. Files that do not parse are refused with the syntax error (formatting them
/// could only guess).
pub fn format(text: &str) -> Result<String, Diagnostic> {
    crate::syntax::parse(0, text)?;
    Ok(layout(text))
}

/// The layout pass alone (no parse): exposed for tests and tools that already parsed.
pub fn layout(text: &str) -> String {
    let lines = split_lines(text);
    // Pass 1: the code part and the trailing comment of every line, and its indentation.
    // (indent level, code, trailing or whole-line comment, the comment's column in the input)
    let mut rendered: Vec<(usize, String, Option<&str>, usize)> = Vec::with_capacity(lines.len());
    let (mut braces, mut brackets) = (0usize, 0usize);
    let mut prev_continues = false;
    for line in &lines {
        if line.toks.is_empty() && !line.continued {
            rendered.push((0, String::new(), None, 0));
            // A blank line ends any comma continuation (the statement is over).
            prev_continues = false;
            continue;
        }
        let first = line.toks.first().map(|t| t.kind);
        let mut level = braces + brackets;
        if prev_continues && brackets == 0 {
            level += 1;
        }
        match first {
            Some(Kind::RBrace) if braces > 0 => level -= 1,
            Some(Kind::RBracket) if brackets > 0 => level -= 1,
            _ => {}
        }
        // Parseable files nest at most `MAX_NESTING` deep; the cap keeps `layout` linear on any
        // text (it is public, and fuzzed).
        let level = level.min(2 * crate::syntax::parser::MAX_NESTING + 1);
        let (code_toks, comment) = match line.toks.last() {
            Some(t) if t.kind == Kind::Comment => {
                (&line.toks[..line.toks.len() - 1], Some(t.text.trim_end()))
            }
            _ => (&line.toks[..], None),
        };
        let mut code = join(code_toks);
        if line.continued {
            if code.is_empty() {
                code.push('\\');
            } else {
                code += " \\";
            }
        }
        for t in code_toks {
            match t.kind {
                Kind::LBrace => braces += 1,
                Kind::RBrace => braces = braces.saturating_sub(1),
                Kind::LBracket => brackets += 1,
                Kind::RBracket => brackets = brackets.saturating_sub(1),
                _ => {}
            }
        }
        prev_continues = line.continued
            || code_toks.last().is_some_and(|t| t.kind == Kind::Comma)
            || (prev_continues && code_toks.is_empty());
        let comment_col = line.toks.last().map_or(0, |t| {
            let line_start = text[..t.start].rfind('\n').map_or(0, |p| p + 1);
            text[line_start..t.start].chars().count()
        });
        rendered.push((level, code, comment, comment_col));
    }
    // Pass 2: blank lines (at most one in a row, none at the start or end of the file or right
    // inside a block), alignment of trailing comments, assembly.
    let mut out = String::with_capacity(text.len());
    let n = rendered.len();
    let mut i = 0;
    let mut last_code_opens = true; // start of file behaves like just after `{`
    while i < n {
        let (level, code, comment, _) = &rendered[i];
        if code.is_empty() && comment.is_none() {
            // Blank: keep one if something follows that is not a block's end.
            let mut j = i;
            while j < n && rendered[j].1.is_empty() && rendered[j].2.is_none() {
                j += 1;
            }
            let next_closes = j < n && rendered[j].1.starts_with('}');
            // After a `\` continuation the blank line ends the statement: it must stay.
            let after_continuation = out.ends_with("\\\n");
            if j < n && (after_continuation || (!last_code_opens && !next_closes)) {
                out.push('\n');
            }
            i = j;
            continue;
        }
        // A run of consecutive lines with code and a trailing comment: the comments keep their
        // column (at least one space after the code) and line up with each other.
        if !code.is_empty() && comment.is_some() {
            let mut j = i;
            let mut col = 0;
            while j < n && !rendered[j].1.is_empty() && rendered[j].2.is_some() {
                let end = rendered[j].0 * INDENT.len() + rendered[j].1.chars().count();
                col = col.max(end + 1).max(rendered[j].3);
                j += 1;
            }
            for (level, code, comment, _) in &rendered[i..j] {
                let line = format!("{}{}", INDENT.repeat(*level), code);
                let pad = col - line.chars().count();
                out += &format!("{line}{}{}\n", " ".repeat(pad), comment.unwrap_or(""));
            }
            last_code_opens = rendered[j - 1].1.ends_with('{');
            i = j;
            continue;
        }
        out += &INDENT.repeat(*level);
        out += code;
        if let Some(c) = comment {
            if !code.is_empty() {
                out.push(' ');
            }
            out += c;
        }
        out.push('\n');
        last_code_opens = code.ends_with('{');
        i += 1;
    }
    out
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let mut cur = Line {
        toks: Vec::new(),
        continued: false,
    };
    for t in lex::tokens(text) {
        match t.kind {
            Kind::Space => {}
            Kind::Newline => lines.push(std::mem::replace(
                &mut cur,
                Line {
                    toks: Vec::new(),
                    continued: false,
                },
            )),
            Kind::Continuation => {
                cur.continued = true;
                lines.push(std::mem::replace(
                    &mut cur,
                    Line {
                        toks: Vec::new(),
                        continued: false,
                    },
                ));
            }
            _ => cur.toks.push(t),
        }
    }
    if !cur.toks.is_empty() {
        lines.push(cur);
    }
    lines
}

/// The tokens of one line with canonical spacing.
fn join(toks: &[Token<'_>]) -> String {
    let mut s = String::new();
    let mut prev: Option<Kind> = None;
    for t in toks {
        if let Some(p) = prev {
            let tight = matches!(p, Kind::LBracket | Kind::Bang)
                || matches!(t.kind, Kind::Comma | Kind::Semi | Kind::RBracket);
            if !tight {
                s.push(' ');
            }
        }
        s += t.text;
        prev = Some(t.kind);
    }
    s
}

/// The non-whitespace tokens of `text` (comments included): formatting must keep these equal.
pub fn significant_tokens(text: &str) -> Vec<String> {
    lex::tokens(text)
        .into_iter()
        .filter(|t| !matches!(t.kind, Kind::Space | Kind::Newline | Kind::Continuation))
        .map(|t| {
            if t.kind == Kind::Comment {
                t.text.trim_end().to_string()
            } else {
                t.text.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_layout() {
        let src = "\n\n# head\nlet  x=1.2.3.4   # the host\nlet yy = [ 1 ,2 ]  # list\n\n\n\ninterface eth0{\n\n  rate 10mbit;ceil 10mbit\n\tclass a{rate 1mbit ;match tcp dst $x,\n 1.2.3.5}\n  match ! tcp\n\n}\n\n";
        let want = "# head\nlet x = 1.2.3.4    # the host\nlet yy = [1, 2]    # list\n\ninterface eth0 {\n    rate 10mbit; ceil 10mbit\n    class a { rate 1mbit; match tcp dst $x,\n            1.2.3.5 }\n    match !tcp\n}\n";
        assert_eq!(layout(src), want);
        assert_eq!(layout(want), want);
    }

    #[test]
    fn blank_line_after_a_continuation_is_kept() {
        // Found by the fuzzer: dropping it would join the next line to the statement.
        let src = "interface eth1 {\n    default a\n    class a { rate 1mbit } \\\n\n}\n";
        let once = layout(src);
        assert_eq!(once, src);
        assert_eq!(layout(&once), once);
        let src = "interface eth1 {\n    rate 1mbit \\\n\n    ceil 2mbit\n}\n";
        assert_eq!(layout(src), src);
    }
}
