//! Fuzz targets of the scheduler: the CSV import (files administrators upload, made
//! by whoever filled the spreadsheet) and the invitation renderer (titles and names
//! typed by people end up in everyone's calendar). Each function takes arbitrary bytes
//! and panics only when an invariant breaks. The `fuzz/` crate runs them under AFL++
//! (`scripts/fuzz.sh TARGET SECONDS`); `tests/fuzz_corpus.rs` replays every stored
//! input as a regression test.

use std::collections::HashMap;

use crate::ics::{Invitation, Method, render};
use crate::import::{Existing, ImportKind, decode, parse};

/// An import file of every kind, against a directory that knows one organisation and
/// one programme: never a panic, and never more records than the file has rows (the
/// four `crash-*` inputs AFL++ found broke an earlier form of this invariant that
/// forgot lone CR line ends; the importer itself was right).
pub fn csv_import(data: &[u8]) {
    let Ok(text) = decode(data) else {
        return;
    };
    let existing = Existing {
        organisations: HashMap::from([("甲农业大学".to_owned(), uuid::Uuid::nil())]),
        programmes: HashMap::from([("重点研发".to_owned(), uuid::Uuid::nil())]),
        ..Existing::default()
    };
    // A record ends at LF, CRLF or a lone CR (old spreadsheets write those): at most
    // one record per terminator, plus the last.
    let rows =
        1 + text.matches('\n').count() + text.matches('\r').count() - text.matches("\r\n").count();
    for kind in [
        ImportKind::Organisations,
        ImportKind::Experts,
        ImportKind::Projects,
    ] {
        if let Ok(batch) = parse(kind, &text, &existing, |_| {}) {
            // Projects bring their applicants: at most two records a row.
            assert!(
                batch.len() <= 2 * rows,
                "{} records from {rows} lines",
                batch.len()
            );
        }
    }
}

/// An invitation whose title, attendee name, e-mail, role and link are the input's
/// fields (separated by `0xff`): the calendar object must stay well-formed whatever
/// they hold. Every line ends with CRLF and has at most 75 octets, no other control
/// character appears, and unfolded it has exactly the properties Viva writes, in
/// order: nothing a field holds can add one.
pub fn ics(data: &[u8]) {
    let mut fields = data
        .split(|b| *b == 0xff)
        .map(|f| String::from_utf8_lossy(f).into_owned());
    let mut next = || fields.next().unwrap_or_default();
    let (title, name, email, role, url) = (next(), next(), next(), next(), next());
    let invitation = Invitation {
        session_id: uuid::Uuid::nil(),
        sequence: 1,
        method: if title.len() % 2 == 0 {
            Method::Request
        } else {
            Method::Cancel
        },
        title,
        starts_at: chrono::DateTime::UNIX_EPOCH,
        ends_at: chrono::DateTime::UNIX_EPOCH + chrono::Duration::hours(1),
        time_zone: chrono_tz::Asia::Shanghai,
        attendee_name: name,
        attendee_email: (!email.is_empty()).then_some(email),
        attendee_role: role,
        join_url: url,
        stamp: chrono::DateTime::UNIX_EPOCH,
    };
    let calendar = render(&invitation);
    assert!(calendar.ends_with("\r\n"));
    let mut unfolded: Vec<String> = Vec::new();
    for line in calendar.trim_end_matches("\r\n").split("\r\n") {
        assert!(line.len() <= 75, "a line of {} octets", line.len());
        assert!(
            !line.chars().any(|c| c.is_control()),
            "a control character in {line:?}"
        );
        match line.strip_prefix(' ') {
            Some(continued) => unfolded
                .last_mut()
                .expect("a continuation follows a line")
                .push_str(continued),
            None => unfolded.push(line.to_owned()),
        }
    }
    let names: Vec<&str> = unfolded
        .iter()
        .map(|l| {
            l.split([':', ';'])
                .next()
                .expect("split yields at least one part")
        })
        .collect();
    let mut expected = vec![
        "BEGIN",
        "VERSION",
        "PRODID",
        "CALSCALE",
        "METHOD",
        "BEGIN",
        "UID",
        "SEQUENCE",
        "DTSTAMP",
        "DTSTART",
        "DTEND",
        "SUMMARY",
        "DESCRIPTION",
        "URL",
        "LOCATION",
        "STATUS",
    ];
    if invitation.attendee_email.is_some() {
        expected.push("ATTENDEE");
    }
    expected.extend(["END", "END"]);
    assert_eq!(names, expected, "{calendar}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_or_link_cannot_add_a_property_to_an_invitation() {
        // Line breaks and other control characters in every field.
        let fields = [
            "标题\r\nATTENDEE:mailto:evil@example.org\u{b}",
            "Name\"\r\nX-EVIL:1",
            "a@b.org\r\nORGANIZER:x",
            "role",
            "https://x/\r\nEND:VEVENT",
        ];
        let input: Vec<u8> = fields.join("\n").bytes().collect();
        let mut separated = Vec::new();
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                separated.push(0xff);
            }
            separated.extend_from_slice(field.as_bytes());
        }
        ics(&separated);
        ics(&input);
    }
}
