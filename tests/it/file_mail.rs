//! `SMTP_URL=file:///DIR`: the `.eml` a developer opens is readable as it is.

use crate::helpers::{Options, TestApp, wait_until};
use serde_json::json;
use std::path::{Path, PathBuf};

fn emls(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_email_shows_its_link_to_a_plain_text_search() {
    let dir = std::env::temp_dir().join(format!("herald-eml-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    app.worker_settings.smtp_url = format!("file://{}", dir.display());
    app.start_worker();
    let token = "Tok3n_with-every-base64url-sort-of-char_0123456";
    app.publish(
        "invite.created",
        json!({"id": "inv_eml", "email": "ada@example.com", "first_name": "Zoë", "token": token}),
    )
    .await;
    wait_until("one .eml written", || async { emls(&dir).len() == 1 }).await;
    let raw = std::fs::read(&emls(&dir)[0]).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8(raw.clone()).expect("UTF-8 as written, not an encoding to undo");

    let link = format!("https://admin.example.test/app/invite?token={token}");
    assert!(
        text.contains(&link),
        "the link is not in the file as is:\n{text}"
    );
    assert!(text.contains("Zoë"), "non-ASCII text is encoded:\n{text}");
    assert!(!text.contains("=3D"), "quoted-printable:\n{text}");

    // Still a valid message whose parts decode to the same text.
    let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert!(message.body_text(0).unwrap().contains(&link));
    assert!(message.body_html(0).unwrap().contains(&link));
    assert!(message.subject().is_some());
    assert!(message.message_id().is_some() && message.date().is_some());
}
