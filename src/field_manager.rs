//! The field manager of every write this operator makes (server-side applies, status and
//! metadata updates, Events): what the API server records as the owner of its fields, and what
//! drift is judged by (a leaf module, so the controllers import it without importing each other).

/// The `fieldManager` of this operator's writes.
pub(crate) const FIELD_MANAGER: &str = "canton-operator";
