//! One budget for all of the shell reader's work, so that reading any input ends soon and in
//! little memory: the commands it evaluates (function calls and loop rounds included), the
//! expansions it makes and the bytes they produce (with the text handed to commands on their
//! standard input), the text it reads (the script and each file it sources or names, every
//! time it is read) and how deep it nests (blocks, function calls, `sh -c` strings, sourced
//! files, `$(...)` inside `$(...)`). The allowances grow with the text read, so that a long
//! plain script is read whole while a short one that multiplies its work stops early.
//!
//! When a part runs out, reading stops there with S0001 naming it: the explanation covers the
//! commands read before, and never more.

/// The parts of the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    Steps,
    Expansions,
    Bytes,
    Input,
    Depth,
}

impl Part {
    pub(super) fn what(self) -> &'static str {
        match self {
            Part::Steps => "commands run (function calls and loop rounds included)",
            Part::Expansions => "expansions",
            Part::Bytes => "bytes produced by expansions and fed to commands",
            Part::Input => "bytes of text read (the script and the files it reads)",
            Part::Depth => "levels of nesting (blocks, calls, `sh -c`, `source`, `$(...)`)",
        }
    }
}

/// Commands run, whatever the script's size.
const STEPS: u64 = 50_000;
/// And per line of text read.
const STEPS_PER_LINE: u64 = 1;
const EXPANSIONS: u64 = 200_000;
const EXPANSIONS_PER_LINE: u64 = 8;
const BYTES: u64 = 32 << 20;
const BYTES_PER_BYTE: u64 = 2;
/// Text read beyond the script itself (files sourced or fed to tools, `$(...)` re-read).
const INPUT: u64 = 64 << 20;
/// Nesting of evaluation (a block in a block, a call in a call...).
pub(super) const MAX_DEPTH: usize = 150;
/// Function calls, `sh -c` strings and sourced files inside each other.
pub(super) const MAX_CALLS: usize = 64;

/// What is left of each part, and what it started with (for the message).
#[derive(Debug, Clone)]
pub(super) struct Budget {
    left: [u64; 4],
    given: [u64; 4],
}

impl Budget {
    /// The allowance for a script of `text`.
    pub(super) fn for_text(text: &str) -> Budget {
        let given = [STEPS, EXPANSIONS, BYTES, INPUT];
        let mut b = Budget { left: given, given };
        let _ = b.grow(text, false);
        b
    }

    /// More allowance for more text read (a sourced file, a file fed to a tool); it is also
    /// spent from `Input` unless it is the script itself.
    pub(super) fn grow(&mut self, text: &str, spend: bool) -> Result<(), Part> {
        let len = text.len() as u64;
        if spend {
            self.spend(Part::Input, len)?;
        }
        let lines = text.bytes().filter(|&b| b == b'\n').count() as u64 + 1;
        let more = [
            STEPS_PER_LINE * lines,
            EXPANSIONS_PER_LINE * lines,
            BYTES_PER_BYTE * len,
            len,
        ];
        for ((left, given), more) in self.left.iter_mut().zip(&mut self.given).zip(more) {
            *left = left.saturating_add(more);
            *given = given.saturating_add(more);
        }
        Ok(())
    }

    fn index(p: Part) -> usize {
        match p {
            Part::Steps => 0,
            Part::Expansions => 1,
            Part::Bytes => 2,
            Part::Input | Part::Depth => 3,
        }
    }

    /// Spend `n` of `p`; `Err(p)` when it runs out.
    pub(super) fn spend(&mut self, p: Part, n: u64) -> Result<(), Part> {
        let k = Self::index(p);
        match self.left[k].checked_sub(n) {
            Some(l) => {
                self.left[k] = l;
                Ok(())
            }
            None => {
                self.left[k] = 0;
                Err(p)
            }
        }
    }

    /// What `p` allowed in all (the nesting limit for `Depth`).
    pub(super) fn given(&self, p: Part) -> u64 {
        match p {
            Part::Depth => MAX_DEPTH as u64,
            _ => self.given[Self::index(p)],
        }
    }
}
