//! Building Graph URLs from ids that come from callers.

/// Percent-encodes one path segment: everything but RFC 3986 unreserved characters and `@`
/// (so a UPN used as a user id stays readable), so an id can never add path segments or a query.
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                out.push(byte as char)
            }
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[usize::from(byte >> 4)] as char);
                out.push(HEX[usize::from(byte & 0xF)] as char);
            }
        }
    }
    // "." and ".." would be resolved away by URL normalisation.
    if out == "." || out == ".." {
        return out.replace('.', "%2E");
    }
    out
}

/// A random `client-request-id` in the 8-4-4-4-12 hex form Graph expects (a version-4 UUID).
pub(crate) fn new_client_request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bits = fastrand::u128(..);
    bits = (bits & !(0xF << 76)) | (0x4 << 76);
    bits = (bits & !(0x3 << 62)) | (0x2 << 62);
    let mut out = String::with_capacity(36);
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            out.push('-');
        }
        let nibble = (bits >> (124 - 4 * i)) & 0xF;
        out.push(HEX[nibble as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_ids_with_reserved_characters_when_encoded_then_they_stay_one_segment() {
        assert_eq!(encode_segment("a/b?c#d"), "a%2Fb%3Fc%23d");
        assert_eq!(encode_segment("ada@contoso.com"), "ada@contoso.com");
        assert_eq!(encode_segment(".."), "%2E%2E");
        let id = new_client_request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }
}
