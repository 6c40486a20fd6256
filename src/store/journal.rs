//! The checkpoint's journal, `<name>.partial.h5.journal`: the chunks saved
//! since the last full checkpoint (the "base", `<name>.partial.h5`), so that
//! a save costs what changed rather than the whole run.
//!
//! The file is a header bound to one base (the FNV-1a-64 digest of the base
//! file's bytes) followed by records, each a batch of chunk rows with its
//! length and checksum, appended and then flushed with `fdatasync`. A reader
//! takes the valid prefix: it stops at the first record that is short or
//! fails its checksum (a crash in the middle of an append loses only that
//! record), and ignores a journal bound to another base (one left over from
//! before the base was rewritten, whose rows the base holds). The layout is
//! in docs/results-format.md, which is its contract.

use crate::record::ChunkRow;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The first 8 bytes of every journal.
const MAGIC: [u8; 8] = *b"MCPIJRNL";
/// The layout described in docs/results-format.md.
const VERSION: u32 = 1;
/// Magic, version, row length, base digest, header checksum.
const HEADER_LEN: usize = 32;
/// A record's length and checksum, before its payload.
const FRAME_LEN: usize = 16;
/// A record's session timings, before its rows.
const TIMES_LEN: usize = 16;
/// One chunk row: the nine fields of [`ChunkRow`], little-endian.
const ROW_LEN: usize = 64;

/// The journal beside the checkpoint `partial`: its name with `.journal`
/// appended.
pub(crate) fn path_of(partial: &Path) -> PathBuf {
    let mut name = partial.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// FNV-1a, 64 bits: the journal's checksum and the base's digest. Not
/// cryptographic; it tells a torn or changed record from a whole one.
#[derive(Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub(crate) fn finish(self) -> u64 {
        self.0
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h = Fnv::new();
    h.update(bytes);
    h.finish()
}

/// The digest that binds a journal to its base: FNV-1a-64 of the file's
/// bytes.
pub(crate) fn digest(path: &Path) -> std::io::Result<u64> {
    let mut file = File::open(path)?;
    let mut h = Fnv::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(h.finish()),
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// One record: the chunks one save added, and the session's times then.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Record {
    /// The saving session's elapsed and controller CPU time at the save.
    pub(crate) elapsed_s: f64,
    pub(crate) controller_cpu_s: f64,
    pub(crate) rows: Vec<ChunkRow>,
}

impl Record {
    /// The record as stored: length, checksum, payload.
    fn encode(&self) -> Vec<u8> {
        let len = TIMES_LEN + ROW_LEN * self.rows.len();
        let mut out = Vec::with_capacity(FRAME_LEN + len);
        out.extend_from_slice(&(len as u64).to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&self.elapsed_s.to_le_bytes());
        out.extend_from_slice(&self.controller_cpu_s.to_le_bytes());
        for r in &self.rows {
            out.extend_from_slice(&r.chunk_id.to_le_bytes());
            out.extend_from_slice(&r.session.to_le_bytes());
            out.extend_from_slice(&r.engine_id.to_le_bytes());
            out.extend_from_slice(&r.samples.to_le_bytes());
            out.extend_from_slice(&r.inside.to_le_bytes());
            out.extend_from_slice(&r.dispatch_s.to_le_bytes());
            out.extend_from_slice(&r.done_s.to_le_bytes());
            out.extend_from_slice(&r.compute_s.to_le_bytes());
            out.extend_from_slice(&r.compute_cpu_s.to_le_bytes());
        }
        let sum = checksum(&out[..8], &out[FRAME_LEN..]);
        out[8..16].copy_from_slice(&sum.to_le_bytes());
        out
    }

    /// The payload of a record whose frame checked out.
    fn decode(payload: &[u8]) -> Record {
        let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        let f64_at = |b: &[u8], at: usize| f64::from_bits(u64_at(b, at));
        let rows = payload[TIMES_LEN..]
            .chunks_exact(ROW_LEN)
            .map(|b| ChunkRow {
                chunk_id: u64_at(b, 0),
                session: u32_at(b, 8),
                engine_id: u32_at(b, 12),
                samples: u64_at(b, 16),
                inside: u64_at(b, 24),
                dispatch_s: f64_at(b, 32),
                done_s: f64_at(b, 40),
                compute_s: f64_at(b, 48),
                compute_cpu_s: f64_at(b, 56),
            })
            .collect();
        Record {
            elapsed_s: f64_at(payload, 0),
            controller_cpu_s: f64_at(payload, 8),
            rows,
        }
    }
}

/// A record's checksum covers its length field and its payload.
fn checksum(len: &[u8], payload: &[u8]) -> u64 {
    let mut h = Fnv::new();
    h.update(len);
    h.update(payload);
    h.finish()
}

fn header(base: u64) -> [u8; HEADER_LEN] {
    let mut out = [0; HEADER_LEN];
    out[..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&VERSION.to_le_bytes());
    out[12..16].copy_from_slice(&(ROW_LEN as u32).to_le_bytes());
    out[16..24].copy_from_slice(&base.to_le_bytes());
    let sum = fnv(&out[..24]);
    out[24..].copy_from_slice(&sum.to_le_bytes());
    out
}

/// A journal open for appending.
#[derive(Debug)]
pub(crate) struct Journal {
    file: File,
    /// Bytes of whole, flushed records (and the header): the next record
    /// goes here, over whatever a failed append left.
    len: u64,
}

impl Journal {
    /// Starts the journal at `path` for the base whose digest is `base`, with
    /// its first record, replacing any journal there (one bound to an older
    /// base, whose rows that base holds: a crash before this one is flushed
    /// leaves a journal that reads as empty or as this one).
    pub(crate) fn start(path: &Path, base: u64, first: &Record) -> std::io::Result<Journal> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        let mut journal = Journal {
            file,
            len: HEADER_LEN as u64,
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let started = journal
            .file
            .write_all_at(&header(base), 0)
            .and_then(|()| journal.append(first))
            // The journal's name, if it is new, must outlive a crash too.
            .and_then(|()| File::open(dir)?.sync_all());
        match started {
            Ok(()) => Ok(journal),
            Err(e) => {
                // Nothing of it is needed: its base holds every row before.
                let _ = std::fs::remove_file(path);
                Err(e)
            }
        }
    }

    /// Appends `record` and flushes it to stable storage. After a failure
    /// the file is cut back to its whole records where possible, and the
    /// next append goes where this one started.
    pub(crate) fn append(&mut self, record: &Record) -> std::io::Result<()> {
        let bytes = record.encode();
        let written = self
            .file
            .write_all_at(&bytes, self.len)
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                Err(e)
            }
        }
    }
}

/// The records of the journal at `path` that belong to the base whose
/// digest is `base`, up to the first torn or damaged one. No journal, a
/// torn header or another base's journal: no records.
pub(crate) fn read(path: &Path, base: u64) -> std::io::Result<Vec<Record>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    if bytes.len() < HEADER_LEN || bytes[..HEADER_LEN] != header(base) {
        return Ok(Vec::new());
    }
    let mut records = Vec::new();
    let mut at = HEADER_LEN;
    while let Some(frame) = bytes.get(at..at + FRAME_LEN) {
        let len = u64::from_le_bytes(frame[..8].try_into().unwrap());
        let sum = u64::from_le_bytes(frame[8..].try_into().unwrap());
        let body = at + FRAME_LEN;
        let whole = usize::try_from(len)
            .ok()
            .filter(|&n| n >= TIMES_LEN && (n - TIMES_LEN).is_multiple_of(ROW_LEN))
            .and_then(|n| bytes.get(body..body.checked_add(n)?));
        match whole {
            Some(payload) if checksum(&frame[..8], payload) == sum => {
                records.push(Record::decode(payload));
                at = body + payload.len();
            }
            _ => break,
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        crate::testing::scratch("journal", name)
    }

    fn row(chunk_id: u64) -> ChunkRow {
        ChunkRow {
            chunk_id,
            session: 1,
            engine_id: 2,
            samples: 1000 + chunk_id,
            inside: 700 + chunk_id,
            dispatch_s: 0.25,
            done_s: 0.5 + chunk_id as f64,
            compute_s: 0.125,
            compute_cpu_s: 0.0625,
        }
    }

    fn record(ids: std::ops::Range<u64>) -> Record {
        Record {
            elapsed_s: ids.end as f64,
            controller_cpu_s: 0.5,
            rows: ids.map(row).collect(),
        }
    }

    #[test]
    fn fnv_1a_64_has_its_published_values() {
        assert_eq!(fnv(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn records_read_back_in_order_and_only_for_their_base() {
        let dir = scratch("roundtrip");
        let path = path_of(&dir.join("r.partial.h5"));
        assert!(path.ends_with("r.partial.h5.journal"));
        assert_eq!(read(&path, 7).unwrap(), []);
        let (a, b, c) = (record(0..3), record(3..4), record(4..10));
        let mut j = Journal::start(&path, 7, &a).unwrap();
        j.append(&b).unwrap();
        j.append(&c).unwrap();
        assert_eq!(read(&path, 7).unwrap(), [a.clone(), b, c]);
        assert_eq!(read(&path, 8).unwrap(), [], "another base's journal");
        // Starting again replaces the journal.
        Journal::start(&path, 8, &a).unwrap();
        assert_eq!(read(&path, 8).unwrap(), [a]);
        assert_eq!(read(&path, 7).unwrap(), []);
    }

    #[test]
    fn a_torn_tail_loses_only_the_record_being_written() {
        let dir = scratch("torn");
        let path = dir.join("j");
        let (a, b) = (record(0..2), record(2..5));
        let mut j = Journal::start(&path, 1, &a).unwrap();
        j.append(&b).unwrap();
        let whole = std::fs::read(&path).unwrap();
        let first = HEADER_LEN + FRAME_LEN + TIMES_LEN + 2 * ROW_LEN;
        // Every cut: the records wholly before it, nothing more.
        for cut in 0..whole.len() {
            std::fs::write(&path, &whole[..cut]).unwrap();
            let want = match cut {
                c if c < first => vec![],
                c if c < whole.len() => vec![a.clone()],
                _ => unreachable!(),
            };
            assert_eq!(read(&path, 1).unwrap(), want, "cut at {cut}");
        }
        // A tail of zeros (blocks allocated, never written) is not a record.
        let mut zeros = whole.clone();
        zeros.extend_from_slice(&[0; 200]);
        std::fs::write(&path, &zeros).unwrap();
        assert_eq!(read(&path, 1).unwrap(), [a.clone(), b.clone()]);
    }

    #[test]
    fn a_damaged_record_ends_the_journal_there() {
        let dir = scratch("damaged");
        let path = dir.join("j");
        let (a, b, c) = (record(0..2), record(2..5), record(5..6));
        let mut j = Journal::start(&path, 1, &a).unwrap();
        j.append(&b).unwrap();
        j.append(&c).unwrap();
        let whole = std::fs::read(&path).unwrap();
        let second = HEADER_LEN + FRAME_LEN + TIMES_LEN + 2 * ROW_LEN;
        // One bit flipped anywhere in the second record (frame or rows).
        for at in second..second + FRAME_LEN + TIMES_LEN + 3 * ROW_LEN {
            let mut bad = whole.clone();
            bad[at] ^= 0x10;
            std::fs::write(&path, &bad).unwrap();
            assert_eq!(
                read(&path, 1).unwrap(),
                std::slice::from_ref(&a),
                "bit at {at}"
            );
        }
        // A damaged header: no records at all.
        let mut bad = whole.clone();
        bad[9] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        assert_eq!(read(&path, 1).unwrap(), []);
    }

    #[test]
    fn an_append_after_a_failed_one_overwrites_its_remains() {
        let dir = scratch("failed");
        let path = dir.join("j");
        let (a, b) = (record(0..2), record(2..3));
        let mut j = Journal::start(&path, 1, &a).unwrap();
        // What a failed append may leave: part of a record past `len`.
        let junk = record(9..20).encode();
        j.file.write_all_at(&junk[..100], j.len).unwrap();
        j.append(&b).unwrap();
        assert_eq!(read(&path, 1).unwrap(), [a, b]);
    }
}
