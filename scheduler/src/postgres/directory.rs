//! PostgreSQL: the directory: organisations, people, programmes, projects, rooms, panels, conflicts of interest, availability, and the bulk import into them.

use super::*;

#[async_trait]
impl DirectoryStore for PgStore {
    async fn create_organisation(&self, name: &str) -> Result<Organisation, StoreError> {
        let org = Organisation {
            id: Uuid::new_v4(),
            name: name.trim().to_owned(),
        };
        sqlx::query("INSERT INTO organisations (id, name) VALUES ($1, $2)")
            .bind(org.id)
            .bind(&org.name)
            .execute(&self.pool)
            .await
            .map_err(map_write_error)?;
        Ok(org)
    }

    async fn create_person(&self, new: &NewPerson) -> Result<Person, StoreError> {
        let person = Person {
            id: Uuid::new_v4(),
            name: new.name.as_str().to_owned(),
            email: new.email.clone(),
            organisation_id: new.organisation,
            roles: new.roles.clone(),
            fields: new.fields.clone(),
            time_zone: new.time_zone.name().to_owned(),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO people (id, name, email, organisation_id, fields, time_zone) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(person.id)
        .bind(&person.name)
        .bind(&person.email)
        .bind(person.organisation_id)
        .bind(person.fields.join("|"))
        .bind(&person.time_zone)
        .execute(&mut *tx)
        .await
        .map_err(map_write_error)?;
        for role in &person.roles {
            sqlx::query("INSERT INTO person_roles (person_id, role) VALUES ($1, $2)")
                .bind(person.id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await
                .map_err(map_write_error)?;
        }
        tx.commit().await?;
        Ok(person)
    }

    async fn person(&self, id: Uuid) -> Result<Person, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, email, organisation_id, fields, time_zone FROM people WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        let roles: Vec<String> =
            sqlx::query_scalar("SELECT role FROM person_roles WHERE person_id = $1 ORDER BY role")
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
        let fields: String = row.try_get("fields")?;
        Ok(Person {
            id,
            name: row.try_get("name")?,
            email: row.try_get("email")?,
            organisation_id: row.try_get("organisation_id")?,
            roles: roles
                .iter()
                .filter_map(|r| Role::from_str(r).ok())
                .collect(),
            fields: fields
                .split('|')
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect(),
            time_zone: row.try_get("time_zone")?,
        })
    }

    async fn create_programme(
        &self,
        name: &str,
        min_panel_size: i64,
        max_panel_size: i64,
    ) -> Result<Programme, StoreError> {
        let programme = Programme {
            id: Uuid::new_v4(),
            name: name.trim().to_owned(),
            min_panel_size,
            max_panel_size,
        };
        sqlx::query(
            "INSERT INTO programmes (id, name, min_panel_size, max_panel_size) VALUES ($1, $2, $3, $4)",
        )
        .bind(programme.id)
        .bind(&programme.name)
        .bind(min_panel_size as i32)
        .bind(max_panel_size as i32)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(programme)
    }

    async fn create_project(&self, new: &NewProject) -> Result<Project, StoreError> {
        let project = Project {
            id: Uuid::new_v4(),
            code: new.code.clone(),
            title: new.title.clone(),
            programme_id: new.programme,
            applicant_id: new.applicant,
            organisation_id: new.organisation,
            field: new.field.clone(),
        };
        sqlx::query(
            "INSERT INTO projects (id, code, title, programme_id, applicant_id, organisation_id, field)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(project.id)
        .bind(&project.code)
        .bind(&project.title)
        .bind(project.programme_id)
        .bind(project.applicant_id)
        .bind(project.organisation_id)
        .bind(&project.field)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(project)
    }

    async fn declare_conflict(
        &self,
        expert: Uuid,
        target: ConflictTarget,
        reason: &str,
    ) -> Result<(), StoreError> {
        let (project, organisation) = match target {
            ConflictTarget::Project(p) => (Some(p), None),
            ConflictTarget::Organisation(o) => (None, Some(o)),
        };
        sqlx::query(
            "INSERT INTO conflicts_of_interest (id, expert_id, project_id, organisation_id, reason)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(Uuid::new_v4())
        .bind(expert)
        .bind(project)
        .bind(organisation)
        .bind(reason)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn create_room(&self, name: &str) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        sqlx::query("INSERT INTO rooms (id, name) VALUES ($1, $2)")
            .bind(id)
            .bind(name.trim())
            .execute(&self.pool)
            .await
            .map_err(map_write_error)?;
        Ok(id)
    }

    async fn import_snapshot(&self) -> Result<crate::import::Existing, StoreError> {
        let mut existing = crate::import::Existing::default();
        for row in sqlx::query("SELECT id, name FROM organisations")
            .fetch_all(&self.pool)
            .await?
        {
            existing
                .organisations
                .insert(row.try_get("name")?, row.try_get("id")?);
        }
        for row in sqlx::query("SELECT id, name FROM programmes")
            .fetch_all(&self.pool)
            .await?
        {
            existing
                .programmes
                .insert(row.try_get("name")?, row.try_get("id")?);
        }
        existing.project_codes = sqlx::query_scalar::<_, String>("SELECT code FROM projects")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .collect();
        for row in
            sqlx::query("SELECT id, lower(email) AS email FROM people WHERE email IS NOT NULL")
                .fetch_all(&self.pool)
                .await?
        {
            existing
                .emails
                .insert(row.try_get("email")?, row.try_get("id")?);
        }
        Ok(existing)
    }

    async fn apply_import(&self, batch: &crate::import::ImportBatch) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (id, name) in &batch.organisations {
            sqlx::query("INSERT INTO organisations (id, name) VALUES ($1, $2)")
                .bind(id)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(map_write_error)?;
        }
        for p in &batch.people {
            sqlx::query("INSERT INTO people (id, name, email, organisation_id, fields, time_zone) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(p.id)
                .bind(p.person.name.as_str())
                .bind(&p.person.email)
                .bind(p.person.organisation)
                .bind(p.person.fields.join("|"))
                .bind(p.person.time_zone.name())
                .execute(&mut *tx)
                .await
                .map_err(map_write_error)?;
            for role in &p.person.roles {
                sqlx::query("INSERT INTO person_roles (person_id, role) VALUES ($1, $2)")
                    .bind(p.id)
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_write_error)?;
            }
        }
        for project in &batch.projects {
            sqlx::query(
                "INSERT INTO projects (id, code, title, programme_id, applicant_id, organisation_id, field) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(Uuid::new_v4())
            .bind(&project.code)
            .bind(&project.title)
            .bind(project.programme)
            .bind(project.applicant)
            .bind(project.organisation)
            .bind(&project.field)
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn organisations(&self) -> Result<Vec<Organisation>, StoreError> {
        sqlx::query("SELECT id, name FROM organisations ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(Organisation {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                })
            })
            .collect()
    }

    async fn people(&self) -> Result<Vec<Person>, StoreError> {
        let mut roles: std::collections::HashMap<Uuid, Vec<Role>> =
            std::collections::HashMap::new();
        for row in sqlx::query("SELECT person_id, role FROM person_roles ORDER BY role")
            .fetch_all(&self.pool)
            .await?
        {
            let role: String = row.try_get("role")?;
            if let Ok(role) = Role::from_str(&role) {
                roles
                    .entry(row.try_get("person_id")?)
                    .or_default()
                    .push(role);
            }
        }
        sqlx::query("SELECT id, name, email, organisation_id, fields, time_zone FROM people ORDER BY name, id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let id = row.try_get("id")?;
                let fields: String = row.try_get("fields")?;
                Ok(Person {
                    id,
                    name: row.try_get("name")?,
                    email: row.try_get("email")?,
                    organisation_id: row.try_get("organisation_id")?,
                    roles: roles.remove(&id).unwrap_or_default(),
                    fields: fields
                        .split('|')
                        .filter(|f| !f.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    time_zone: row.try_get("time_zone")?,
                })
            })
            .collect()
    }

    async fn programmes(&self) -> Result<Vec<Programme>, StoreError> {
        sqlx::query("SELECT id, name, min_panel_size, max_panel_size FROM programmes ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(Programme {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    min_panel_size: i64::from(row.try_get::<i32, _>("min_panel_size")?),
                    max_panel_size: i64::from(row.try_get::<i32, _>("max_panel_size")?),
                })
            })
            .collect()
    }

    async fn projects(&self) -> Result<Vec<Project>, StoreError> {
        sqlx::query(
            "SELECT id, code, title, programme_id, applicant_id, organisation_id, field FROM projects ORDER BY code",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(Project {
                id: row.try_get("id")?,
                code: row.try_get("code")?,
                title: row.try_get("title")?,
                programme_id: row.try_get("programme_id")?,
                applicant_id: row.try_get("applicant_id")?,
                organisation_id: row.try_get("organisation_id")?,
                field: row.try_get("field")?,
            })
        })
        .collect()
    }

    async fn rooms(&self) -> Result<Vec<Room>, StoreError> {
        sqlx::query("SELECT id, name FROM rooms ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(Room {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                })
            })
            .collect()
    }

    async fn create_panel(
        &self,
        name: &str,
        chair: Option<Uuid>,
        members: &[Uuid],
    ) -> Result<Panel, StoreError> {
        if let Some(chair) = chair
            && !members.contains(&chair)
        {
            return Err(StoreError::Conflict(
                "the chair must be a member of the panel".into(),
            ));
        }
        let panel = Panel {
            id: Uuid::new_v4(),
            name: name.trim().to_owned(),
            chair_id: chair,
            members: members.to_vec(),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO panels (id, name, chair_id) VALUES ($1, $2, $3)")
            .bind(panel.id)
            .bind(&panel.name)
            .bind(panel.chair_id)
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
        for member in members {
            sqlx::query("INSERT INTO panel_members (panel_id, person_id) VALUES ($1, $2)")
                .bind(panel.id)
                .bind(*member)
                .execute(&mut *tx)
                .await
                .map_err(map_write_error)?;
        }
        tx.commit().await?;
        Ok(panel)
    }

    async fn panels(&self) -> Result<Vec<Panel>, StoreError> {
        let mut members: std::collections::HashMap<Uuid, Vec<Uuid>> =
            std::collections::HashMap::new();
        for row in sqlx::query("SELECT panel_id, person_id FROM panel_members")
            .fetch_all(&self.pool)
            .await?
        {
            members
                .entry(row.try_get("panel_id")?)
                .or_default()
                .push(row.try_get("person_id")?);
        }
        sqlx::query("SELECT id, name, chair_id FROM panels ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let id = row.try_get("id")?;
                let mut m = members.remove(&id).unwrap_or_default();
                m.sort();
                Ok(Panel {
                    id,
                    name: row.try_get("name")?,
                    chair_id: row.try_get("chair_id")?,
                    members: m,
                })
            })
            .collect()
    }

    async fn conflicts(&self) -> Result<Vec<(Uuid, ConflictTarget)>, StoreError> {
        sqlx::query("SELECT expert_id, project_id, organisation_id FROM conflicts_of_interest")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let expert = row.try_get("expert_id")?;
                let project: Option<Uuid> = row.try_get("project_id")?;
                let organisation: Option<Uuid> = row.try_get("organisation_id")?;
                let target = match (project, organisation) {
                    (Some(p), _) => ConflictTarget::Project(p),
                    (None, Some(o)) => ConflictTarget::Organisation(o),
                    (None, None) => return Err(corrupt("conflicts_of_interest", "no target")),
                };
                Ok((expert, target))
            })
            .collect()
    }

    async fn add_window(&self, w: &crate::model::AvailabilityWindow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO availability_windows (id, person_id, kind, starts_at, ends_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(Uuid::new_v4())
            .bind(w.person_id)
            .bind(w.kind.as_str())
            .bind(w.starts_at)
            .bind(w.ends_at)
            .execute(&self.pool)
            .await
            .map_err(map_write_error)?;
        Ok(())
    }

    async fn windows(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<crate::model::AvailabilityWindow>, StoreError> {
        sqlx::query("SELECT person_id, kind, starts_at, ends_at FROM availability_windows WHERE starts_at < $1 AND $2 < ends_at")
            .bind(to)
            .bind(from)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                Ok(crate::model::AvailabilityWindow {
                    person_id: row.try_get("person_id")?,
                    kind: if kind == "preferred" { crate::model::WindowKind::Preferred } else { crate::model::WindowKind::Unavailable },
                    starts_at: row.try_get("starts_at")?,
                    ends_at: row.try_get("ends_at")?,
                })
            })
            .collect()
    }

    async fn set_programme_criteria(
        &self,
        programme: Uuid,
        criteria: &[Criterion],
    ) -> Result<(), StoreError> {
        let json = serde_json::to_value(criteria).map_err(|e| corrupt("criteria", e))?;
        let done = sqlx::query("UPDATE programmes SET criteria = $1 WHERE id = $2")
            .bind(json)
            .bind(programme)
            .execute(&self.pool)
            .await
            .map_err(map_write_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
