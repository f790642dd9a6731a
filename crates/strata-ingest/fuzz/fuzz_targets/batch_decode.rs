//! The WAL batch codec on arbitrary bytes: decode never panics, and every batch it
//! accepts keeps the batch invariants and survives re-encoding unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_model::WriteBatch;

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = WriteBatch::decode(data) else {
        return;
    };
    if let Err(e) = batch.check_invariants() {
        panic!("{e}");
    }
    let mut bytes = Vec::new();
    batch.encode(&mut bytes);
    assert_eq!(bytes.len(), batch.encoded_len());
    match WriteBatch::decode(&bytes) {
        Ok(again) => assert!(again == batch, "re-encoded batch differs"),
        Err(e) => panic!("re-encoded batch does not decode: {e}"),
    }
});
