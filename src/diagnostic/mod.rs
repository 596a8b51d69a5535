//! Diagnostics as data: a stable code, a severity, a message, labelled spans and help lines.
//!
//! Every stage reports through this one type; rendering (human via codespan-reporting, or JSON)
//! happens only at the edge, in `report`.

pub mod explanations;

use serde::Serialize;

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    pub file: usize,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: usize, start: usize, end: usize) -> Span {
        Span { file, start, end }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Hint,
    Warning,
    Error,
}

/// A secondary span with its own short message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    pub primary: Span,
    /// What to say under the primary caret (may be empty).
    pub primary_label: String,
    pub secondary: Vec<Label>,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(code: Code, primary: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            message: message.into(),
            primary,
            primary_label: String::new(),
            secondary: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    pub fn label(mut self, text: impl Into<String>) -> Self {
        self.primary_label = text.into();
        self
    }

    pub fn secondary(mut self, span: Span, text: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            message: text.into(),
        });
        self
    }

    pub fn note(mut self, text: impl Into<String>) -> Self {
        self.notes.push(text.into());
        self
    }

    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help = Some(text.into());
        self
    }

    pub fn severity(&self) -> Severity {
        self.code.severity()
    }
}

macro_rules! codes {
    ($( $variant:ident = $code:literal, $sev:ident, $summary:literal; )*) => {
        /// Every kind of diagnostic tcc can produce. Codes are stable: never renumber one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $( $variant, )* }

        impl Code {
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            /// The stable code, e.g. `E0201`.
            pub fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $code, )* }
            }

            pub fn severity(self) -> Severity {
                match self { $( Code::$variant => Severity::$sev, )* }
            }

            /// One line saying what the code is about.
            pub fn summary(self) -> &'static str {
                match self { $( Code::$variant => $summary, )* }
            }

            pub fn parse(s: &str) -> Option<Code> {
                let s = s.to_ascii_uppercase();
                Code::ALL.iter().copied().find(|c| c.as_str() == s)
            }
        }
    };
}

codes! {
    // Syntax and names.
    Syntax = "E0001", Error, "syntax error";
    UnknownVariable = "E0101", Error, "unknown variable";
    UnknownRule = "E0102", Error, "unknown rule";
    UnknownTemplate = "E0103", Error, "unknown template";
    UnknownClass = "E0104", Error, "unknown class";
    DuplicateClass = "E0105", Error, "duplicate class name";
    DuplicateDefinition = "E0106", Error, "duplicate definition";
    WrongType = "E0107", Error, "value of the wrong kind";
    MissingUnit = "E0108", Error, "rate without a unit";
    UnknownUnit = "E0109", Error, "unknown unit";
    InheritanceCycle = "E0110", Error, "inheritance cycle";
    UnknownProperty = "E0111", Error, "unknown property";
    DuplicateProperty = "E0112", Error, "property given twice";
    DuplicateInterface = "E0113", Error, "interface defined twice";
    LoopTooLarge = "E0114", Error, "loop or nesting too large";
    ValueTooLarge = "E0115", Error, "string or list value too large";
    AddrRangeFamilies = "E0116", Error, "address range from one family to the other";
    TooManyAlternatives = "E0117", Error, "match line that stands for too many matches";
    // The class tree.
    Oversubscribed = "E0201", Error, "children's rates exceed the parent's rate";
    CeilBelowRate = "E0202", Error, "ceil below rate";
    CeilAboveParent = "E0203", Error, "child's ceil above its parent's ceil";
    ZeroRate = "E0204", Error, "rate of zero";
    PercentWithoutParent = "E0205", Error, "percentage with no parent rate";
    DuplicateClassid = "E0206", Error, "duplicate classid";
    ClassidOutOfRange = "E0207", Error, "classid out of range";
    MatchOnInnerClass = "E0208", Error, "match on a class that has children";
    DefaultNotLeaf = "E0209", Error, "default names a class that has children";
    PrioOutOfRange = "E0210", Error, "prio out of range";
    TooDeep = "E0211", Error, "class tree deeper than HTB allows";
    BadInterfaceName = "E0212", Error, "invalid interface name";
    MissingRate = "E0213", Error, "class without a rate";
    IdsExhausted = "E0214", Error, "no free minor id";
    BadValue = "E0215", Error, "value out of range";
    KernelLimit = "E0216", Error, "value the kernel refuses or silently changes";
    QdiscOnInnerClass = "E0217", Error, "leaf qdisc on a class that has children";
    BadQdisc = "E0218", Error, "leaf qdisc tcc does not model, or an invalid option of one";
    // Matches.
    PortsWithoutProtocol = "E0301", Error, "ports without tcp or udp";
    ReversedRange = "E0302", Error, "reversed range";
    PortOutOfRange = "E0303", Error, "port out of range";
    MixedFamilies = "E0304", Error, "match mixes IPv4 and IPv6";
    BadDscp = "E0305", Error, "invalid DSCP value";
    ConflictingCriteria = "E0306", Error, "criteria that contradict each other";
    NotExpressible = "E0307", Error, "match cannot be expressed with the chosen classifier";
    IngressNotExpressible = "E0308", Error, "ingress match that tc u32 filters on the ifb cannot express";
    IfbNameClash = "E0309", Error, "ifb device name of an ingress tree clashes with another interface";
    MisplacedIngress = "E0310", Error, "`ingress` block not directly in an interface, or given twice";
    // Expectations (`expect PACKET -> CLASS`).
    ExpectationFailed = "E0401", Error, "packet does not reach the class its expectation names";
    BadExpectation = "E0402", Error, "expectation that describes no single packet or no possible class";
    // Sites: hosts and the paths they share (`host`, `path`).
    PathOversubscribed = "E0501", Error, "classes on a path are guaranteed more than the path's rate";
    UnknownPath = "E0502", Error, "unknown path";
    DuplicateHost = "E0503", Error, "host defined twice";
    DuplicateAddress = "E0504", Error, "address given to two hosts";
    MissingAddress = "E0505", Error, "host without an address";
    OutsideHost = "E0506", Error, "interface or class outside a host in a site file";
    BadHostName = "E0507", Error, "invalid host name";
    // Warnings.
    NoDefault = "W0101", Warning, "no default class: unclassified traffic is not shaped";
    ByteUnits = "W0102", Warning, "byte-per-second unit used as a rate";
    HostBitsSet = "W0103", Warning, "address has host bits set";
    Unused = "W0104", Warning, "unused definition";
    ShadowedMatch = "W0105", Warning, "match can never fire";
    PrioOnInnerClass = "W0106", Warning, "prio on a class that has children";
    BadSuppression = "W0107", Warning, "suppression comment tcc cannot follow";
    CannotBorrow = "W0112", Warning, "ceil above rate on a class with no parent to borrow from";
    DecimalClassid = "W0113", Warning, "pinned classids that read as decimal but are hex";
    QuantumBelowMtu = "W0114", Warning, "quantum below the class's packet size";
    LeafQueueSize = "W0108", Warning, "leaf queue far from one bandwidth-delay product";
    TcpBufferBelowWindow = "W0109", Warning, "host TCP buffer maximum below the window a class needs";
    // Live state found by `tcc plan` and `tcc apply` (the span is the interface's declaration).
    ForeignClassify = "W0201", Warning, "another iptables CLASSIFY rule classifies the interface's traffic";
    ForeignPriority = "W0202", Warning, "another nftables table sets the priority of the interface's packets";
    ForeignRoot = "W0203", Warning, "root qdisc that is not tcc's: applying replaces it";
    // Sites.
    CeilAbovePath = "W0501", Warning, "class's ceil above the rate of its path";
    // Hints.
    JumboMtu = "H0001", Hint, "jumbo frames need a larger class mtu";
    QuantumSet = "H0002", Hint, "quantum set explicitly because rate/r2q leaves HTB's range";
    TcpWindow = "H0003", Hint, "TCP window the flows of a class need to fill it (ceil x rtt)";
    // Reading shell scripts (`tcc explain`).
    ScriptNotFollowed = "S0001", Warning, "script construct tcc cannot follow";
    Ipv4Only = "S0002", Warning, "classification for IPv4 only: IPv6 traffic is left unclassified";
    FlushesChain = "S0003", Warning, "script flushes or deletes a whole chain it does not own";
    DecimalId = "S0004", Warning, "tc id written as if decimal, but tc reads it as hex";
    Opaque = "S0005", Hint, "configuration the shaping plan does not model";
    ObsoleteSyntax = "S0006", Error, "command that current tc or iptables refuses";
    KernelRefuses = "S0007", Warning, "command the kernel refuses: it changes nothing";
    NotCarried = "S0008", Warning, "setting that changes traffic but is not in the plan";
    IngressNotFollowed = "S0009", Warning, "ingress redirect that is not a whole-interface ifb shaping setup";
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// At most this many diagnostics of one code at one place in a `.shape` file are kept; the
/// others (a loop line that repeats one mistake 65,535 times) are counted in a note on the last
/// one kept, so that memory and output stay bounded (a fuzz find: 633,000 E0105 took 1.1 GB).
/// Script diagnostics (S-codes) are bounded by the script reader's own budget instead.
pub const SAME_PLACE_LIMIT: u32 = 20;

/// A bag of diagnostics collected across stages.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
    /// Per (code, primary span): how many were pushed, and where the last one kept is.
    same_place: std::collections::HashMap<(Code, Span), (u32, usize)>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        // The script reader bounds itself (its budget), and its endings need every diagnostic.
        if d.code.as_str().starts_with('S') {
            self.items.push(d);
            return;
        }
        let key = (d.code, d.primary);
        let (n, at) = self.same_place.entry(key).or_insert((0, 0));
        *n += 1;
        if *n <= SAME_PLACE_LIMIT {
            *at = self.items.len();
            self.items.push(d);
            return;
        }
        let (more, at) = (*n - SAME_PLACE_LIMIT, *at);
        // The kept one may have moved (`sort`): look it up again if so.
        let i = match self.items.get(at) {
            Some(k) if (k.code, k.primary) == key => at,
            _ => match self.items.iter().rposition(|k| (k.code, k.primary) == key) {
                Some(i) => i,
                None => return,
            },
        };
        let kept = &mut self.items[i];
        let note =
            format!("and {more} more like this at the same place (a loop repeats it), not shown");
        match kept.notes.last_mut() {
            Some(last) if last.starts_with("and ") && last.ends_with(", not shown") => *last = note,
            _ => kept.notes.push(note),
        }
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity() == Severity::Error)
    }

    pub fn count(&self, sev: Severity) -> usize {
        self.items.iter().filter(|d| d.severity() == sev).count()
    }

    /// Sort by file and position so output is stable whatever order checks ran in.
    pub fn sort(&mut self) {
        self.items
            .sort_by_key(|d| (d.primary.file, d.primary.start, d.primary.end, d.code));
        self.items.dedup();
    }

    pub fn extend(&mut self, other: Diagnostics) {
        for d in other.items {
            self.push(d);
        }
    }
}

#[cfg(test)]
mod same_place_tests {
    use super::*;

    /// One mistake repeated by a loop at one place: 20 kept, the rest counted on the last one;
    /// script diagnostics are not capped (their reader has its own budget).
    #[test]
    fn one_mistake_repeated_at_one_place_is_kept_twenty_times() {
        let mut d = Diagnostics::default();
        let at = Span::new(0, 5, 9);
        for i in 0..25 {
            d.push(Diagnostic::new(
                Code::DuplicateClass,
                at,
                format!("class `c{i}`"),
            ));
        }
        d.push(Diagnostic::new(
            Code::DuplicateClass,
            Span::new(0, 10, 12),
            "elsewhere",
        ));
        assert_eq!(d.items.len(), SAME_PLACE_LIMIT as usize + 1);
        assert_eq!(
            d.items[SAME_PLACE_LIMIT as usize - 1].notes,
            ["and 5 more like this at the same place (a loop repeats it), not shown"]
        );
        let mut s = Diagnostics::default();
        for _ in 0..25 {
            s.push(Diagnostic::new(Code::ScriptNotFollowed, at, "x"));
        }
        assert_eq!(s.items.len(), 25);
    }
}
