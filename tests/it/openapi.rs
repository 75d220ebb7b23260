//! The served OpenAPI document validates, and what the routes answer is
//! what it says.

use crate::helpers::TestApp;
use serde_json::{Value, json};

async fn document(app: &TestApp) -> Value {
    app.client
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Every `$ref` anywhere in `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.clone(), path.clone(), op.clone()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_validates() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let file = std::env::temp_dir().join(format!("herald-openapi-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, doc.to_string()).unwrap();
    // openapi-spec-validator (PyPI), the reference validator for 3.0 and 3.1.
    let script = "import json, sys\n\
        from openapi_spec_validator import validate\n\
        validate(json.load(open(sys.argv[1])))\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output()
        .expect("python3 runs");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "the document does not validate (needs `pip install openapi-spec-validator`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .expect("a schema ref");
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{r} does not exist"
        );
    }
    let params = doc["paths"]["/v1/invites"]["get"]["parameters"]
        .as_array()
        .unwrap();
    assert_eq!(params.len(), 3);
    for p in params {
        assert_eq!(p["in"], "query", "{p}");
        assert_ne!(p["required"], true, "{p}");
    }
    let created = &doc["paths"]["/v1/webhook-endpoints"]["post"]["responses"]["201"]["links"];
    for name in ["get", "attempts", "rotate_secret", "delete"] {
        assert_eq!(
            created[name]["parameters"]["id"], "$response.body#/id",
            "{name}"
        );
    }
    let status = params.iter().find(|p| p["name"] == "status").unwrap();
    let text = status["schema"].to_string();
    for s in ["pending", "accepted", "expired", "revoked"] {
        assert!(text.contains(s), "{text}");
    }
    for (method, path, op) in operations(&doc) {
        for code in ["401", "503"] {
            assert_eq!(
                op["responses"][code]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path} {code}"
            );
        }
        for (name, link) in op["responses"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(|r| r["links"].as_object())
            .flatten()
        {
            let target = link["operationId"]
                .as_str()
                .expect("a link names its operationId");
            assert!(
                operations(&doc)
                    .iter()
                    .any(|(_, _, o)| o["operationId"] == target),
                "{method} {path}: link {name} points at a missing operation {target}"
            );
        }
        if op.get("requestBody").is_some() {
            for code in ["400", "413", "415", "422"] {
                assert!(
                    op["responses"].get(code).is_some(),
                    "{method} {path} {code}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_answer_only_documented_statuses() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let documented = |method: &str, path: &str, status: u16| {
        doc["paths"][path][method]["responses"]
            .get(status.to_string())
            .is_some()
    };
    // Without a token, every operation answers 401, and says so.
    for (method, path, _) in operations(&doc) {
        let url = app.url(&path.replace("{id}", &uuid::Uuid::new_v4().to_string()));
        let request = app
            .client
            .request(method.to_uppercase().parse().unwrap(), url);
        let status = request.send().await.unwrap().status().as_u16();
        assert_eq!(status, 401, "{method} {path}");
        assert!(documented(&method, &path, status));
    }
    // Schema-valid requests are answered with a documented success.
    for query in [
        "",
        "?status=pending&limit=1&offset=0",
        "?status=revoked&limit=100",
    ] {
        let r = app.get(&format!("/v1/invites{query}")).await;
        assert_eq!(r.status(), 200, "{query}");
    }
    let r = app
        .post(
            "/v1/webhook-endpoints",
            json!({"url": "https://hooks.example.com/herald", "events": ["user.created"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    // Schema-invalid ones get a documented error.
    let r = app.get("/v1/invites?status=gone").await;
    assert_eq!(r.status(), 400);
    assert!(documented("get", "/v1/invites", 400));
    let r = app.post("/v1/invites/validate", json!({"nope": 1})).await;
    assert_eq!(r.status(), 422);
    assert!(documented("post", "/v1/invites/validate", 422));
}

/// schemathesis (PyPI), a property-based tester nobody here wrote, generates
/// requests from the served document (valid and deliberately invalid, then
/// stateful sequences through the links) and checks every answer: no
/// undocumented status, no schema-valid request refused, no invalid one
/// taken, bodies as documented. `schemathesis.toml` counts 413 as a refusal.
/// The run allows private webhook targets: refusing them is deployment
/// policy, which no schema can state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_property_based_run_finds_nothing() {
    let mut app = TestApp::spawn_with(crate::helpers::Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    app.worker_settings.targets.webhook_allow_private = true;
    app.start_worker();
    let doc = document(&app).await;
    assert_eq!(
        doc["components"]["schemas"]["CreateEndpoint"]["properties"]["url"]["pattern"],
        herald::webhooks::url_shape::PATTERN,
        "the document states the URL shape registration checks"
    );
    let out = std::process::Command::new("st")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", &app.url("/v1/openapi.json")])
        .args([
            "--header",
            &format!("Authorization: Bearer {}", crate::helpers::API_TOKEN),
        ])
        .args([
            "--max-examples",
            "25",
            "--seed",
            "20261201",
            "--workers",
            "2",
        ])
        .args(["--warnings", "off", "--no-color"])
        .output()
        .expect("schemathesis runs (`pip install schemathesis`)");
    assert!(
        out.status.success(),
        "schemathesis found faults:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
