//! `viva-loadgen`: drives an SFU (Viva or Janus) with one workload at one size and
//! prints the run's figures as one JSON line. `scripts/bench-sfu.sh` runs the
//! scaling curves side by side; see `docs/benchmarks.md`.
//!
//! ```text
//! viva-loadgen --target viva --viva http://127.0.0.1:8080 --password P \
//!              --workload defense --size 2 --sfu-pid 1234 [--warmup 3] [--seconds 10]
//!              [--viva-metrics http://127.0.0.1:9464/metrics]  # + the SFU's own delay
//!              [--tcp 127.0.0.1:50000]  # every endpoint over ICE-TCP to this listener
//! viva-loadgen --target janus --janus http://127.0.0.1:8088/janus ...
//!              [--bind 10.77.0.2]   # the generator's media address (default 127.0.0.1)
//!              [--layers 3]         # simulcast layers per publisher's video (1 or 3)
//! viva-loadgen report results.jsonl docs/bench    # table.md and one SVG per chart
//! viva-loadgen floor-receive --bind 10.77.0.2:41000 --receivers 9 --seconds 12
//! viva-loadgen floor-send --bind 10.77.0.1:0 --to 10.77.0.2:41000 --receivers 9 \
//!              --rate 100000 --seconds 8   # the kernel's share alone (`floor`)
//! ```

mod endpoint;
mod floor;
mod histogram;
mod janus;
mod pacer;
mod payload;
mod procfs;
mod report;
mod viva;
mod workload;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use workload::{Target, Timing, Workload};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("report") {
        let [_, results, out_dir] = args.as_slice() else {
            bail!("usage: viva-loadgen report <results.jsonl> <output directory>");
        };
        return write_report(results, out_dir);
    }
    let subcommand = args.first().filter(|a| a.starts_with("floor-")).cloned();
    let mut flags: HashMap<String, String> = HashMap::new();
    let mut it = args.iter().skip(usize::from(subcommand.is_some()));
    while let Some(flag) = it.next() {
        let Some(name) = flag.strip_prefix("--") else {
            bail!("unexpected argument {flag:?}");
        };
        let value = it
            .next()
            .with_context(|| format!("--{name} needs a value"))?;
        flags.insert(name.to_owned(), value.clone());
    }
    let get = |name: &str| {
        flags
            .get(name)
            .cloned()
            .with_context(|| format!("--{name} is required"))
    };
    let number = |name: &str, default: u64| -> Result<u64> {
        flags
            .get(name)
            .map(|v| v.parse().with_context(|| format!("--{name}: not a number")))
            .unwrap_or(Ok(default))
    };
    if let Some(subcommand) = subcommand {
        let address = |name: &str| -> Result<std::net::SocketAddr> {
            get(name)?
                .parse()
                .with_context(|| format!("--{name}: not an address:port"))
        };
        let receivers = u16::try_from(number("receivers", 9)?).context("--receivers: too many")?;
        let seconds = number("seconds", 8)?;
        if subcommand == "floor-receive" {
            let sockets = floor::bind_receivers(&floor::consecutive(address("bind")?, receivers)?)?;
            let received = floor::receive(&sockets, seconds, u64::MAX)?;
            println!("{}", serde_json::json!({ "received": received }));
        } else if subcommand == "floor-send" {
            let report = floor::send(
                address("bind")?,
                &floor::consecutive(address("to")?, receivers)?,
                number("fanout", 9)? as usize,
                number("rate", 100_000)?,
                seconds,
            )?;
            println!("{}", serde_json::to_string(&report)?);
        } else {
            bail!("unknown subcommand {subcommand:?} (floor-send, floor-receive)");
        }
        return Ok(());
    }
    let bind: std::net::IpAddr = flags
        .get("bind")
        .map(String::as_str)
        .unwrap_or("127.0.0.1")
        .parse()
        .context("--bind: not an IP address")?;
    let layers = match number("layers", 3)? {
        n @ (1 | 3) => n as usize,
        n => bail!("--layers: 1 or 3, not {n}"),
    };
    let target = match get("target")?.as_str() {
        "viva" => Target::Viva(viva::Viva {
            base: get("viva")?,
            admin_password: get("password")?,
            bind,
            metrics: flags.get("viva-metrics").cloned(),
            layers,
            tcp: flags
                .get("tcp")
                .map(|a| a.parse().context("--tcp: not an address:port"))
                .transpose()?,
        }),
        "janus" => Target::Janus(janus::Janus {
            base: get("janus")?,
            bind,
            layers,
        }),
        other => bail!("unknown target {other:?} (viva, janus)"),
    };
    let workload = Workload::parse(&get("workload")?, number("size", 1)? as usize)?;
    let sfu_pid: u32 = get("sfu-pid")?.parse().context("--sfu-pid")?;
    let timing = Timing {
        connect_within: Duration::from_secs(number("connect-within", 60)?),
        warmup: Duration::from_secs(number("warmup", 3)?),
        window: Duration::from_secs(number("seconds", 10)?),
    };
    // One thread: the generator's cost stays on the core it is pinned to.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(workload::run(&target, workload, sfu_pid, timing))?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Writes the table and the charts for every workload found in `results`.
fn write_report(results: &str, out_dir: &str) -> Result<()> {
    let text = std::fs::read_to_string(results).with_context(|| format!("reading {results}"))?;
    let runs: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("a results line is not JSON")?;
    std::fs::create_dir_all(out_dir)?;
    std::fs::write(
        format!("{out_dir}/table.md"),
        format!("{}\n{}", report::table(&runs), report::memory_table(&runs)),
    )?;
    let charts = [
        ("defense", "rooms (8 publishers + 2 observers each)"),
        ("broadcast", "trainees"),
        ("meeting", "publishers (each receiving all others)"),
    ];
    let figures = [
        ("egressPps", "egress packets/s"),
        ("sfuCores", "SFU CPU (cores)"),
        ("latencyP99Ms", "latency p99 (ms)"),
    ];
    for (workload, x_label) in charts {
        for (figure, y_label) in figures {
            let curves = report::curves(&runs, workload, figure);
            if curves.is_empty() {
                continue;
            }
            let title = format!("{workload}: {y_label}");
            std::fs::write(
                format!("{out_dir}/{workload}-{figure}.svg"),
                report::svg(&title, x_label, y_label, &curves),
            )?;
        }
    }
    Ok(())
}
