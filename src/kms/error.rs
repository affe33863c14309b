//! Why a KMS value was refused: the one error type of parsing, shared by the parser and the
//! field readers (a leaf module, so neither imports the other for it).

/// Longer values are refused before parsing; a real one is well under a kilobyte.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;

/// Why a KMS value was refused; each names the key or construct at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmsValueError {
    #[error("is empty; expected an object such as {{ type = \"aws\", region = \"eu-west-1\" }}")]
    Empty,
    #[error("is {0} bytes long; at most {MAX_VALUE_BYTES} bytes are accepted")]
    TooLong(usize),
    #[error("contains the control character U+{0:04X}; only plain text is accepted")]
    ControlCharacter(u32),
    #[error("is not valid HOCON: {0}")]
    Syntax(String),
    #[error(
        "must be a single HOCON object in braces, such as {{ type = \"aws\", region = \"eu-west-1\" }}"
    )]
    NotAnObject,
    #[error(
        "has text after the closing brace at line {line}, column {col}; only one object is accepted"
    )]
    TrailingContent { line: usize, col: usize },
    #[error("uses a substitution (${{…}}) at line {line}, column {col}; write the value itself")]
    Substitution { line: usize, col: usize },
    #[error("uses `include` at line {line}, column {col}; includes are not accepted")]
    Include { line: usize, col: usize },
    #[error("uses `+=` on `{0}`; appends are not accepted")]
    Append(String),
    #[error("uses the dotted key `{0}`; write nested objects with braces instead")]
    DottedKey(String),
    #[error("defines `{0}` twice with different values")]
    Duplicate(String),
    #[error("has no `type`; set type = \"aws\", \"gcp\" or \"driver\"")]
    MissingType,
    #[error("has type = \"{0}\"; canton-operator knows \"aws\", \"gcp\" and \"driver\"")]
    UnknownType(String),
    #[error("has the key `{key}`, which is not a Canton {provider} KMS setting (known: {known})")]
    UnknownKey {
        key: String,
        provider: &'static str,
        known: String,
    },
    #[error("lacks `{key}`, which {provider} KMS requires")]
    Missing {
        key: &'static str,
        provider: &'static str,
    },
    #[error("has `{key}` of the wrong type: expected {expected}")]
    WrongType { key: String, expected: &'static str },
}
