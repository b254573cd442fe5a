//! Direct JSON writing into a byte buffer: pages of 999 users are written without building a
//! `serde_json::Value` per object, so paging a 100k-user tenant stays cheap.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Writes `s` as a JSON string literal.
pub(crate) fn str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Writes `"key":` with a leading comma unless this is the first member.
pub(crate) fn key(out: &mut Vec<u8>, first: &mut bool, k: &str) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    str(out, k);
    out.push(b':');
}

pub(crate) fn opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

pub(crate) fn bool(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

pub(crate) fn int(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(n.to_string().as_bytes());
}

pub(crate) fn uuid(out: &mut Vec<u8>, id: &Uuid) {
    let mut buf = [0u8; 36];
    out.push(b'"');
    out.extend_from_slice(id.hyphenated().encode_lower(&mut buf).as_bytes());
    out.push(b'"');
}

/// ISO 8601 UTC with a `Z`, the way Graph writes `DateTimeOffset`.
pub(crate) fn date(out: &mut Vec<u8>, secs: i64) {
    out.push(b'"');
    out.extend_from_slice(iso(secs).as_bytes());
    out.push(b'"');
}

pub(crate) fn opt_date(out: &mut Vec<u8>, secs: Option<i64>) {
    match secs {
        Some(s) => date(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

pub(crate) fn iso(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The date part (YYYY-MM-DD) of a timestamp, as usage reports write it.
pub(crate) fn day(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}
