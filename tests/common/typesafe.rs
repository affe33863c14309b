//! Typesafe Config (the library Canton reads its configuration with) as a test oracle.
//!
//! One JVM per test binary runs `tests/oracle/HoconToJson.java --batch` with the single-file
//! launcher; every document is one request line and one answer line on its pipes, so hundreds of
//! documents cost one JVM start. Without Java or the jar the calling test fails: it never passes
//! silently.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::{Value, json};

const DEFAULT_JAR: &str = "/usr/share/java/typesafe-config.jar";
const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracle/HoconToJson.java");
const HOW_TO: &str = "the HOCON tests need Java 17+ and Typesafe Config: run the README's test command, \
     `scripts/test`, which installs both (Debian packages default-jre-headless and \
     libtypesafe-config-java); or set TYPESAFE_CONFIG_JAR to the jar and JAVA to the java binary";

/// Typesafe Config's reading of `text`: the resolved tree, or its error message.
pub fn parse(text: &str) -> Result<Value, String> {
    parse_parts(&[text], &[])
}

/// The parts concatenated in order (one newline between, as the Splice entrypoint appends its
/// `ADDITIONAL_CONFIG*` variables), resolved with `env` as the only environment.
pub fn parse_parts(parts: &[&str], env: &[(&str, &str)]) -> Result<Value, String> {
    let env: BTreeMap<&str, &str> = env.iter().copied().collect();
    let request = json!({ "parts": parts, "env": env });
    let answer = oracle()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .ask(&request);
    match answer {
        Value::Object(mut map) => match (map.remove("ok"), map.remove("error")) {
            (Some(tree), _) => Ok(tree),
            (None, Some(Value::String(message))) => Err(message),
            _ => panic!("unexpected oracle answer for {request}"),
        },
        other => panic!("unexpected oracle answer {other} for {request}"),
    }
}

/// [`parse`], failing the test with Typesafe Config's message when it refuses the text.
pub fn tree(text: &str) -> Value {
    parse(text).unwrap_or_else(|e| panic!("Typesafe Config refuses\n{text}\nwith: {e}"))
}

/// Whether two trees are the same, numbers compared by value: Typesafe Config prints `1.0` as `1`,
/// `serde_json` without its `float_roundtrip` feature may read a float one unit in the last place
/// off, and the Java 17 that prints the oracle's tree does not always print a double correctly
/// rounded (`Double.toString`, JDK-4511638, fixed in Java 19: `9.830325890740619e-210` came back
/// as `…621e-210`), so doubles within four units in the last place are equal. (The operator's own
/// parser is held to exact equality elsewhere.)
pub fn same_tree(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => {
                x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs())
            }
            _ => x == y,
        },
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same_tree(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|(k, x)| ys.get(k).is_some_and(|y| same_tree(x, y)))
        }
        _ => a == b,
    }
}

/// Fails unless the trees are [`same_tree`]s, showing both.
pub fn assert_same_tree(actual: &Value, expected: &Value, context: &str) {
    assert!(
        same_tree(actual, expected),
        "{context}\nTypesafe Config reads: {actual:#}\nexpected: {expected:#}"
    );
}

struct Oracle {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

fn oracle() -> &'static Mutex<Oracle> {
    static ORACLE: OnceLock<Mutex<Oracle>> = OnceLock::new();
    ORACLE.get_or_init(|| Mutex::new(Oracle::start()))
}

impl Oracle {
    fn start() -> Self {
        let jar = std::env::var("TYPESAFE_CONFIG_JAR").unwrap_or_else(|_| DEFAULT_JAR.to_string());
        assert!(
            std::path::Path::new(&jar).is_file(),
            "Typesafe Config jar {jar} not found; {HOW_TO}"
        );
        let java = std::env::var("JAVA").unwrap_or_else(|_| "java".to_string());
        let mut child = Command::new(&java)
            // C1 only and the serial collector: this JVM lives for seconds, startup dominates.
            .args([
                "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC",
                "-cp",
                &jar,
                SOURCE,
            ])
            .arg("--batch")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{java}`: {e}; {HOW_TO}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Self {
            child,
            stdin,
            stdout,
        }
    }

    /// One request line out, one answer line back.
    fn ask(&mut self, request: &Value) -> Value {
        let sent = writeln!(self.stdin, "{request}").and_then(|()| self.stdin.flush());
        let mut line = String::new();
        let read = sent.and_then(|()| self.stdout.read_line(&mut line));
        match read {
            Ok(n) if n > 0 => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("oracle printed `{line}`, not JSON: {e}")),
            _ => panic!(
                "the Typesafe Config oracle stopped: {}; {HOW_TO}",
                self.stderr()
            ),
        }
    }

    fn stderr(&mut self) -> String {
        let _ = self.child.wait();
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        text
    }
}
