//! Which host of a site file a command works on: `--host NAME`, or (for the commands that run
//! on the machine itself) the one host whose `address` is among the machine's own addresses.

use crate::cli::ExitCode;
use crate::plan::site::Site;
use crate::plan::Plan;

/// The `--host` flag of every command that reads one host's plan.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct HostArg {
    /// In a site file (one with `host` blocks), the host to use. Without it, `apply`, `plan`,
    /// `status` and `teardown` use the host whose `address` is one of this machine's own.
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
}

/// How a command picks its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick<'a> {
    /// `--host NAME`.
    Named(&'a str),
    /// No `--host`: a single-host file, or the host with one of this machine's addresses.
    Auto,
    /// No `--host`, and the command does not look at the machine (`compile`, `graph`): a
    /// single-host file only.
    Single,
}

impl HostArg {
    pub fn pick(&self, auto: bool) -> Pick<'_> {
        match (&self.host, auto) {
            (Some(h), _) => Pick::Named(h),
            (None, true) => Pick::Auto,
            (None, false) => Pick::Single,
        }
    }
}

fn host_list(site: &Site) -> String {
    site.hosts
        .iter()
        .map(|h| {
            let addrs: Vec<String> = h.addresses.iter().map(|a| a.0.to_string()).collect();
            format!(
                "{} ({})",
                h.name.as_deref().unwrap_or("?"),
                addrs.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The plan of the host `pick` names in `site` (read from `name`); an error message and exit
/// status 2 when there is none or more than one.
pub fn choose(site: Site, name: &str, pick: Pick) -> Result<(Plan, Option<String>), ExitCode> {
    use crate::cli::io_error;
    if !site.is_fleet() {
        if let Pick::Named(h) = pick {
            return Err(io_error(&format!(
                "{name} has no `host` blocks, so there is no host `{h}`: drop --host"
            )));
        }
        let plan = site
            .hosts
            .into_iter()
            .next()
            .map(|h| h.plan)
            .unwrap_or_default();
        return Ok((plan, None));
    }
    let index = match pick {
        Pick::Named(h) => match site.hosts.iter().position(|x| x.name.as_deref() == Some(h)) {
            Some(i) => i,
            None => {
                return Err(io_error(&format!(
                    "{name} has no host `{h}`; its hosts: {}",
                    host_list(&site)
                )));
            }
        },
        Pick::Single => {
            return Err(io_error(&format!(
                "{name} is a site file with {} hosts: name one with --host NAME (hosts: {}), or write every host's script with --emit-dir DIR",
                site.hosts.len(),
                host_list(&site)
            )))
        }
        Pick::Auto => {
            let own = crate::apply::addrs::own_addresses().map_err(|e| {
                io_error(&format!("{e}; name the host with --host NAME"))
            })?;
            let found: Vec<usize> = (0..site.hosts.len())
                .filter(|&i| site.hosts[i].addresses.iter().any(|a| own.contains(&a.0)))
                .collect();
            match found[..] {
                [i] => i,
                [] => {
                    let mine: Vec<String> = own.iter().map(|a| a.to_string()).collect();
                    return Err(io_error(&format!(
                        "no host of {name} has one of this machine's addresses ({}): its hosts are {}; name one with --host NAME",
                        mine.join(", "),
                        host_list(&site)
                    )));
                }
                _ => {
                    let names: Vec<String> = found
                        .iter()
                        .map(|&i| site.hosts[i].name.clone().unwrap_or_default())
                        .collect();
                    return Err(io_error(&format!(
                        "this machine has the addresses of several hosts of {name} ({}): name one with --host NAME",
                        names.join(", ")
                    )));
                }
            }
        }
    };
    let host = site
        .hosts
        .into_iter()
        .nth(index)
        .expect("index from the list");
    Ok((host.plan, host.name))
}
