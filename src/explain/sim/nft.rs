//! nft commands: the rules of a `type filter hook postrouting` chain that set `meta priority`
//! are read as mangle POSTROUTING rules of the families they apply to.

use super::Sim;
use crate::dialect::sh::Command;

impl Sim {
    pub(super) fn nft(&mut self, cmd: &Command) {
        match crate::dialect::nft::read::parse(cmd) {
            Ok(rules) => {
                for (v4, v6, r) in rules {
                    for (f, on) in [(0, v4), (1, v6)] {
                        if on {
                            self.tables[f].chain("POSTROUTING").push(r.clone());
                        }
                    }
                }
            }
            Err((span, msg)) => self.not_followed(span, msg),
        }
    }
}
