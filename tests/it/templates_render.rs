//! `herald templates render` prints what the dispatcher would send: derived
//! fields filled the same way, dates in the email's language, never a hole.

use crate::helpers::herald_bin;
use std::path::{Path, PathBuf};
use std::process::Output;

const TEMPLATES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");

fn render(dir: &Path, args: &[&str]) -> Output {
    herald_bin()
        .args(["templates", "render"])
        .args(args)
        .env("HERALD_TEMPLATES_DIR", dir)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A copy of the shipped templates to change one file in.
fn copy_templates() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("herald-templates-{}", uuid::Uuid::new_v4()));
    for entry in walk(Path::new(TEMPLATES)) {
        let to = dir.join(entry.strip_prefix(TEMPLATES).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&entry, to).unwrap();
    }
    dir
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn partial_invite_data_gets_its_expiry_from_the_invite_ttl() {
    let out = render(
        Path::new(TEMPLATES),
        &[
            "invite",
            "--data",
            r#"{"email":"ada@example.com","role":"admin"}"#,
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("The link expires in 7 days ("), "{stdout}");
    assert!(
        !stdout.contains("()") && !stdout.contains("in  "),
        "{stdout}"
    );
    assert!(stdout.contains("/invite?token=TOKEN"), "{stdout}");
}

#[test]
fn a_variable_that_cannot_be_derived_fails_by_name() {
    let dir = copy_templates();
    // A welcome email has no expiry to word.
    let text_hbs = dir.join("welcome/text.hbs");
    let mut source = std::fs::read_to_string(&text_hbs).unwrap();
    source.push_str("\nValid for {{expires_in}}.\n");
    std::fs::write(&text_hbs, source).unwrap();
    let out = render(
        &dir,
        &["welcome", "--data", r#"{"email":"ada@example.com"}"#],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "printed: {}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("expires_in"), "{stderr}");
    assert!(stderr.contains("welcome/text"), "{stderr}");
}

#[test]
fn the_french_invite_shows_a_french_month_and_duration() {
    let data = r#"{"email":"ada@example.com","expires_at":"2030-01-01T00:00:00Z"}"#;
    let out = render(
        Path::new(TEMPLATES),
        &["invite", "--data", data, "--locale", "fr"],
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("1 janvier 2030"), "{stdout}");
    assert!(!stdout.contains("January"), "{stdout}");
    // The duration too: "dans 1127 jours", not "days".
    assert!(stdout.contains(" jours (le 1 janvier 2030"), "{stdout}");
    assert!(!stdout.contains("days"), "{stdout}");
    // The data's own locale is used when --locale is absent.
    let data = r#"{"email":"ada@example.com","expires_at":"2030-01-01T00:00:00Z","locale":"fr"}"#;
    let out = render(Path::new(TEMPLATES), &["invite", "--data", data]);
    assert!(text(&out.stdout).contains("1 janvier 2030"), "{out:?}");
}

#[test]
fn every_argument_of_every_command_has_help() {
    use clap::CommandFactory;
    fn check(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.get_help().is_none() && !["help", "version"].contains(&id) {
                missing.push(format!("{path} {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            check(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    check(&herald::cli::Cli::command(), "herald", &mut missing);
    assert!(missing.is_empty(), "without help: {missing:?}");
}
