//! [`DiceTools`]: the rmcp `ServerHandler` that lists and calls `roll_dice` and `roll`.
//!
//! Written against rmcp's handler trait rather than `#[tool_router]`: the macros derive
//! input schemas with schemars (which adds `$schema`, `title` and `format` keys the
//! FastMCP-exact schema must not have) and turn argument type errors into JSON-RPC
//! errors, whereas bad arguments here must come back as `isError` tool results a model
//! can read and correct.

use std::sync::Arc;

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
        JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
        Tool, ToolAnnotations,
    },
    service::RequestContext,
};
use serde_json::{Value, json};

use crate::{
    DiceError, evaluate_with,
    notation::{self, MAX_EXPRESSION_BYTES},
    roll_with,
    roller::D6,
};

/// Name of FastMCP's example tool.
pub const ROLL_DICE: &str = "roll_dice";
/// Name of the dice-notation tool.
pub const ROLL: &str = "roll";
/// FastMCP's docstring for `roll_dice`, word for word.
pub const ROLL_DICE_DESCRIPTION: &str = "Roll `n_dice` 6-sided dice and return the results.";
/// Default upper bound for `roll_dice`'s `n_dice`.
pub const DEFAULT_MAX_DICE: u32 = 1_000;
/// Highest value [`DiceConfig::with_max_dice`] accepts.
pub const MAX_DICE_LIMIT: u32 = 100_000;

/// Settings for [`DiceTools`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiceConfig {
    max_dice: u32,
}

impl Default for DiceConfig {
    fn default() -> Self {
        Self {
            max_dice: DEFAULT_MAX_DICE,
        }
    }
}

impl DiceConfig {
    /// Sets the most dice one `roll_dice` call may roll (1..=[`MAX_DICE_LIMIT`]).
    ///
    /// ```
    /// use dice_tools::DiceConfig;
    /// assert_eq!(DiceConfig::default().with_max_dice(50).unwrap().max_dice(), 50);
    /// assert!(DiceConfig::default().with_max_dice(0).is_err());
    /// ```
    pub fn with_max_dice(self, max_dice: u32) -> Result<Self, DiceError> {
        if (1..=MAX_DICE_LIMIT).contains(&max_dice) {
            Ok(Self { max_dice })
        } else {
            Err(DiceError::MaxDiceOutOfRange { max_dice })
        }
    }

    /// The most dice one `roll_dice` call may roll.
    pub fn max_dice(&self) -> u32 {
        self.max_dice
    }
}

/// The dice MCP server: cheap to clone, one per session or per stateless request.
///
/// ```
/// use dice_tools::{DiceConfig, DiceTools};
/// let tools = DiceTools::new(DiceConfig::default());
/// let names: Vec<_> = tools.tools().iter().map(|t| t.name.to_string()).collect();
/// assert_eq!(names, ["roll_dice", "roll"]);
/// ```
#[derive(Debug, Clone)]
pub struct DiceTools {
    config: DiceConfig,
    tools: Arc<[Tool]>,
}

impl Default for DiceTools {
    fn default() -> Self {
        Self::new(DiceConfig::default())
    }
}

impl DiceTools {
    /// Builds the server; the tool list is built once here, not per request.
    pub fn new(config: DiceConfig) -> Self {
        Self {
            config,
            tools: Arc::from([roll_dice_tool(), roll_tool()]),
        }
    }

    /// The tools this server lists, in order.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// Runs `roll_dice` with the given arguments and RNG.
    pub fn call_roll_dice<R: rand::Rng + ?Sized>(
        &self,
        rng: &mut R,
        arguments: Option<&JsonObject>,
    ) -> CallToolResult {
        let n_dice = match argument(arguments, "n_dice") {
            Some(Value::Number(number)) => number.as_i64(),
            Some(other) => return tool_error(&allowed_n_dice(self.config.max_dice, Some(other))),
            None => return tool_error(&allowed_n_dice(self.config.max_dice, None)),
        };
        let max = self.config.max_dice;
        let Some(count) = n_dice
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (1..=max).contains(n))
        else {
            let given = argument(arguments, "n_dice");
            return tool_error(&allowed_n_dice(max, given));
        };
        let rolls = roll_with(rng, count, D6);
        let text = format!(
            "[{}]",
            rolls
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        result.structured_content = Some(json!({ "result": rolls }));
        result
    }

    /// Runs `roll` with the given arguments and RNG.
    pub fn call_roll<R: rand::Rng + ?Sized>(
        &self,
        rng: &mut R,
        arguments: Option<&JsonObject>,
    ) -> CallToolResult {
        let expression = match argument(arguments, "expression") {
            Some(Value::String(expression)) => expression,
            other => {
                let got = other.map_or_else(|| "nothing".to_owned(), describe);
                return tool_error(&format!(
                    "`expression` must be a string of dice notation (at most {MAX_EXPRESSION_BYTES} bytes), such as \"4d6kh3+2\"; got {got}"
                ));
            }
        };
        match notation::parse(expression) {
            Ok(parsed) => {
                let outcome = evaluate_with(rng, &parsed);
                match serde_json::to_value(&outcome) {
                    Ok(value) => CallToolResult::structured(value),
                    Err(error) => tool_error(&format!("could not encode the result: {error}")),
                }
            }
            Err(error) => tool_error(&format!("invalid dice notation: {error}")),
        }
    }
}

impl ServerHandler for DiceTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("dice-mcp", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Dice roller. `roll_dice` rolls n six-sided dice; `roll` takes dice notation \
                 such as 4d6kh3+2 (keep highest 3 of 4d6, plus 2) or 2d20kl1.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.to_vec()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|tool| tool.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = request.arguments.as_ref();
        let mut rng = rand::rng();
        let (tool, result) = match request.name.as_ref() {
            ROLL_DICE => (ROLL_DICE, self.call_roll_dice(&mut rng, arguments)),
            ROLL => (ROLL, self.call_roll(&mut rng, arguments)),
            // The spec's answer to an unknown tool is a JSON-RPC invalid-params error.
            other => {
                metrics::counter!("mcp_tool_calls_total", "tool" => "unknown", "outcome" => "unknown_tool")
                    .increment(1);
                return Err(ErrorData::invalid_params(
                    format!("Unknown tool: {}", truncate(other, 64)),
                    None,
                ));
            }
        };
        let outcome = if result.is_error == Some(true) {
            "error"
        } else {
            "ok"
        };
        metrics::counter!("mcp_tool_calls_total", "tool" => tool, "outcome" => outcome)
            .increment(1);
        Ok(result.into())
    }
}

fn argument<'a>(arguments: Option<&'a JsonObject>, name: &str) -> Option<&'a Value> {
    arguments.and_then(|arguments| arguments.get(name))
}

fn allowed_n_dice(max: u32, given: Option<&Value>) -> String {
    let got = given.map_or_else(|| "nothing".to_owned(), describe);
    format!("`n_dice` must be an integer from 1 to {max}; got {got}")
}

/// Describes a JSON value for an error message without echoing an unbounded input.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => truncate(&n.to_string(), 32),
        Value::String(s) => format!("the string \"{}\"", truncate(s, 32)),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn tool_error(message: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.to_owned())])
}

fn object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

/// What a client may show and select tools by (OpenAI's `allowed_tools` can pick
/// `read_only` ones): a roll reads and changes nothing, touches nothing outside the server,
/// and is not idempotent (the same call gives new dice).
fn dice_annotations(title: &str) -> ToolAnnotations {
    ToolAnnotations::with_title(title)
        .read_only(true)
        .destructive(false)
        .idempotent(false)
        .open_world(false)
}

fn roll_dice_tool() -> Tool {
    Tool::new(
        ROLL_DICE,
        ROLL_DICE_DESCRIPTION,
        object(json!({
            "type": "object",
            "properties": { "n_dice": { "type": "integer" } },
            "required": ["n_dice"]
        })),
    )
    .with_raw_output_schema(object(json!({
        "type": "object",
        "properties": {
            "result": { "type": "array", "items": { "type": "integer" } }
        },
        "required": ["result"]
    })))
    .annotate(dice_annotations("Roll six-sided dice"))
}

fn roll_tool() -> Tool {
    Tool::new(
        ROLL,
        "Roll dice written in dice notation and return every die, which were kept, and the \
         total. Terms are joined by + or -; each is an integer or NdM (N dice with M sides, N \
         defaults to 1) with optional khK / klK to keep the K highest / lowest. Examples: \
         4d6kh3+2, 2d20kl1, d8+1d4-1.",
        object(json!({
            "type": "object",
            "properties": {
                "expression": {
                    "type": "string",
                    "description": "Dice notation, e.g. \"4d6kh3+2\". At most 1000 dice per term, 10000 in all, 2 to 1000000 sides, 256 bytes."
                }
            },
            "required": ["expression"]
        })),
    )
    .with_raw_output_schema(object(json!({
        "type": "object",
        "properties": {
            "expression": { "type": "string" },
            "terms": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "kind": { "type": "string", "enum": ["dice", "constant"] },
                        "notation": { "type": "string" },
                        "sign": { "type": "integer" },
                        "rolls": { "type": "array", "items": { "type": "integer" } },
                        "kept": { "type": "array", "items": { "type": "boolean" } },
                        "subtotal": { "type": "integer" },
                        "value": { "type": "integer" }
                    },
                    "required": ["kind", "sign"]
                }
            },
            "total": { "type": "integer" }
        },
        "required": ["expression", "terms", "total"]
    })))
    .annotate(dice_annotations("Roll dice notation"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn args(value: Value) -> JsonObject {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    fn text(result: &CallToolResult) -> String {
        result.content[0]
            .as_text()
            .map(|t| t.text.clone())
            .unwrap_or_default()
    }

    #[test]
    fn roll_dice_schema_is_fastmcps_exactly() {
        let tool = roll_dice_tool();
        assert_eq!(tool.name, "roll_dice");
        assert_eq!(tool.description.as_deref(), Some(ROLL_DICE_DESCRIPTION));
        assert_eq!(
            Value::Object((*tool.input_schema).clone()),
            json!({"type":"object","properties":{"n_dice":{"type":"integer"}},"required":["n_dice"]})
        );
    }

    #[test]
    fn both_tools_say_they_only_read_and_are_not_idempotent() {
        for tool in [roll_dice_tool(), roll_tool()] {
            let annotations = serde_json::to_value(tool.annotations.as_ref().unwrap()).unwrap();
            let title = annotations["title"].as_str().unwrap_or_default().to_owned();
            assert!(title.starts_with("Roll "), "{annotations}");
            assert_eq!(
                annotations,
                json!({"title": title, "readOnlyHint": true, "destructiveHint": false,
                       "idempotentHint": false, "openWorldHint": false}),
                "{}",
                tool.name
            );
        }
    }

    #[test]
    fn roll_dice_returns_text_array_and_structured_result() {
        let tools = DiceTools::default();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let result = tools.call_roll_dice(&mut rng, Some(&args(json!({"n_dice": 3}))));
        assert_eq!(result.is_error, Some(false));
        let rolls: Vec<u32> = serde_json::from_str(&text(&result)).unwrap();
        assert_eq!(rolls.len(), 3);
        assert!(rolls.iter().all(|r| (1..=6).contains(r)));
        assert_eq!(result.structured_content, Some(json!({ "result": rolls })));
        assert!(
            text(&result).contains(", "),
            "FastMCP-like spacing: {}",
            text(&result)
        );
    }

    #[test]
    fn roll_dice_refuses_bad_n_dice_as_tool_errors() {
        let tools = DiceTools::new(DiceConfig::default().with_max_dice(10).unwrap());
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for bad in [
            json!({"n_dice": 0}),
            json!({"n_dice": -3}),
            json!({"n_dice": 11}),
            json!({"n_dice": 1_000_000_000_000u64}),
            json!({"n_dice": 2.5}),
            json!({"n_dice": "5"}),
            json!({"n_dice": null}),
            json!({"n_dice": [1]}),
            json!({}),
        ] {
            let result = tools.call_roll_dice(&mut rng, Some(&args(bad.clone())));
            assert_eq!(result.is_error, Some(true), "{bad}");
            assert!(
                text(&result).contains("from 1 to 10"),
                "{bad}: {}",
                text(&result)
            );
            assert!(result.structured_content.is_none());
        }
        assert_eq!(tools.call_roll_dice(&mut rng, None).is_error, Some(true));
    }

    #[test]
    fn roll_returns_structured_outcome() {
        let tools = DiceTools::default();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let result = tools.call_roll(&mut rng, Some(&args(json!({"expression": "4d6kh3+2"}))));
        assert_eq!(result.is_error, Some(false));
        let structured = result.structured_content.clone().unwrap();
        let total = structured["total"].as_i64().unwrap();
        assert!((5..=20).contains(&total));
        assert_eq!(structured["expression"], "4d6kh3+2");
        assert_eq!(structured["terms"][0]["rolls"].as_array().unwrap().len(), 4);
        let text_value: Value = serde_json::from_str(&text(&result)).unwrap();
        assert_eq!(text_value, structured);
    }

    #[test]
    fn roll_refuses_bad_notation_without_echoing_huge_input() {
        let tools = DiceTools::default();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let huge = "x".repeat(10_000);
        for bad in [
            json!({"expression": "4d6+"}),
            json!({"expression": 5}),
            json!({}),
            json!({"expression": huge}),
        ] {
            let result = tools.call_roll(&mut rng, Some(&args(bad.clone())));
            assert_eq!(result.is_error, Some(true));
            assert!(text(&result).len() < 400, "{}", text(&result));
        }
    }

    #[test]
    fn every_result_matches_the_advertised_output_schema() {
        let tools = DiceTools::default();
        let validator = |name: &str| {
            let tool = tools.tools().iter().find(|t| t.name == name).unwrap();
            let schema = Value::Object((*tool.output_schema.clone().unwrap()).clone());
            jsonschema::validator_for(&schema).unwrap()
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let roll_dice = validator(ROLL_DICE);
        for n in [1, 2, 6, 100, 1000] {
            let arguments = json!({ "n_dice": n });
            let result = tools.call_roll_dice(&mut rng, arguments.as_object());
            let output = result.structured_content.unwrap();
            assert!(roll_dice.is_valid(&output), "roll_dice({n}) -> {output}");
        }
        let roll = validator(ROLL);
        for expression in [
            "4d6kh3+2",
            "2d20kl1",
            "d8+1d4-1",
            "7",
            "-3+1000d1000000",
            "1d2-1d2",
        ] {
            let arguments = json!({ "expression": expression });
            let result = tools.call_roll(&mut rng, arguments.as_object());
            assert_ne!(result.is_error, Some(true), "{expression}");
            let output = result.structured_content.unwrap();
            let errors: Vec<String> = roll.iter_errors(&output).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "roll({expression}): {errors:?}\n{output}"
            );
        }
    }
}
