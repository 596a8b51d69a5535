//! A comment-preserving tokenizer for `.shape` text, for the formatter and for in-file
//! suppressions. The pest grammar drops comments (they are silent), so layout tools read the
//! text through this instead. It never fails: every byte belongs to exactly one token, and
//! concatenating the token texts gives the input back.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any run of value characters (names, numbers, rates, addresses, `$var`, `${var}..5`, `:`).
    Word,
    /// `"..."` with escapes and `${var}` parts (unterminated strings run to the end of the line).
    Str,
    /// `#` up to the end of the line (without the newline).
    Comment,
    Newline,
    /// Spaces and tabs.
    Space,
    /// `\` followed by a newline: the statement continues on the next line.
    Continuation,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Semi,
    Eq,
    Bang,
    /// `->` of an `expect` line (it ends a word: `80->web` is three tokens).
    Arrow,
    /// Anything else (kept verbatim).
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub kind: Kind,
    pub text: &'a str,
    /// Byte offset of the token in the input.
    pub start: usize,
}

fn is_word_char(c: char) -> bool {
    !(c.is_whitespace()
        || matches!(
            c,
            '{' | '}' | '[' | ']' | ',' | ';' | '=' | '!' | '#' | '"' | '\\'
        ))
}

/// Split `text` into tokens. Linear time, no recursion.
pub fn tokens(text: &str) -> Vec<Token<'_>> {
    iter(text).collect()
}

/// The tokens of `text` one at a time (`tokens` without the vector).
pub fn iter(text: &str) -> impl Iterator<Item = Token<'_>> {
    let b = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        if i >= b.len() {
            return None;
        }
        let start = i;
        let c = text[i..].chars().next().expect("in bounds");
        let kind = match c {
            '\n' => {
                i += 1;
                Kind::Newline
            }
            '\r' if b.get(i + 1) == Some(&b'\n') => {
                i += 2;
                Kind::Newline
            }
            // A lone `\r` is a line break to the grammar (pest's NEWLINE), so it is one here.
            '\r' => {
                i += 1;
                Kind::Newline
            }
            ' ' | '\t' => {
                while i < b.len() && matches!(b[i], b' ' | b'\t') {
                    i += 1;
                }
                Kind::Space
            }
            '#' => {
                while i < b.len()
                    && b[i] != b'\n'
                    && !(b[i] == b'\r' && b.get(i + 1) == Some(&b'\n'))
                {
                    i += 1;
                }
                Kind::Comment
            }
            '"' => {
                i += 1;
                while i < b.len() {
                    match b[i] {
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\\' if i + 1 < b.len() => {
                            i += 1;
                            i += text[i..].chars().next().map_or(1, char::len_utf8);
                        }
                        b'\n' => break,
                        _ => i += 1,
                    }
                }
                Kind::Str
            }
            '\\' => {
                i += 1;
                if text[i..].starts_with("\r\n") {
                    i += 2;
                    Kind::Continuation
                } else if text[i..].starts_with('\n') || text[i..].starts_with('\r') {
                    // A lone CR is a line break too, as in the grammar's NEWLINE.
                    i += 1;
                    Kind::Continuation
                } else {
                    Kind::Other
                }
            }
            '{' => {
                i += 1;
                Kind::LBrace
            }
            '}' => {
                i += 1;
                Kind::RBrace
            }
            '[' => {
                i += 1;
                Kind::LBracket
            }
            ']' => {
                i += 1;
                Kind::RBracket
            }
            ',' => {
                i += 1;
                Kind::Comma
            }
            ';' => {
                i += 1;
                Kind::Semi
            }
            '=' => {
                i += 1;
                Kind::Eq
            }
            '!' => {
                i += 1;
                Kind::Bang
            }
            '-' if b.get(i + 1) == Some(&b'>') => {
                i += 2;
                Kind::Arrow
            }
            c if is_word_char(c) => {
                while i < b.len() {
                    let ch = text[i..].chars().next().expect("in bounds");
                    if ch == '$' && b.get(i + 1) == Some(&b'{') {
                        // `${name}` belongs to the word; its braces are not blocks.
                        i += 2;
                        while i < b.len() && b[i] != b'}' && b[i] != b'\n' {
                            i += 1;
                        }
                        if i < b.len() && b[i] == b'}' {
                            i += 1;
                        }
                    } else if ch == '-' && b.get(i + 1) == Some(&b'>') {
                        break;
                    } else if is_word_char(ch) {
                        i += ch.len_utf8();
                    } else {
                        break;
                    }
                }
                Kind::Word
            }
            c => {
                i += c.len_utf8();
                Kind::Other
            }
        };
        Some(Token {
            kind,
            text: &text[start..i],
            start,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_kinds() {
        let src =
            "let x = ${a}..5 # c {\nclass \"s-${p}\" { rate 1mbit; match tcp dport [80, 443] }\\\n";
        let t = tokens(src);
        assert_eq!(t.iter().map(|t| t.text).collect::<String>(), src);
        let kinds: Vec<_> = t
            .iter()
            .filter(|t| t.kind != Kind::Space)
            .map(|t| t.kind)
            .collect();
        use Kind::*;
        let arrow: Vec<_> = tokens("80->web").iter().map(|t| (t.kind, t.text)).collect();
        assert_eq!(
            arrow,
            [(Kind::Word, "80"), (Kind::Arrow, "->"), (Kind::Word, "web")]
        );
        assert_eq!(
            kinds,
            [
                Word,
                Word,
                Eq,
                Word,
                Comment,
                Newline,
                Word,
                Str,
                LBrace,
                Word,
                Word,
                Semi,
                Word,
                Word,
                Word,
                LBracket,
                Word,
                Comma,
                Word,
                RBracket,
                RBrace,
                Continuation
            ]
        );
    }
}
