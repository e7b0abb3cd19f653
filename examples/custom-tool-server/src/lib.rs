//! A tool server of your own: [`TextTools`] (`word_count`, `reverse_text`) declared with
//! rmcp's `#[tool_router]`/`#[tool]` macros, served stateless by mcp-core behind bearer-auth.
//!
//! The macros derive each input schema with schemars, which adds `$schema`, `title` and
//! `format` keys that OpenAI's tool import does not want; [`openai_subset`] strips them in
//! `list_tools`.

use axum::Router;
use bearer_auth::{BearerAuth, ResourceMetadata, Verifier};
use mcp_core::{HttpConfig, McpServer, SessionMode};
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::{router::tool::ToolRouter, tool::ToolCallContext, wrapper::Parameters},
    model::{
        CallToolRequestParams, CallToolResponse, Implementation, JsonObject, ListToolsResult,
        PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    },
    schemars::JsonSchema,
    serde_json::Value,
    service::RequestContext,
    tool, tool_router,
};
use serde::Deserialize;

/// Longest text a tool accepts, in characters; longer ones get an `isError` result.
pub const MAX_TEXT_CHARS: usize = 10_000;

/// The realm named in `WWW-Authenticate` challenges, and the server's name.
pub const NAME: &str = "custom-tool-server";

/// Schema keywords removed from every tool's input schema by [`openai_subset`].
pub const STRIPPED_KEYWORDS: [&str; 3] = ["$schema", "title", "format"];

/// The arguments both tools take.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct TextArgs {
    /// The text to work on.
    pub text: String,
}

/// The text tools: an rmcp handler whose tools come from `#[tool_router]`.
#[derive(Debug, Clone)]
pub struct TextTools {
    tool_router: ToolRouter<Self>,
}

impl Default for TextTools {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_router]
impl TextTools {
    /// The handler with both tools.
    pub fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    /// Counts the words (runs of non-whitespace) in a text.
    #[tool(annotations(
        title = "Count words",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn word_count(
        &self,
        Parameters(TextArgs { text }): Parameters<TextArgs>,
    ) -> Result<String, String> {
        check_length(&text)?;
        Ok(text.split_whitespace().count().to_string())
    }

    /// Reverses a text, character by character.
    #[tool(annotations(
        title = "Reverse text",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn reverse_text(
        &self,
        Parameters(TextArgs { text }): Parameters<TextArgs>,
    ) -> Result<String, String> {
        check_length(&text)?;
        Ok(text.chars().rev().collect())
    }
}

/// Refuses texts over [`MAX_TEXT_CHARS`], saying so in words a model can act on.
fn check_length(text: &str) -> Result<(), String> {
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(format!(
            "the text is {chars} characters long; send at most {MAX_TEXT_CHARS}"
        ));
    }
    Ok(())
}

/// Written by hand rather than with `#[tool_handler]` only for `list_tools`, which
/// post-processes the schemas; calls go straight to the macro-built router.
impl ServerHandler for TextTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(NAME, env!("CARGO_PKG_VERSION")))
            .with_instructions("Text tools: `word_count` counts words, `reverse_text` reverses.")
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = self
            .tool_router
            .list_all()
            .into_iter()
            .map(|mut tool| {
                tool.input_schema = openai_subset(&tool.input_schema).into();
                tool
            })
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tool_router.get(name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.tool_router
            .call(ToolCallContext::new(self, request, context))
            .await
    }
}

/// `schema` without the [`STRIPPED_KEYWORDS`] schemars adds (`$schema` at the top, `title`
/// and `format` on any subschema), which OpenAI's strict tool-schema subset does not
/// accept. Property *names* are kept, even one called `title`.
///
/// ```
/// let schema = serde_json::json!({
///     "$schema": "https://json-schema.org/draft/2020-12/schema",
///     "title": "Args",
///     "type": "object",
///     "properties": { "title": { "type": "string", "format": "uri", "title": "T" } }
/// });
/// let serde_json::Value::Object(schema) = schema else { unreachable!() };
/// let stripped = custom_tool_server::openai_subset(&schema);
/// assert_eq!(
///     serde_json::Value::Object(stripped),
///     serde_json::json!({ "type": "object", "properties": { "title": { "type": "string" } } })
/// );
/// ```
pub fn openai_subset(schema: &JsonObject) -> JsonObject {
    schema
        .iter()
        .filter(|(key, _)| !STRIPPED_KEYWORDS.contains(&key.as_str()))
        .map(|(key, value)| {
            let value = if key == "properties" {
                // A map from property names to schemas: keep every name, strip each schema.
                match value {
                    Value::Object(properties) => Value::Object(
                        properties
                            .iter()
                            .map(|(name, schema)| (name.clone(), strip_value(schema)))
                            .collect(),
                    ),
                    other => other.clone(),
                }
            } else {
                strip_value(value)
            };
            (key.clone(), value)
        })
        .collect()
}

/// [`openai_subset`] on a value that may hold schemas (an object, or an array of them).
fn strip_value(value: &Value) -> Value {
    match value {
        Value::Object(schema) => Value::Object(openai_subset(schema)),
        Value::Array(items) => Value::Array(items.iter().map(strip_value).collect()),
        other => other.clone(),
    }
}

/// A stateless MCP server whose every request is answered by a fresh [`TextTools`].
pub fn mcp_server() -> Result<McpServer, mcp_core::Error> {
    let config = HttpConfig::builder()
        .session_mode(SessionMode::Stateless)
        .build()?;
    let tools = TextTools::new();
    Ok(McpServer::new(config, move || tools.clone()))
}

/// The whole app, wired as `dice-mcp serve` wires its own: the MCP routes behind the bearer
/// layer (tokens checked by `verifier`), the RFC 9728 metadata for `resource` (the MCP
/// URL, e.g. `http://127.0.0.1:3000/mcp`) and `/healthz` in the open.
///
/// Fails if `resource` is not an http(s) URL without query or fragment.
pub fn app(
    server: &McpServer,
    verifier: Verifier,
    resource: &str,
) -> Result<Router, bearer_auth::Error> {
    let metadata = ResourceMetadata::new(resource)?.with_name(NAME);
    let auth = BearerAuth::new(verifier, NAME).with_resource_metadata(metadata.metadata_url());
    Ok(server
        .mcp_routes()
        .layer(auth.layer())
        .merge(metadata.router())
        .merge(mcp_core::health_routes()))
}
