//! Resource quantities as the apiserver stores them: parsed (`resource.ParseQuantity`) and
//! written back in canonical form (`Quantity.String()`), so `cpu: 1000m` is stored as `1`,
//! `memory: 16384Mi` as `16Gi` and `0.5` as `500m`.
//!
//! The canonical form keeps the suffix family of the input (binary `Ki`…`Ei`, decimal SI
//! `n`…`E`, or a decimal exponent `e3`), uses the largest suffix of that family that keeps the
//! number an integer, and falls back to decimal SI (millis and finer) when a binary value is
//! fractional or below 1024. Finer than nano is rounded up (away from zero). Written
//! independently of the operator's own parser, so the two check each other.

use serde_json::Value;

/// The suffix family a quantity was written in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    BinarySi,
    DecimalSi,
    DecimalExponent,
}

/// The real apiserver's message for a malformed quantity.
pub(crate) const QUANTITY_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// The canonical spelling of `text`, or the apiserver's decode error.
pub(crate) fn canonical(text: &str) -> Result<String, String> {
    let (mut n, mut e, format) = parse(text.trim()).ok_or_else(|| QUANTITY_ERROR.to_string())?;
    if e < -9 {
        n = match 10i128.checked_pow((-9 - e) as u32) {
            Some(d) => n / d + if n % d != 0 { n.signum() } else { 0 },
            None => n.signum(),
        };
        e = -9;
    }
    if n == 0 {
        return Ok("0".into());
    }
    while n % 10 == 0 {
        n /= 10;
        e += 1;
    }
    let format = match format {
        Format::BinarySi if e >= 0 => {
            let value = n
                .checked_mul(10i128.checked_pow(e as u32).unwrap_or(i128::MAX))
                .ok_or_else(|| QUANTITY_ERROR.to_string())?;
            if value.abs() >= 1024 {
                return Ok(binary(value));
            }
            Format::DecimalSi
        }
        Format::BinarySi => Format::DecimalSi,
        other => other,
    };
    match e.rem_euclid(3) {
        1 => {
            n *= 10;
            e -= 1;
        }
        2 => {
            n *= 100;
            e -= 2;
        }
        _ => {}
    }
    let suffix = match format {
        Format::DecimalExponent if e == 0 => String::new(),
        Format::DecimalExponent => format!("e{e}"),
        _ => match e {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            0 => "",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            18 => "E",
            _ => return Err(QUANTITY_ERROR.to_string()),
        }
        .to_string(),
    };
    Ok(format!("{n}{suffix}"))
}

/// An integer of at least 1024 with the largest binary suffix that divides it.
fn binary(mut value: i128) -> String {
    const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let mut power = 0;
    while power < SUFFIXES.len() - 1 && value % 1024 == 0 {
        value /= 1024;
        power += 1;
    }
    format!("{value}{}", SUFFIXES[power])
}

/// `(mantissa, decimal exponent, format)`; binary suffixes are multiplied into the mantissa.
fn parse(s: &str) -> Option<(i128, i32, Format)> {
    let (sign, s) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let end = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return None;
    }
    let mut n: i128 = 0;
    for b in whole.bytes().chain(fraction.bytes()) {
        n = n.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    let scale = -i32::try_from(fraction.len()).ok()?;
    let binary_power = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
        .iter()
        .position(|x| *x == suffix);
    if let Some(p) = binary_power {
        let n = n.checked_mul(1i128 << (10 * (p as u32 + 1)))?;
        return Some((sign * n, scale, Format::BinarySi));
    }
    let si = ["n", "u", "m", "", "k", "M", "G", "T", "P", "E"]
        .iter()
        .position(|x| *x == suffix);
    if let Some(p) = si {
        let e = (p as i32 - 3) * 3;
        return Some((sign * n, scale + e, Format::DecimalSi));
    }
    let exponent = suffix.strip_prefix(['e', 'E'])?;
    let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let e: i32 = exponent.parse().ok().filter(|e: &i32| e.abs() <= 60)?;
    Some((sign * n, scale + e, Format::DecimalExponent))
}

/// Canonicalises every quantity of a pod spec: container resources, pod-level resources,
/// `overhead` and `emptyDir.sizeLimit`.
pub(crate) fn canonicalise_pod_spec(spec: &mut Value) -> Result<(), String> {
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in containers {
                if let Some(resources) = c.get_mut("resources") {
                    canonicalise_resources(resources)?;
                }
            }
        }
    }
    if let Some(resources) = spec.get_mut("resources") {
        canonicalise_resources(resources)?;
    }
    if let Some(overhead) = spec.get_mut("overhead") {
        canonicalise_map(overhead)?;
    }
    if let Some(volumes) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        for v in volumes {
            if let Some(Value::String(limit)) = v.pointer_mut("/emptyDir/sizeLimit") {
                *limit = canonical(limit)?;
            }
        }
    }
    Ok(())
}

fn canonicalise_resources(resources: &mut Value) -> Result<(), String> {
    for key in ["limits", "requests"] {
        if let Some(map) = resources.get_mut(key) {
            canonicalise_map(map)?;
        }
    }
    Ok(())
}

fn canonicalise_map(map: &mut Value) -> Result<(), String> {
    if let Some(map) = map.as_object_mut() {
        for value in map.values_mut() {
            if let Value::String(text) = value {
                *text = canonical(text)?;
            }
        }
    }
    Ok(())
}
