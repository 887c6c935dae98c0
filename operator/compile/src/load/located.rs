//! YAML documents read with the location of every node: the value the typed resources are
//! deserialised from, and the [`FieldLocations`] diagnostics are located with.
//!
//! `serde_saphyr::Spanned` captures the location of whatever node is deserialised next, at any
//! depth, so one generic tree of `Spanned` nodes (rather than an event walk of our own) gives
//! both; merge keys and aliases are resolved by the parser as for any other type.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;

use crate::diagnostics::{FieldLocations, Location};

/// A YAML node and the location of each node below it.
#[derive(Debug)]
pub(super) enum Node {
    Scalar(Value),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

/// The diagnostic location of a parser location (`None` for the parser's "unknown").
pub(super) fn location(at: &serde_saphyr::Location) -> Option<Location> {
    let line = u32::try_from(at.line()).ok()?;
    let column = u32::try_from(at.column()).ok()?;
    Location::new(line, column)
}

/// Where a node is: where it is written, even when it is reached through an alias (the field
/// a diagnostic names is in the anchored text).
fn defined<T>(node: &Spanned<T>) -> Option<Location> {
    location(&node.defined)
}

impl Node {
    /// The node as JSON, as `serde_json::Value` would have deserialised it (a later duplicate
    /// key wins).
    pub(super) fn to_value(&self) -> Value {
        match self {
            Node::Scalar(v) => v.clone(),
            Node::Seq(items) => Value::Array(items.iter().map(|i| i.value.to_value()).collect()),
            Node::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.value.clone(), v.value.to_value()))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }

    /// The entry `key` of a mapping.
    pub(super) fn get(&self, key: &str) -> Option<&Spanned<Node>> {
        match self {
            Node::Map(entries) => entries
                .iter()
                .rev()
                .find(|(k, _)| k.value == key)
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// The locations of `node` and everything below it, with paths relative to `node`.
pub(super) fn field_locations(node: &Spanned<Node>) -> FieldLocations {
    let mut out = FieldLocations::default();
    if let Some(at) = defined(node) {
        out.insert("", at);
    }
    record(&node.value, "", &mut out);
    out
}

fn record(node: &Node, path: &str, out: &mut FieldLocations) {
    match node {
        Node::Scalar(_) => {}
        Node::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("{path}[{i}]");
                if let Some(at) = defined(item) {
                    out.insert(path.clone(), at);
                }
                record(&item.value, &path, out);
            }
        }
        Node::Map(entries) => {
            for (key, value) in entries {
                let path = if path.is_empty() {
                    key.value.clone()
                } else {
                    format!("{path}.{}", key.value)
                };
                if let Some(at) = defined(key).or_else(|| defined(value)) {
                    out.insert(path.clone(), at);
                }
                record(&value.value, &path, out);
            }
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(Value::Number(v.into())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(Value::Number(v.into())))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Scalar(match (i64::try_from(v), u64::try_from(v)) {
            (Ok(v), _) => Value::Number(v.into()),
            (_, Ok(v)) => Value::Number(v.into()),
            // Beyond 64 bits: a float, as serde_json does.
            _ => Number::from_f64(v as f64).map_or(Value::Null, Value::Number),
        }))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Node, E> {
        Ok(Node::Scalar(match u64::try_from(v) {
            Ok(v) => Value::Number(v.into()),
            Err(_) => Number::from_f64(v as f64).map_or(Value::Null, Value::Number),
        }))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        // JSON has no NaN or infinity; serde_json's Value turns them into null too.
        Ok(Node::Scalar(
            Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(Value::String(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Scalar(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Node::Map(entries))
    }
}
