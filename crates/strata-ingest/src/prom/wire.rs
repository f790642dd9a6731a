//! A bounds-checked protobuf reader over the request bytes, for the three
//! messages remote write needs. Labels come out as `&str` slices of the body:
//! nothing is allocated per series or sample. `prost`'s generated decoding,
//! which allocates a `String` for every label name and value, was three
//! quarters of the first version's decode time (`benches/prom.rs`); it is kept
//! as the test oracle (see `tests.rs`).
//!
//! It follows protobuf's rules as `prost` applies them: unknown fields of every
//! wire type are skipped, a known field with another wire type is an error, the
//! last of repeated scalar fields wins, and a varint whose tenth byte is above 1
//! (more than 64 bits) is an error. Deprecated groups in skipped fields nest at
//! most [`MAX_GROUP_DEPTH`] deep; `prost` counts message nesting against the
//! same budget, so the two can differ about inputs nested ~100 levels deep.

use super::Error;

/// Deepest nesting of (deprecated) groups in a skipped field.
const MAX_GROUP_DEPTH: u32 = 100;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// A valid UTF-8 prefix of a message; `base` is its offset in the body.
#[derive(Debug, Clone, Copy)]
pub(super) struct Utf8Prefix<'a> {
    text: &'a str,
    base: usize,
}

impl<'a> Utf8Prefix<'a> {
    /// The string of `len` bytes at body offset `at`, when the prefix covers it:
    /// `Some(None)` if those bytes are not UTF-8 on their own.
    ///
    /// Every protobuf string starts right after the last byte of its length
    /// varint, which is ASCII, so its start is a character boundary of the
    /// prefix; then it is valid on its own exactly when its end is a boundary
    /// too, which `str::get` checks.
    #[inline]
    fn slice(&self, at: usize, len: usize) -> Option<Option<&'a str>> {
        let start = at.checked_sub(self.base)?;
        let end = start + len;
        (end <= self.text.len()).then(|| self.text.get(start..end))
    }
}

/// A cursor over one message's bytes; `base` is its offset in the body, for
/// error messages.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            base: 0,
        }
    }

    fn err(&self, reason: &'static str) -> Error {
        Error::Malformed {
            offset: self.base + self.pos,
            reason,
        }
    }

    /// Most varints of a request (keys, short lengths) are one byte.
    #[inline]
    fn varint(&mut self) -> Result<u64, Error> {
        match self.buf.get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Ok(u64::from(b))
            }
            _ => self.varint_long(),
        }
    }

    #[inline(never)]
    fn varint_long(&mut self) -> Result<u64, Error> {
        let mut v = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.err("message ends inside a varint"));
            };
            // Nine bytes give 63 bits; the tenth may hold bit 63 only, and so
            // always ends the varint.
            if i == 9 && b > 1 {
                return Err(self.err("varint longer than 64 bits"));
            }
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 64 bits"))
    }

    /// The next field's number and wire type, `None` at the end.
    #[inline]
    pub(super) fn key(&mut self) -> Result<Option<(u32, u8)>, Error> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let at = self.pos;
        let key = self.varint()?;
        let wire = (key & 7) as u8;
        let field = key >> 3;
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            self.pos = at;
            return Err(self.err("invalid field number"));
        }
        if wire > FIXED32 {
            self.pos = at;
            return Err(self.err("invalid wire type"));
        }
        Ok(Some((field as u32, wire)))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.err("field runs past the end of its message"))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// A length-delimited field's contents, as a reader of their own.
    pub(super) fn message(&mut self, wire: u8) -> Result<Reader<'a>, Error> {
        if wire != LEN {
            return Err(self.err("expected a length-delimited field"));
        }
        let len = self.varint()?;
        let base = self.base + self.pos;
        let len = usize::try_from(len).map_err(|_| self.err("length out of range"))?;
        let buf = self.take(len)?;
        Ok(Reader { buf, pos: 0, base })
    }

    fn double(&mut self, wire: u8) -> Result<f64, Error> {
        if wire != FIXED64 {
            return Err(self.err("expected a 64-bit fixed field"));
        }
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }

    fn int64(&mut self, wire: u8) -> Result<i64, Error> {
        if wire != VARINT {
            return Err(self.err("expected a varint field"));
        }
        // int64 is the two's complement of the varint's 64 bits.
        Ok(self.varint()? as i64)
    }

    /// The longest prefix of this message that is valid UTF-8, to slice the
    /// label strings of a series from (see [`Reader::label`]). The labels of a
    /// series usually form one ASCII run, and one validation of it is several
    /// times cheaper than one per string.
    #[inline]
    pub(super) fn utf8_prefix(&self) -> Utf8Prefix<'a> {
        // A series' sample usually ends the valid run (its timestamp varint has
        // bytes above 0x7f), and then the run is validated twice; that still
        // measured 9% faster than `utf8_chunks` (benches/prom.rs).
        let valid = match std::str::from_utf8(self.buf) {
            Ok(text) => text,
            Err(e) => std::str::from_utf8(&self.buf[..e.valid_up_to()]).unwrap_or_default(),
        };
        Utf8Prefix {
            text: valid,
            base: self.base,
        }
    }

    /// The rest of a `prometheus.Label`: (name, value). `text` is a valid
    /// UTF-8 prefix of the enclosing series.
    #[inline]
    pub(super) fn label(mut self, text: Utf8Prefix<'a>) -> Result<(&'a str, &'a str), Error> {
        let (mut name, mut value) = ("", "");
        while let Some((f, w)) = self.key()? {
            match f {
                1 | 2 => {
                    let m = self.message(w)?;
                    let s = match text.slice(m.base, m.buf.len()) {
                        Some(checked) => checked.ok_or(Error::NotUtf8 { offset: m.base })?,
                        None => std::str::from_utf8(m.buf)
                            .map_err(|_| Error::NotUtf8 { offset: m.base })?,
                    };
                    if f == 1 {
                        name = s;
                    } else {
                        value = s;
                    }
                }
                _ => self.skip(f, w)?,
            }
        }
        Ok((name, value))
    }

    /// The rest of a `prometheus.Sample`: (value, milliseconds).
    #[inline]
    pub(super) fn sample(mut self) -> Result<(f64, i64), Error> {
        let (mut value, mut time) = (0.0, 0);
        while let Some((f, w)) = self.key()? {
            match f {
                1 => value = self.double(w)?,
                2 => time = self.int64(w)?,
                _ => self.skip(f, w)?,
            }
        }
        Ok((value, time))
    }

    /// Skips a field of an unknown number.
    pub(super) fn skip(&mut self, field: u32, wire: u8) -> Result<(), Error> {
        self.skip_at(field, wire, 0)
    }

    fn skip_at(&mut self, field: u32, wire: u8, depth: u32) -> Result<(), Error> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.message(LEN).map(drop),
            FIXED32 => self.take(4).map(drop),
            START_GROUP => {
                if depth >= MAX_GROUP_DEPTH {
                    return Err(self.err("groups nested too deep"));
                }
                loop {
                    match self.key()? {
                        None => return Err(self.err("group without its end")),
                        Some((f, END_GROUP)) if f == field => return Ok(()),
                        Some((_, END_GROUP)) => {
                            return Err(self.err("group ends with another field number"));
                        }
                        Some((f, w)) => self.skip_at(f, w, depth + 1)?,
                    }
                }
            }
            _ => Err(self.err("unexpected end of group")),
        }
    }
}
