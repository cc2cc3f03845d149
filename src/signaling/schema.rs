//! The JSON Schema (draft 2020-12) of the `/ws` protocol, generated from [`ClientMsg`] and [`ServerMsg`] with
//! schemars and committed as `docs/protocol.schema.json`, so that clients in other languages can validate
//! or generate their types. A test fails when the Rust types and the committed file drift apart; run
//! `ONAIR_WRITE_SCHEMA=1 cargo test --features ssr --lib schema` to rewrite the file after changing them.

use crate::signaling::protocol::{ClientMsg, ServerMsg, PROTOCOL_VERSION};
use schemars::generate::SchemaSettings;
use serde_json::{json, Value};

/// Where the committed schema lives, relative to the crate root.
pub const SCHEMA_PATH: &str = "docs/protocol.schema.json";

/// The schema document: `$defs` holds `ClientMsg` (what a client may send), `ServerMsg` (what the server
/// sends) and every type they use; the root accepts either message. `x-protocol-version` is
/// [`PROTOCOL_VERSION`].
pub fn protocol_schema() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let client = generator.subschema_for::<ClientMsg>();
    let server = generator.subschema_for::<ServerMsg>();
    let defs = generator.take_definitions(true);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "onair /ws signaling protocol",
        "description": "One JSON object per WebSocket text frame (at most 65536 bytes). Client to server: $defs/ClientMsg; server to client: $defs/ServerMsg. Generated from src/signaling/protocol.rs; the prose reference is docs/protocol.md.",
        "x-protocol-version": PROTOCOL_VERSION,
        "anyOf": [client, server],
        "$defs": defs,
    })
}

/// [`protocol_schema`] as the committed file's text: pretty-printed with a final newline.
pub fn protocol_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&protocol_schema()).expect("a JSON value always serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn repo_file(path: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
    }

    #[test]
    fn committed_schema_matches_the_rust_types() {
        let path = repo_file(SCHEMA_PATH);
        let generated = protocol_schema_text();
        if std::env::var_os("ONAIR_WRITE_SCHEMA").is_some() {
            std::fs::write(&path, &generated).expect("write the schema");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{SCHEMA_PATH} is out of date with src/signaling/protocol.rs: run \
             `ONAIR_WRITE_SCHEMA=1 cargo test --features ssr --lib schema`, review and commit the file"
        );
    }

    /// The `type` values a message enum's schema allows (one `const` per variant).
    fn message_types(schema: &Value, def: &str) -> BTreeSet<String> {
        let variants = schema["$defs"][def]["oneOf"].as_array().unwrap_or_else(|| panic!("{def} has oneOf"));
        variants
            .iter()
            .map(|v| v["properties"]["type"]["const"].as_str().expect("tagged variant").to_string())
            .collect()
    }

    #[test]
    fn schema_names_every_message_type() {
        let schema = protocol_schema();
        let client = message_types(&schema, "ClientMsg");
        assert!(client.contains("join") && client.contains("refresh_ice"), "{client:?}");
        let server = message_types(&schema, "ServerMsg");
        assert!(server.contains("welcome") && server.contains("ice_servers"), "{server:?}");
        assert_eq!(schema["x-protocol-version"], PROTOCOL_VERSION);
    }

    /// Every example line of docs/protocol.md (`→ {...}` client to server, `← {...}` server to client, inside
    /// code blocks) is a valid message of its direction, and every message type has at least one example.
    #[test]
    fn protocol_doc_has_a_valid_example_of_every_message() {
        let doc = std::fs::read_to_string(repo_file("docs/protocol.md")).expect("docs/protocol.md");
        let (mut client_seen, mut server_seen) = (BTreeSet::new(), BTreeSet::new());
        for (n, line) in doc.lines().enumerate() {
            let line = line.trim();
            let (json, client) = if let Some(rest) = line.strip_prefix("→ ") {
                (rest, true)
            } else if let Some(rest) = line.strip_prefix("← ") {
                (rest, false)
            } else {
                continue;
            };
            let value: Value = serde_json::from_str(json)
                .unwrap_or_else(|e| panic!("docs/protocol.md line {}: not JSON ({e}): {json}", n + 1));
            let kind = value["type"].as_str().unwrap_or_default().to_string();
            if client {
                serde_json::from_value::<ClientMsg>(value)
                    .unwrap_or_else(|e| panic!("docs/protocol.md line {}: not a ClientMsg ({e}): {json}", n + 1));
                client_seen.insert(kind);
            } else {
                serde_json::from_value::<ServerMsg>(value)
                    .unwrap_or_else(|e| panic!("docs/protocol.md line {}: not a ServerMsg ({e}): {json}", n + 1));
                server_seen.insert(kind);
            }
        }
        let schema = protocol_schema();
        let missing_client: Vec<_> = message_types(&schema, "ClientMsg").difference(&client_seen).cloned().collect();
        let missing_server: Vec<_> = message_types(&schema, "ServerMsg").difference(&server_seen).cloned().collect();
        assert!(
            missing_client.is_empty() && missing_server.is_empty(),
            "docs/protocol.md has no example of client messages {missing_client:?} / server messages {missing_server:?}"
        );
    }
}
