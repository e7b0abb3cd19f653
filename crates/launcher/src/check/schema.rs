//! What OpenAI's tool import accepts of a tool's input schema.

use serde_json::Value;

/// Schema keywords outside what OpenAI's tool import reliably accepts.
const UNSUPPORTED_KEYWORDS: [&str; 11] = [
    "$ref",
    "$defs",
    "definitions",
    "allOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "patternProperties",
    "dependentSchemas",
];

pub(super) fn find_keywords(schema: &Value, path: &str, found: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if UNSUPPORTED_KEYWORDS.contains(&key.as_str()) && path_is_schema(path) {
                    found.push(here.clone());
                }
                find_keywords(value, &here, found);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                find_keywords(item, &format!("{path}[{index}]"), found);
            }
        }
        _ => {}
    }
}

/// Whether `path` names a schema, not the inside of `properties` (where any name is fine).
fn path_is_schema(path: &str) -> bool {
    !path.ends_with("properties")
}
