//! The set-up check's verdict: what a participant's browser measured days before a
//! session (camera, microphone, and a loopback of their own media through the SFU:
//! the path it took, round trip, loss, bitrate) becomes a plain verdict and what to
//! do about it. Pure; the thresholds follow the stability definition
//! (`crate::stability`): what would make a defense unstable makes a check poor.

use serde::{Deserialize, Serialize};

use crate::stability::{
    MAX_ACCEPTABLE_LOSS, MAX_ACCEPTABLE_RTT_MS, MAX_GOOD_LOSS, MAX_GOOD_RTT_MS,
};

/// Below this the link cannot carry a presenter's video (kbit/s): the page reports
/// the more of what came back and what the browser estimates its uplink carries.
pub const MIN_ACCEPTABLE_KBPS: f64 = 100.0;
/// From this the link carries the camera at the size a panel tile shows (kbit/s;
/// the middle simulcast layer is 500).
pub const MIN_GOOD_KBPS: f64 = 300.0;

/// What the check page measured.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckReport {
    /// How the loopback reached the SFU: `udp`, `tcp` or `relay`; absent when no
    /// media path could be made.
    #[serde(default)]
    pub path: Option<String>,
    /// Round trip to the SFU (ms).
    #[serde(default)]
    pub rtt_ms: Option<f64>,
    /// Loss of the looped-back media (percent).
    #[serde(default)]
    pub loss_percent: Option<f64>,
    /// Bitrate the loopback reached (kbit/s).
    #[serde(default)]
    pub kbps: Option<f64>,
    /// A camera gave pictures.
    pub camera: bool,
    /// A microphone gave sound.
    pub microphone: bool,
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    /// Ready: nothing to do.
    Good,
    /// Works, with a limitation worth fixing before the day (a fallback path, a
    /// middling link).
    Fair,
    /// Would make the session unstable, or a device is missing.
    Poor,
    /// No media path at all: the participant could not join from here.
    Blocked,
}

impl Verdict {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Good => "good",
            Verdict::Fair => "fair",
            Verdict::Poor => "poor",
            Verdict::Blocked => "blocked",
        }
    }
}

/// One piece of advice, localized by the page from its code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Advice {
    /// `allowUdp`, `allowTcp`, `allowRelay`, `noCamera`, `noMicrophone`,
    /// `weakNetwork`, `ready`.
    pub code: &'static str,
    /// What to ask IT to allow, when it is about the network: `host:port/proto`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<String>,
}

/// Where Viva can be reached, for the advice: the media host, its UDP port, its
/// ICE-TCP port and the relay's URLs.
#[derive(Debug, Clone, Default)]
pub struct Reachable {
    /// Host participants send media to.
    pub host: String,
    /// The UDP port.
    pub udp_port: u16,
    /// The ICE-TCP port, when on.
    pub tcp_port: Option<u16>,
    /// The relay's `turns:`/`turn:` URLs.
    pub relays: Vec<String>,
}

/// Judges a check.
pub fn judge(report: &CheckReport, reach: &Reachable) -> (Verdict, Vec<Advice>) {
    let mut advice = Vec::new();
    let network = |code: &'static str, allow: String| Advice {
        code,
        allow: Some(allow),
    };
    let udp = network("allowUdp", format!("{}:{}/udp", reach.host, reach.udp_port));
    let tcp = reach
        .tcp_port
        .map(|port| network("allowTcp", format!("{}:{port}/tcp", reach.host)));
    let relay = reach
        .relays
        .first()
        .map(|url| network("allowRelay", url.clone()));
    let mut verdict = match report.path.as_deref() {
        None => {
            advice.push(udp);
            advice.extend(tcp);
            advice.extend(relay);
            Verdict::Blocked
        }
        Some("udp") => Verdict::Good,
        Some("tcp") => {
            advice.push(udp);
            Verdict::Fair
        }
        Some(_) => {
            advice.push(udp);
            advice.extend(tcp);
            Verdict::Fair
        }
    };
    if verdict != Verdict::Blocked {
        let loss = report.loss_percent.unwrap_or(0.0) / 100.0;
        let rtt = report.rtt_ms.unwrap_or(0.0);
        let kbps = report.kbps.unwrap_or(f64::INFINITY);
        let poor = loss >= MAX_ACCEPTABLE_LOSS
            || rtt > MAX_ACCEPTABLE_RTT_MS
            || kbps < MIN_ACCEPTABLE_KBPS;
        let middling = loss >= MAX_GOOD_LOSS || rtt > MAX_GOOD_RTT_MS || kbps < MIN_GOOD_KBPS;
        if poor || middling {
            advice.push(Advice {
                code: "weakNetwork",
                allow: None,
            });
            verdict = verdict.max(if poor { Verdict::Poor } else { Verdict::Fair });
        }
    }
    for (ok, code) in [
        (report.camera, "noCamera"),
        (report.microphone, "noMicrophone"),
    ] {
        if !ok {
            advice.push(Advice { code, allow: None });
            verdict = verdict.max(Verdict::Poor);
        }
    }
    if advice.is_empty() {
        advice.push(Advice {
            code: "ready",
            allow: None,
        });
    }
    (verdict, advice)
}

impl PartialOrd for Verdict {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Verdict {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let rank = |v: &Verdict| match v {
            Verdict::Good => 0,
            Verdict::Fair => 1,
            Verdict::Poor => 2,
            Verdict::Blocked => 3,
        };
        rank(self).cmp(&rank(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach() -> Reachable {
        Reachable {
            host: "viva.example.org".into(),
            udp_port: 50000,
            tcp_port: Some(50000),
            relays: vec!["turns:turn.example.org:443?transport=tcp".into()],
        }
    }

    fn measured(path: Option<&str>, rtt: f64, loss: f64, kbps: f64) -> CheckReport {
        CheckReport {
            path: path.map(str::to_owned),
            rtt_ms: Some(rtt),
            loss_percent: Some(loss),
            kbps: Some(kbps),
            camera: true,
            microphone: true,
        }
    }

    fn codes(advice: &[Advice]) -> Vec<&'static str> {
        advice.iter().map(|a| a.code).collect()
    }

    #[test]
    fn a_clean_udp_path_with_devices_is_ready() {
        let (v, advice) = judge(&measured(Some("udp"), 20.0, 0.0, 1500.0), &reach());
        assert_eq!(v, Verdict::Good);
        assert_eq!(codes(&advice), vec!["ready"]);
    }

    #[test]
    fn a_fallback_path_works_but_says_what_to_open() {
        let (v, advice) = judge(&measured(Some("tcp"), 20.0, 0.0, 1500.0), &reach());
        assert_eq!(v, Verdict::Fair);
        assert_eq!(
            advice[0].allow.as_deref(),
            Some("viva.example.org:50000/udp")
        );
        let (v, advice) = judge(&measured(Some("relay"), 40.0, 0.0, 1200.0), &reach());
        assert_eq!(v, Verdict::Fair);
        assert_eq!(codes(&advice), vec!["allowUdp", "allowTcp"]);
    }

    #[test]
    fn no_path_is_blocked_and_names_every_way_in() {
        let report = CheckReport {
            path: None,
            rtt_ms: None,
            loss_percent: None,
            kbps: None,
            camera: true,
            microphone: true,
        };
        let (v, advice) = judge(&report, &reach());
        assert_eq!(v, Verdict::Blocked);
        assert_eq!(codes(&advice), vec!["allowUdp", "allowTcp", "allowRelay"]);
    }

    #[test]
    fn what_would_make_a_defense_unstable_makes_a_check_poor() {
        let (v, _) = judge(&measured(Some("udp"), 500.0, 0.0, 1500.0), &reach());
        assert_eq!(v, Verdict::Poor, "RTT over 400 ms");
        let (v, _) = judge(&measured(Some("udp"), 20.0, 12.0, 1500.0), &reach());
        assert_eq!(v, Verdict::Poor, "10% loss");
        let (v, advice) = judge(&measured(Some("udp"), 250.0, 0.0, 1500.0), &reach());
        assert_eq!((v, codes(&advice)), (Verdict::Fair, vec!["weakNetwork"]));
        let mut no_mic = measured(Some("udp"), 20.0, 0.0, 1500.0);
        no_mic.microphone = false;
        let (v, advice) = judge(&no_mic, &reach());
        assert_eq!((v, codes(&advice)), (Verdict::Poor, vec!["noMicrophone"]));
    }
}
