//! The one place that writes HOCON.
//!
//! Values are built as a typed tree and rendered with JSON-quoted strings, so text that comes from
//! outside (a region, a tag, a URL) can never end a value early, open a substitution or hide a
//! comment. Keys written bare are `&'static str` chosen by this crate; keys from outside are quoted.

use std::fmt::Write as _;

/// A HOCON value this crate can emit.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string from anywhere: always written JSON-quoted.
    Str(String),
    /// `null`: removes a setting an image's file made (such as Splice's `onboarding`).
    Null,
    /// A bare boolean.
    Bool(bool),
    /// A bare integer.
    Int(i64),
    /// A bare JSON number (from a free-form driver configuration).
    Number(serde_json::Number),
    /// A fixed unquoted token chosen by this crate, such as Canton's `kms` or `postgres`.
    Token(&'static str),
    /// A required substitution of an environment variable named by this crate (never by input).
    EnvSubstitution(&'static str),
    /// A list of values.
    List(Vec<Value>),
    /// An object with its fields in the order given.
    Object(Vec<(Key, Value)>),
}

/// An object key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// A key spelled by this crate (Canton's own names), written bare.
    Fixed(&'static str),
    /// A key that came from outside (for example a custom tag name), written JSON-quoted.
    Quoted(String),
}

impl Value {
    /// Shorthand for a string value.
    pub(crate) fn str(s: impl Into<String>) -> Self {
        Value::Str(s.into())
    }
}

/// An object builder that skips absent optional fields, keeping the given order.
#[derive(Default)]
pub(crate) struct ObjectBuilder(Vec<(Key, Value)>);

impl ObjectBuilder {
    /// Starts an empty object.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds a field with a crate-chosen key.
    pub(crate) fn field(mut self, key: &'static str, value: Value) -> Self {
        self.0.push((Key::Fixed(key), value));
        self
    }

    /// Adds a field when the value is present.
    pub(crate) fn opt(self, key: &'static str, value: Option<Value>) -> Self {
        match value {
            Some(v) => self.field(key, v),
            None => self,
        }
    }

    /// Finishes the object.
    pub(crate) fn build(self) -> Value {
        Value::Object(self.0)
    }
}

/// Renders a value on one line, e.g. `{ type = "aws", region = "eu-west-1" }`.
pub fn render(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// Renders `path = value` where the path is a dotted sequence of crate-chosen segments.
pub(crate) fn assignment(path: &[&'static str], value: &Value) -> String {
    // One buffer, no intermediate strings: this runs for every HOCON variable of every render.
    let mut out = String::with_capacity(256);
    for (i, segment) in path.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(segment);
    }
    out.push_str(" = ");
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Str(s) => quote_into(out, s),
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Token(t) => out.push_str(t),
        Value::EnvSubstitution(name) => {
            let _ = write!(out, "${{{name}}}");
        }
        Value::List(items) => write_list(out, items),
        Value::Object(fields) => write_object(out, fields),
    }
}

fn write_list(out: &mut String, items: &[Value]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_value(out, item);
    }
    out.push(']');
}

fn write_object(out: &mut String, fields: &[(Key, Value)]) {
    if fields.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{ ");
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match key {
            Key::Fixed(k) => out.push_str(k),
            Key::Quoted(k) => quote_into(out, k),
        }
        out.push_str(" = ");
        write_value(out, value);
    }
    out.push_str(" }");
}

/// JSON string quoting, which HOCON quoted strings share; every control character is escaped.
fn quote_into(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_seed_shape() {
        let v = ObjectBuilder::new()
            .field("type", Value::str("aws"))
            .field("region", Value::str("eu-west-1"))
            .field("audit-logging", Value::Bool(true))
            .build();
        assert_eq!(
            render(&v),
            r#"{ type = "aws", region = "eu-west-1", audit-logging = true }"#
        );
    }

    #[test]
    fn quotes_hostile_text() {
        let v = Value::str("a\" } x = ${HOME} # \n\u{1}");
        assert_eq!(render(&v), r#""a\" } x = ${HOME} # \n\u0001""#);
    }

    #[test]
    fn quotes_outside_keys_only() {
        let v = Value::Object(vec![(
            Key::Fixed("custom-tags"),
            Value::Object(vec![(Key::Quoted("Team.Name".into()), Value::str("x"))]),
        )]);
        assert_eq!(render(&v), r#"{ custom-tags = { "Team.Name" = "x" } }"#);
    }

    #[test]
    fn assignment_joins_fixed_path() {
        assert_eq!(
            assignment(
                &[
                    "canton",
                    "participants",
                    "participant",
                    "crypto",
                    "provider"
                ],
                &Value::Token("kms")
            ),
            "canton.participants.participant.crypto.provider = kms"
        );
    }
}
