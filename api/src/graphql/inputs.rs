//! The input guard: every string a request hands in — each argument and
//! each field of an input object, written in the query or sent as a
//! variable — is checked before anything runs, the same way whatever the
//! database. Refused: NUL and the other control characters (but tab, line
//! feed and carriage return, which text may hold), and values longer than
//! [`MAX_CHARS`]. The answer is `BAD_USER_INPUT` naming the field.
//!
//! The domains then apply their own rules (a handle's characters, a note's
//! 280 characters); this guard is what no field can forget. PostgreSQL
//! refuses NUL in text, SQLite stores it: without the guard, the same
//! request failed on one database and not on the other.
use async_graphql::{ServerError, ServerResult, Value, Variables, parser::types::ExecutableDocument};

use super::arguments::every_field;

/// The longest string any argument may be, in characters (an FCM
/// registration token, the longest thing people send, is some 160).
pub const MAX_CHARS: usize = 4096;

/// Refuses the first string argument or input field with control
/// characters or too many characters.
pub fn check_document(document: &ExecutableDocument, variables: &Variables) -> ServerResult<()> {
    for call in every_field(document, variables) {
        for (name, value) in &call.arguments {
            check(name, value)?;
        }
    }
    Ok(())
}

/// Checks every string in `value`; `field` names it (an input object's
/// fields name their own).
fn check(field: &str, value: &Value) -> ServerResult<()> {
    match value {
        Value::String(text) => match problem(text) {
            Some(problem) => Err(refused(field, problem)),
            None => Ok(()),
        },
        Value::List(items) => items.iter().try_for_each(|item| check(field, item)),
        Value::Object(fields) => fields.iter().try_for_each(|(name, item)| check(name.as_str(), item)),
        Value::Null | Value::Number(_) | Value::Boolean(_) | Value::Binary(_) | Value::Enum(_) => Ok(()),
    }
}

/// What is wrong with `text`, if anything.
fn problem(text: &str) -> Option<String> {
    if text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        return Some("cannot contain control characters (such as NUL)".to_owned());
    }
    if text.chars().count() > MAX_CHARS {
        return Some(format!("can be at most {MAX_CHARS} characters long"));
    }
    None
}

fn refused(field: &str, problem: String) -> ServerError {
    let mut error = ServerError::new(format!("`{field}` {problem}"), None);
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", "BAD_USER_INPUT");
    extensions.set("field", field);
    error
}

#[cfg(test)]
mod tests {
    use super::problem;

    #[test]
    fn control_characters_and_long_values_are_refused_text_is_not() {
        assert!(problem("a\u{0}b").is_some());
        assert!(problem("bell\u{7}").is_some());
        assert!(problem("\u{1b}[31m").is_some());
        assert!(problem("\u{85}").is_some(), "C1 controls too");
        assert!(problem(&"x".repeat(super::MAX_CHARS + 1)).is_some());
        assert!(problem("for the drive\nsee you\tsoon\r\n").is_none());
        assert!(problem("Zoë 🎵 李").is_none());
        assert!(
            problem(&"é".repeat(super::MAX_CHARS)).is_none(),
            "characters, not bytes"
        );
    }
}
