//! The on-disk format: segment files, records, the cursor file, and recovery at open.
//!
//! A segment `NNNNNNNNNNNNNNNNNNNN.seg` (its index, zero-padded to 20 digits so that names
//! sort as numbers) starts with the 8-byte [`MAGIC`] and holds records back to back:
//!
//! ```text
//! offset  size  field
//! 0       4     payload length n, u32 little-endian
//! 4       4     crc32 of the 4 length bytes (a damaged length is caught before it is used)
//! 8       4     crc32 of the payload
//! 12      n     payload: what the codec's encode appended
//! ```
//!
//! All checksums are CRC-32 (IEEE, `crc32fast`). A zero-filled header never passes (the crc32
//! of four zero bytes is not zero), so a file extended with zeros by a crash reads as damage,
//! not as empty records.
//!
//! The cursor file `cursor` holds where the mover will read next: the segment index (u64
//! LE), the offset in it (u64 LE) and the crc32 of those 16 bytes (u32 LE).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::error::{Corruption, LogError};
use super::Recovery;
use super::TornTail;

/// The first 8 bytes of every segment: the format's name and version.
pub(crate) const MAGIC: [u8; 8] = *b"ppspill\x01";
/// Bytes before a record's payload.
pub(crate) const HEADER: usize = 12;
/// The cursor file's name.
pub(crate) const CURSOR: &str = "cursor";
const CURSOR_LEN: usize = 20;

/// The file name of segment `index`.
pub(crate) fn segment_name(index: u64) -> String {
    format!("{index:020}.seg")
}

pub(crate) fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(segment_name(index))
}

/// The index of a segment file name, or `None` for any other name.
fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The header of a record whose payload is `payload`.
#[inline]
pub(crate) fn header(payload: &[u8]) -> [u8; HEADER] {
    let len = (payload.len() as u32).to_le_bytes();
    let mut h = [0; HEADER];
    h[0..4].copy_from_slice(&len);
    h[4..8].copy_from_slice(&crc32fast::hash(&len).to_le_bytes());
    h[8..12].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    h
}

/// What the bytes at the start of a buffer hold.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// A complete, intact record with a payload of this many bytes (the record takes
    /// `HEADER + len` bytes).
    Record(usize),
    /// The record is not complete in these bytes: the header is cut, or the payload (the
    /// header is intact; the whole record takes this many bytes).
    Short(Option<usize>),
    /// A damaged record.
    Bad(Corruption),
}

/// Reads the record at the start of `bytes`.
pub(crate) fn next_record(bytes: &[u8]) -> Next {
    if bytes.len() < HEADER {
        return Next::Short(None);
    }
    let word = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    if crc32fast::hash(&bytes[0..4]) != word(4) {
        return Next::Bad(Corruption::Header);
    }
    let len = word(0) as usize;
    let Some(payload) = bytes.get(HEADER..HEADER + len) else {
        return Next::Short(Some(HEADER + len));
    };
    if crc32fast::hash(payload) != word(8) {
        return Next::Bad(Corruption::Payload);
    }
    Next::Record(len)
}

/// A position in the log: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) index: u64,
    pub(crate) offset: u64,
}

pub(crate) fn encode_cursor(pos: Pos) -> [u8; CURSOR_LEN] {
    let mut b = [0; CURSOR_LEN];
    b[0..8].copy_from_slice(&pos.index.to_le_bytes());
    b[8..16].copy_from_slice(&pos.offset.to_le_bytes());
    let crc = crc32fast::hash(&b[0..16]);
    b[16..20].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Overwrites the cursor file (opening or creating it if needed). Not synced: see the
/// module docs of `spill` for why a stale cursor only re-delivers.
pub(crate) fn write_cursor(dir: &Path, file: &mut Option<File>, pos: Pos) -> Result<(), LogError> {
    let path = || dir.join(CURSOR);
    if file.is_none() {
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path())
            .map_err(|e| LogError::io(path(), e))?;
        *file = Some(f);
    }
    let f = file.as_mut().expect("opened above");
    f.seek(SeekFrom::Start(0))
        .and_then(|_| f.write_all(&encode_cursor(pos)))
        .map_err(|e| LogError::io(path(), e))
}

/// Reads the cursor file: `Ok(None)` without one, `Err(())` if it is damaged.
fn read_cursor(dir: &Path) -> Result<Result<Option<Pos>, ()>, LogError> {
    let path = dir.join(CURSOR);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Ok(None)),
        Err(e) => return Err(LogError::io(path, e)),
    };
    if bytes.len() != CURSOR_LEN || crc32fast::hash(&bytes[0..16]).to_le_bytes() != bytes[16..20] {
        return Ok(Err(()));
    }
    let u64_at = |i: usize| {
        let mut w = [0; 8];
        w.copy_from_slice(&bytes[i..i + 8]);
        u64::from_le_bytes(w)
    };
    Ok(Ok(Some(Pos {
        index: u64_at(0),
        offset: u64_at(8).max(MAGIC.len() as u64),
    })))
}

/// Removes a file that may already be gone.
pub(crate) fn remove(path: &Path) -> Result<(), LogError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::io(path, e)),
    }
}

/// Makes the directory's entries (files created or removed) durable, where the system
/// allows opening a directory (Unix); elsewhere nothing.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| LogError::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A segment still on disk (or, for the one being written, partly in the write buffer).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seg {
    pub(crate) index: u64,
    /// Bytes in the file. For a sealed segment, its final size.
    pub(crate) len: u64,
    /// No more records will be added.
    pub(crate) sealed: bool,
}

/// What [`recover`] found.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) segs: VecDeque<Seg>,
    /// Where the mover starts in the first segment.
    pub(crate) start: u64,
    /// The index for the next new segment.
    pub(crate) next_index: u64,
    pub(crate) report: Recovery,
}

/// Reads the spill directory `dir` (which exists): checks every record not yet consumed,
/// truncates a torn tail of the last segment (reported), deletes consumed and empty
/// segments, and returns the segments left, oldest first.
pub(crate) fn recover(dir: &Path) -> Result<Recovered, LogError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        if let Some(index) = entry.file_name().to_str().and_then(parse_segment_name) {
            found.push(index);
        }
    }
    found.sort_unstable();
    let next_index = found.last().map_or(0, |&i| i + 1);

    let mut report = Recovery::default();
    let cursor = match read_cursor(dir)? {
        Ok(c) => c,
        Err(()) => {
            report.cursor_damaged = true;
            None
        }
    };

    let mut segs = VecDeque::new();
    let mut start = MAGIC.len() as u64;
    let last = found.last().copied();
    for index in found {
        let path = segment_path(dir, index);
        let from = match cursor {
            // Fully moved before the crash; its deletion had not happened yet.
            Some(c) if index < c.index => {
                remove(&path)?;
                report.removed_segments += 1;
                continue;
            }
            Some(c) if index == c.index => c.offset,
            _ => MAGIC.len() as u64,
        };
        let scan = scan_segment(&path, from, Some(index) == last)?;
        if let Some(torn) = scan.torn {
            report.torn_tail = Some(torn);
        }
        if scan.records == 0 {
            // Empty, torn at creation, or consumed up to its end.
            remove(&path)?;
            report.removed_segments += 1;
            continue;
        }
        if segs.is_empty() {
            start = from;
        }
        report.records += scan.records;
        report.bytes += scan.len - from;
        report.segments += 1;
        segs.push_back(Seg {
            index,
            len: scan.len,
            sealed: true,
        });
    }
    if segs.is_empty() {
        // Nothing left to deliver: a cursor would only point at deleted segments.
        remove(&dir.join(CURSOR))?;
    }
    Ok(Recovered {
        segs,
        start,
        next_index,
        report,
    })
}

struct Scan {
    /// Complete records at or after the start offset.
    records: u64,
    /// The segment's length after a torn tail was cut.
    len: u64,
    torn: Option<TornTail>,
}

/// Checks the records of one segment from offset `from`.
fn scan_segment(path: &Path, from: u64, is_last: bool) -> Result<Scan, LogError> {
    let io_err = |e: io::Error| LogError::io(path, e);
    let corrupt = |offset: u64, kind: Corruption| LogError::Corrupt {
        segment: path.to_path_buf(),
        offset,
        kind,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err)?;
    let file_len = file.metadata().map_err(io_err)?.len();
    let mut scan = Scan {
        records: 0,
        len: file_len,
        torn: None,
    };
    // Cut at `offset`: the tail from there is an incomplete record (a crash mid-write).
    let cut = |scan: &mut Scan, offset: u64, file: &File| -> Result<(), LogError> {
        if !is_last {
            return Err(corrupt(offset, Corruption::CutShort));
        }
        file.set_len(offset).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        scan.torn = Some(TornTail {
            segment: path.to_path_buf(),
            offset,
            dropped_bytes: file_len - offset,
        });
        scan.len = offset;
        Ok(())
    };

    let magic_len = MAGIC.len() as u64;
    if file_len < magic_len {
        if file_len > 0 {
            cut(&mut scan, 0, &file)?;
        }
        scan.len = 0;
        return Ok(scan);
    }
    let mut magic = [0; 8];
    file.read_exact(&mut magic).map_err(io_err)?;
    if magic != MAGIC {
        return Err(corrupt(0, Corruption::BadMagic));
    }
    if from >= file_len {
        // Everything in it was moved (the last records perhaps straight from the write
        // buffer, before they reached the file).
        return Ok(scan);
    }
    file.seek(SeekFrom::Start(from)).map_err(io_err)?;

    let mut reader = io::BufReader::with_capacity(256 * 1024, &file);
    let mut offset = from;
    let mut record = Vec::new();
    while offset < file_len {
        let left = file_len - offset;
        if left < HEADER as u64 {
            cut(&mut scan, offset, &file)?;
            break;
        }
        record.resize(HEADER, 0);
        reader.read_exact(&mut record).map_err(io_err)?;
        let total = match next_record(&record) {
            Next::Bad(kind) => return Err(corrupt(offset, kind)),
            Next::Short(Some(total)) => total as u64,
            Next::Short(None) | Next::Record(_) => HEADER as u64, // an empty payload
        };
        if total > left {
            cut(&mut scan, offset, &file)?;
            break;
        }
        record.resize(total as usize, 0);
        reader.read_exact(&mut record[HEADER..]).map_err(io_err)?;
        match next_record(&record) {
            Next::Record(_) => {}
            Next::Bad(kind) => return Err(corrupt(offset, kind)),
            Next::Short(_) => unreachable!("the whole record was read"),
        }
        scan.records += 1;
        offset += total;
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_as_numbers_and_parse_back() {
        assert_eq!(segment_name(42), "00000000000000000042.seg");
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_segment_name("42.seg"), None);
        assert_eq!(parse_segment_name("0000000000000000004x.seg"), None);
        assert_eq!(parse_segment_name("cursor"), None);
    }

    #[test]
    fn records_are_checked() {
        let payload = b"hello";
        let mut rec = header(payload).to_vec();
        rec.extend_from_slice(payload);
        assert_eq!(next_record(&rec), Next::Record(5));
        assert_eq!(next_record(&rec[..7]), Next::Short(None));
        assert_eq!(next_record(&rec[..14]), Next::Short(Some(17)));
        let mut bad = rec.clone();
        bad[HEADER + 1] ^= 1;
        assert_eq!(next_record(&bad), Next::Bad(Corruption::Payload));
        let mut bad = rec.clone();
        bad[0] ^= 1;
        assert_eq!(next_record(&bad), Next::Bad(Corruption::Header));
        // Zeros are not an empty record.
        assert_eq!(next_record(&[0; 12]), Next::Bad(Corruption::Header));
        let empty = header(b"");
        assert_eq!(next_record(&empty), Next::Record(0));
    }

    #[test]
    fn cursor_round_trip() {
        let b = encode_cursor(Pos {
            index: 3,
            offset: 1234,
        });
        assert_eq!(&b[0..8], &3u64.to_le_bytes());
        assert_eq!(crc32fast::hash(&b[0..16]).to_le_bytes(), b[16..20]);
    }
}
