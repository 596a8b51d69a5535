//! Quoting for POSIX `sh`.

/// Quote `s` as one `sh` word. Words made only of characters that are never special to the
/// shell stay bare (`eth1`, `tcc-eth1`); anything else is single-quoted, with each `'` written
/// as `'\''`.
pub fn sh_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-.,:/@%+=".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Make `s` safe inside a `#` comment: no line breaks or other control characters.
pub fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("eth1"), "eth1");
        assert_eq!(sh_quote("tcc-br0.100"), "tcc-br0.100");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote("$(reboot)"), "'$(reboot)'");
        assert_eq!(sh_quote("-x"), "-x");
        assert_eq!(comment_text("a\nb"), "a?b");
    }
}
