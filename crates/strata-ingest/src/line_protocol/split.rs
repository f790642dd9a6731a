//! Where a line ends.
//!
//! A line ends at a newline, except a newline escaped by a backslash (an odd run of
//! backslashes just before it) or one inside a quoted string field value. The first
//! rule is applied here with `memchr`; the second by the string value parser, which
//! extends the line when a string is still open at its end (see
//! `Scanner::extend`).
//!
//! After a malformed line the parser cannot know where a string would have ended, so
//! it resumes where InfluxDB's own line splitter (Go `scanLine`, ported by the
//! `influxdb-line-protocol` crate as `split_lines`) would: [`recovery_end`]. Lines
//! after a malformed one are therefore split exactly as InfluxDB splits them.

use memchr::memchr;

/// Position of the first newline at or after `from` that ends a line (is not
/// escaped by a backslash), or `body.len()`.
pub(super) fn segment_end(body: &[u8], mut from: usize) -> usize {
    while from < body.len() {
        let Some(off) = memchr(b'\n', &body[from..]) else {
            return body.len();
        };
        let nl = from + off;
        if escaped(body, nl) {
            from = nl + 1;
        } else {
            return nl;
        }
    }
    body.len()
}

/// True when the byte at `pos` is escaped: preceded by an odd run of backslashes.
/// (The maximal run starts after a byte that is not a backslash, so each pair in it
/// is one escaped backslash and an odd run leaves the last one escaping `pos`.)
#[inline]
pub(super) fn escaped(body: &[u8], pos: usize) -> bool {
    let mut k = pos;
    while k > 0 && body[k - 1] == b'\\' {
        k -= 1;
    }
    (pos - k) % 2 == 1
}

/// End (position of the newline, or `body.len()`) of the line that starts at
/// `start`, as InfluxDB's line splitter finds it: a quote opens a string only in
/// the field section and only where more `=` than `,` were seen outside strings.
/// Used after a malformed line, so that the next line starts where InfluxDB's would.
pub(super) fn recovery_end(body: &[u8], start: usize) -> usize {
    let (mut quoted, mut fields, mut in_escape) = (false, false, false);
    let (mut equals, mut commas) = (0usize, 0usize);
    for (i, &c) in body.iter().enumerate().skip(start) {
        if in_escape {
            in_escape = false;
            continue;
        }
        match c {
            b'\\' => in_escape = true,
            b' ' => fields = true,
            b'=' if fields && !quoted => equals += 1,
            b',' if fields && !quoted => commas += 1,
            b'"' if fields && equals > commas => quoted = !quoted,
            b'\n' if !quoted => return i,
            _ => {}
        }
    }
    body.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_newlines_do_not_end_a_line() {
        assert_eq!(segment_end(b"a\nb", 0), 1);
        assert_eq!(segment_end(b"a\\\nb\nc", 0), 4);
        assert_eq!(segment_end(b"a\\\\\nb", 0), 3);
        assert_eq!(segment_end(b"abc", 0), 3);
        assert_eq!(segment_end(b"a\\\n", 0), 3);
    }

    #[test]
    fn recovery_follows_influxdb_quote_rules() {
        // The quote in the field section opens a string that swallows the newline.
        assert_eq!(recovery_end(b"m f=1x,g=\"a\nb\" 1\nnext", 0), 16);
        // A quote in the tag section does not.
        assert_eq!(recovery_end(b"m,t=\"a f=1\nnext", 0), 10);
        // Nor one where a key would be.
        assert_eq!(recovery_end(b"m f=1,\"a\nnext", 0), 8);
    }
}
