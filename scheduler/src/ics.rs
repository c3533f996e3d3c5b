//! iCalendar invitations (RFC 5545). One event per booking, the same UID in every
//! attendee's copy and in every later version; SEQUENCE rises with each change, and a
//! cancellation is `METHOD:CANCEL` with `STATUS:CANCELLED`. Times are written in UTC
//! (`...Z`), which every calendar converts to its own zone without needing a VTIMEZONE;
//! the description also states the session's local time in its own zone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// What kind of message the invitation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A new or changed booking.
    Request,
    /// The booking is cancelled.
    Cancel,
}

/// One attendee's invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The booking's id; the UID is derived from it.
    pub session_id: uuid::Uuid,
    /// Version of the booking (0 when first booked).
    pub sequence: i64,
    /// Request or cancel.
    pub method: Method,
    pub title: String,
    /// Start, UTC.
    pub starts_at: DateTime<Utc>,
    /// End, UTC.
    pub ends_at: DateTime<Utc>,
    /// The session's time zone (for the description).
    pub time_zone: Tz,
    /// The attendee's name.
    pub attendee_name: String,
    /// The attendee's e-mail, if known.
    pub attendee_email: Option<String>,
    /// Their role, in words.
    pub attendee_role: String,
    /// Their personal join link.
    pub join_url: String,
    /// When the invitation is generated.
    pub stamp: DateTime<Utc>,
}

impl Invitation {
    /// The stable UID of the booking.
    pub fn uid(&self) -> String {
        format!("{}@viva", self.session_id)
    }
}

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Escapes a TEXT value (RFC 5545 §3.3.11). Control characters other than the line
/// break (which becomes `\n`) are dropped: RFC 5545 forbids them, and an unescaped
/// one could end the line and start a property of the sender's choosing.
pub fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A value written as it is (a URL, an address): control characters dropped.
fn verbatim(value: &str) -> String {
    value.chars().filter(|c| !c.is_control()).collect()
}

/// Quotes a parameter value (RFC 5545 §3.2): DQUOTE and control characters are not
/// allowed inside.
fn param(value: &str) -> String {
    format!("\"{}\"", verbatim(value).replace('"', "'"))
}

/// Folds a content line at 75 octets without splitting a UTF-8 character
/// (RFC 5545 §3.1), and ends it with CRLF.
pub fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + line.len() / 70 * 3 + 2);
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        // The first line holds 75 octets; continuation lines hold 74 after their space.
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
    out
}

/// Renders the invitation as an iCalendar object.
pub fn render(inv: &Invitation) -> String {
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&inv.time_zone)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    let description = format!(
        "{} {}–{} ({})\n角色 Role: {}\n入会链接 Join link: {}\n会前设备与网络检测 Check your devices and network beforehand: {}/check\n此链接仅供本人使用。This link is personal.",
        inv.title,
        local(inv.starts_at),
        inv.ends_at.with_timezone(&inv.time_zone).format("%H:%M"),
        inv.time_zone.name(),
        inv.attendee_role,
        inv.join_url,
        inv.join_url,
    );
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//Viva//Viva remote defense//ZH".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
        format!(
            "METHOD:{}",
            match inv.method {
                Method::Request => "REQUEST",
                Method::Cancel => "CANCEL",
            }
        ),
        "BEGIN:VEVENT".to_owned(),
        format!("UID:{}", inv.uid()),
        format!("SEQUENCE:{}", inv.sequence),
        format!("DTSTAMP:{}", utc(inv.stamp)),
        format!("DTSTART:{}", utc(inv.starts_at)),
        format!("DTEND:{}", utc(inv.ends_at)),
        format!("SUMMARY:{}", escape_text(&inv.title)),
        format!("DESCRIPTION:{}", escape_text(&description)),
        format!("URL:{}", verbatim(&inv.join_url)),
        "LOCATION:Viva".to_owned(),
        format!(
            "STATUS:{}",
            match inv.method {
                Method::Request => "CONFIRMED",
                Method::Cancel => "CANCELLED",
            }
        ),
    ];
    if let Some(email) = &inv.attendee_email {
        lines.push(format!(
            "ATTENDEE;CN={};ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:{}",
            param(&inv.attendee_name),
            verbatim(email)
        ));
    }
    lines.push("END:VEVENT".to_owned());
    lines.push("END:VCALENDAR".to_owned());
    lines.iter().map(|l| fold(l)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invitation(method: Method, sequence: i64) -> Invitation {
        Invitation {
            session_id: uuid::Uuid::nil(),
            sequence,
            method,
            title: "2026 年度重点研发项目答辩；第一组, 上午".into(),
            starts_at: "2026-12-01T01:00:00Z".parse().unwrap(),
            ends_at: "2026-12-01T01:45:00Z".parse().unwrap(),
            time_zone: chrono_tz::Asia::Shanghai,
            attendee_name: "张\"专家\"".into(),
            attendee_email: Some("zhang@example.org".into()),
            attendee_role: "专家 Expert".into(),
            join_url: format!("https://viva.example.org/j/v1.{}.sig", "x".repeat(200)),
            stamp: "2026-11-26T00:00:00Z".parse().unwrap(),
        }
    }

    fn parse_back(text: &str) -> ical::parser::ical::component::IcalCalendar {
        let mut reader = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes()));
        reader.next().expect("one calendar").expect("parses")
    }

    fn prop(cal: &ical::parser::ical::component::IcalCalendar, name: &str) -> String {
        cal.events[0]
            .properties
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.value.clone())
            .unwrap_or_default()
    }

    #[test]
    fn a_request_parses_back_with_its_fields() {
        let text = render(&invitation(Method::Request, 0));
        assert!(
            text.lines().all(|l| l.len() <= 76),
            "lines folded at 75 octets"
        );
        assert!(text.contains("\r\n"), "CRLF line ends");
        let cal = parse_back(&text);
        let method = cal.properties.iter().find(|p| p.name == "METHOD").unwrap();
        assert_eq!(method.value.as_deref(), Some("REQUEST"));
        assert_eq!(
            prop(&cal, "UID"),
            "00000000-0000-0000-0000-000000000000@viva"
        );
        assert_eq!(prop(&cal, "SEQUENCE"), "0");
        assert_eq!(prop(&cal, "DTSTART"), "20261201T010000Z");
        assert_eq!(prop(&cal, "DTEND"), "20261201T014500Z");
        // Commas and semicolons stay escaped in the raw value (full-width ones need not).
        assert_eq!(
            prop(&cal, "SUMMARY"),
            "2026 年度重点研发项目答辩；第一组\\, 上午"
        );
        let description = prop(&cal, "DESCRIPTION");
        assert!(
            description.contains("2026-12-01 09:00"),
            "local time: {description}"
        );
        assert!(
            description.contains(&"x".repeat(200)),
            "folded URL joined back"
        );
        assert_eq!(prop(&cal, "URL"), invitation(Method::Request, 0).join_url);
    }

    #[test]
    fn changes_keep_the_uid_and_raise_the_sequence_and_cancel_says_so() {
        let first = parse_back(&render(&invitation(Method::Request, 0)));
        let moved = parse_back(&render(&invitation(Method::Request, 1)));
        let cancelled_text = render(&invitation(Method::Cancel, 2));
        let cancelled = parse_back(&cancelled_text);
        assert_eq!(prop(&first, "UID"), prop(&moved, "UID"));
        assert_eq!(prop(&moved, "UID"), prop(&cancelled, "UID"));
        assert_eq!(prop(&moved, "SEQUENCE"), "1");
        assert_eq!(prop(&cancelled, "STATUS"), "CANCELLED");
        assert!(cancelled_text.contains("METHOD:CANCEL\r\n"));
    }

    #[test]
    fn folding_never_splits_a_character() {
        let line = format!("SUMMARY:{}", "答辩".repeat(60));
        let folded = fold(&line);
        let unfolded = folded.replace("\r\n ", "");
        assert_eq!(unfolded.trim_end(), line);
        for physical in folded.split("\r\n") {
            assert!(physical.len() <= 75, "{} octets", physical.len());
        }
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape_text("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
    }
}
