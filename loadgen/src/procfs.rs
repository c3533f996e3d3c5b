//! CPU time and resident memory of a process, from `/proc/<pid>/stat` and
//! `/proc/<pid>/status` (Linux). Parsing is pure; reading is one file each.

use anyhow::{Context, Result, bail};

/// One reading of a process's resource use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// User plus system CPU seconds since the process started.
    pub cpu_seconds: f64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
}

/// Reads `pid`'s usage now. `ticks_per_second` is the kernel's USER_HZ (see
/// [`ticks_per_second`]).
pub fn usage(pid: u32, ticks_per_second: f64) -> Result<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("process {pid} is not running"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(Usage {
        cpu_seconds: cpu_ticks(&stat)? as f64 / ticks_per_second,
        rss_bytes: rss_bytes(&status)?,
    })
}

/// USER_HZ, from `getconf CLK_TCK` (100 on every Linux this runs on; asked rather
/// than assumed).
pub fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name
/// (field 2) may contain spaces and parentheses, so fields are counted from the last
/// `)`.
pub fn cpu_ticks(stat: &str) -> Result<u64> {
    let Some(close) = stat.rfind(')') else {
        bail!("not a /proc stat line");
    };
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After the name: field 3 (state) is index 0, so field n is index n - 3.
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// `VmRSS` of a `/proc/<pid>/status` file, in bytes.
pub fn rss_bytes(status: &str) -> Result<u64> {
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .context("no VmRSS value")?
        .parse()?;
    Ok(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_count_from_the_end_of_a_name_with_spaces() {
        let stat = "4242 (viva (serve) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    250 75 0 0 20 0 3 0 123456 1000000 2000 18446744073709551615";
        assert_eq!(cpu_ticks(stat).unwrap(), 325);
        assert!(cpu_ticks("garbage").is_err());
    }

    #[test]
    fn rss_is_read_in_bytes() {
        let status = "Name:\tjanus\nVmPeak:\t  9000 kB\nVmRSS:\t   20480 kB\nThreads:\t12\n";
        assert_eq!(rss_bytes(status).unwrap(), 20480 * 1024);
        assert!(rss_bytes("Name:\tx\n").is_err());
    }

    #[test]
    fn this_process_can_be_read() {
        let u = usage(std::process::id(), ticks_per_second()).unwrap();
        assert!(u.rss_bytes > 0);
        assert!(u.cpu_seconds >= 0.0);
    }
}
