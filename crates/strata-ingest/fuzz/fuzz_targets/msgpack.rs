//! MessagePack on arbitrary bytes: never panics, and every result keeps the batch,
//! row-numbering and error invariants, under several precisions and limits.

#![no_main]

mod summary;

use libfuzzer_sys::fuzz_target;
use summary::summary;
use strata_ingest::msgpack::{self, Error};
use strata_ingest::{ParseOptions, Parsed};
use strata_model::{ColumnData, Precision, TIME_COLUMN};

const PRECISIONS: [Precision; 3] = [Precision::Auto, Precision::Nanosecond, Precision::Second];

fuzz_target!(|data: &[u8]| {
    // The first byte picks the options: small tag limits exercise their errors.
    let (pick, body) = data.split_first().map_or((0, data), |(&b, rest)| (b, rest));
    let mut opts = ParseOptions::new(
        PRECISIONS[usize::from(pick) % PRECISIONS.len()],
        1_700_000_000_123_456_789,
    );
    if pick & 0x80 != 0 {
        opts.max_tag_value_len = usize::from(pick & 0x0f);
    }
    let first = msgpack::decode(body, &opts);
    match &first {
        Ok(parsed) => check(parsed),
        Err(e) => check_error(body, e),
    }
    // Decoding is a pure function of the body and options.
    let again = msgpack::decode(body, &opts);
    assert_eq!(
        first.as_ref().map(summary).map_err(Clone::clone),
        again.as_ref().map(summary).map_err(Clone::clone)
    );
});

fn check(parsed: &Parsed) {
    // Every numbered row ends as exactly one kept row or one error, so the row
    // numbers of both together are exactly 1..=N.
    let mut numbers: Vec<u32> = parsed.errors.iter().map(|e| e.line).collect();
    let mut last = 0;
    for e in &parsed.errors {
        assert!(e.line > last, "errors out of order: {:?}", parsed.errors);
        assert!(!e.message.is_empty());
        last = e.line;
    }
    if let Err(e) = parsed.batch.check_invariants() {
        panic!("{e}");
    }
    for t in parsed.batch.tables() {
        assert!(!t.name().is_empty());
        assert!(
            t.lines().windows(2).all(|w| w[0] < w[1]),
            "rows out of order in {}",
            t.name()
        );
        numbers.extend_from_slice(t.lines());
        for c in t.columns() {
            assert!(
                !c.name().is_empty() && c.name() != TIME_COLUMN,
                "column {:?}",
                c.name()
            );
            if let ColumnData::Tag(tags) = c.data() {
                for i in (0..t.rows()).filter(|&i| c.is_valid(i)) {
                    assert!(!tags.get(i).is_empty(), "empty tag value in {}", c.name());
                }
            }
        }
    }
    numbers.sort_unstable();
    for (i, &n) in numbers.iter().enumerate() {
        assert_eq!(n as usize, i + 1, "row numbers are not 1..=N: {numbers:?}");
    }
}

fn check_error(body: &[u8], e: &Error) {
    assert!(!e.to_string().is_empty());
    let offset = match e {
        Error::Empty => {
            assert!(body.is_empty());
            return;
        }
        Error::Malformed { offset, .. }
        | Error::Unexpected { offset, .. }
        | Error::MissingMeasurement { offset }
        | Error::InvalidMeasurement { offset, .. }
        | Error::UnsupportedType { offset, .. }
        | Error::NotAnArray { offset, .. }
        | Error::InvalidColumnName { offset, .. }
        | Error::DuplicateColumn { offset, .. }
        | Error::TooDeep { offset } => *offset,
        Error::UnequalLengths { .. } => return,
        _ => return,
    };
    assert!(
        offset <= body.len(),
        "offset {offset} beyond {} bytes: {e}",
        body.len()
    );
}
