//! A value the database cannot take (SQLSTATE class 22) is the request's
//! fault: 400, saying why without quoting it, where it used to look like
//! the database being away (503).

use crate::helpers::{API_TOKEN, TestApp};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_an_invite_id_is_refused_as_the_requests_fault() {
    let app = TestApp::spawn().await;
    // PostgreSQL's text holds no NUL: the revoke's UPDATE fails with 22021.
    let r = app
        .client
        .delete(app.url("/v1/invites/inv_s3cr3t%00x"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_value", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("SQLSTATE 22021"), "{message}");
    assert!(!message.contains("s3cr3t"), "{message}");
    // The worker is none the worse: a plain unknown id is still a 404.
    let r = app
        .client
        .delete(app.url("/v1/invites/inv_unknown"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
