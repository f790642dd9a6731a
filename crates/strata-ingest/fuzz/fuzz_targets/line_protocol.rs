//! Line protocol on arbitrary bytes: never panics, and every result keeps the
//! batch and error invariants, under several precisions and limits.

#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_ingest::{ParseOptions, Parsed, line_protocol};
use strata_model::Precision;

const PRECISIONS: [Precision; 4] = [
    Precision::Nanosecond,
    Precision::Second,
    Precision::Hour,
    Precision::Auto,
];

fuzz_target!(|data: &[u8]| {
    // The first byte picks the limits: small ones exercise the limit errors.
    let (limits, body) = data.split_first().map_or((0, data), |(&b, rest)| (b, rest));
    for precision in PRECISIONS {
        let mut opts = ParseOptions::new(precision, 1_700_000_000_123_456_789);
        if limits & 1 == 1 {
            opts.max_line_len = usize::from(limits >> 1) + 1;
            opts.max_tag_value_len = usize::from(limits >> 4) + 1;
        }
        check(body, &line_protocol::parse(body, &opts));
    }
});

fn check(body: &[u8], parsed: &Parsed) {
    let physical_lines = 1 + body.iter().filter(|&&c| c == b'\n').count();
    if let Err(e) = parsed.batch.check_invariants() {
        panic!("{e}");
    }
    let mut rows = 0;
    for t in parsed.batch.tables() {
        for &line in t.lines() {
            assert!(
                line >= 1 && line as usize <= physical_lines,
                "row line {line}"
            );
        }
        rows += t.rows();
    }
    let mut last = 0;
    for e in &parsed.errors {
        assert!(e.line > last, "errors out of order: {:?}", parsed.errors);
        assert!(
            e.line as usize <= physical_lines,
            "error line {} > {physical_lines}",
            e.line
        );
        assert!(!e.message.is_empty());
        last = e.line;
    }
    // Every row and every error is its own line.
    assert!(rows + parsed.errors.len() <= physical_lines);
}
