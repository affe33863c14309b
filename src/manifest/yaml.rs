//! A fast YAML writer for the rendered objects, behind `canton-operator render`.
//!
//! Measured hot spot (docs/performance.md): going through `serde_json::Value` and `serde_saphyr`
//! cost ~200 µs per validator, ~85% of it in building and dropping the JSON trees and in
//! `serde_saphyr`'s per-scalar style analysis. This writer is a `serde` serializer, so the typed
//! objects are written straight to block YAML in one pass, with no intermediate tree and each
//! string looked at once. It keeps to a small, conservative subset of YAML:
//!
//! - block mappings and sequences (`{}` and `[]` when empty), keys in serialization order;
//! - a string is plain only when every YAML 1.1 and 1.2 reader must read it back as that same
//!   string (letters first, a short list of safe characters, not a bool/null word, no `: `);
//!   multi-line text of plain ASCII is a `|-` literal block; other printable ASCII is
//!   single-quoted; everything else is double-quoted, with every control, line-break and
//!   non-printable character escaped;
//! - numbers and booleans as JSON writes them (floats always with a `.` and a signed exponent;
//!   NaN and infinities as `null`, as `serde_json` writes them).
//!
//! A mapping key it cannot write as a short implicit key (over [`MAX_KEY_LEN`], or not a string),
//! bytes, or an enum variant with fields makes [`write_document`] return `false`; the caller then
//! uses `serde_saphyr`.

use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible};

/// Implicit keys are limited to 1024 characters; longer (quoted) keys fall back to `serde_saphyr`.
pub(crate) const MAX_KEY_LEN: usize = 1000;

/// The object as one YAML document (without the `---` line), or `None` when it needs a form this
/// writer does not produce.
#[cfg(test)]
pub(crate) fn to_string<T: Serialize + ?Sized>(value: &T) -> Option<String> {
    let mut out = Vec::new();
    write_document(&mut out, value).then(|| String::from_utf8(out).expect("UTF-8"))
}

/// Appends the object as one YAML document (without the `---` line) and returns `true`, or
/// leaves `out` as it was and returns `false` when the object needs a form this writer does not
/// produce. Only whole UTF-8 strings and ASCII are ever appended.
pub(crate) fn write_document<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> bool {
    let start = out.len();
    let mut writer = Writer {
        out,
        stack: Vec::with_capacity(16),
        in_key: false,
    };
    if value.serialize(&mut writer).is_ok() && writer.stack.is_empty() {
        return true;
    }
    writer.out.truncate(start);
    false
}

/// A form this writer leaves to `serde_saphyr`, or a `Serialize` impl's own error.
#[derive(Debug)]
pub(crate) struct Unsupported(String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the fast YAML writer does not write {}", self.0)
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Unsupported(msg.to_string())
    }
}

fn unsupported(what: &str) -> Unsupported {
    Unsupported(what.to_string())
}

type Result<T = (), E = Unsupported> = std::result::Result<T, E>;

/// Where the node being written sits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// The document's root.
    Root,
    /// After `key:`.
    MapValue,
    /// After `-`.
    SeqItem,
}

/// An open mapping or sequence.
struct Frame {
    is_map: bool,
    /// Column of this mapping's keys, or of this sequence's dashes.
    indent: usize,
    slot: Slot,
    empty: bool,
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
    stack: Vec<Frame>,
    /// The next string is a mapping key.
    in_key: bool,
}

impl Writer<'_> {
    fn spaces(&mut self, n: usize) {
        self.out.resize(self.out.len() + n, b' ');
    }

    fn slot(&self) -> Slot {
        match self.stack.last() {
            None => Slot::Root,
            Some(f) if f.is_map => Slot::MapValue,
            Some(_) => Slot::SeqItem,
        }
    }

    /// Indentation of the content of a block scalar written in the current slot.
    fn block_indent(&self) -> usize {
        self.stack.last().map_or(0, |f| f.indent + 2)
    }

    /// Writes a non-string scalar's text in the current slot.
    fn scalar(&mut self, text: &str) -> Result {
        if self.in_key {
            return Err(unsupported("a mapping key that is not a string"));
        }
        if self.slot() != Slot::Root {
            self.out.push(b' ');
        }
        self.out.extend_from_slice(text.as_bytes());
        self.out.push(b'\n');
        Ok(())
    }

    fn int(&mut self, v: i128) -> Result {
        let mut buf = [0u8; 40];
        let mut i = buf.len();
        let mut m = v.unsigned_abs();
        loop {
            i -= 1;
            buf[i] = b'0' + (m % 10) as u8;
            m /= 10;
            if m == 0 {
                break;
            }
        }
        if v < 0 {
            i -= 1;
            buf[i] = b'-';
        }
        // Only ASCII digits and `-` were written above, so this cannot fail.
        let digits = std::str::from_utf8(&buf[i..]).unwrap_or("0");
        self.scalar(digits)
    }

    fn float(&mut self, v: f64) -> Result {
        if v.is_finite() {
            self.scalar(&yaml_float(v))
        } else {
            self.scalar("null")
        }
    }

    fn begin_container(&mut self, is_map: bool) -> Result {
        if self.in_key {
            return Err(unsupported("a mapping key that is not a scalar"));
        }
        let slot = self.slot();
        let parent = self.stack.last().map_or(0, |f| f.indent);
        let indent = match (slot, is_map) {
            (Slot::Root, _) => 0,
            // A sequence under a key starts at the key's column (`key:\n- item`).
            (Slot::MapValue, false) => parent,
            (Slot::MapValue, true) | (Slot::SeqItem, _) => parent + 2,
        };
        self.stack.push(Frame {
            is_map,
            indent,
            slot,
            empty: true,
        });
        Ok(())
    }

    fn end_container(&mut self) -> Result {
        let Some(frame) = self.stack.pop() else {
            return Err(unsupported("unbalanced containers"));
        };
        if frame.empty {
            if frame.slot != Slot::Root {
                self.out.push(b' ');
            }
            self.out
                .extend_from_slice(if frame.is_map { b"{}\n" } else { b"[]\n" });
        }
        Ok(())
    }

    /// Starts a child of the innermost container: what goes before its first character.
    fn begin_child(&mut self) -> Result {
        let Some(frame) = self.stack.last_mut() else {
            return Err(unsupported("a value outside a container"));
        };
        let first = std::mem::replace(&mut frame.empty, false);
        let (indent, slot, is_map) = (frame.indent, frame.slot, frame.is_map);
        if first {
            match (slot, is_map) {
                (Slot::Root, _) => {}
                // The first key of a mapping in a sequence shares the dash's line (`- key: v`).
                (Slot::SeqItem, true) => {
                    self.out.push(b' ');
                    return Ok(());
                }
                (Slot::MapValue, _) | (Slot::SeqItem, false) => self.out.push(b'\n'),
            }
        }
        self.spaces(indent);
        Ok(())
    }

    fn key(&mut self, s: &str) -> Result {
        if s.len() > MAX_KEY_LEN {
            return Err(unsupported("a key this long"));
        }
        if is_plain(s) {
            self.out.extend_from_slice(s.as_bytes());
        } else {
            let quoted = quoted_any(s);
            if quoted.len() > MAX_KEY_LEN {
                return Err(unsupported("a key this long"));
            }
            self.out.extend_from_slice(quoted.as_bytes());
        }
        self.out.push(b':');
        Ok(())
    }

    fn string(&mut self, s: &str) -> Result {
        if self.in_key {
            return self.key(s);
        }
        let root = self.slot() == Slot::Root;
        if !root {
            self.out.push(b' ');
        }
        if is_plain(s) {
            self.out.extend_from_slice(s.as_bytes());
        } else if !root && is_literal_block(s) {
            self.out.extend_from_slice(b"|-");
            let indent = self.block_indent();
            for line in s.split('\n') {
                self.out.push(b'\n');
                self.spaces(indent);
                self.out.extend_from_slice(line.as_bytes());
            }
        } else {
            self.out.extend_from_slice(quoted_any(s).as_bytes());
        }
        self.out.push(b'\n');
        Ok(())
    }

    /// `key:` of a mapping entry; the value follows.
    fn entry_key<K: Serialize + ?Sized>(&mut self, key: &K) -> Result {
        self.begin_child()?;
        self.in_key = true;
        let written = key.serialize(&mut *self);
        self.in_key = false;
        written
    }
}

/// Bytes a plain scalar may hold: 1 always, 2 (`:`) unless a space follows, 0 never.
const PLAIN_BYTES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if b.is_ascii_alphanumeric() {
            1
        } else {
            match b {
                b'-' | b'.' | b'_' | b'/' | b'+' | b'=' | b'@' | b'~' | b'%' | b' ' => 1,
                b':' => 2,
                _ => 0,
            }
        };
        c += 1;
    }
    t
};

/// Strings any YAML 1.1 or 1.2 reader takes back as the same string when written plain.
fn is_plain(s: &str) -> bool {
    let b = s.as_bytes();
    let first_ok = match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'/' => true,
        // `-x` is a plain scalar; `-`, `- x`, `-1`, `--` are not (or are not strings).
        Some(b'-') => b.get(1).is_some_and(u8::is_ascii_alphabetic),
        _ => false,
    };
    if !first_ok || matches!(b.last(), Some(b' ' | b':')) {
        return false;
    }
    // One branch-free pass: this check runs on every key and string of every object.
    let (mut allowed, mut colon) = (true, false);
    for &c in b {
        let class = PLAIN_BYTES[usize::from(c)];
        allowed &= class != 0;
        colon |= class == 2;
    }
    // `: ` would start a mapping value.
    allowed && !(colon && s.contains(": ")) && !is_reserved_word(s)
}

/// YAML 1.1 booleans and the null word, in any case (`yes`, `Off`, `NULL`, …).
fn is_reserved_word(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() > 5 {
        return false;
    }
    let mut lower = [0u8; 5];
    for (l, c) in lower.iter_mut().zip(b) {
        *l = c.to_ascii_lowercase();
    }
    matches!(
        &lower[..b.len()],
        b"y" | b"n" | b"yes" | b"no" | b"on" | b"off" | b"true" | b"false" | b"null"
    )
}

/// Multi-line printable ASCII that a `|-` block keeps exactly: no tabs or carriage returns, no
/// empty line or edge spaces on any line (so indentation detection and chomping cannot change it).
fn is_literal_block(s: &str) -> bool {
    s.contains('\n')
        && s.bytes().all(|c| c == b'\n' || (b' '..=b'~').contains(&c))
        && s.split('\n')
            .all(|line| !line.is_empty() && !line.starts_with(' ') && !line.ends_with(' '))
}

/// Single-quoted when that needs no escapes (printable ASCII: only `'` is doubled), which keeps
/// HOCON text readable; double-quoted otherwise.
fn quoted_any(s: &str) -> String {
    if s.bytes().all(|c| (b' '..=b'~').contains(&c)) {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('\'');
        for (i, part) in s.split('\'').enumerate() {
            if i > 0 {
                out.push_str("''");
            }
            out.push_str(part);
        }
        out.push('\'');
        out
    } else {
        quoted(s)
    }
}

/// A double-quoted scalar. Escapes `"` and `\`, every C0 and C1 control character, DEL, the
/// YAML 1.1 line breaks U+2028/U+2029, the byte-order mark and U+FFFE/U+FFFF.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{feff}'
            | '\u{fffe}'
            | '\u{ffff}' => {
                use std::fmt::Write as _;
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A finite float in the form YAML 1.1 and 1.2 both read as a float: `1.5`, `1.0e+20`, `-2.5e-7`.
fn yaml_float(v: f64) -> String {
    let text = format!("{v:?}");
    let (mantissa, exponent) = match text.split_once('e') {
        Some((m, e)) => (m.to_string(), Some(e)),
        None => (text.clone(), None),
    };
    let mantissa = if mantissa.contains('.') {
        mantissa
    } else {
        format!("{mantissa}.0")
    };
    match exponent {
        Some(e) if e.starts_with('-') => format!("{mantissa}e{e}"),
        Some(e) => format!("{mantissa}e+{e}"),
        None => mantissa,
    }
}

impl<'w> ser::Serializer for &mut Writer<'w> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Impossible<(), Unsupported>;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), Unsupported>;

    fn serialize_bool(self, v: bool) -> Result {
        self.scalar(if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> Result {
        self.int(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result {
        self.int(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result {
        self.int(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result {
        self.int(v.into())
    }
    fn serialize_i128(self, v: i128) -> Result {
        self.int(v)
    }
    fn serialize_u8(self, v: u8) -> Result {
        self.int(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result {
        self.int(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result {
        self.int(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result {
        self.int(v.into())
    }
    fn serialize_u128(self, v: u128) -> Result {
        match i128::try_from(v) {
            Ok(v) => self.int(v),
            Err(_) => self.scalar(&v.to_string()),
        }
    }
    fn serialize_f32(self, v: f32) -> Result {
        self.float(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result {
        self.float(v)
    }
    fn serialize_char(self, v: char) -> Result {
        self.string(v.encode_utf8(&mut [0u8; 4]))
    }
    fn serialize_str(self, v: &str) -> Result {
        self.string(v)
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result {
        Err(unsupported("bytes"))
    }
    fn serialize_none(self) -> Result {
        self.scalar("null")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        self.scalar("null")
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        self.scalar("null")
    }
    fn serialize_unit_variant(self, _name: &'static str, _i: u32, variant: &'static str) -> Result {
        self.string(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result {
        value.serialize(self)
    }
    /// `{variant: value}`, as `serde_json` writes it.
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        self.begin_container(true)?;
        self.entry_key(variant)?;
        value.serialize(&mut *self)?;
        self.end_container()
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self> {
        self.begin_container(false)?;
        Ok(self)
    }
    fn serialize_tuple(self, len: usize) -> Result<Self> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Self> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _i: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(unsupported("an enum variant with fields"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self> {
        self.begin_container(true)?;
        Ok(self)
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self> {
        self.begin_container(true)?;
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _i: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(unsupported("an enum variant with fields"))
    }
}

impl ser::SerializeSeq for &mut Writer<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        self.begin_child()?;
        self.out.push(b'-');
        value.serialize(&mut **self)
    }
    fn end(self) -> Result {
        self.end_container()
    }
}

impl ser::SerializeTuple for &mut Writer<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result {
        self.end_container()
    }
}

impl ser::SerializeTupleStruct for &mut Writer<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result {
        self.end_container()
    }
}

impl ser::SerializeMap for &mut Writer<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        self.entry_key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result {
        self.end_container()
    }
}

impl ser::SerializeStruct for &mut Writer<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result {
        self.entry_key(key)?;
        value.serialize(&mut **self)
    }
    fn end(self) -> Result {
        self.end_container()
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::config::OperatorConfig;

    fn round_trip(value: &Value) -> String {
        let yaml = to_string(value).expect("written by the fast writer");
        let back: Value = serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(&back, value, "\n{yaml}");
        yaml
    }

    #[test]
    fn block_layout() {
        let yaml = round_trip(&json!({
            "a": {"b": [1, {"c": "d", "e": []}, [true, null]], "f": {}},
            "g": [{"h": {"i": "j"}}],
            "k": "line one\nline two",
        }));
        assert_eq!(
            yaml,
            "a:\n  b:\n  - 1\n  - c: d\n    e: []\n  -\n    - true\n    - null\n  f: {}\n\
             g:\n- h:\n    i: j\nk: |-\n  line one\n  line two\n"
        );
    }

    #[test]
    fn ambiguous_strings_are_quoted() {
        for s in [
            "", "yes", "No", "ON", "off", "y", "N", "true", "NULL", "~", "0.4.15", "5432", "1e3",
            "0x1F", "1:20", ".inf", "-.5", "-", "- a", "--x", "a: b", "a:", "#x", "a #b", " x",
            "x ", "<<", "*a", "&a", "!x", "@x", "%x", "`x", "[a]", "{a}", "a,b", "'a'", "\"a\"",
            "---", "...", "?x", "|", ">", "'", "''x'", "a'b",
        ] {
            let yaml = round_trip(&json!({ "k": s }));
            assert!(yaml.starts_with("k: '"), "{s:?} is written {yaml:?}");
        }
        for s in [
            "acme",
            "eu-west-1",
            "https://a.example/x",
            "-XX:+UseG1GC -Xmx1g",
            "a b",
        ] {
            assert_eq!(round_trip(&json!({ "k": s })), format!("k: {s}\n"));
        }
    }

    #[test]
    fn hostile_text_stays_a_string() {
        let hostile = [
            "a\nb\n",
            "\nlead",
            " indented\nx",
            "x\n\ny",
            "tab\tand\rcr\nz",
            "a\u{0}b\u{7f}\u{85}\u{2028}\u{2029}\u{feff}\u{fffe}\u{ffff}",
            "é ü 日本 🦀",
            "\\ \" ' \\u0041",
            "x\n---\nkind: Secret",
            "${HOME} } { \"",
        ];
        for s in hostile {
            round_trip(&json!({ "k": s, s: [s] }));
        }
    }

    #[test]
    fn integers_are_exact() {
        let yaml = round_trip(&json!({ "a": [0, -1, 5432, i64::MIN, i64::MAX, u64::MAX] }));
        assert!(
            yaml.contains(
                "- -9223372036854775808\n- 9223372036854775807\n- 18446744073709551615\n"
            )
        );
        let big = to_string(&[u128::MAX, 1]).unwrap();
        assert_eq!(big, "- 340282366920938463463374607431768211455\n- 1\n");
    }

    #[test]
    fn floats_read_back_as_floats() {
        for f in [1.5, 1e20, -2.5e-7, 0.1, 1e15, -0.0, 123456789.125] {
            round_trip(&json!({ "f": f }));
        }
    }

    #[test]
    fn long_keys_are_left_to_serde_saphyr() {
        let long = "k".repeat(MAX_KEY_LEN + 1);
        let value = json!({ "a": [{ long.clone(): 1 }] });
        assert!(to_string(&value).is_none());
        let mut out = b"x".to_vec();
        assert!(!write_document(&mut out, &value));
        assert_eq!(out, b"x", "nothing is left behind");
        let mut out = Vec::new();
        crate::manifest::push_document(&mut out, &value).unwrap();
        let back: Value = serde_saphyr::from_str(std::str::from_utf8(&out).unwrap()).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn the_stream_is_to_json() {
        let example = include_str!("../../examples/validator.yaml");
        let seed = OperatorConfig::from_lookup(|name| -> Option<OsString> {
            match name {
                crate::config::ENABLED_VAR => Some("true".into()),
                crate::config::VALUE_VAR => {
                    Some(r#"{ type = "aws", region = "eu-west-1", audit-logging = true }"#.into())
                }
                crate::config::SERVICE_ACCOUNT_VAR => Some("canton-kms".into()),
                _ => None,
            }
        });
        for config in [OperatorConfig::from_lookup(|_| None), seed] {
            let validator = crate::manifest::decode_validator(example).unwrap();
            let decision = crate::decision::resolve(&validator.spec, &config.kms_default).unwrap();
            let rendered = crate::render::render(&validator, &decision).unwrap();
            let stream = crate::manifest::rendered_yaml(&rendered).unwrap();
            let docs: Vec<Value> = serde_saphyr::from_multiple(&stream).unwrap();
            assert_eq!(docs, rendered.to_json().unwrap(), "\n{stream}");
        }
    }

    /// The plain-scalar rule written the slow, obvious way.
    fn is_plain_reference(s: &str) -> bool {
        let chars: Vec<char> = s.chars().collect();
        let first_ok = match chars.first() {
            Some(c) if c.is_ascii_alphabetic() || *c == '/' => true,
            Some('-') => chars.get(1).is_some_and(char::is_ascii_alphabetic),
            _ => false,
        };
        first_ok
            && !s.ends_with(' ')
            && !s.ends_with(':')
            && !s.contains(": ")
            && chars
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || "-._/+=@~% :".contains(*c))
            && !["y", "n", "yes", "no", "on", "off", "true", "false", "null"]
                .iter()
                .any(|w| s.eq_ignore_ascii_case(w))
    }

    proptest! {
        #[test]
        fn plain_rule_is_the_reference(s in "[a-zA-Z0-9 :._/+=@~%#'\"{}\\[\\]\\-\u{80}-\u{10ffff}]{0,40}") {
            prop_assert_eq!(is_plain(&s), is_plain_reference(&s), "{:?}", s);
        }

        #[test]
        fn plain_rule_is_the_reference_on_likely_plain_text(
            s in "[a-zA-Z/-][a-zA-Z0-9 :._/+=@~%-]{0,50}[a-z:# ]?",
        ) {
            prop_assert_eq!(is_plain(&s), is_plain_reference(&s), "{:?}", s);
        }

        #[test]
        fn any_text_round_trips(key in "\\PC{0,12}", value in any::<String>(), lines in "[ -~\n]{0,40}") {
            round_trip(&json!({ key.clone(): value, "l": lines, "s": [key] }));
        }
    }
}
