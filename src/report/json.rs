//! The JSON format: every report as its documented, versioned schema (docs/json-schema.md).

use super::Render;
use serde::Serialize;

pub struct Json;

impl<R: Serialize> Render<R> for Json {
    fn render(&self, report: &R) -> String {
        serde_json::to_string_pretty(report).expect("reports serialize")
    }
}
