//! The served OpenAPI document, finished after the routes are collected:
//! every `/v1` answer documented with the contract's error body, so a
//! generated client knows each status a route can give.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

/// `{"error":{"code","message"}}`, as every error answers.
#[derive(serde::Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(serde::Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable, e.g. `not_found`, `invalid_body`, `unauthorized`.
    pub code: String,
    /// For people.
    pub message: String,
}

/// Adds the error schema, the answers every route shares (400, 401, 503,
/// 500), those of routes with a JSON body (413, 415, 422),
/// and the error body to every documented error without one.
pub fn finish(mut doc: OpenApi) -> OpenApi {
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .schemas
        .insert("ErrorBody".into(), ErrorBody::schema());
    components
        .schemas
        .insert("ErrorDetail".into(), ErrorDetail::schema());
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            unique_id(op);
            document_errors(op);
        }
    }
    doc
}

/// The document as served. utoipa 5 writes a link's fields in snake case
/// (`operation_id`), which the Link Object does not allow: they are renamed
/// to `operationId`, `operationRef` and `requestBody` here.
pub fn served(doc: OpenApi) -> serde_json::Value {
    let mut value = serde_json::to_value(doc).expect("an OpenAPI document serializes");
    let operations = value["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for op in operations {
        let responses = op["responses"].as_object_mut().into_iter().flatten();
        for (_, response) in responses {
            let links = response.get_mut("links").and_then(|l| l.as_object_mut());
            for link in links.into_iter().flat_map(|l| l.values_mut()) {
                let Some(link) = link.as_object_mut() else {
                    continue;
                };
                for (from, to) in [
                    ("operation_id", "operationId"),
                    ("operation_ref", "operationRef"),
                    ("request_body", "requestBody"),
                ] {
                    if let Some(v) = link.remove(from) {
                        link.insert(to.into(), v);
                    }
                }
            }
        }
    }
    value
}

/// Handlers in different modules share names (`list`, `get`): the tag
/// makes each operation id unique, as generators need.
fn unique_id(op: &mut Operation) {
    if let (Some(tag), Some(id)) = (op.tags.as_ref().and_then(|t| t.first()), &op.operation_id) {
        op.operation_id = Some(format!("{}_{id}", tag.replace('-', "_")));
    }
}

fn document_errors(op: &mut Operation) {
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(error(description)));
    };
    add("401", "no or a wrong bearer token");
    add(
        "503",
        "HERALD_API_TOKEN is unset, or the database is unavailable",
    );
    add("500", "an unexpected fault; see the server log");
    let has_body = op.request_body.is_some();
    let has_query = op
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Query);
    if has_body {
        add("400", "the body is not JSON");
        add("413", "the body is larger than 16 KiB");
        add("415", "the body is not sent as application/json");
        add("422", "the JSON does not have the documented shape");
    } else if has_query {
        add("400", "a query parameter is unknown or out of range");
    }
    // Any route's value may be one the database cannot take (a NUL in a path).
    add("400", "a value the database cannot take");
    for (status, response) in op.responses.responses.iter_mut() {
        if let RefOr::T(response) = response
            && (status.starts_with('4') || status.starts_with('5'))
        {
            with_error_body(response);
        }
    }
}

fn error(description: &str) -> Response {
    let mut response = ResponseBuilder::new().description(description).build();
    with_error_body(&mut response);
    response
}

/// An error answer without content gets the error body.
fn with_error_body(response: &mut Response) {
    if response.content.is_empty() {
        response.content.insert(
            "application/json".into(),
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        );
    }
}
