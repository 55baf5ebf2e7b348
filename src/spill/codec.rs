//! [`Codec`]: how a value becomes the bytes of a record and back, and [`Postcard`], the
//! ready-made one for `serde` types.

use core::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Turns values into bytes and back: what a spill queue writes to its log and reads back.
///
/// Implement it for your own format (a hand-written layout, protobuf, a compressed
/// encoding); [`Postcard`] implements it for every `serde` type. The trait is not tied to
/// the spill queue: any store of encoded values can take a `Codec`.
///
/// The contract:
///
/// - [`encode`](Self::encode) *appends* the encoding of `value` to `buf`: it must not clear,
///   shorten or rewrite what `buf` already holds. If it fails, what it appended is discarded
///   by the caller, and the value is handed back to whoever sent it.
/// - [`decode`](Self::decode) gets exactly the bytes one `encode` appended (the log stores
///   their length and a checksum, so it never hands over a torn or damaged record) and
///   rebuilds the value, or says why it cannot (for example, a record written by an older
///   version of the type).
/// - Both take `&self` and may be called from several threads at once (the senders encode,
///   the spill queue's mover thread decodes).
///
/// ```
/// use pushpull::spill::Codec;
///
/// /// Readings as 8 little-endian bytes, no framing.
/// struct Le;
///
/// #[derive(Debug)]
/// struct WrongLength(usize);
/// impl std::fmt::Display for WrongLength {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "a reading is 8 bytes, not {}", self.0)
///     }
/// }
/// impl std::error::Error for WrongLength {}
///
/// impl Codec<u64> for Le {
///     type Error = WrongLength;
///     fn encode(&self, value: &u64, buf: &mut Vec<u8>) -> Result<(), WrongLength> {
///         buf.extend_from_slice(&value.to_le_bytes());
///         Ok(())
///     }
///     fn decode(&self, bytes: &[u8]) -> Result<u64, WrongLength> {
///         let bytes: [u8; 8] = bytes.try_into().map_err(|_| WrongLength(bytes.len()))?;
///         Ok(u64::from_le_bytes(bytes))
///     }
/// }
///
/// let mut buf = vec![0xAA]; // what is already there stays
/// Le.encode(&7, &mut buf).unwrap();
/// assert_eq!(Le.decode(&buf[1..]).unwrap(), 7);
/// ```
pub trait Codec<T> {
    /// Why a value could not be encoded or decoded.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Appends the encoding of `value` to `buf`.
    fn encode(&self, value: &T, buf: &mut Vec<u8>) -> Result<(), Self::Error>;

    /// Rebuilds a value from the bytes one [`encode`](Self::encode) appended.
    fn decode(&self, bytes: &[u8]) -> Result<T, Self::Error>;
}

/// The [`Codec`] for every type that implements `serde`'s `Serialize` and
/// `DeserializeOwned`, in the [postcard](https://docs.rs/postcard) wire format: compact
/// (varint integers, no field names), stable (postcard 1.x froze its format), and maintained
/// (bincode, the usual alternative, is not any more).
///
/// Decoding is strict: a record with bytes left over after the value is an error, not a
/// value (a sign that the type changed since the record was written).
///
/// ```
/// use pushpull::spill::{Codec, Postcard};
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Reading {
///     sensor: u16,
///     celsius: f32,
/// }
///
/// let mut buf = Vec::new();
/// Postcard.encode(&Reading { sensor: 7, celsius: 21.5 }, &mut buf).unwrap();
/// assert_eq!(buf.len(), 5); // one varint byte and four float bytes
/// let back: Reading = Postcard.decode(&buf).unwrap();
/// assert_eq!(back, Reading { sensor: 7, celsius: 21.5 });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Postcard;

impl<T: Serialize + DeserializeOwned> Codec<T> for Postcard {
    type Error = PostcardError;

    fn encode(&self, value: &T, buf: &mut Vec<u8>) -> Result<(), PostcardError> {
        postcard::serialize_with_flavor(value, Append(buf))
            .map_err(|e| PostcardError(Inner::Postcard(e)))
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, PostcardError> {
        match postcard::take_from_bytes(bytes) {
            Ok((value, [])) => Ok(value),
            Ok((_, rest)) => Err(PostcardError(Inner::Trailing(rest.len()))),
            Err(e) => Err(PostcardError(Inner::Postcard(e))),
        }
    }
}

/// A postcard flavor that appends to a borrowed `Vec` (postcard's own `ExtendFlavor` takes
/// the vector by value and pushes byte by byte).
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Why [`Postcard`] could not encode or decode a value.
///
/// (postcard's own error type implements `std::error::Error` only with its `std` feature,
/// which this crate does not enable.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostcardError(Inner);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Inner {
    Postcard(postcard::Error),
    /// Decoding used only part of the record: this many bytes were left.
    Trailing(usize),
}

impl fmt::Display for PostcardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Postcard(e) => write!(f, "postcard: {e}"),
            Inner::Trailing(n) => write!(
                f,
                "postcard: {n} bytes left over after the value (was the record written by another type?)"
            ),
        }
    }
}

impl std::error::Error for PostcardError {}
