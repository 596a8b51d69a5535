//! The machine's own addresses (every interface, as `ip -j addr show` lists them), for picking
//! the host of a site file that `tcc apply` runs on. Read only.

use std::net::IpAddr;

/// Why the addresses could not be read.
#[derive(Debug)]
pub enum AddrError {
    /// `ip` could not be started.
    Spawn(std::io::Error),
    /// `ip` failed (its standard error).
    Failed(String),
    /// Its output was not the JSON `ip -j addr` prints.
    Parse(String),
}

impl std::fmt::Display for AddrError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddrError::Spawn(e) => write!(f, "cannot run `ip -j addr show`: {e}"),
            AddrError::Failed(e) => write!(f, "`ip -j addr show` failed: {}", e.trim()),
            AddrError::Parse(e) => write!(f, "cannot read the output of `ip -j addr show`: {e}"),
        }
    }
}

/// Every address of every interface of this machine (this network namespace).
pub fn own_addresses() -> Result<Vec<IpAddr>, AddrError> {
    let out = std::process::Command::new("ip")
        .args(["-j", "addr", "show"])
        .output()
        .map_err(AddrError::Spawn)?;
    if !out.status.success() {
        return Err(AddrError::Failed(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    parse(&String::from_utf8_lossy(&out.stdout))
}

/// The addresses in `ip -j addr show` output.
pub fn parse(json: &str) -> Result<Vec<IpAddr>, AddrError> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| AddrError::Parse(e.to_string()))?;
    let mut out = vec![];
    for link in v.as_array().into_iter().flatten() {
        for a in link["addr_info"].as_array().into_iter().flatten() {
            if let Some(ip) = a["local"].as_str().and_then(|s| s.parse().ok()) {
                out.push(ip);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_ip_json() {
        let j = r#"[{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8},{"family":"inet6","local":"::1","prefixlen":128}]},{"ifindex":2,"ifname":"v0","addr_info":[{"family":"inet","local":"10.0.0.2","prefixlen":24}]}]"#;
        let a = super::parse(j).unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a[2].to_string(), "10.0.0.2");
    }
}
