//! CloudFormation intrinsic expressions (`!Ref`, `!GetAtt`, `!Sub`, `!Join`) and their resolution.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::{TemplateError, invalid};

/// A CloudFormation value that may hold intrinsic functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A plain string (numbers and booleans are kept in their YAML spelling).
    Literal(String),
    /// `!Ref Name`: a parameter, a pseudo parameter (`AWS::Region`) or a resource.
    Ref(String),
    /// `!GetAtt Resource.Attribute`.
    GetAtt { resource: String, attribute: String },
    /// `!Sub "text ${Name} ${Resource.Attr}"`, with optional local variables.
    Sub {
        template: String,
        variables: BTreeMap<String, Expr>,
    },
    /// `!Join [separator, [parts]]`.
    Join { separator: String, parts: Vec<Expr> },
}

/// What intrinsic references resolve to: parameter values, pseudo parameters, and for each
/// resource its `Ref` value and attributes.
pub trait Lookup {
    /// The value of `!Ref name`.
    fn reference(&self, name: &str) -> Option<String>;
    /// The value of `!GetAtt resource.attribute`.
    fn attribute(&self, resource: &str, attribute: &str) -> Option<String>;
}

impl Expr {
    pub(super) fn parse(value: &Value, location: &str) -> Result<Expr, TemplateError> {
        match value {
            Value::String(s) => Ok(Expr::Literal(s.clone())),
            Value::Number(n) => Ok(Expr::Literal(n.to_string())),
            Value::Bool(b) => Ok(Expr::Literal(b.to_string())),
            Value::Tagged(tagged) => {
                let name = tagged.tag.to_string();
                let name = name.trim_start_matches('!');
                let long = if name == "Ref" {
                    "Ref".to_owned()
                } else {
                    format!("Fn::{name}")
                };
                Self::parse_intrinsic(&long, &tagged.value, location)
            }
            Value::Mapping(map) if map.len() == 1 => {
                let Some((Value::String(key), inner)) = map.iter().next() else {
                    return Err(invalid(
                        location,
                        "expected a string or an intrinsic function",
                    ));
                };
                if key == "Ref" || key.starts_with("Fn::") {
                    Self::parse_intrinsic(key, inner, location)
                } else {
                    Err(invalid(
                        location,
                        "expected a string or an intrinsic function",
                    ))
                }
            }
            _ => Err(invalid(
                location,
                "expected a string or an intrinsic function",
            )),
        }
    }

    fn parse_intrinsic(name: &str, value: &Value, location: &str) -> Result<Expr, TemplateError> {
        match name {
            "Ref" => match value {
                Value::String(target) => Ok(Expr::Ref(target.clone())),
                _ => Err(invalid(location, "!Ref takes a logical id")),
            },
            "Fn::GetAtt" => {
                let (resource, attribute) = match value {
                    Value::String(dotted) => dotted
                        .split_once('.')
                        .map(|(r, a)| (r.to_owned(), a.to_owned()))
                        .ok_or_else(|| invalid(location, "!GetAtt takes Resource.Attribute"))?,
                    Value::Sequence(parts) => match parts.as_slice() {
                        [Value::String(r), Value::String(a)] => (r.clone(), a.clone()),
                        _ => return Err(invalid(location, "!GetAtt takes [Resource, Attribute]")),
                    },
                    _ => return Err(invalid(location, "!GetAtt takes Resource.Attribute")),
                };
                Ok(Expr::GetAtt {
                    resource,
                    attribute,
                })
            }
            "Fn::Sub" => match value {
                Value::String(template) => Ok(Expr::Sub {
                    template: template.clone(),
                    variables: BTreeMap::new(),
                }),
                Value::Sequence(parts) => match parts.as_slice() {
                    [Value::String(template), Value::Mapping(vars)] => {
                        let mut variables = BTreeMap::new();
                        for (key, var) in vars {
                            let Value::String(key) = key else {
                                return Err(invalid(location, "!Sub variable names are strings"));
                            };
                            variables.insert(key.clone(), Expr::parse(var, location)?);
                        }
                        Ok(Expr::Sub {
                            template: template.clone(),
                            variables,
                        })
                    }
                    _ => Err(invalid(location, "!Sub takes a string or [string, {vars}]")),
                },
                _ => Err(invalid(location, "!Sub takes a string or [string, {vars}]")),
            },
            "Fn::Join" => match value {
                Value::Sequence(parts) => match parts.as_slice() {
                    [Value::String(separator), Value::Sequence(items)] => Ok(Expr::Join {
                        separator: separator.clone(),
                        parts: items
                            .iter()
                            .map(|item| Expr::parse(item, location))
                            .collect::<Result<_, _>>()?,
                    }),
                    _ => Err(invalid(location, "!Join takes [separator, [parts]]")),
                },
                _ => Err(invalid(location, "!Join takes [separator, [parts]]")),
            },
            other => Err(TemplateError::UnsupportedIntrinsic {
                location: location.to_owned(),
                name: other.to_owned(),
            }),
        }
    }

    /// The logical id this expression points at, when it is `!Ref X` or `!GetAtt X.Attr`.
    pub fn target(&self) -> Option<&str> {
        match self {
            Expr::Ref(target) => Some(target),
            Expr::GetAtt { resource, .. } => Some(resource),
            _ => None,
        }
    }

    /// The string this expression stands for, given what the references resolve to.
    pub fn resolve(&self, lookup: &dyn Lookup, location: &str) -> Result<String, TemplateError> {
        let unresolved = |what: String| TemplateError::Unresolved {
            location: location.to_owned(),
            what,
        };
        match self {
            Expr::Literal(s) => Ok(s.clone()),
            Expr::Ref(name) => lookup
                .reference(name)
                .ok_or_else(|| unresolved(format!("!Ref {name}"))),
            Expr::GetAtt {
                resource,
                attribute,
            } => lookup
                .attribute(resource, attribute)
                .ok_or_else(|| unresolved(format!("!GetAtt {resource}.{attribute}"))),
            Expr::Join { separator, parts } => Ok(parts
                .iter()
                .map(|part| part.resolve(lookup, location))
                .collect::<Result<Vec<_>, _>>()?
                .join(separator)),
            Expr::Sub {
                template,
                variables,
            } => {
                let mut out = String::with_capacity(template.len());
                let mut rest = template.as_str();
                while let Some(start) = rest.find("${") {
                    out.push_str(&rest[..start]);
                    let after = &rest[start + 2..];
                    let end = after
                        .find('}')
                        .ok_or_else(|| invalid(location, "!Sub has an unclosed ${"))?;
                    let name = &after[..end];
                    if let Some(literal) = name.strip_prefix('!') {
                        out.push_str("${");
                        out.push_str(literal);
                        out.push('}');
                    } else if let Some(var) = variables.get(name) {
                        out.push_str(&var.resolve(lookup, location)?);
                    } else if let Some((resource, attribute)) = name.split_once('.') {
                        out.push_str(
                            &lookup.attribute(resource, attribute).ok_or_else(|| {
                                unresolved(format!("${{{resource}.{attribute}}}"))
                            })?,
                        );
                    } else {
                        out.push_str(
                            &lookup
                                .reference(name)
                                .ok_or_else(|| unresolved(format!("${{{name}}}")))?,
                        );
                    }
                    rest = &after[end + 1..];
                }
                out.push_str(rest);
                Ok(out)
            }
        }
    }
}
