//! A small builder for DynamoDB update and condition expressions.
//!
//! Every attribute goes through an expression attribute name (`status`, `result`, `error` and
//! others are reserved words), and DynamoDB rejects names or values that the expressions do
//! not use, so the builder only records what an expression actually mentions.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// The pieces of one UpdateItem call: its SET and REMOVE clauses, a condition, and the name and
/// value placeholders they use.
#[derive(Debug, Default)]
pub(super) struct Update {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    sets: Vec<String>,
    removes: Vec<String>,
}

/// Placeholders are `#` or `:` followed by letters and digits only.
fn token(attr: &str) -> String {
    attr.chars().filter(char::is_ascii_alphanumeric).collect()
}

impl Update {
    /// The name placeholder for `attr`, e.g. `#leaseowner` for `lease_owner`.
    pub(super) fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#{}", token(attr));
        self.names.insert(placeholder.clone(), attr.to_owned());
        placeholder
    }

    /// A value placeholder `:{key}` bound to `value`, for conditions.
    pub(super) fn value(&mut self, key: &str, value: AttributeValue) -> String {
        let placeholder = format!(":{}", token(key));
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// `SET attr = value`.
    pub(super) fn set(&mut self, attr: &str, value: AttributeValue) -> &mut Self {
        let name = self.name(attr);
        let placeholder = self.value(&format!("new_{attr}"), value);
        self.sets.push(format!("{name} = {placeholder}"));
        self
    }

    /// `SET attr = value` when `value` is some, else `REMOVE attr`.
    pub(super) fn set_or_remove(&mut self, attr: &str, value: Option<AttributeValue>) -> &mut Self {
        match value {
            Some(value) => self.set(attr, value),
            None => self.remove(attr),
        }
    }

    /// `REMOVE attr`.
    pub(super) fn remove(&mut self, attr: &str) -> &mut Self {
        let name = self.name(attr);
        self.removes.push(name);
        self
    }

    /// The update expression, e.g. `SET #a = :newa REMOVE #b`.
    pub(super) fn expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.sets.is_empty() {
            parts.push(format!("SET {}", self.sets.join(", ")));
        }
        if !self.removes.is_empty() {
            parts.push(format!("REMOVE {}", self.removes.join(", ")));
        }
        parts.join(" ")
    }

    /// The name placeholders, for `set_expression_attribute_names`.
    pub(super) fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    /// The value placeholders, for `set_expression_attribute_values` (`None` when there are
    /// none: DynamoDB rejects an empty map).
    pub(super) fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_set_and_remove_clauses_with_placeholders() {
        let mut update = Update::default();
        update
            .set("status", AttributeValue::S("running".into()))
            .remove("lease_owner");
        let cond = format!(
            "{} = {}",
            update.name("status"),
            update.value("queued", AttributeValue::S("queued".into()))
        );
        assert_eq!(
            update.expression(),
            "SET #status = :newstatus REMOVE #leaseowner"
        );
        assert_eq!(cond, "#status = :queued");
        let names = update.names().unwrap_or_default();
        assert_eq!(
            names.get("#leaseowner").map(String::as_str),
            Some("lease_owner")
        );
        assert_eq!(update.values().map(|v| v.len()), Some(2));
    }

    #[test]
    fn no_values_means_none() {
        let mut update = Update::default();
        update.remove("lease");
        assert!(update.values().is_none());
        assert_eq!(update.expression(), "REMOVE #lease");
    }
}
