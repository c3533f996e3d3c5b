//! Turns the JSON lines of many runs into `docs/benchmarks.md`'s table and one SVG
//! line chart per workload (x: size, y: a figure, one line per SFU). Pure: strings in,
//! strings out.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

/// One point of a curve: size → median of that figure over the repeated runs.
type Curve = BTreeMap<u64, f64>;

/// The median of some values (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

fn size_of(run: &Value) -> Option<u64> {
    ["rooms", "trainees", "publishers"]
        .iter()
        .find_map(|k| run[k].as_u64())
}

/// Median of `figure` per (target, size) for one workload.
pub fn curves(runs: &[Value], workload: &str, figure: &str) -> BTreeMap<String, Curve> {
    let mut points: BTreeMap<(String, u64), Vec<f64>> = BTreeMap::new();
    for run in runs.iter().filter(|r| r["workload"] == workload) {
        let (Some(target), Some(size), Some(v)) =
            (run["target"].as_str(), size_of(run), run[figure].as_f64())
        else {
            continue;
        };
        points.entry((target.to_owned(), size)).or_default().push(v);
    }
    let mut out: BTreeMap<String, Curve> = BTreeMap::new();
    for ((target, size), mut values) in points {
        if let Some(m) = median(&mut values) {
            out.entry(target).or_default().insert(size, m);
        }
    }
    out
}

/// The table: one row per workload, size and target, medians of the repeated runs.
pub fn table(runs: &[Value]) -> String {
    let columns = [
        ("egressPps", "egress pkt/s", 0),
        ("sfuCores", "SFU cores", 2),
        ("egressPpsPerCore", "egress pkt/s per core", 0),
        ("lossPercent", "loss %", 3),
        ("latencyP50Ms", "p50 ms", 2),
        ("latencyP99Ms", "p99 ms", 2),
        ("latencyP999Ms", "p99.9 ms", 2),
        ("sfuDelayP50Ms", "in-SFU p50 ≤ ms", 2),
        ("sfuDelayP99Ms", "in-SFU p99 ≤ ms", 2),
        ("rssPerTrackKb", "KB per track", 0),
        ("generatorCores", "generator cores", 2),
    ];
    let mut out = String::from("| workload | size | SFU | runs |");
    for (_, title, _) in columns {
        let _ = write!(out, " {title} |");
    }
    out.push_str("\n|---|---|---|---|");
    for _ in columns {
        out.push_str("---|");
    }
    out.push('\n');
    let mut keys: Vec<(String, u64, String)> = runs
        .iter()
        .filter_map(|r| {
            Some((
                r["workload"].as_str()?.to_owned(),
                size_of(r)?,
                r["target"].as_str()?.to_owned(),
            ))
        })
        .collect();
    keys.sort();
    keys.dedup();
    for (workload, size, target) in keys {
        let group: Vec<&Value> = runs
            .iter()
            .filter(|r| r["workload"] == workload.as_str() && size_of(r) == Some(size))
            .filter(|r| r["target"] == target.as_str())
            .collect();
        let _ = write!(out, "| {workload} | {size} | {target} | {} |", group.len());
        for (key, _, decimals) in columns {
            let mut values: Vec<f64> = group.iter().filter_map(|r| r[key].as_f64()).collect();
            match median(&mut values) {
                Some(v) => {
                    let _ = write!(out, " {v:.decimals$} |");
                }
                None => out.push_str(" – |"),
            }
        }
        out.push('\n');
    }
    out
}

/// Resident memory per subscribed track as the **slope** of the SFU's memory over the
/// subscribed tracks of every run of one workload and target (least squares), in KB.
/// Unlike a run's growth over its idle figure, it does not depend on what the
/// allocator happened to hold when the idle figure was read (a sign-in's Argon2 hash
/// is 19 MiB, freed at once but returned to the kernel later or never). `None` with
/// fewer than two distinct sizes.
pub fn memory_slope_kb(runs: &[Value], workload: &str, target: &str) -> Option<f64> {
    let points: Vec<(f64, f64)> = runs
        .iter()
        .filter(|r| r["workload"] == workload && r["target"] == target)
        .filter_map(|r| {
            Some((
                r["subscribedTracks"].as_f64()?,
                r["sfuRssMb"].as_f64()? * 1024.0,
            ))
        })
        .collect();
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let spread: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    (spread > 0.0).then(|| {
        points
            .iter()
            .map(|p| (p.0 - mean_x) * (p.1 - mean_y))
            .sum::<f64>()
            / spread
    })
}

/// A table of [`memory_slope_kb`] per workload and target.
pub fn memory_table(runs: &[Value]) -> String {
    let mut pairs: Vec<(String, String)> = runs
        .iter()
        .filter_map(|r| {
            Some((
                r["workload"].as_str()?.to_owned(),
                r["target"].as_str()?.to_owned(),
            ))
        })
        .collect();
    pairs.sort();
    pairs.dedup();
    let mut out = String::from(
        "| workload | SFU | resident KB per subscribed track (slope over the sweep) |\n|---|---|---|\n",
    );
    for (workload, target) in pairs {
        let slope = memory_slope_kb(runs, &workload, &target)
            .map_or_else(|| "–".to_owned(), |v| format!("{v:.0}"));
        let _ = writeln!(out, "| {workload} | {target} | {slope} |");
    }
    out
}

/// An SVG line chart of `curves` (one line per target).
pub fn svg(title: &str, x_label: &str, y_label: &str, curves: &BTreeMap<String, Curve>) -> String {
    let (w, h, left, right, top, bottom) = (640.0, 400.0, 80.0, 20.0, 40.0, 50.0);
    let xs: Vec<f64> = curves
        .values()
        .flat_map(|c| c.keys().map(|k| *k as f64))
        .collect();
    let ys: Vec<f64> = curves.values().flat_map(|c| c.values().copied()).collect();
    let x_max = xs.iter().copied().fold(1.0, f64::max);
    let y_max = ys.iter().copied().fold(0.0, f64::max).max(1e-9) * 1.1;
    let px = |x: f64| left + (w - left - right) * x / x_max;
    let py = |y: f64| h - bottom - (h - top - bottom) * y / y_max;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">
<rect width="{w}" height="{h}" fill="white"/>
<text x="{}" y="20" text-anchor="middle" font-size="14">{}</text>
<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="black"/>
<line x1="{left}" y1="{top}" x2="{left}" y2="{}" stroke="black"/>
<text x="{}" y="{}" text-anchor="middle">{}</text>
<text x="15" y="{}" text-anchor="middle" transform="rotate(-90 15 {})">{}</text>
"#,
        w / 2.0,
        escape(title),
        h - bottom,
        w - right,
        h - bottom,
        h - bottom,
        (left + w - right) / 2.0,
        h - 10.0,
        escape(x_label),
        (top + h - bottom) / 2.0,
        (top + h - bottom) / 2.0,
        escape(y_label),
    );
    for i in 0..=4 {
        let y = y_max * f64::from(i) / 4.0;
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#ddd"/><text x="{2}" y="{3:.1}" text-anchor="end">{4}</text>"##,
            py(y),
            w - right,
            left - 5.0,
            py(y) + 4.0,
            compact(y)
        );
    }
    let mut ticks: Vec<f64> = xs.clone();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();
    for x in ticks {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            px(x),
            h - bottom + 16.0,
            x // sizes are whole numbers
        );
    }
    let colours = ["#c0392b", "#2c7fb8", "#27ae60", "#8e44ad"];
    for (i, (target, curve)) in curves.iter().enumerate() {
        let colour = colours[i % colours.len()];
        let points: Vec<String> = curve
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x as f64), py(*y)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        for p in &points {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(s, r#"<circle cx="{x}" cy="{y}" r="3" fill="{colour}"/>"#);
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" fill="{colour}">{}</text>"#,
            left + 10.0,
            top + 15.0 + 16.0 * i as f64,
            escape(target)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn compact(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn runs() -> Vec<Value> {
        vec![
            json!({"target":"viva","workload":"broadcast","trainees":50,"egressPps":100.0,"sfuCores":0.1}),
            json!({"target":"viva","workload":"broadcast","trainees":50,"egressPps":300.0,"sfuCores":0.3}),
            json!({"target":"janus","workload":"broadcast","trainees":50,"egressPps":200.0}),
            json!({"target":"viva","workload":"broadcast","trainees":100,"egressPps":400.0}),
            json!({"target":"viva","workload":"defense","rooms":1,"egressPps":9.0}),
        ]
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn curves_take_the_median_per_target_and_size_of_one_workload() {
        let c = curves(&runs(), "broadcast", "egressPps");
        assert_eq!(c["viva"][&50], 200.0);
        assert_eq!(c["viva"][&100], 400.0);
        assert_eq!(c["janus"][&50], 200.0);
        assert!(!c.contains_key("defense"));
    }

    #[test]
    fn the_table_has_a_row_per_workload_size_and_target() {
        let t = table(&runs());
        let rows: Vec<&str> = t.lines().skip(2).collect();
        assert_eq!(rows.len(), 4, "{t}");
        assert!(
            rows.iter()
                .any(|r| r.starts_with("| broadcast | 50 | viva | 2 | 200 | 0.20 |")),
            "{t}"
        );
        assert!(t.contains("| – |"), "missing figures are marked");
    }

    #[test]
    fn memory_per_track_is_the_slope_whatever_the_idle_figure() {
        // 100 KB per track on top of 50 MB, and a run whose idle figure was inflated.
        let run = |tracks: u64, idle: f64| {
            json!({"workload": "defense", "target": "viva", "subscribedTracks": tracks,
                   "sfuRssMb": 50.0 + tracks as f64 * 100.0 / 1024.0, "sfuRssIdleMb": idle})
        };
        let runs = vec![run(100, 50.0), run(200, 70.0), run(400, 50.0)];
        let slope = memory_slope_kb(&runs, "defense", "viva").unwrap();
        assert!((slope - 100.0).abs() < 1e-6, "{slope}");
        assert_eq!(memory_slope_kb(&runs[..1], "defense", "viva"), None);
        assert!(memory_table(&runs).contains("| defense | viva | 100 |"));
    }

    #[test]
    fn the_chart_draws_one_line_per_target() {
        let s = svg(
            "Broadcast <1→N>",
            "trainees",
            "packets/s",
            &curves(&runs(), "broadcast", "egressPps"),
        );
        assert!(s.starts_with("<svg"));
        assert_eq!(s.matches("<polyline").count(), 2);
        assert!(s.contains("&lt;1→N&gt;"));
    }
}
