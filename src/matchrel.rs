//! Relations between matches: does one cover another, can two ever both match.
//! (Placeholder until the full implementation lands: conservative answers only.)

use crate::plan::Match;

/// True only if every packet matching `b` surely matches `a`.
pub fn covers(a: &Match, b: &Match) -> bool {
    a == b
}

/// True only if no packet can match both.
pub fn disjoint(_a: &Match, _b: &Match) -> bool {
    false
}
