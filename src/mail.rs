//! Outgoing e-mail through the configured SMTP relay: an invitation with its `.ics`
//! attached. What to send to whom is `notify`'s business.

use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use scheduler::Session;
use scheduler::model::NotificationKind;

/// Sends invitations through an SMTP relay.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl Mailer {
    /// A mailer for the configured relay, or `None` when no host is configured.
    pub fn from_config(config: &crate::config::SmtpConfig) -> Option<Self> {
        if config.host.is_empty() {
            return None;
        }
        let from = config.from.parse().ok()?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .timeout(Some(std::time::Duration::from_secs(10)))
            .build();
        Some(Self { transport, from })
    }

    /// Sends one invitation (or change, or cancellation) with its `.ics` attached.
    pub async fn send(
        &self,
        to: &str,
        name: &str,
        session: &Session,
        kind: NotificationKind,
        ics: &str,
    ) -> Result<(), String> {
        let to = Mailbox::new(
            Some(name.to_owned()),
            to.parse().map_err(|e| format!("{e}"))?,
        );
        let subject = match kind {
            NotificationKind::Invite => format!("会议邀请 Invitation: {}", session.title),
            NotificationKind::Update => format!("会议变更 Updated: {}", session.title),
            NotificationKind::Cancel => format!("会议取消 Cancelled: {}", session.title),
        };
        let method = if kind == NotificationKind::Cancel {
            "CANCEL"
        } else {
            "REQUEST"
        };
        let calendar =
            ContentType::parse(&format!("text/calendar; charset=utf-8; method={method}"))
                .map_err(|e| e.to_string())?;
        let text = format!(
            "{name}，您好：\n\n附件为会议日历邀请，其中包含您的个人入会链接（请勿转发），以及会前设备与网络检测的链接，请在会议前几天完成检测。\n\nThe attached calendar invitation contains your personal join link (please do not forward it) and a link to check your devices and network; please run the check a few days before the session.\n"
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::plain(text))
                    .singlepart(
                        Attachment::new("invitation.ics".into()).body(ics.to_owned(), calendar),
                    ),
            )
            .map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
