//! A bad setting stops start-up with one line naming it.

use crate::helpers::herald_bin;

fn run_with(env: &[(&str, &str)]) -> (bool, String) {
    let out = herald_bin()
        .arg("run")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_settings_are_named_in_one_line() {
    let key = (
        "HERALD_SECRET_KEY",
        "l9jLqXMKnU5nGXwX/kkkd5Wd/fuz/llMGZkMQivIuWc=",
    );
    for (env, name) in [
        (
            vec![("HERALD_INVITE_TTL", "soon"), key],
            "HERALD_INVITE_TTL",
        ),
        (vec![("HERALD_PREFETCH", "0"), key], "HERALD_PREFETCH"),
        (
            vec![("HERALD_EMAIL_RETRY_SCHEDULE", "30s,later"), key],
            "HERALD_EMAIL_RETRY_SCHEDULE",
        ),
        (vec![("HERALD_LOG_FORMAT", "xml"), key], "HERALD_LOG_FORMAT"),
        (vec![("HERALD_SECRET_KEY", "c2hvcnQ=")], "HERALD_SECRET_KEY"),
        (vec![], "HERALD_SECRET_KEY"),
        (
            vec![("HERALD_SECRET_KEY_PREVIOUS", "c2hvcnQ="), key],
            "HERALD_SECRET_KEY_PREVIOUS",
        ),
        (
            vec![("HERALD_API_TOKEN", "hunter2-is-a-short-token"), key],
            "HERALD_API_TOKEN",
        ),
        (
            vec![("DATABASE_URL", "mysql://root:hunter2@db/x"), key],
            "DATABASE_URL",
        ),
        (
            vec![("AMQP_URL", "http://guest:hunter2@mq"), key],
            "AMQP_URL",
        ),
    ] {
        let (ok, stderr) = run_with(&env);
        assert!(!ok, "{name}: start-up should fail");
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('{'))
            .collect();
        assert_eq!(lines.len(), 1, "{name}: one line, got {stderr:?}");
        assert!(
            lines[0].contains(name),
            "{name} not named in {:?}",
            lines[0]
        );
        assert!(
            !stderr.contains("hunter2") && !stderr.contains("c2hvcnQ"),
            "a secret was echoed: {stderr}"
        );
    }
}
