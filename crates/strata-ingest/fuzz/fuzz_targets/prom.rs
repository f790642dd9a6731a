//! Prometheus remote write on arbitrary bytes: never panics, every result keeps
//! the batch invariants, rows and errors name series that exist in the request,
//! and decoding is a pure function of the body.

#![no_main]

mod summary;

use libfuzzer_sys::fuzz_target;
use summary::summary;
use strata_ingest::{ParseOptions, Parsed};
use strata_ingest::prom::{self, VALUE_COLUMN};
use strata_model::{ColumnData, ColumnKind, Precision, TIME_COLUMN};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the tag value limit: small ones exercise its errors.
    let (pick, body) = data.split_first().map_or((0, data), |(&b, rest)| (b, rest));
    let mut opts = ParseOptions::new(Precision::Millisecond, 0);
    if pick & 0x80 != 0 {
        opts.max_tag_value_len = usize::from(pick & 0x0f);
    }
    let first = prom::decode(body, &opts);
    if let Ok(parsed) = &first {
        check(parsed, body);
    }
    let again = prom::decode(body, &opts);
    assert_eq!(
        first.as_ref().map(summary).map_err(ToString::to_string),
        again.as_ref().map(summary).map_err(ToString::to_string)
    );
});

fn check(parsed: &Parsed, body: &[u8]) {
    if let Err(e) = parsed.batch.check_invariants() {
        panic!("{e}");
    }
    // A series takes at least two bytes of the body, so its 1-based number is
    // at most half the body's length.
    let max_series = (body.len() / 2).max(1) as u32;
    for e in &parsed.errors {
        assert!(e.line >= 1 && e.line <= max_series, "{e:?}");
        assert!(!e.message.is_empty());
    }
    for t in parsed.batch.tables() {
        assert!(!t.name().is_empty());
        assert!(t.lines().windows(2).all(|w| w[0] <= w[1]));
        assert!(t.lines().iter().all(|&l| l >= 1 && l <= max_series));
        for c in t.columns() {
            assert_ne!(c.name(), TIME_COLUMN);
            match c.data() {
                ColumnData::Tag(tags) => {
                    assert_ne!(c.name(), VALUE_COLUMN);
                    for i in (0..t.rows()).filter(|&i| c.is_valid(i)) {
                        assert!(!tags.get(i).is_empty(), "empty tag value in {}", c.name());
                    }
                }
                ColumnData::F64(_) => {
                    assert_eq!(c.name(), VALUE_COLUMN);
                    assert_eq!(c.null_count(), 0);
                }
                other => panic!("unexpected column {other:?} of kind {:?}", c.kind()),
            }
            assert!(matches!(c.kind(), ColumnKind::Tag | ColumnKind::Field(_)));
        }
    }
}
