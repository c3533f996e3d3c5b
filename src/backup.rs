//! Backups: `viva backup` (and a schedule inside `viva serve`) writes a consistent online
//! snapshot of the database plus a manifest of the recorded assets (path, size,
//! SHA-256) into the backup directory, records every attempt (time, size, result) in
//! the database, and keeps the newest `keep` snapshots. `viva restore` brings a
//! snapshot back (stop the server first). The "backups on time" indicator is computed
//! from the recorded attempts.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use scheduler::Store;
use scheduler::record::BackupRecord;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::Config;

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupOutcome {
    /// The database snapshot.
    pub snapshot: PathBuf,
    /// The manifest next to it.
    pub manifest: PathBuf,
    /// Snapshot size in bytes.
    pub bytes: u64,
    /// Recorded assets listed in the manifest.
    pub assets: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    created_at: DateTime<Utc>,
    database: ManifestFile,
    assets: Vec<ManifestFile>,
}

#[derive(Debug, Serialize)]
struct ManifestFile {
    path: String,
    bytes: u64,
    sha256: String,
}

fn describe(path: &Path, shown_as: String) -> anyhow::Result<ManifestFile> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(ManifestFile {
        path: shown_as,
        bytes: bytes.len() as u64,
        sha256: Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    })
}

/// Every file under `dir`, recursively, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Takes one backup and records the attempt, whatever its result.
pub async fn backup(store: &dyn Store, config: &Config) -> anyhow::Result<BackupOutcome> {
    let at = Utc::now();
    let result = take(store, config, at).await;
    let record = BackupRecord {
        id: Uuid::new_v4(),
        at: Utc::now(),
        file: match &result {
            Ok(o) => o.snapshot.display().to_string(),
            Err(_) => String::new(),
        },
        bytes: result
            .as_ref()
            .map(|o| i64::try_from(o.bytes).unwrap_or(i64::MAX))
            .unwrap_or(0),
        ok: result.is_ok(),
        error: result.as_ref().err().map(|e| format!("{e:#}")),
    };
    if let Err(e) = store.record_backup(&record).await {
        tracing::error!(error = %e, "backup attempt not recorded");
    }
    match &result {
        Ok(o) => {
            tracing::info!(snapshot = %o.snapshot.display(), bytes = o.bytes, "backup written")
        }
        Err(e) => tracing::error!(error = %format!("{e:#}"), "BACKUP FAILED"),
    }
    result
}

async fn take(
    store: &dyn Store,
    config: &Config,
    at: DateTime<Utc>,
) -> anyhow::Result<BackupOutcome> {
    let dir = &config.backup.dir;
    // Snapshots hold password hashes and everything needed to rebuild join links:
    // readable by Viva's own user only.
    private_dir(dir)?;
    let stem = format!("viva-{}", at.format("%Y%m%dT%H%M%S%.3fZ"));
    let extension = if config.database.url.starts_with("postgres") {
        "pgdump"
    } else {
        "sqlite"
    };
    let snapshot = dir.join(format!("{stem}.{extension}"));
    store
        .snapshot_into(&snapshot)
        .await
        .context("snapshot of the database")?;
    make_private(&snapshot)?;
    let recordings = config.storage.data_dir.join("recordings");
    let assets = files_under(&recordings)
        .iter()
        .map(|p| {
            let shown = p
                .strip_prefix(&config.storage.data_dir)
                .unwrap_or(p)
                .display()
                .to_string();
            describe(p, shown)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let database = describe(&snapshot, snapshot.display().to_string())?;
    let bytes = database.bytes;
    let manifest = Manifest {
        created_at: at,
        database,
        assets,
    };
    let manifest_path = dir.join(format!("{stem}.manifest.json"));
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&manifest)?)
        .with_context(|| format!("writing {}", manifest_path.display()))?;
    make_private(&manifest_path)?;
    prune(dir, config.backup.keep);
    Ok(BackupOutcome {
        snapshot,
        manifest: manifest_path,
        bytes,
        assets: manifest.assets.len(),
    })
}

/// Creates `dir` (and its parents) if needed and makes it readable by this user only.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    set_mode(dir, 0o700)
}

/// Makes a file readable and writable by this user only.
pub fn make_private(file: &Path) -> anyhow::Result<()> {
    set_mode(file, 0o600)
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("restricting {} to its owner", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Keeps the newest `keep` snapshots (and their manifests).
fn prune(dir: &Path, keep: usize) {
    let mut snapshots: Vec<PathBuf> = files_under(dir)
        .into_iter()
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("viva-") && (n.ends_with(".sqlite") || n.ends_with(".pgdump"))
            })
        })
        .collect();
    snapshots.sort();
    let excess = snapshots.len().saturating_sub(keep.max(1));
    for old in &snapshots[..excess] {
        let _ = std::fs::remove_file(old);
        let _ = std::fs::remove_file(old.with_extension("manifest.json"));
    }
}

/// Restores a snapshot into the configured database. The server must be stopped.
pub async fn restore(config: &Config, snapshot: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(snapshot.is_file(), "{} is not a file", snapshot.display());
    if config.database.url.starts_with("postgres") {
        let out = scheduler::postgres::tool_command("pg_restore", &config.database.url)
            .args([
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
            ])
            .arg(snapshot)
            .output()
            .await
            .context("running pg_restore (install postgresql-client)")?;
        anyhow::ensure!(
            out.status.success(),
            "pg_restore failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return Ok(());
    }
    // Check that it is a Viva database before replacing anything: open it (which also
    // brings an older snapshot's schema up to date).
    let probe = format!("sqlite://{}", snapshot.display());
    let store = scheduler::SqliteStore::open(&probe)
        .await
        .with_context(|| format!("{} is not a usable Viva database", snapshot.display()))?;
    drop(store);
    let target = sqlite_path(&config.database.url)?;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // Copy next to the target, then rename over it: never a half-written database.
    let staging = target.with_extension("restoring");
    std::fs::copy(snapshot, &staging)
        .with_context(|| format!("copying {} to {}", snapshot.display(), staging.display()))?;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", target.display()));
    }
    std::fs::rename(&staging, &target)
        .with_context(|| format!("replacing {}", target.display()))?;
    Ok(())
}

/// The file behind a `sqlite://` URL.
pub fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .context("the database URL is neither sqlite:// nor postgres://")?;
    let path = rest.split('?').next().unwrap_or(rest);
    anyhow::ensure!(
        !path.is_empty() && !path.contains(":memory:"),
        "an in-memory database cannot be restored"
    );
    Ok(PathBuf::from(path))
}

/// Share (percent) of backup periods in `[from, to)` that had a successful backup;
/// periods are counted from the first attempt on record (before it there was no
/// schedule to keep). `None` without any attempt.
pub fn on_time_share(
    attempts: &[BackupRecord],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    period: chrono::Duration,
) -> Option<f64> {
    let first = attempts.iter().map(|a| a.at).min()?.max(from);
    if to <= first || period <= chrono::Duration::zero() {
        return None;
    }
    let periods = ((to - first).num_seconds() / period.num_seconds()).max(0) + 1;
    let mut met = 0;
    for i in 0..periods {
        let start = first + period * i32::try_from(i).unwrap_or(i32::MAX);
        let end = start + period;
        if attempts.iter().any(|a| a.ok && a.at >= start && a.at < end) {
            met += 1;
        }
    }
    Some(100.0 * met as f64 / periods as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(hours: i64, ok: bool) -> BackupRecord {
        BackupRecord {
            id: Uuid::new_v4(),
            at: DateTime::from_timestamp(1_767_225_600, 0).unwrap()
                + chrono::Duration::hours(hours),
            file: String::new(),
            bytes: 0,
            ok,
            error: None,
        }
    }

    #[test]
    fn on_time_counts_periods_with_a_successful_backup() {
        let from = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        let day = chrono::Duration::hours(24);
        let to = from + chrono::Duration::days(4);
        // Days 0, 1 ok; day 2 failed; day 3 ok twice.
        let attempts = [
            attempt(1, true),
            attempt(25, true),
            attempt(49, false),
            attempt(73, true),
            attempt(80, true),
        ];
        let share = on_time_share(&attempts, from, to, day).unwrap();
        assert!((share - 75.0).abs() < 1e-9, "{share}");
        assert_eq!(on_time_share(&[], from, to, day), None);
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite://data/viva.db").unwrap(),
            PathBuf::from("data/viva.db")
        );
        assert_eq!(
            sqlite_path("sqlite:///tmp/x.db?mode=rwc").unwrap(),
            PathBuf::from("/tmp/x.db")
        );
        assert!(sqlite_path("sqlite::memory:").is_err());
        assert!(sqlite_path("mysql://x").is_err());
    }

    #[test]
    fn pruning_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        for stamp in ["20260101T000000", "20260102T000000", "20260103T000000"] {
            std::fs::write(dir.path().join(format!("viva-{stamp}.sqlite")), b"x").unwrap();
            std::fs::write(
                dir.path().join(format!("viva-{stamp}.manifest.json")),
                b"{}",
            )
            .unwrap();
        }
        prune(dir.path(), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "viva-20260102T000000.manifest.json",
                "viva-20260102T000000.sqlite",
                "viva-20260103T000000.manifest.json",
                "viva-20260103T000000.sqlite"
            ]
        );
    }
}
