//! A site: the hosts of one `.shape` file, each with its own plan, and the network paths their
//! classes share. A file without `host` blocks is a site of one unnamed host, so every
//! single-host command keeps working on `Host::plan` exactly as before.

use super::Plan;
use crate::diagnostic::Span;
use std::net::IpAddr;

/// Every host of a file and the paths they share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Site {
    /// In source order (loops unrolled). One unnamed host for a file without `host` blocks.
    pub hosts: Vec<Host>,
    pub paths: Vec<Path>,
}

/// One machine: its name and addresses (how it is found and reached) and its plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Host {
    /// `None` for the one host of a file without `host` blocks.
    pub name: Option<String>,
    /// The host's name as written (its `host` statement).
    pub span: Span,
    pub addresses: Vec<(IpAddr, Span)>,
    pub plan: Plan,
    /// The classes of this host that name a path.
    pub on_path: Vec<OnPath>,
}

/// "The traffic of class `class` of interface `iface` crosses path `path`" (`path NAME` in a
/// class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnPath {
    /// Index into `Site::paths`.
    pub path: usize,
    /// Index into the host plan's `interfaces`.
    pub iface: usize,
    /// Index into that interface's `classes`.
    pub class: usize,
    /// The class's `path` property.
    pub span: Span,
}

/// `path NAME { rate 1gbit; rtt 80ms }`: a shared bottleneck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub name: String,
    /// The path's name as written.
    pub span: Span,
    /// Bits per second.
    pub rate: u64,
    pub rate_span: Span,
    /// Round-trip time in microseconds, when given.
    pub rtt_us: Option<u64>,
    pub rtt_span: Option<Span>,
}

impl Site {
    /// Whether the file has `host` blocks (rather than being one machine's configuration).
    pub fn is_fleet(&self) -> bool {
        self.hosts.iter().any(|h| h.name.is_some())
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name.as_deref() == Some(name))
    }

    /// The round-trip time of the path class `class` of interface `iface` of host `host`
    /// crosses, if it names one with an `rtt`: the hook for sizing its leaf queue.
    pub fn rtt_us(&self, host: usize, iface: usize, class: usize) -> Option<u64> {
        self.hosts[host]
            .on_path
            .iter()
            .find(|o| o.iface == iface && o.class == class)
            .and_then(|o| self.paths[o.path].rtt_us)
    }
}
