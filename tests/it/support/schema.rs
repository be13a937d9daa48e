//! A JSON Schema (draft 2020-12) validator of exactly the keywords `docs/report.schema.json` uses,
//! and nothing more: a schema that uses any other keyword is refused when it is loaded, so no
//! part of the schema can silently go unchecked (a general validator would ignore a keyword it
//! does not know, or a misspelt one, and pass everything under it).
//!
//! Why not the `jsonschema` crate: with `default-features = false` it still brings 33 crates the
//! workspace does not have (a regex engine, big integers, URI and e-mail parsers) and about two
//! minutes of compile time to a clean test build on this 2-core machine, for the dozen keywords
//! this schema needs. The semantics below are the specification's (json-schema.org, "JSON Schema
//! Validation" and "Core", draft 2020-12) for those keywords.
//!
//! Implemented: the annotations `$schema` (at the root, draft 2020-12 only), `$comment`, `title`,
//! `description`, `$defs`; `$ref` to a JSON pointer inside the same document (`#/$defs/NAME`);
//! `type` (a name or a list of names), `enum`, `const`, `properties`, `required`,
//! `additionalProperties`, `items` (one schema for every item), `anyOf`, `minimum`, `minItems`,
//! `minLength`; and the boolean schemas `true` and `false`.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// The draft this validator implements.
pub const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

const TYPES: &[&str] = &[
    "null", "boolean", "object", "array", "number", "string", "integer",
];

/// A schema checked to use only the keywords above, with every `$ref` resolvable.
#[derive(Debug, Clone)]
pub struct Schema {
    root: Value,
}

impl Schema {
    /// Checks the whole schema, every branch of it, before anything is validated against it.
    pub fn new(root: Value) -> Result<Schema, String> {
        match root.get("$schema").and_then(Value::as_str) {
            Some(DRAFT_2020_12) => {}
            other => {
                return Err(format!(
                    "$schema must be {DRAFT_2020_12:?}, found {other:?}"
                ));
            }
        }
        let schema = Schema { root };
        schema.check(&schema.root, "#", true)?;
        Ok(schema)
    }

    /// Parses and checks a schema from its text.
    pub fn parse(text: &str) -> Result<Schema, String> {
        let root = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        Schema::new(root)
    }

    /// The root schema document.
    pub fn root(&self) -> &Value {
        &self.root
    }

    /// Validates `value` against the sub-schema at `pointer` (`#` for the root,
    /// `#/$defs/NAME` for a definition). Returns every error found, each naming the place in
    /// the value (a JSON pointer) and the schema keyword that failed.
    pub fn validate(&self, pointer: &str, value: &Value) -> Result<(), Vec<String>> {
        let schema = self
            .resolve(pointer)
            .unwrap_or_else(|e| panic!("validate against {pointer}: {e}"));
        let mut errors = Vec::new();
        self.apply(schema, value, "", &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn resolve(&self, reference: &str) -> Result<&Value, String> {
        let Some(pointer) = reference.strip_prefix('#') else {
            return Err(format!(
                "$ref {reference:?} is not inside this document (only #/… is supported)"
            ));
        };
        if pointer.contains('%') {
            return Err(format!(
                "$ref {reference:?}: percent-encoding is not supported"
            ));
        }
        self.root
            .pointer(pointer)
            .ok_or_else(|| format!("$ref {reference:?} points at nothing"))
    }

    /// Walks the schema: every keyword known and of the right shape, every `$ref` resolvable.
    fn check(&self, schema: &Value, at: &str, root: bool) -> Result<(), String> {
        let obj = match schema {
            Value::Bool(_) => return Ok(()),
            Value::Object(obj) => obj,
            _ => return Err(format!("{at}: a schema is an object or a boolean")),
        };
        for (key, v) in obj {
            let here = format!("{at}/{key}");
            match key.as_str() {
                "$schema" if root => {}
                "$comment" | "title" | "description" => {
                    if !v.is_string() {
                        return Err(format!("{here}: must be a string"));
                    }
                }
                "$defs" => {
                    let defs = v
                        .as_object()
                        .ok_or_else(|| format!("{here}: must be an object"))?;
                    for (name, def) in defs {
                        self.check(def, &format!("{here}/{name}"), false)?;
                    }
                }
                "$ref" => {
                    let r = v
                        .as_str()
                        .ok_or_else(|| format!("{here}: must be a string"))?;
                    self.resolve(r).map_err(|e| format!("{here}: {e}"))?;
                }
                "type" => {
                    let names: Vec<&Value> = match v {
                        Value::String(_) => vec![v],
                        Value::Array(a) if !a.is_empty() => a.iter().collect(),
                        _ => return Err(format!("{here}: a type name or a non-empty list")),
                    };
                    for (i, n) in names.iter().enumerate() {
                        let name = n.as_str().unwrap_or_default();
                        if !TYPES.contains(&name) {
                            return Err(format!("{here}: {n} is not a type"));
                        }
                        if names[..i].contains(n) {
                            return Err(format!("{here}: {n} is listed twice"));
                        }
                    }
                }
                "enum" => {
                    let a = v
                        .as_array()
                        .filter(|a| !a.is_empty())
                        .ok_or_else(|| format!("{here}: must be a non-empty array"))?;
                    for (i, item) in a.iter().enumerate() {
                        if a[..i].contains(item) {
                            return Err(format!("{here}: {item} is listed twice"));
                        }
                    }
                }
                "const" => {}
                "properties" => {
                    let props = v
                        .as_object()
                        .ok_or_else(|| format!("{here}: must be an object"))?;
                    for (name, p) in props {
                        self.check(p, &format!("{here}/{name}"), false)?;
                    }
                }
                "required" => {
                    let a = v
                        .as_array()
                        .ok_or_else(|| format!("{here}: must be an array"))?;
                    for (i, item) in a.iter().enumerate() {
                        let name = item
                            .as_str()
                            .ok_or_else(|| format!("{here}: {item} is not a string"))?;
                        if a[..i].contains(item) {
                            return Err(format!("{here}: {name} is listed twice"));
                        }
                        // With additionalProperties false, a required name that is not a
                        // property could never be satisfied: a typo.
                        let declared = obj
                            .get("properties")
                            .and_then(Value::as_object)
                            .is_some_and(|p| p.contains_key(name));
                        if !declared && obj.get("additionalProperties") == Some(&Value::Bool(false))
                        {
                            return Err(format!(
                                "{here}: {name} is required but not among the properties"
                            ));
                        }
                    }
                }
                "additionalProperties" | "items" => self.check(v, &here, false)?,
                "anyOf" => {
                    let a = v
                        .as_array()
                        .filter(|a| !a.is_empty())
                        .ok_or_else(|| format!("{here}: must be a non-empty array"))?;
                    for (i, s) in a.iter().enumerate() {
                        self.check(s, &format!("{here}/{i}"), false)?;
                    }
                }
                "minimum" => {
                    if !v.is_number() {
                        return Err(format!("{here}: must be a number"));
                    }
                }
                "minItems" | "minLength" => {
                    if v.as_u64().is_none() {
                        return Err(format!("{here}: must be a non-negative integer"));
                    }
                }
                other => {
                    return Err(format!(
                        "{here}: the keyword {other:?} is not implemented by this validator \
                         (tests/it/support/schema.rs): implement it there, with a test, or do \
                         without it"
                    ));
                }
            }
        }
        Ok(())
    }

    fn apply(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let obj = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                errors.push(format!("{}: nothing is allowed here", place(at)));
                return;
            }
            Value::Object(obj) => obj,
            _ => unreachable!("checked when loaded"),
        };
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            let target = self.resolve(r).expect("checked when loaded");
            self.apply(target, value, at, errors);
        }
        if let Some(t) = obj.get("type") {
            let names: Vec<&str> = match t {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => unreachable!("checked when loaded"),
            };
            if !names.iter().any(|n| is_type(value, n)) {
                errors.push(format!(
                    "{}: {} is not of type {}",
                    place(at),
                    short(value),
                    names.join(" or ")
                ));
            }
        }
        if let Some(Value::Array(allowed)) = obj.get("enum")
            && !allowed.iter().any(|a| equal(a, value))
        {
            errors.push(format!(
                "{}: {} is not one of the enum's {} values",
                place(at),
                short(value),
                allowed.len()
            ));
        }
        if let Some(c) = obj.get("const")
            && !equal(c, value)
        {
            errors.push(format!("{}: {} is not {c}", place(at), short(value)));
        }
        if let Value::Object(map) = value {
            self.apply_object(obj, map, at, errors);
        }
        if let Value::Array(items) = value {
            if let Some(item_schema) = obj.get("items") {
                for (i, item) in items.iter().enumerate() {
                    self.apply(item_schema, item, &format!("{at}/{i}"), errors);
                }
            }
            if let Some(min) = obj.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                errors.push(format!(
                    "{}: {} items, fewer than minItems {min}",
                    place(at),
                    items.len()
                ));
            }
        }
        if let Value::String(s) = value
            && let Some(min) = obj.get("minLength").and_then(Value::as_u64)
            && (s.chars().count() as u64) < min
        {
            errors.push(format!(
                "{}: {} is shorter than minLength {min}",
                place(at),
                short(value)
            ));
        }
        if let (Some(min), Some(n)) = (obj.get("minimum").and_then(Value::as_f64), value.as_f64())
            && n < min
        {
            errors.push(format!("{}: {n} is less than minimum {min}", place(at)));
        }
        if let Some(Value::Array(branches)) = obj.get("anyOf") {
            let mut why = Vec::new();
            let passed = branches.iter().any(|b| {
                let mut e = Vec::new();
                self.apply(b, value, at, &mut e);
                let ok = e.is_empty();
                why.extend(e);
                ok
            });
            if !passed {
                let mut msg = format!("{}: matches none of anyOf:", place(at));
                for w in why {
                    let _ = write!(msg, "\n    {w}");
                }
                errors.push(msg);
            }
        }
    }

    fn apply_object(
        &self,
        schema: &Map<String, Value>,
        map: &Map<String, Value>,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        let props = schema.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(required)) = schema.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(name) {
                    errors.push(format!(
                        "{}: the required property {name:?} is missing",
                        place(at)
                    ));
                }
            }
        }
        for (key, v) in map {
            let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
            match props.and_then(|p| p.get(key)) {
                Some(p) => self.apply(p, v, &here, errors),
                None => {
                    if let Some(extra) = schema.get("additionalProperties") {
                        if extra == &Value::Bool(false) {
                            errors.push(format!(
                                "{}: the property {key:?} is not allowed (additionalProperties is false)",
                                place(at)
                            ));
                        } else {
                            self.apply(extra, v, &here, errors);
                        }
                    }
                }
            }
        }
    }
}

fn place(at: &str) -> &str {
    if at.is_empty() { "(root)" } else { at }
}

/// A value, cut short for a message.
fn short(value: &Value) -> String {
    let s = value.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

fn is_type(value: &Value, name: &str) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        // Any number with no fractional part, 1.0 included (2020-12 counts it an integer).
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

/// JSON equality, where numbers are equal by their mathematical value (1 and 1.0 are equal).
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema(body: Value) -> Schema {
        let mut root = body;
        root["$schema"] = json!(DRAFT_2020_12);
        Schema::new(root).expect("a valid schema")
    }

    fn errors(s: &Schema, v: &Value) -> Vec<String> {
        s.validate("#", v).err().unwrap_or_default()
    }

    #[test]
    fn schema_validator_refuses_a_keyword_it_does_not_implement() {
        for keyword in [
            "pattern",
            "format",
            "oneOf",
            "allOf",
            "prefixItems",
            "patternProperties",
            "maximum",
            "dependentRequired",
            "if",
            "requried",
        ] {
            let root = json!({ "$schema": DRAFT_2020_12, "properties": { "a": { keyword: 1 } } });
            let e = Schema::new(root).expect_err(keyword);
            assert!(
                e.contains(&format!("\"{keyword}\" is not implemented"))
                    && e.contains("#/properties/a"),
                "{keyword}: {e}"
            );
        }
        // Also in a branch nothing validates against yet, and in a definition.
        let root = json!({ "$schema": DRAFT_2020_12, "$defs": { "x": { "anyOf": [ { "format": "uri" } ] } } });
        assert!(
            Schema::new(root)
                .unwrap_err()
                .contains("#/$defs/x/anyOf/0/format")
        );
    }

    #[test]
    fn schema_validator_refuses_malformed_keywords_and_other_drafts() {
        let bad = [
            json!({ "type": "int" }),
            json!({ "type": ["string", "string"] }),
            json!({ "type": [] }),
            json!({ "enum": [] }),
            json!({ "enum": ["a", "a"] }),
            json!({ "required": "a" }),
            json!({ "required": ["a"], "properties": {}, "additionalProperties": false }),
            json!({ "$ref": "#/$defs/nothing" }),
            json!({ "$ref": "other.json#/x" }),
            json!({ "minItems": -1 }),
            json!({ "minimum": "0" }),
            json!({ "anyOf": [] }),
            json!({ "properties": { "a": 3 } }),
            json!({ "$schema": DRAFT_2020_12, "properties": { "a": { "$schema": DRAFT_2020_12 } } }),
        ];
        for b in bad {
            let mut root = b.clone();
            root["$schema"] = json!(DRAFT_2020_12);
            assert!(Schema::new(root).is_err(), "accepted {b}");
        }
        let old = json!({ "$schema": "http://json-schema.org/draft-07/schema#" });
        assert!(Schema::new(old).is_err());
        assert!(
            Schema::new(json!({ "type": "object" })).is_err(),
            "no $schema"
        );
    }

    #[test]
    fn schema_validator_types() {
        let s = schema(json!({ "type": "integer" }));
        assert!(errors(&s, &json!(3)).is_empty());
        assert!(errors(&s, &json!(-3)).is_empty());
        assert!(
            errors(&s, &json!(3.0)).is_empty(),
            "1.0 is an integer in 2020-12"
        );
        assert_eq!(errors(&s, &json!(3.5)).len(), 1);
        assert_eq!(errors(&s, &json!("3")).len(), 1);
        let s = schema(json!({ "type": ["string", "null"] }));
        assert!(errors(&s, &json!(null)).is_empty());
        assert!(errors(&s, &json!("x")).is_empty());
        let e = errors(&s, &json!(false));
        assert_eq!(e, ["(root): false is not of type string or null"]);
        let s = schema(json!({ "type": "number" }));
        assert!(errors(&s, &json!(0.5)).is_empty());
        assert!(errors(&s, &json!(7)).is_empty());
        assert_eq!(errors(&s, &json!([])).len(), 1);
        for (t, ok, bad) in [
            ("boolean", json!(true), json!(0)),
            ("object", json!({}), json!([])),
            ("array", json!([]), json!({})),
            ("null", json!(null), json!(0)),
            ("string", json!(""), json!(null)),
        ] {
            let s = schema(json!({ "type": t }));
            assert!(errors(&s, &ok).is_empty(), "{t}");
            assert_eq!(errors(&s, &bad).len(), 1, "{t}");
        }
    }

    #[test]
    fn schema_validator_objects() {
        let s = schema(json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["a"],
            "properties": { "a": { "type": "string" }, "b": { "type": "integer", "minimum": 1 } }
        }));
        assert!(errors(&s, &json!({ "a": "x" })).is_empty());
        assert!(errors(&s, &json!({ "a": "x", "b": 2 })).is_empty());
        assert_eq!(
            errors(&s, &json!({ "b": 2 })),
            ["(root): the required property \"a\" is missing"]
        );
        assert_eq!(
            errors(&s, &json!({ "a": "x", "c": 1 })),
            ["(root): the property \"c\" is not allowed (additionalProperties is false)"]
        );
        assert_eq!(
            errors(&s, &json!({ "a": 1, "b": 0 })),
            [
                "/a: 1 is not of type string",
                "/b: 0 is less than minimum 1"
            ]
        );
        // additionalProperties as a schema; absent means anything goes.
        let s = schema(json!({ "additionalProperties": { "type": "integer" } }));
        assert!(errors(&s, &json!({ "x": 1 })).is_empty());
        assert_eq!(
            errors(&s, &json!({ "x/y": "1" })),
            ["/x~1y: \"1\" is not of type integer"]
        );
        let s = schema(json!({ "properties": { "a": { "type": "string" } } }));
        assert!(errors(&s, &json!({ "z": 1 })).is_empty());
        // Object keywords do not apply to other types.
        assert!(errors(&s, &json!(5)).is_empty());
    }

    #[test]
    fn schema_validator_arrays_strings_enum_const() {
        let s = schema(json!({ "type": "array", "items": { "enum": ["x", "y"] }, "minItems": 2 }));
        assert!(errors(&s, &json!(["x", "y"])).is_empty());
        assert_eq!(
            errors(&s, &json!(["x", "z"])),
            ["/1: \"z\" is not one of the enum's 2 values"]
        );
        assert_eq!(
            errors(&s, &json!(["x"])),
            ["(root): 1 items, fewer than minItems 2"]
        );
        let s = schema(json!({ "type": "string", "minLength": 2 }));
        assert!(errors(&s, &json!("ab")).is_empty());
        assert!(errors(&s, &json!("é")).len() == 1, "characters, not bytes");
        let s = schema(json!({ "const": 1 }));
        assert!(errors(&s, &json!(1)).is_empty());
        assert!(errors(&s, &json!(1.0)).is_empty(), "equal by value");
        assert_eq!(errors(&s, &json!(2)), ["(root): 2 is not 1"]);
        let s = schema(json!({ "const": true }));
        assert_eq!(errors(&s, &json!(false)).len(), 1);
        let s = schema(json!({ "const": { "a": [1, 2] } }));
        assert!(errors(&s, &json!({ "a": [1.0, 2] })).is_empty());
        assert_eq!(errors(&s, &json!({ "a": [2, 1] })).len(), 1);
    }

    #[test]
    fn schema_validator_refs_any_of_and_boolean_schemas() {
        let s = schema(json!({
            "$defs": { "d": { "type": "object", "required": ["code"], "properties": { "code": { "type": "string" } } } },
            "type": "object",
            "properties": {
                "diagnosis": { "anyOf": [ { "$ref": "#/$defs/d" }, { "type": "null" } ] },
                "never": false,
                "anything": true
            }
        }));
        assert!(errors(&s, &json!({ "diagnosis": null })).is_empty());
        assert!(
            errors(
                &s,
                &json!({ "diagnosis": { "code": "x" }, "anything": [1] })
            )
            .is_empty()
        );
        let e = errors(&s, &json!({ "diagnosis": {} }));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("/diagnosis: matches none of anyOf:"),
            "{e:?}"
        );
        assert!(
            e[0].contains("\"code\" is missing"),
            "the branches say why: {e:?}"
        );
        assert_eq!(
            errors(&s, &json!({ "never": 1 })),
            ["/never: nothing is allowed here"]
        );
        // A definition on its own.
        assert!(s.validate("#/$defs/d", &json!({ "code": "x" })).is_ok());
        assert!(s.validate("#/$defs/d", &json!({ "code": 1 })).is_err());
    }
}
