//! CSV import of organisations, experts and projects as institutes keep them in Excel.
//!
//! Files come as UTF-8 (with or without the BOM Excel writes) or as GBK (Excel's
//! default "CSV" on Chinese Windows). Headers may be Chinese or English. Every row is
//! validated before anything is written; any bad row means nothing is imported, and
//! every bad row is reported with its line number and reason. This module is pure:
//! the caller supplies what already exists (organisations, programmes, codes, e-mails)
//! and applies the resulting batch in one transaction.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::domain::{PersonName, Role, parse_email};
use crate::model::{NewPerson, NewProject, parse_project_code};

/// What a file contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// Organisation names.
    Organisations,
    Experts,
    /// Projects with their applicants.
    Projects,
}

impl std::str::FromStr for ImportKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "organisations" | "organizations" => Ok(ImportKind::Organisations),
            "experts" => Ok(ImportKind::Experts),
            "projects" => Ok(ImportKind::Projects),
            other => Err(format!(
                "unknown import kind {other:?}; expected organisations, experts or projects"
            )),
        }
    }
}

/// A row that cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    /// 1-based line in the file (the header is line 1); 0 for the file as a whole.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// What already exists, for validating references and uniqueness.
#[derive(Debug, Clone, Default)]
pub struct Existing {
    /// Organisation name → id.
    pub organisations: HashMap<String, Uuid>,
    /// Programme name → id.
    pub programmes: HashMap<String, Uuid>,
    /// Project codes in use.
    pub project_codes: HashSet<String>,
    /// E-mail (lower case) → person id.
    pub emails: HashMap<String, Uuid>,
}

/// A person to create, with the id chosen up front so projects in the same batch can
/// refer to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportPerson {
    /// Id to create the person with.
    pub id: Uuid,
    /// The person.
    pub person: NewPerson,
}

/// Everything one file adds, applied all-or-nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportBatch {
    /// Organisations to create (id, name).
    pub organisations: Vec<(Uuid, String)>,
    /// People to create.
    pub people: Vec<ImportPerson>,
    /// Projects to create.
    pub projects: Vec<NewProject>,
}

impl ImportBatch {
    /// Rows the batch adds.
    pub fn len(&self) -> usize {
        self.organisations.len() + self.people.len() + self.projects.len()
    }

    /// Whether the batch adds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Decodes a file's bytes: UTF-8 (BOM stripped) when valid, otherwise GBK; anything
/// that is neither is refused rather than imported garbled.
pub fn decode(bytes: &[u8]) -> Result<String, RowError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(text.to_owned());
    }
    let (text, had_errors) = encoding_rs::GBK.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(RowError {
            line: 0,
            reason: "the file is neither UTF-8 nor GBK text; save it from Excel as \"CSV UTF-8\""
                .into(),
        });
    }
    Ok(text.into_owned())
}

const ORGANISATION_HEADERS: &[(&str, &[&str])] = &[(
    "name",
    &["单位名称", "单位", "名称", "name", "organisation"],
)];
const EXPERT_HEADERS: &[(&str, &[&str])] = &[
    ("name", &["姓名", "专家姓名", "name"]),
    ("email", &["邮箱", "电子邮箱", "email", "e-mail"]),
    (
        "organisation",
        &["工作单位", "单位", "organisation", "organization"],
    ),
    ("fields", &["专业领域", "领域", "fields", "field"]),
];
const PROJECT_HEADERS: &[(&str, &[&str])] = &[
    ("code", &["项目编号", "编号", "code"]),
    ("title", &["项目名称", "名称", "title"]),
    (
        "programme",
        &["计划类别", "项目类别", "programme", "program"],
    ),
    ("applicant", &["申请人", "负责人", "applicant"]),
    (
        "applicant_email",
        &["申请人邮箱", "负责人邮箱", "applicant_email", "email"],
    ),
    (
        "organisation",
        &[
            "申请单位",
            "承担单位",
            "单位",
            "organisation",
            "organization",
        ],
    ),
    ("field", &["领域", "技术领域", "field"]),
];

fn column_map(
    headers: &csv::StringRecord,
    wanted: &[(&'static str, &[&str])],
) -> Result<HashMap<&'static str, usize>, RowError> {
    let normalised: Vec<String> = headers
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_lowercase())
        .collect();
    let mut map = HashMap::new();
    let mut missing = Vec::new();
    for (key, names) in wanted {
        match normalised
            .iter()
            .position(|h| names.iter().any(|n| n.to_lowercase() == *h))
        {
            Some(i) => {
                map.insert(*key, i);
            }
            None => missing.push(names[0]),
        }
    }
    if missing.is_empty() {
        Ok(map)
    } else {
        Err(RowError {
            line: 1,
            reason: format!("missing column(s): {}", missing.join(", ")),
        })
    }
}

fn split_fields(raw: &str) -> Vec<String> {
    raw.split(['；', ';', '、', '，', ',', '|'])
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses and validates a file against what exists; on success the batch to apply.
/// `progress` is called with the number of rows read so far.
pub fn parse(
    kind: ImportKind,
    text: &str,
    existing: &Existing,
    mut progress: impl FnMut(usize),
) -> Result<ImportBatch, Vec<RowError>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| {
            vec![RowError {
                line: 1,
                reason: format!("unreadable header: {e}"),
            }]
        })?
        .clone();
    let wanted = match kind {
        ImportKind::Organisations => ORGANISATION_HEADERS,
        ImportKind::Experts => EXPERT_HEADERS,
        ImportKind::Projects => PROJECT_HEADERS,
    };
    let columns = column_map(&headers, wanted).map_err(|e| vec![e])?;
    let mut batch = ImportBatch::default();
    let mut errors = Vec::new();
    let mut new_orgs: HashMap<String, Uuid> = HashMap::new();
    let mut codes_seen: HashMap<String, usize> = HashMap::new();
    let mut emails_seen: HashMap<String, (usize, Uuid)> = HashMap::new();

    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        progress(index + 1);
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(RowError {
                    line,
                    reason: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        if record.iter().all(|c| c.is_empty()) {
            continue; // Excel leaves blank lines at the end.
        }
        let get = |key: &str| record.get(columns[key]).unwrap_or("").trim();
        let mut row_errors = Vec::new();
        let mut fail = |reason: String| row_errors.push(RowError { line, reason });
        match kind {
            ImportKind::Organisations => {
                let name = get("name");
                if name.is_empty() {
                    fail("organisation name is empty".into());
                } else if existing.organisations.contains_key(name) || new_orgs.contains_key(name) {
                    fail(format!("organisation \"{name}\" already exists"));
                } else {
                    let id = Uuid::new_v4();
                    new_orgs.insert(name.to_owned(), id);
                    batch.organisations.push((id, name.to_owned()));
                }
            }
            ImportKind::Experts => {
                let name = PersonName::parse(get("name"));
                let email = parse_email("email", get("email"));
                let org = get("organisation");
                if let Err(e) = &name {
                    fail(e.to_string());
                }
                match &email {
                    Err(e) => fail(e.to_string()),
                    Ok(email) if existing.emails.contains_key(email) => {
                        fail(format!("{email} is already registered"))
                    }
                    Ok(email) => {
                        if let Some((first, _)) = emails_seen.get(email) {
                            fail(format!("{email} also appears on line {first}"));
                        }
                    }
                }
                let organisation = existing.organisations.get(org).copied();
                if organisation.is_none() {
                    fail(format!(
                        "unknown organisation \"{org}\" (import organisations first)"
                    ));
                }
                if let (Ok(name), Ok(email), Some(organisation), true) =
                    (name, email, organisation, row_errors.is_empty())
                {
                    let id = Uuid::new_v4();
                    emails_seen.insert(email.clone(), (line, id));
                    batch.people.push(ImportPerson {
                        id,
                        person: NewPerson {
                            name,
                            email: Some(email),
                            organisation: Some(organisation),
                            roles: vec![Role::Expert],
                            fields: split_fields(get("fields")),
                            time_zone: chrono_tz::Asia::Shanghai,
                        },
                    });
                }
            }
            ImportKind::Projects => {
                let code = parse_project_code(get("code"));
                let title = get("title");
                let programme = existing.programmes.get(get("programme")).copied();
                let organisation = existing.organisations.get(get("organisation")).copied();
                let applicant_name = PersonName::parse(get("applicant"));
                let email = parse_email("applicant_email", get("applicant_email"));
                match &code {
                    Err(e) => fail(e.to_string()),
                    Ok(code) if existing.project_codes.contains(code) => {
                        fail(format!("project code {code} already exists"))
                    }
                    Ok(code) => {
                        if let Some(first) = codes_seen.get(code) {
                            fail(format!(
                                "duplicate project code {code} (also on line {first})"
                            ));
                        }
                    }
                }
                if title.is_empty() {
                    fail("project title is empty".into());
                }
                if programme.is_none() {
                    fail(format!("unknown programme \"{}\"", get("programme")));
                }
                if organisation.is_none() {
                    fail(format!(
                        "unknown organisation \"{}\" (import organisations first)",
                        get("organisation")
                    ));
                }
                if let Err(e) = &applicant_name {
                    fail(e.to_string());
                }
                if let Err(e) = &email {
                    fail(e.to_string());
                }
                if let (Ok(code), Some(programme), Some(organisation), Ok(name), Ok(email), true) = (
                    code,
                    programme,
                    organisation,
                    applicant_name,
                    email,
                    row_errors.is_empty(),
                ) {
                    codes_seen.insert(code.clone(), line);
                    // One person per e-mail: an applicant with several projects is one person.
                    let applicant = match existing.emails.get(&email).copied() {
                        Some(id) => id,
                        None => match emails_seen.get(&email) {
                            Some((_, id)) => *id,
                            None => {
                                let id = Uuid::new_v4();
                                emails_seen.insert(email.clone(), (line, id));
                                batch.people.push(ImportPerson {
                                    id,
                                    person: NewPerson {
                                        name,
                                        email: Some(email.clone()),
                                        organisation: Some(organisation),
                                        roles: vec![Role::Applicant],
                                        fields: vec![],
                                        time_zone: chrono_tz::Asia::Shanghai,
                                    },
                                });
                                id
                            }
                        },
                    };
                    batch.projects.push(NewProject {
                        code,
                        title: title.to_owned(),
                        programme,
                        applicant,
                        organisation,
                        field: get("field").to_owned(),
                    });
                }
            }
        }
        errors.extend(row_errors);
    }
    if errors.is_empty() {
        Ok(batch)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing() -> Existing {
        Existing {
            organisations: HashMap::from([("甲农业大学".to_owned(), Uuid::new_v4())]),
            programmes: HashMap::from([("重点研发".to_owned(), Uuid::new_v4())]),
            project_codes: HashSet::from(["OLD-1".to_owned()]),
            emails: HashMap::from([("old@example.org".to_owned(), Uuid::new_v4())]),
        }
    }

    const EXPERTS: &str = "姓名,邮箱,工作单位,专业领域\n张三,zhang@example.org,甲农业大学,作物；土壤\n李四,LI@example.org,甲农业大学,果树\n";

    #[test]
    fn utf8_with_bom_and_gbk_decode_to_the_same_text() {
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(EXPERTS.as_bytes());
        let (gbk, _, _) = encoding_rs::GBK.encode(EXPERTS);
        assert_eq!(decode(&bom).unwrap(), EXPERTS);
        assert_eq!(decode(&gbk).unwrap(), EXPERTS);
        assert_eq!(decode(EXPERTS.as_bytes()).unwrap(), EXPERTS);
    }

    #[test]
    fn bytes_that_are_neither_utf8_nor_gbk_are_refused() {
        let err = decode(&[0x80, 0xff, 0xfe, 0x81]).unwrap_err();
        assert_eq!(err.line, 0);
        assert!(err.reason.contains("UTF-8"));
    }

    #[test]
    fn experts_parse_with_fields_and_lower_case_emails() {
        let batch = parse(ImportKind::Experts, EXPERTS, &existing(), |_| {}).unwrap();
        assert_eq!(batch.people.len(), 2);
        assert_eq!(batch.people[0].person.fields, vec!["作物", "土壤"]);
        assert_eq!(
            batch.people[1].person.email.as_deref(),
            Some("li@example.org")
        );
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line_and_nothing_is_returned() {
        let text = "姓名,邮箱,工作单位,专业领域\n张三,zhang@example.org,甲农业大学,作物\n,nobody,乙大学,x\n王五,zhang@example.org,甲农业大学,\n赵六,old@example.org,甲农业大学,\n";
        let errors = parse(ImportKind::Experts, text, &existing(), |_| {}).unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert!(
            lines.contains(&3) && lines.contains(&4) && lines.contains(&5),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.line == 3 && e.reason.contains("unknown organisation \"乙大学\""))
        );
        assert!(
            errors
                .iter()
                .any(|e| e.line == 4 && e.reason.contains("also appears on line 2"))
        );
        assert!(
            errors
                .iter()
                .any(|e| e.line == 5 && e.reason.contains("already registered"))
        );
    }

    #[test]
    fn missing_columns_are_named() {
        let errors = parse(
            ImportKind::Experts,
            "姓名,邮箱\n张三,a@b.cn\n",
            &existing(),
            |_| {},
        )
        .unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 1);
        assert!(errors[0].reason.contains("工作单位") && errors[0].reason.contains("专业领域"));
    }

    #[test]
    fn projects_share_one_applicant_per_email_and_refuse_duplicate_codes() {
        let text = "项目编号,项目名称,计划类别,申请人,申请人邮箱,申请单位,领域\n\
                    P-1,智慧灌溉,重点研发,王五,wang@example.org,甲农业大学,农业\n\
                    P-2,土壤监测,重点研发,王五,wang@example.org,甲农业大学,农业\n";
        let batch = parse(ImportKind::Projects, text, &existing(), |_| {}).unwrap();
        assert_eq!(batch.projects.len(), 2);
        assert_eq!(batch.people.len(), 1, "one applicant for both projects");
        assert_eq!(batch.projects[0].applicant, batch.projects[1].applicant);

        let dup = format!(
            "{text}P-1,重复,重点研发,赵六,zhao@example.org,甲农业大学,农业\nOLD-1,旧,重点研发,钱七,qian@example.org,甲农业大学,\nP-9,未知,不存在的计划,孙八,sun@example.org,甲农业大学,\n"
        );
        let errors = parse(ImportKind::Projects, &dup, &existing(), |_| {}).unwrap_err();
        assert!(
            errors.iter().any(|e| e.line == 4
                && e.reason
                    .contains("duplicate project code P-1 (also on line 2)")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.line == 5 && e.reason.contains("OLD-1 already exists"))
        );
        assert!(
            errors
                .iter()
                .any(|e| e.line == 6 && e.reason.contains("unknown programme"))
        );
    }

    #[test]
    fn english_headers_and_blank_trailing_lines_work_and_progress_is_reported() {
        let text = "name\nInstitute A\n\nInstitute B\n,\n";
        let mut seen = 0;
        let batch = parse(ImportKind::Organisations, text, &existing(), |n| seen = n).unwrap();
        assert_eq!(batch.organisations.len(), 2);
        assert!(seen >= 2);
    }
}
