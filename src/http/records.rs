//! What administrators read back after a session: score sheets (JSON, CSV for Excel,
//! and a printable page), ratings, chat, the audit log and its verification, and the
//! programme criteria experts score on. Everything here needs an administrator.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use scheduler::record::{AuditEntry, Criterion, verify_chain, weighted_total};
use scheduler::{Participant, Session};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::admin_auth::Admin;
use super::error::{ApiError, ApiJson, ApiQuery};
use crate::state::AppState;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sessions/{id}/scores", get(scores_json))
        .route("/api/v1/sessions/{id}/scores.csv", get(scores_csv))
        .route("/api/v1/sessions/{id}/scores/print", get(scores_print))
        .route("/api/v1/sessions/{id}/ratings", get(ratings))
        .route("/api/v1/sessions/{id}/chat", get(chat))
        .route("/api/v1/sessions/{id}/stability", get(stability))
        .route("/api/v1/stability/sessions", get(stability_list))
        .route("/api/v1/report", get(year_report))
        .route("/api/v1/programmes/{id}/criteria", put(set_criteria))
        .route("/api/v1/audit", get(audit_log))
        .route("/api/v1/audit/verify", get(audit_verify))
}

async fn load_session(
    state: &AppState,
    raw: &str,
) -> Result<(Session, Vec<Participant>), ApiError> {
    let session = super::sessions::load_session(state, super::sessions::parse_id(raw)?).await?;
    let participants = state.store.participants(session.id).await?;
    Ok((session, participants))
}

/// A session's scores: criteria, one row per expert with their sheet, the mean.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ScoreReport {
    session_id: Uuid,
    title: String,
    criteria: Vec<Criterion>,
    sheets: Vec<SheetRow>,
    /// Mean of the submitted (locked) sheets' totals, 0–100.
    mean: Option<f64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SheetRow {
    expert_id: Uuid,
    name: String,
    scores: Option<Vec<u32>>,
    comment: String,
    locked: bool,
    reopen_reason: Option<String>,
    submitted_at: Option<chrono::DateTime<chrono::Utc>>,
    total: Option<f64>,
}

async fn report(state: &AppState, raw: &str) -> Result<ScoreReport, ApiError> {
    let (session, participants) = load_session(state, raw).await?;
    let criteria = state.store.session_criteria(session.id).await?;
    let stored = state.store.score_sheets(session.id).await?;
    let sheets: Vec<SheetRow> = participants
        .iter()
        .filter(|p| p.role == scheduler::Role::Expert)
        .map(|p| {
            let sheet = stored.iter().find(|s| s.expert_id == p.id);
            SheetRow {
                expert_id: p.id,
                name: p.name.clone(),
                scores: sheet.map(|s| s.scores.clone()),
                comment: sheet.map(|s| s.comment.clone()).unwrap_or_default(),
                locked: sheet.is_some_and(|s| s.locked),
                reopen_reason: sheet.and_then(|s| s.reopen_reason.clone()),
                submitted_at: sheet.map(|s| s.submitted_at),
                total: sheet
                    .filter(|s| s.locked)
                    .and_then(|s| weighted_total(&criteria, &s.scores)),
            }
        })
        .collect();
    let totals: Vec<f64> = sheets.iter().filter_map(|s| s.total).collect();
    let mean = (!totals.is_empty()).then(|| totals.iter().sum::<f64>() / totals.len() as f64);
    Ok(ScoreReport {
        session_id: session.id,
        title: session.title,
        criteria,
        sheets,
        mean,
    })
}

async fn scores_json(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ScoreReport>, ApiError> {
    Ok(Json(report(&state, &id).await?))
}

/// One CSV field, quoted when it needs to be; formula-looking text is defused so that a
/// comment cannot run as a spreadsheet formula (OWASP's list: `=`, `+`, `-`, `@`, and
/// a leading TAB or carriage return, which spreadsheets skip before reading `=`).
fn csv_field(raw: &str) -> String {
    let text = if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{raw}")
    } else {
        raw.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

async fn scores_csv(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let r = report(&state, &id).await?;
    // A BOM so that Excel opens the Chinese text as UTF-8.
    let mut out = String::from("\u{feff}");
    let mut header: Vec<String> = vec!["专家 Expert".into()];
    header.extend(
        r.criteria
            .iter()
            .map(|c| format!("{} (/{}, ×{})", c.name, c.max, c.weight)),
    );
    header.extend([
        "总分 Total (0-100)".into(),
        "已提交 Submitted".into(),
        "意见 Comment".into(),
    ]);
    out.push_str(
        &header
            .iter()
            .map(|h| csv_field(h))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push_str("\r\n");
    for s in &r.sheets {
        let mut row = vec![csv_field(&s.name)];
        for i in 0..r.criteria.len() {
            row.push(
                s.scores
                    .as_ref()
                    .and_then(|v| v.get(i))
                    .map(u32::to_string)
                    .unwrap_or_default(),
            );
        }
        row.push(s.total.map(|t| format!("{t:.2}")).unwrap_or_default());
        row.push(if s.locked { "yes" } else { "no" }.into());
        row.push(csv_field(&s.comment));
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "{},{}\r\n",
        csv_field("平均 Mean"),
        r.mean.map(|m| format!("{m:.2}")).unwrap_or_default()
    ));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"scores-{}.csv\"", r.session_id),
            ),
        ],
        out,
    )
        .into_response())
}

fn html_escape(raw: &str) -> String {
    raw.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

async fn scores_print(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, ApiError> {
    let r = report(&state, &id).await?;
    let mut rows = String::new();
    for s in &r.sheets {
        rows.push_str("<tr><td>");
        rows.push_str(&html_escape(&s.name));
        rows.push_str("</td>");
        for i in 0..r.criteria.len() {
            let v = s
                .scores
                .as_ref()
                .and_then(|v| v.get(i))
                .map(u32::to_string)
                .unwrap_or_default();
            rows.push_str(&format!("<td class=\"n\">{v}</td>"));
        }
        rows.push_str(&format!(
            "<td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            s.total
                .map(|t| format!("{t:.2}"))
                .unwrap_or_else(|| "—".into()),
            if s.locked {
                "✔"
            } else {
                "未提交 not submitted"
            },
            html_escape(&s.comment)
        ));
    }
    let heads: String = r
        .criteria
        .iter()
        .map(|c| {
            format!(
                "<th>{} <small>/{} ×{}</small></th>",
                html_escape(&c.name),
                c.max,
                c.weight
            )
        })
        .collect();
    Ok(Html(format!(
        r#"<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>评分表 Score sheet · {title}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #444;padding:.4em}}.n{{text-align:right}}@media print{{button{{display:none}}}}</style></head>
<body><h1>评分汇总 Score summary</h1><p>{title}</p><button type="button" data-print>打印 Print</button>
<table><thead><tr><th>专家 Expert</th>{heads}<th>总分 Total</th><th>状态 State</th><th>意见 Comment</th></tr></thead><tbody>{rows}</tbody>
<tfoot><tr><th>平均 Mean</th><td colspan="{span}" class="n">{mean}</td></tr></tfoot></table>
<p>签字 Signature: ____________________ 日期 Date: ____________</p><script src="/assets/print.js"></script></body></html>"#,
        title = html_escape(&r.title),
        span = r.criteria.len() + 3,
        mean = r
            .mean
            .map(|m| format!("{m:.2}"))
            .unwrap_or_else(|| "—".into()),
    )))
}

async fn ratings(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<scheduler::record::Rating>>, ApiError> {
    let (session, _) = load_session(&state, &id).await?;
    Ok(Json(state.store.ratings(session.id).await?))
}

async fn chat(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<scheduler::record::ChatMessage>>, ApiError> {
    let (session, _) = load_session(&state, &id).await?;
    Ok(Json(state.store.chat(session.id).await?))
}

/// A session's stability: the verdict (definition v1) with its reasons, the interval
/// samples (the timeline), connection events and the agenda's phase changes.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StabilityReport {
    verdict: serde_json::Value,
    samples: Vec<scheduler::record::StreamSampleRecord>,
    events: Vec<scheduler::record::ConnectionEvent>,
    phases: Vec<Phase>,
}

#[derive(Debug, Serialize)]
struct Phase {
    phase: String,
    at: chrono::DateTime<chrono::Utc>,
}

async fn stability(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<StabilityReport>, ApiError> {
    let (session, _) = load_session(&state, &id).await?;
    let samples = state.store.samples(session.id).await?;
    // After compaction the verdict judged on the raw samples is the one of record.
    let verdict = match state.store.session_verdict(session.id).await? {
        Some((_, json)) => serde_json::from_str(&json)
            .map_err(|e| ApiError::from(scheduler::StoreError::Corrupt(format!("verdict: {e}"))))?,
        None => serde_json::to_value(crate::stability::judge_session(
            &crate::signaling::metering::intervals(&samples),
            &crate::stability::server_gaps_of(state.store.as_ref(), session.id).await?,
        ))
        .unwrap_or_default(),
    };
    Ok(Json(StabilityReport {
        verdict,
        samples,
        events: state.store.connection_events(session.id).await?,
        phases: state
            .store
            .phases(session.id)
            .await?
            .into_iter()
            .map(|(phase, at)| Phase { phase, at })
            .collect(),
    }))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    /// RFC 3339; default 90 days ago.
    from: Option<String>,
    /// RFC 3339; default now.
    to: Option<String>,
    /// `stable` or `unstable`.
    verdict: Option<String>,
    /// `defense` or `training`.
    kind: Option<String>,
}

/// One row of the session list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionRow {
    session_id: uuid::Uuid,
    title: String,
    kind: scheduler::SessionKind,
    starts_at: chrono::DateTime<chrono::Utc>,
    /// Media flowed.
    held: bool,
    /// The verdict, when held.
    stable: Option<bool>,
    /// Who was unstable, in short.
    reasons: Vec<String>,
}

/// Sessions in a period with their verdicts, newest first, filtered.
async fn stability_list(
    _admin: Admin,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<SessionRow>>, ApiError> {
    let now = chrono::Utc::now();
    let parse = |field: &'static str, raw: &Option<String>, default| match raw {
        Some(raw) => scheduler::domain::parse_utc_time(field, raw).map_err(ApiError::from),
        None => Ok(default),
    };
    let from = parse("from", &q.from, now - chrono::Duration::days(90))?;
    let to = parse("to", &q.to, now)?;
    let want_stable = match q.verdict.as_deref() {
        None | Some("") => None,
        Some("stable") => Some(true),
        Some("unstable") => Some(false),
        Some(_) => return Err(ApiError::invalid("verdict", "stable or unstable")),
    };
    let kind: Option<scheduler::SessionKind> = match q.kind.as_deref() {
        None | Some("") => None,
        Some(k) => Some(k.parse().map_err(ApiError::from)?),
    };
    let mut rows = Vec::new();
    for s in state.store.sessions_between(from, to).await? {
        if s.cancelled || kind.is_some_and(|k| k != s.kind) {
            continue;
        }
        let verdict: Option<serde_json::Value> = match state.store.session_verdict(s.id).await? {
            Some((_, json)) => serde_json::from_str(&json).ok(),
            None => {
                let samples = state.store.samples(s.id).await?;
                let gaps = crate::stability::server_gaps_of(state.store.as_ref(), s.id).await?;
                (!samples.is_empty()).then(|| {
                    serde_json::to_value(crate::stability::judge_session(
                        &crate::signaling::metering::intervals(&samples),
                        &gaps,
                    ))
                    .unwrap_or_default()
                })
            }
        };
        let stable = verdict.as_ref().and_then(|v| v["stable"].as_bool());
        if want_stable.is_some() && stable != want_stable {
            continue;
        }
        let reasons = verdict
            .as_ref()
            .and_then(|v| v["reasons"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|r| r["summary"].as_str().map(str::to_owned))
            .collect();
        rows.push(SessionRow {
            session_id: s.id,
            title: s.title,
            kind: s.kind,
            starts_at: s.starts_at,
            held: verdict.is_some(),
            stable,
            reasons,
        });
    }
    rows.reverse();
    Ok(Json(rows))
}

#[derive(Debug, Deserialize)]
struct YearQuery {
    year: Option<i32>,
}

/// The yearly indicators (as `viva report --year`).
async fn year_report(
    _admin: Admin,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<YearQuery>,
) -> Result<Json<crate::report::YearReport>, ApiError> {
    let year = q.year.unwrap_or_else(crate::report::this_year);
    if !(2000..=2200).contains(&year) {
        return Err(ApiError::invalid("year", "between 2000 and 2200"));
    }
    let period = chrono::Duration::hours(i64::from(state.settings.backup_every_hours.max(1)));
    Ok(Json(
        crate::report::year_report(state.store.as_ref(), year, chrono::Utc::now(), period).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CriteriaRequest {
    criteria: Vec<Criterion>,
}

async fn set_criteria(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CriteriaRequest>,
) -> Result<Json<Vec<Criterion>>, ApiError> {
    let programme = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("programme"))?;
    Criterion::validate(&body.criteria).map_err(|m| ApiError::invalid("criteria", m))?;
    state
        .store
        .set_programme_criteria(programme, &body.criteria)
        .await
        .map_err(|e| match e {
            scheduler::StoreError::NotFound => ApiError::NotFound("programme"),
            other => other.into(),
        })?;
    state.audit.record(
        None,
        crate::audit::Actor::Admin(admin.user_id.to_string()),
        "criteriaChanged",
        serde_json::json!({ "programme": programme }),
    );
    Ok(Json(body.criteria))
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    #[serde(default)]
    after: i64,
    #[serde(default)]
    limit: Option<i64>,
}

async fn audit_log(
    _admin: Admin,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let limit = q.limit.unwrap_or(500).clamp(1, 5000);
    Ok(Json(state.store.audit_log(q.after.max(0), limit).await?))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Verification {
    intact: bool,
    entries: usize,
    first_break: Option<scheduler::record::ChainBreak>,
}

/// Reads the whole log in pages and checks every link.
async fn audit_verify(
    _admin: Admin,
    State(state): State<AppState>,
) -> Result<Json<Verification>, ApiError> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map_or(0, |e: &AuditEntry| e.seq);
        let page = state.store.audit_log(after, 5000).await?;
        if page.is_empty() {
            break;
        }
        all.extend(page);
    }
    Ok(Json(match verify_chain(&all) {
        Ok(n) => Verification {
            intact: true,
            entries: n,
            first_break: None,
        },
        Err(b) => Verification {
            intact: false,
            entries: all.len(),
            first_break: Some(b),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_weighted_and_normalised() {
        let criteria = vec![
            Criterion {
                name: "a".into(),
                weight: 3.0,
                max: 10,
            },
            Criterion {
                name: "b".into(),
                weight: 1.0,
                max: 5,
            },
        ];
        let total = weighted_total(&criteria, &[10, 0]).unwrap();
        assert!((total - 75.0).abs() < 1e-9, "{total}");
        assert!((weighted_total(&criteria, &[5, 5]).unwrap() - 62.5).abs() < 1e-9);
        assert_eq!(weighted_total(&criteria, &[1]), None);
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("张三"), "张三");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("\t=1+1"), "'\t=1+1");
        assert_eq!(csv_field("\r=1+1"), "\"'\r=1+1\"");
    }
}
