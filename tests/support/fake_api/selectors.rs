//! `labelSelector` and `fieldSelector` query parameters.

use serde_json::Value;

/// One parsed label requirement.
#[derive(Clone, Debug)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
    Gt(String, i64),
    Lt(String, i64),
}

/// A parsed label selector (all requirements must hold).
#[derive(Clone, Debug, Default)]
pub(crate) struct LabelSelector(Vec<LabelReq>);

impl LabelSelector {
    /// Parses the `labels.Parse` grammar: `a=b,c!=d,e in (f,g),h notin (i),j,!k`.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        split_top_level(s)
            .into_iter()
            .filter(|part| !part.trim().is_empty())
            .map(|part| parse_requirement(part.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map(LabelSelector)
    }

    /// Whether an object's labels satisfy every requirement.
    pub(crate) fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|req| match req {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::NotEq(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => get(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            LabelReq::NotIn(k, vs) => get(k).is_none_or(|l| !vs.iter().any(|v| v == l)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
            LabelReq::Gt(k, n) => get(k)
                .and_then(|l| l.parse::<i64>().ok())
                .is_some_and(|l| l > *n),
            LabelReq::Lt(k, n) => get(k)
                .and_then(|l| l.parse::<i64>().ok())
                .is_some_and(|l| l < *n),
        })
    }
}

/// Splits on commas that are not inside a `( ... )` value set.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn parse_requirement(r: &str) -> Result<LabelReq, String> {
    if let Some(key) = r.strip_prefix('!') {
        return Ok(LabelReq::NotExists(valid_key(key.trim())?));
    }
    for (op, ctor) in [
        ("!=", LabelReq::NotEq as fn(String, String) -> LabelReq),
        ("==", LabelReq::Eq),
        ("=", LabelReq::Eq),
    ] {
        if let Some((k, v)) = r.split_once(op) {
            return Ok(ctor(valid_key(k.trim())?, v.trim().to_string()));
        }
    }
    for (op, is_gt) in [(">", true), ("<", false)] {
        if let Some((k, v)) = r.split_once(op) {
            let n = v
                .trim()
                .parse::<i64>()
                .map_err(|_| format!("invalid number {v:?}"))?;
            let k = valid_key(k.trim())?;
            return Ok(if is_gt {
                LabelReq::Gt(k, n)
            } else {
                LabelReq::Lt(k, n)
            });
        }
    }
    parse_set_requirement(r)
}

fn parse_set_requirement(r: &str) -> Result<LabelReq, String> {
    let words: Vec<&str> = r.splitn(2, char::is_whitespace).collect();
    let key = valid_key(words[0])?;
    let Some(rest) = words.get(1).map(|w| w.trim()) else {
        return Ok(LabelReq::Exists(key));
    };
    let (op, values) = rest
        .split_once('(')
        .ok_or(format!("unable to parse requirement: {r:?}"))?;
    let values = values
        .strip_suffix(')')
        .ok_or(format!("unable to parse requirement: {r:?}: missing ')'"))?;
    let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
    match op.trim() {
        "in" => Ok(LabelReq::In(key, values)),
        "notin" => Ok(LabelReq::NotIn(key, values)),
        other => Err(format!(
            "unable to parse requirement: unknown operator {other:?}"
        )),
    }
}

fn valid_key(k: &str) -> Result<String, String> {
    if k.is_empty() || k.contains(char::is_whitespace) {
        return Err(format!(
            "unable to parse requirement: invalid label key {k:?}"
        ));
    }
    Ok(k.to_string())
}

/// A parsed field selector.
#[derive(Clone, Debug, Default)]
pub(crate) struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses `a=b,c!=d`; `supported` lists the field labels this kind allows
    /// (the apiserver returns 400 for any other).
    pub(crate) fn parse(s: &str, supported: &[&str]) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, negated, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, false, v)
            } else {
                return Err(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                ));
            };
            let field = field.trim();
            if !supported.contains(&field) {
                return Err(format!("field label not supported: {field}"));
            }
            reqs.push((field.to_string(), negated, value.trim().to_string()));
        }
        Ok(FieldSelector(reqs))
    }

    /// Whether the object's fields satisfy every requirement.
    pub(crate) fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(field, negated, want)| {
            let pointer = format!("/{}", field.replace('.', "/"));
            let actual = match obj.pointer(&pointer) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (actual == *want) != *negated
        })
    }
}
