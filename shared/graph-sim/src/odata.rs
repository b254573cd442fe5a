//! OData query options: `$top`, `$select`, `$filter` (the simple forms the product uses),
//! `$count`, and the opaque `$skiptoken` / `$deltatoken` the simulator hands out.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

/// Parsed query options of one request.
#[derive(Default, Debug)]
pub(crate) struct Query {
    pub top: Option<usize>,
    pub select: Option<Vec<String>>,
    pub filter: Option<String>,
    pub count: bool,
    pub skiptoken: Option<String>,
    pub deltatoken: Option<String>,
    pub orderby: Option<String>,
    pub search: Option<String>,
    pub expand: Option<String>,
    /// Every pair as given, for rebuilding `@odata.nextLink`.
    pub raw: Vec<(String, String)>,
}

impl Query {
    /// Whether the `$filter` uses an operator that only advanced queries support
    /// [learn: graph/aad-advanced-queries: "`$filter` with `ne` and `not` operators"].
    pub fn filter_needs_advanced(f: &Filter) -> bool {
        f.0.iter().any(|c| matches!(c, Clause::Ne(..)))
    }

    pub fn parse(query: &str) -> Result<Query, String> {
        let mut q = Query::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let key = k.trim_start_matches('$').to_ascii_lowercase();
            let dollar = k.starts_with('$');
            q.raw.push((k.to_string(), v.to_string()));
            if !dollar && key != "skiptoken" && key != "deltatoken" {
                continue;
            }
            match key.as_str() {
                "top" => q.top = Some(v.trim().parse().map_err(|_| {
                    format!(
                        "Invalid page size specified: '{v}'. Must be between 1 and 999 inclusive."
                    )
                })?),
                "select" => q.select = Some(v.split(',').map(|s| s.trim().to_string()).collect()),
                "filter" => q.filter = Some(v.to_string()),
                "count" => q.count = v.eq_ignore_ascii_case("true"),
                "skiptoken" => q.skiptoken = Some(v.to_string()),
                "deltatoken" => q.deltatoken = Some(v.to_string()),
                "orderby" => q.orderby = Some(v.to_string()),
                "search" => q.search = Some(v.to_string()),
                "expand" => q.expand = Some(v.to_string()),
                "format" => {}
                // Directory objects page with $skiptoken only [learn: graph/api/user-list:
                // "`$skip` isn't supported"]; ignoring it would hand back the first page.
                "skip" => return Err("'$skip' is not supported by the service.".to_string()),
                other => return Err(format!("Query option '${other}' is not allowed.")),
            }
        }
        Ok(q)
    }

    /// The query string for the next page: every option as given plus the new skiptoken.
    pub fn next_query(&self, skiptoken: &str) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.raw {
            if !k.eq_ignore_ascii_case("$skiptoken") {
                s.append_pair(k, v);
            }
        }
        s.append_pair("$skiptoken", skiptoken);
        s.finish()
    }

    /// Page size: default 100, `$top` from 1 to `max` (999 on directory collections) or 400.
    pub fn page_size(&self, max: usize) -> Result<usize, String> {
        match self.top {
            None => Ok(100.min(max)),
            Some(n) if (1..=max).contains(&n) => Ok(n),
            Some(n) => Err(format!(
                "Invalid page size specified: '{n}'. Must be between 1 and {max} inclusive."
            )),
        }
    }
}

/// Encodes a cursor as an opaque url-safe token.
pub(crate) fn encode_token(parts: &[&str]) -> String {
    B64.encode(parts.join("\u{1f}"))
}

pub(crate) fn decode_token(token: &str) -> Option<Vec<String>> {
    let bytes = B64.decode(token.trim()).ok()?;
    let s = String::from_utf8(bytes).ok()?;
    Some(s.split('\u{1f}').map(str::to_string).collect())
}

/// A value a filter compares against.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Str(String),
    Bool(bool),
    Null,
}

/// One clause of a `$filter` joined with `and`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Clause {
    Eq(String, Lit),
    Ne(String, Lit),
    StartsWith(String, String),
    In(String, Vec<String>),
    /// `groupTypes/any(c:c eq 'Unified')`
    Any(String, String),
}

/// What an entity offers a filter: a property's value as string or bool, or its collection.
pub(crate) enum Field<'a> {
    Str(Option<&'a str>),
    Owned(String),
    Bool(Option<bool>),
    List(Vec<&'a str>),
    Unknown,
}

/// A parsed `$filter`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filter(pub Vec<Clause>);

fn parse_lit(s: &str) -> Option<Lit> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
        return Some(Lit::Str(inner.replace("''", "'")));
    }
    match s {
        "true" => Some(Lit::Bool(true)),
        "false" => Some(Lit::Bool(false)),
        "null" => Some(Lit::Null),
        _ => None,
    }
}

fn parse_clause(c: &str) -> Option<Clause> {
    let c = c.trim();
    let c = c
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .unwrap_or(c)
        .trim();
    if let Some(rest) = c.strip_prefix("startswith(") {
        let inner = rest.strip_suffix(')')?;
        let (prop, lit) = inner.split_once(',')?;
        let Lit::Str(v) = parse_lit(lit)? else {
            return None;
        };
        return Some(Clause::StartsWith(prop.trim().to_string(), v));
    }
    if let Some((prop, rest)) = c.split_once("/any(") {
        let inner = rest.strip_suffix(')')?;
        let (var, cond) = inner.split_once(':')?;
        let cond = cond.trim().strip_prefix(var.trim())?.trim();
        let lit = cond.strip_prefix("eq ")?;
        let Lit::Str(v) = parse_lit(lit)? else {
            return None;
        };
        return Some(Clause::Any(prop.trim().to_string(), v));
    }
    let mut words = c.splitn(3, ' ');
    let (prop, op, rest) = (words.next()?, words.next()?, words.next()?);
    match op {
        "eq" => Some(Clause::Eq(prop.to_string(), parse_lit(rest)?)),
        "ne" => Some(Clause::Ne(prop.to_string(), parse_lit(rest)?)),
        "in" => {
            let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
            let mut vals = Vec::new();
            for v in inner.split(',') {
                let Lit::Str(s) = parse_lit(v)? else {
                    return None;
                };
                vals.push(s);
            }
            Some(Clause::In(prop.to_string(), vals))
        }
        _ => None,
    }
}

impl Filter {
    /// Parses the supported subset; None for anything else (answered "Unsupported Query.").
    pub fn parse(s: &str) -> Option<Filter> {
        let mut clauses = Vec::new();
        for part in s.split(" and ") {
            clauses.push(parse_clause(part)?);
        }
        Some(Filter(clauses))
    }

    /// Properties the filter names, to check them against the type.
    pub fn props(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|c| match c {
            Clause::Eq(p, _)
            | Clause::Ne(p, _)
            | Clause::StartsWith(p, _)
            | Clause::In(p, _)
            | Clause::Any(p, _) => p.as_str(),
        })
    }

    pub fn matches<'a>(&self, get: impl Fn(&str) -> Field<'a>) -> bool {
        self.0.iter().all(|c| match c {
            Clause::Eq(p, lit) => eq(&get(p), lit),
            Clause::Ne(p, lit) => !eq(&get(p), lit),
            Clause::StartsWith(p, v) => match text(&get(p)) {
                Some(s) => s.to_lowercase().starts_with(&v.to_lowercase()),
                None => false,
            },
            Clause::In(p, vals) => match text(&get(p)) {
                Some(s) => vals.iter().any(|v| v.eq_ignore_ascii_case(s)),
                None => false,
            },
            Clause::Any(p, v) => match get(p) {
                Field::List(items) => items.iter().any(|i| i.eq_ignore_ascii_case(v)),
                _ => false,
            },
        })
    }
}

fn text<'b>(f: &'b Field<'_>) -> Option<&'b str> {
    match f {
        Field::Str(s) => *s,
        Field::Owned(s) => Some(s),
        _ => None,
    }
}

fn eq(f: &Field<'_>, lit: &Lit) -> bool {
    match (f, lit) {
        (Field::Str(Some(s)), Lit::Str(v)) => s.eq_ignore_ascii_case(v),
        (Field::Owned(s), Lit::Str(v)) => s.eq_ignore_ascii_case(v),
        (Field::Str(None), Lit::Null) | (Field::Bool(None), Lit::Null) => true,
        (Field::Bool(Some(b)), Lit::Bool(v)) => b == v,
        _ => false,
    }
}

/// Decodes percent-escapes in a path segment.
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_supported_filters_when_parsed_then_clauses_match() {
        let f = Filter::parse("userPrincipalName eq 'a''b@x.com' and accountEnabled eq true")
            .expect("parses");
        assert_eq!(
            f.0,
            vec![
                Clause::Eq("userPrincipalName".into(), Lit::Str("a'b@x.com".into())),
                Clause::Eq("accountEnabled".into(), Lit::Bool(true)),
            ]
        );
        let g = Filter::parse("groupTypes/any(c:c eq 'Unified')").expect("parses");
        assert_eq!(
            g.0,
            vec![Clause::Any("groupTypes".into(), "Unified".into())]
        );
        assert!(Filter::parse("displayName gt 'a'").is_none());
    }

    #[test]
    fn given_escaped_segment_when_decoded_then_plain() {
        assert_eq!(percent_decode("a%23EXT%23%40b"), "a#EXT#@b");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
