//! Bounds-checked MessagePack reading straight from the request body.
//!
//! Every function takes the body and a cursor (`pos`, a byte offset) and advances
//! the cursor past what it read. Nothing here allocates or panics: a marker or
//! payload that runs past the end of the body is an [`Error::Malformed`] carrying
//! the offset of the value that was being read.
//!
//! Containers are read header-first ([`Value::Array`], [`Value::Map`] carry only
//! the element count); [`skip_elements`] walks their contents iteratively, so
//! arbitrarily deep nesting costs no stack.

use super::Error;
use rmp::Marker;

/// MessagePack extension type of the standard timestamp.
const TIMESTAMP_EXT: i8 = -1;

/// One value as found in the body. Text is borrowed, not validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Value<'a> {
    Nil,
    Bool(bool),
    /// Any integer that fits in an i64.
    Int(i64),
    /// A uint64 above `i64::MAX`.
    BigUint(u64),
    F32(f32),
    F64(f64),
    Str(&'a [u8]),
    Bin,
    /// An array header: the element count (elements follow, unread).
    Array(u32),
    /// A map header: the entry count (keys and values follow, unread).
    Map(u32),
    /// A MessagePack timestamp (extension -1), in nanoseconds since the epoch;
    /// `None` when it does not fit in an i64.
    Timestamp(Option<i64>),
    /// Any other extension type.
    Ext,
}

impl Value<'_> {
    /// Name of the MessagePack type, for error messages.
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "boolean",
            Value::Int(_) | Value::BigUint(_) => "integer",
            Value::F32(_) | Value::F64(_) => "float",
            Value::Str(_) => "string",
            Value::Bin => "binary",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
            Value::Timestamp(_) => "timestamp",
            Value::Ext => "extension",
        }
    }
}

#[cold]
#[inline(never)]
pub(super) fn truncated(offset: usize) -> Error {
    Error::Malformed {
        offset,
        reason: "body ends inside this value",
    }
}

/// `n` bytes at `pos`, advancing past them.
#[inline(always)]
fn take<'a>(body: &'a [u8], pos: &mut usize, n: usize, start: usize) -> Result<&'a [u8], Error> {
    let end = pos.checked_add(n).ok_or_else(|| truncated(start))?;
    let bytes = body.get(*pos..end).ok_or_else(|| truncated(start))?;
    *pos = end;
    Ok(bytes)
}

#[inline(always)]
fn be<const N: usize>(body: &[u8], pos: &mut usize, start: usize) -> Result<[u8; N], Error> {
    let bytes = take(body, pos, N, start)?;
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    Ok(out)
}

/// Reads a length-prefixed payload (str/bin/ext) whose length is `len`.
#[inline(always)]
fn payload<'a>(
    body: &'a [u8],
    pos: &mut usize,
    len: usize,
    start: usize,
) -> Result<&'a [u8], Error> {
    take(body, pos, len, start)
}

/// Reads one value; for arrays and maps only the header.
#[inline]
pub(super) fn read_value<'a>(body: &'a [u8], pos: &mut usize) -> Result<Value<'a>, Error> {
    let start = *pos;
    let Some(&byte) = body.get(start) else {
        return Err(truncated(start));
    };
    *pos += 1;
    // Positive fixints and short strings dominate real payloads; keep them first.
    if byte <= 0x7f {
        return Ok(Value::Int(i64::from(byte)));
    }
    Ok(match Marker::from_u8(byte) {
        Marker::FixStr(len) => Value::Str(payload(body, pos, usize::from(len), start)?),
        Marker::FixPos(v) => Value::Int(i64::from(v)),
        Marker::FixNeg(v) => Value::Int(i64::from(v)),
        Marker::Null => Value::Nil,
        Marker::False => Value::Bool(false),
        Marker::True => Value::Bool(true),
        Marker::U8 => Value::Int(i64::from(be::<1>(body, pos, start)?[0])),
        Marker::U16 => Value::Int(i64::from(u16::from_be_bytes(be(body, pos, start)?))),
        Marker::U32 => Value::Int(i64::from(u32::from_be_bytes(be(body, pos, start)?))),
        Marker::U64 => {
            let v = u64::from_be_bytes(be(body, pos, start)?);
            match i64::try_from(v) {
                Ok(i) => Value::Int(i),
                Err(_) => Value::BigUint(v),
            }
        }
        Marker::I8 => Value::Int(i64::from(i8::from_be_bytes(be(body, pos, start)?))),
        Marker::I16 => Value::Int(i64::from(i16::from_be_bytes(be(body, pos, start)?))),
        Marker::I32 => Value::Int(i64::from(i32::from_be_bytes(be(body, pos, start)?))),
        Marker::I64 => Value::Int(i64::from_be_bytes(be(body, pos, start)?)),
        Marker::F32 => Value::F32(f32::from_be_bytes(be(body, pos, start)?)),
        Marker::F64 => Value::F64(f64::from_be_bytes(be(body, pos, start)?)),
        Marker::Str8 => {
            let len = usize::from(be::<1>(body, pos, start)?[0]);
            Value::Str(payload(body, pos, len, start)?)
        }
        Marker::Str16 => {
            let len = usize::from(u16::from_be_bytes(be(body, pos, start)?));
            Value::Str(payload(body, pos, len, start)?)
        }
        Marker::Str32 => {
            let len = u32::from_be_bytes(be(body, pos, start)?) as usize;
            Value::Str(payload(body, pos, len, start)?)
        }
        Marker::Bin8 => {
            let len = usize::from(be::<1>(body, pos, start)?[0]);
            payload(body, pos, len, start)?;
            Value::Bin
        }
        Marker::Bin16 => {
            let len = usize::from(u16::from_be_bytes(be(body, pos, start)?));
            payload(body, pos, len, start)?;
            Value::Bin
        }
        Marker::Bin32 => {
            let len = u32::from_be_bytes(be(body, pos, start)?) as usize;
            payload(body, pos, len, start)?;
            Value::Bin
        }
        Marker::FixArray(n) => Value::Array(container_len(body, *pos, u32::from(n), 1, start)?),
        Marker::Array16 => {
            let n = u32::from(u16::from_be_bytes(be(body, pos, start)?));
            Value::Array(container_len(body, *pos, n, 1, start)?)
        }
        Marker::Array32 => {
            let n = u32::from_be_bytes(be(body, pos, start)?);
            Value::Array(container_len(body, *pos, n, 1, start)?)
        }
        Marker::FixMap(n) => Value::Map(container_len(body, *pos, u32::from(n), 2, start)?),
        Marker::Map16 => {
            let n = u32::from(u16::from_be_bytes(be(body, pos, start)?));
            Value::Map(container_len(body, *pos, n, 2, start)?)
        }
        Marker::Map32 => {
            let n = u32::from_be_bytes(be(body, pos, start)?);
            Value::Map(container_len(body, *pos, n, 2, start)?)
        }
        Marker::FixExt1 => ext(body, pos, 1, start)?,
        Marker::FixExt2 => ext(body, pos, 2, start)?,
        Marker::FixExt4 => ext(body, pos, 4, start)?,
        Marker::FixExt8 => ext(body, pos, 8, start)?,
        Marker::FixExt16 => ext(body, pos, 16, start)?,
        Marker::Ext8 => {
            let len = usize::from(be::<1>(body, pos, start)?[0]);
            ext(body, pos, len, start)?
        }
        Marker::Ext16 => {
            let len = usize::from(u16::from_be_bytes(be(body, pos, start)?));
            ext(body, pos, len, start)?
        }
        Marker::Ext32 => {
            let len = u32::from_be_bytes(be(body, pos, start)?) as usize;
            ext(body, pos, len, start)?
        }
        Marker::Reserved => {
            return Err(Error::Malformed {
                offset: start,
                reason: "byte 0xc1 is not a MessagePack marker",
            });
        }
    })
}

/// Checks a container's declared element count against the bytes left: every
/// element takes at least one byte, so a larger count cannot be honest and must
/// not drive an allocation or a long loop.
#[inline(always)]
fn container_len(body: &[u8], pos: usize, n: u32, per: u64, start: usize) -> Result<u32, Error> {
    let left = (body.len() - pos.min(body.len())) as u64;
    if u64::from(n) * per > left {
        return Err(Error::Malformed {
            offset: start,
            reason: "container declares more elements than the body holds",
        });
    }
    Ok(n)
}

/// Reads an extension's type byte and `len` data bytes.
fn ext<'a>(body: &'a [u8], pos: &mut usize, len: usize, start: usize) -> Result<Value<'a>, Error> {
    let ty = be::<1>(body, pos, start)?[0] as i8;
    let data = payload(body, pos, len, start)?;
    if ty != TIMESTAMP_EXT {
        return Ok(Value::Ext);
    }
    // The three layouts of the MessagePack timestamp extension.
    let (secs, nanos): (i64, u32) = match data.len() {
        4 => {
            let mut b = [0u8; 4];
            b.copy_from_slice(data);
            (i64::from(u32::from_be_bytes(b)), 0)
        }
        8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(data);
            let v = u64::from_be_bytes(b);
            ((v & 0x3_ffff_ffff) as i64, (v >> 34) as u32)
        }
        12 => {
            let (mut n, mut s) = ([0u8; 4], [0u8; 8]);
            n.copy_from_slice(&data[..4]);
            s.copy_from_slice(&data[4..]);
            (i64::from_be_bytes(s), u32::from_be_bytes(n))
        }
        _ => {
            return Err(Error::Malformed {
                offset: start,
                reason: "timestamp extension must hold 4, 8 or 12 bytes",
            });
        }
    };
    if nanos >= 1_000_000_000 {
        return Err(Error::Malformed {
            offset: start,
            reason: "timestamp extension has nanoseconds above 999999999",
        });
    }
    let ns = secs
        .checked_mul(1_000_000_000)
        .and_then(|s| s.checked_add(i64::from(nanos)));
    Ok(Value::Timestamp(ns))
}

/// Skips `n` values (the contents of an array, or `2 * entries` for a map),
/// including everything nested in them.
pub(super) fn skip_elements(body: &[u8], pos: &mut usize, n: u64) -> Result<(), Error> {
    // Every value consumes at least one byte, so this loop runs at most
    // `body.len()` times whatever the declared counts.
    let mut remaining = n;
    while remaining > 0 {
        remaining -= 1;
        match read_value(body, pos)? {
            Value::Array(k) => remaining += u64::from(k),
            Value::Map(k) => remaining += 2 * u64::from(k),
            _ => {}
        }
    }
    Ok(())
}

/// Skips one complete value.
pub(super) fn skip_value(body: &[u8], pos: &mut usize) -> Result<(), Error> {
    skip_elements(body, pos, 1)
}
