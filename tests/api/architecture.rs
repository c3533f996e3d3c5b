//! The crate's layering, checked from its sources: edges sit on top of services,
//! services on leaves, and nothing reaches back up. A change that breaks a rule
//! fails here with the file and the line, not months later as a tangle.

use std::path::{Path, PathBuf};

use crate::helpers::repo_root;

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The file that holds module `crate::a::b` (either `a/b.rs` or `a/b/mod.rs`).
fn module_file(src: &Path, module: &str) -> Option<PathBuf> {
    let rel: PathBuf = module.split("::").collect();
    [
        src.join(&rel).with_extension("rs"),
        src.join(&rel).join("mod.rs"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// Lines of `source` outside its `#[cfg(test)]` module (tests may reach anywhere).
fn code_lines(source: &str) -> impl Iterator<Item = (usize, &str)> {
    let end = source.find("#[cfg(test)]").unwrap_or(source.len());
    source[..end].lines().enumerate().map(|(i, l)| (i + 1, l))
}

#[test]
fn only_the_server_builder_reaches_into_the_http_edge() {
    let src = repo_root().join("src");
    let mut offences = Vec::new();
    for file in rust_files(&src) {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel.starts_with("http/") || rel == "app.rs" || rel == "main.rs" {
            continue;
        }
        let source = std::fs::read_to_string(&file).unwrap();
        for (n, line) in code_lines(&source) {
            if line.contains("crate::http") && !line.trim_start().starts_with("//") {
                offences.push(format!("src/{rel}:{n}: {}", line.trim()));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "below the edge, imports of crate::http: {offences:#?}"
    );
}

#[test]
fn what_the_shared_state_holds_never_depends_on_it() {
    let src = repo_root().join("src");
    let state = std::fs::read_to_string(src.join("state.rs")).unwrap();
    let mut modules: Vec<String> = Vec::new();
    for chunk in state.split("crate::").skip(1) {
        let path: String = chunk
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        // `a::b::Type` or `a::Type`: keep the longest prefix that names a file.
        let parts: Vec<&str> = path.split("::").collect();
        let module = (1..=parts.len())
            .rev()
            .map(|k| parts[..k].join("::"))
            .find(|m| module_file(&src, m).is_some());
        if let Some(module) = module
            && !modules.contains(&module)
        {
            modules.push(module);
        }
    }
    assert!(
        modules.len() >= 8,
        "state.rs's parts were not found: {modules:?}"
    );
    let mut offences = Vec::new();
    for module in &modules {
        let file = module_file(&src, module).unwrap();
        let source = std::fs::read_to_string(&file).unwrap();
        for (n, line) in code_lines(&source) {
            if line.contains("crate::state") || line.contains("AppState") {
                offences.push(format!("{}:{n}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "a part of AppState depends on AppState (a cycle): {offences:#?}"
    );
}

#[test]
fn the_protocol_the_rules_and_the_budgets_do_no_io() {
    // Pure state machines: time is passed in, nothing reads the clock, opens a socket,
    // spawns a task or touches the database.
    let src = repo_root().join("src");
    let pure = [
        "runtime/defense.rs",
        "runtime/room.rs",
        "runtime/lobby.rs",
        "budget.rs",
        "setup_check.rs",
        "signaling/protocol.rs",
    ];
    let forbidden = [
        "Utc::now",
        "Instant::now",
        "SystemTime::now",
        "tokio::spawn",
        "tokio::net",
        "std::net::UdpSocket",
        "sqlx",
        "AppState",
    ];
    let mut offences = Vec::new();
    for rel in pure {
        let source = std::fs::read_to_string(src.join(rel)).unwrap();
        for (n, line) in code_lines(&source) {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for word in forbidden {
                if line.contains(word) {
                    offences.push(format!("src/{rel}:{n}: {word}: {}", line.trim()));
                }
            }
        }
    }
    assert!(offences.is_empty(), "I/O in a pure module: {offences:#?}");
}

#[test]
fn every_module_says_what_it_owns() {
    let mut missing = Vec::new();
    for dir in ["src", "media/src", "scheduler/src"] {
        let root = repo_root().join(dir);
        for file in rust_files(&root) {
            let source = std::fs::read_to_string(&file).unwrap();
            let first = source.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            if !first.starts_with("//!") {
                missing.push(
                    file.strip_prefix(repo_root())
                        .unwrap()
                        .display()
                        .to_string(),
                );
            }
        }
    }
    assert!(
        missing.is_empty(),
        "modules without a `//!` opening: {missing:#?}"
    );
}

#[test]
fn every_crate_layout_names_each_of_its_modules() {
    let mut missing = Vec::new();
    for lib in ["src/lib.rs", "media/src/lib.rs", "scheduler/src/lib.rs"] {
        let source = std::fs::read_to_string(repo_root().join(lib)).unwrap();
        let doc: String = source
            .lines()
            .filter(|l| l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        for line in source.lines() {
            if let Some(name) = line
                .strip_prefix("pub mod ")
                .and_then(|r| r.strip_suffix(';'))
                && !doc.contains(&format!("[`{name}`]"))
            {
                missing.push(format!("{lib}: {name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "modules the layout does not name: {missing:?}"
    );
}

#[test]
fn the_protocol_module_names_every_message() {
    let source = std::fs::read_to_string(repo_root().join("src/signaling/protocol.rs")).unwrap();
    let doc: String = source
        .lines()
        .filter(|l| l.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut missing = Vec::new();
    for enum_name in ["pub enum ClientMessage", "pub enum ServerMessage"] {
        let body = &source[source.find(enum_name).unwrap()..];
        let body = &body[..body.find("\n}\n").unwrap()];
        for line in body.lines() {
            // A variant: four spaces, then its name (`Name {`, `Name,`, `Name(`).
            let Some(rest) = line.strip_prefix("    ") else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_uppercase()) {
                continue;
            }
            let tag = format!("`{}{}`", name[..1].to_lowercase(), &name[1..]);
            if !doc.contains(&tag) {
                missing.push(tag);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "messages the module's opening does not name: {missing:?}"
    );
}
