//! The plain spelling of a KMS value, read in one pass.
//!
//! Nearly every value is written `{ key = "text", flag = true, n = 3, config = { … } }`. The
//! general HOCON lexer and parser spend 4–36 µs on such a value (a token with two owned strings
//! per symbol); this reader 1–5 µs (docs/performance.md). It knows only that spelling: quoted
//! strings without escapes, `true`/`false`/`null`, plain decimal numbers, bare words of letters,
//! digits, `-` and `_`, unquoted keys, `=`, `:`, commas, newlines, objects and arrays. On
//! anything else — comments, escapes, triple quotes, dotted or quoted keys, repeated keys,
//! trailing commas, concatenation, `include`, `${…}`, text after the object — it returns `None`
//! and the value goes to `hocon-parser`, which also makes every refusal. Tests and the
//! `kms_value` fuzz target check that whatever this reader accepts, `hocon-parser` reads to the
//! same model and Typesafe Config to the same tree.

use serde_json::{Map, Value};

use super::fields;

/// Deeper values go to the general parser, which refuses them with its own message.
const MAX_DEPTH: usize = 32;

/// The whole object, or `None` when the text is not in the plain spelling.
pub(super) fn read(text: &str) -> Option<Map<String, Value>> {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    reader.blank();
    let root = reader.object()?;
    reader.blank();
    (reader.pos == reader.bytes.len()).then_some(root)
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Skips spaces and tabs (and carriage returns, which HOCON treats as whitespace).
    fn inline(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Skips whitespace including newlines; says whether a newline was among it.
    fn blank(&mut self) -> bool {
        let mut newline = false;
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' => {}
                b'\n' => newline = true,
                _ => break,
            }
            self.pos += 1;
        }
        newline
    }

    /// Consumes `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    /// After an element: `Some(true)` when another follows (after a comma or a newline),
    /// `Some(false)` at `close` (consumed), `None` for anything else, trailing commas included.
    fn separator(&mut self, close: u8) -> Option<bool> {
        self.inline();
        if self.eat(close) {
            return Some(false);
        }
        let comma = self.eat(b',');
        let newline = self.blank();
        match self.peek()? {
            b',' => None,
            b if b == close => {
                self.pos += 1;
                (!comma).then_some(false)
            }
            _ => (comma || newline).then_some(true),
        }
    }

    /// `open`, elements separated by commas or newlines, `close`; each element read by `element`.
    fn bracketed(
        &mut self,
        open: u8,
        close: u8,
        mut element: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        if !self.eat(open) {
            return None;
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.blank();
        if !self.eat(close) {
            loop {
                element(self)?;
                if !self.separator(close)? {
                    break;
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// `{ field, … }` at the cursor; repeated keys are left to the general parser.
    fn object(&mut self) -> Option<Map<String, Value>> {
        let mut map = Map::new();
        self.bracketed(b'{', b'}', |reader| {
            let key = reader.key()?;
            reader.inline();
            let value = match reader.peek()? {
                b'=' | b':' => {
                    reader.pos += 1;
                    reader.inline();
                    reader.value()?
                }
                b'{' => Value::Object(reader.object()?),
                _ => return None,
            };
            map.insert(key.to_string(), value).is_none().then_some(())
        })?;
        Some(map)
    }

    /// `[ value, … ]` at the cursor.
    fn array(&mut self) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        self.bracketed(b'[', b']', |reader| {
            items.push(reader.value()?);
            Some(())
        })?;
        Some(items)
    }

    fn value(&mut self) -> Option<Value> {
        match self.peek()? {
            b'"' => self.quoted().map(|s| Value::String(s.to_string())),
            b'{' => self.object().map(Value::Object),
            b'[' => self.array().map(Value::Array),
            _ => self.bare_value(),
        }
    }

    /// An unquoted key: a letter, then letters, digits, `-` and `_`; not `include`.
    fn key(&mut self) -> Option<&'a str> {
        let word = self.word();
        (is_bare_text(word) && word != "include").then_some(word)
    }

    /// A run of letters, digits, `-`, `_` and `.` at the cursor (possibly empty).
    fn word(&mut self) -> &'a str {
        let start = self.pos;
        while matches!(
            self.peek(),
            Some(b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.')
        ) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    /// `"text"` without escapes or control characters; the text between the quotes.
    fn quoted(&mut self) -> Option<&'a str> {
        if self.bytes.get(self.pos..self.pos + 3) == Some(b"\"\"\"") {
            return None;
        }
        let start = self.pos + 1;
        let len = self.bytes[start..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if self.bytes[start + len] != b'"' {
            return None;
        }
        self.pos = start + len + 1;
        Some(&self.text[start..start + len])
    }

    /// `true`, `false`, `null`, a plain decimal number, or a bare word starting with a letter.
    fn bare_value(&mut self) -> Option<Value> {
        let word = self.word();
        match word {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            "null" => Some(Value::Null),
            "include" => None,
            _ if is_decimal(word) => fields::number_literal(word),
            _ if is_bare_text(word) => Some(Value::String(word.to_string())),
            _ => None,
        }
    }
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`: a number literal to every HOCON reader (its value:
/// [`fields::number_literal`]).
fn is_decimal(word: &str) -> bool {
    let digits = word.strip_prefix('-').unwrap_or(word);
    let (int, frac) = match digits.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(int) && (int == "0" || !int.starts_with('0')) && frac.is_none_or(all_digits)
}

/// Letters, digits, `-` and `_`, starting with a letter: the same text to every HOCON reader
/// (Typesafe Config reads `true-ish` as `true` joined with `-ish`, which is the same string).
fn is_bare_text(word: &str) -> bool {
    word.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tree(text: &str) -> Option<Value> {
        read(text).map(Value::Object)
    }

    #[test]
    fn reads_the_plain_spelling() {
        assert_eq!(
            tree("{ type = \"aws\", region = eu-west-1\n audit-logging: true }"),
            Some(json!({"type": "aws", "region": "eu-west-1", "audit-logging": true}))
        );
        assert_eq!(
            tree("{\n  config {\n    slots = [1, -2, 0.5]\n    x = null\n  }\n}\n"),
            Some(json!({"config": {"slots": [1, -2, 0.5], "x": null}}))
        );
        assert_eq!(tree("{}"), Some(json!({})));
        assert_eq!(tree("{ a = [] }"), Some(json!({"a": []})));
    }

    #[test]
    fn leaves_everything_else_to_the_general_parser() {
        for text in [
            "{ a = 1 } x",
            "{ a = 1, }",
            "{ a = 1,\n }",
            "{ a = [1, ] }",
            "{ a = 1 , , b = 2 }",
            "{ a = 1\n, b = 2 }",
            "{ a = 1 b = 2 }",
            "{ a = 1 # note\n }",
            "{ a = 1 // note\n }",
            "{ a = \"x\\ty\" }",
            "{ a = \"\"\"x\"\"\" }",
            "{ a = \"x\" \"y\" }",
            "{ a = x y }",
            "{ a = 30s }",
            "{ a = 01 }",
            "{ a = 1e5 }",
            "{ a = 1. }",
            "{ a = .5 }",
            "{ a = a.b }",
            "{ a.b = 1 }",
            "{ \"a\" = 1 }",
            "{ a = 1, a = 1 }",
            "{ a += 1 }",
            "{ a = ${b} }",
            "{ a = include }",
            "{ include \"x\" }",
            "{ a =\n 1 }",
            "{ a = \"x\ny\" }",
            "\u{feff}{ a = 1 }",
            "{ a = 1 }\u{a0}",
            "[1]",
            "{ a = 1",
            "",
        ] {
            assert_eq!(tree(text), None, "{text:?}");
        }
    }

    #[test]
    fn deep_values_go_to_the_general_parser() {
        let deep = format!("{}1{}", "{ a = ".repeat(MAX_DEPTH), " }".repeat(MAX_DEPTH));
        assert!(tree(&deep).is_some());
        let deeper = format!("{{ b = {deep} }}");
        assert_eq!(tree(&deeper), None);
    }
}
