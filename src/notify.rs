//! Invitations to participants: one `.ics` per person with their personal join link,
//! recorded for every booking, change and cancellation. With an SMTP relay configured,
//! participants with an e-mail address get it by mail (`channel = "email"`); otherwise,
//! or when sending fails, it is logged with personal data fingerprinted
//! (`channel = "log"`). A failed send never fails the booking.

use chrono::Utc;
use scheduler::ics::{self, Invitation, Method};
use scheduler::model::{Notification, NotificationKind};
use scheduler::{Participant, Session};
use uuid::Uuid;

use crate::links::issue_join_link;
use crate::state::AppState;
use crate::telemetry::Pii;

fn role_words(role: scheduler::Role) -> &'static str {
    match role {
        scheduler::Role::Host => "主持人 Host",
        scheduler::Role::Applicant => "申请人 Applicant",
        scheduler::Role::Expert => "专家 Expert",
        scheduler::Role::Observer => "观察员 Observer",
        scheduler::Role::Trainer => "培训讲师 Trainer",
        scheduler::Role::Trainee => "学员 Trainee",
    }
}

async fn email_of(state: &AppState, participant: &Participant) -> Option<String> {
    match participant.person_id {
        Some(id) => state.store.person(id).await.ok().and_then(|p| p.email),
        None => None,
    }
}

/// The calendar object for one participant of a session in its current state.
pub async fn invitation_for(
    state: &AppState,
    session: &Session,
    participant: &Participant,
) -> String {
    let email = email_of(state, participant).await;
    let link = issue_join_link(state, session, participant);
    ics::render(&Invitation {
        session_id: session.id,
        sequence: session.sequence,
        // A cancelled session, or a participant taken off it: their event is cancelled.
        method: if session.cancelled || participant.removed {
            Method::Cancel
        } else {
            Method::Request
        },
        title: session.title.clone(),
        starts_at: session.starts_at,
        ends_at: session.ends_at(),
        time_zone: session
            .time_zone
            .parse()
            .unwrap_or(chrono_tz::Asia::Shanghai),
        attendee_name: participant.name.clone(),
        attendee_email: email,
        attendee_role: role_words(participant.role).to_owned(),
        join_url: link.url,
        stamp: Utc::now(),
    })
}

/// Records (and logs) a notification of `kind` for each of `recipients`.
pub async fn notify(
    state: &AppState,
    session: &Session,
    recipients: &[Participant],
    kind: NotificationKind,
) -> Result<Vec<Notification>, scheduler::StoreError> {
    let mut notifications = Vec::with_capacity(recipients.len());
    for participant in recipients {
        let ics = invitation_for(state, session, participant).await;
        let mut channel = "log";
        if let (Some(mailer), Some(address)) = (&state.mailer, email_of(state, participant).await) {
            match mailer
                .send(&address, &participant.name, session, kind, &ics)
                .await
            {
                Ok(()) => channel = "email",
                Err(e) => tracing::warn!(
                    session = %session.id,
                    recipient = %Pii(&address),
                    error = %e,
                    "invitation could not be e-mailed; recorded and logged instead"
                ),
            }
        }
        tracing::info!(
            session = %session.id,
            recipient = %Pii(&participant.name),
            kind = kind.as_str(),
            sequence = session.sequence,
            channel,
            "invitation recorded"
        );
        notifications.push(Notification {
            id: Uuid::new_v4(),
            session_id: session.id,
            participant_id: participant.id,
            kind,
            sequence: session.sequence,
            channel: channel.into(),
            ics,
        });
    }
    state.store.record_notifications(&notifications).await?;
    // Each invitation carries a personal join link: the issuance is audited (who got
    // one and how), never the link itself.
    state.audit.record(
        Some(session.id),
        crate::audit::Actor::System,
        "linksSent",
        serde_json::json!({
            "kind": kind.as_str(),
            "recipients": notifications
                .iter()
                .map(|n| serde_json::json!({ "participant": n.participant_id, "channel": n.channel }))
                .collect::<Vec<_>>(),
        }),
    );
    Ok(notifications)
}
