//! Compressed rotations: logrotate's `compress` turns a rotated file into `FILE.N.gz` (or
//! `.zst` with `compresscmd zstd`). Such a file is never shipped as bytes: it is recognised by
//! its magic number, whatever its name or the section's regex, and its *content* is the
//! decompressed stream. Offsets, fingerprints and checkpoints of a compressed file are offsets
//! in that stream, so a `.gz` that continues a known file resumes where that file was
//! acknowledged.
//!
//! gzip (with concatenated members, as `gzip` appends them) and zstd are decompressed (flate2
//! and zstd crates); xz, bzip2 and lz4 are recognised and never read.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// How a file's bytes relate to its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Codec {
    /// The bytes are the content.
    #[default]
    Plain,
    Gzip,
    Zstd,
    /// A compression format this build cannot read (named for messages).
    Unsupported(&'static str),
}

/// Bytes needed to recognise every format.
pub const MAGIC_LEN: usize = 10;

impl Codec {
    /// The format of a file that starts with `head` (its first bytes, up to [`MAGIC_LEN`]).
    /// A plain log line never starts with these bytes: each begins with a non-text byte,
    /// except bzip2's, which is matched in full (`BZh` + level + a block or end-of-stream
    /// magic) so that a text file starting with "BZh" is never taken for it.
    pub fn sniff(head: &[u8]) -> Codec {
        match head {
            [0x1f, 0x8b, ..] => Codec::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Codec::Zstd,
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Codec::Unsupported("xz"),
            [b'B', b'Z', b'h', b'1'..=b'9', 0x31, 0x41, 0x59, 0x26, 0x53, 0x59, ..]
            | [b'B', b'Z', b'h', b'1'..=b'9', 0x17, 0x72, 0x45, 0x38, 0x50, 0x90, ..] => {
                Codec::Unsupported("bzip2")
            }
            [0x04, 0x22, 0x4d, 0x18, ..] => Codec::Unsupported("lz4"),
            _ => Codec::Plain,
        }
    }

    pub fn is_compressed(self) -> bool {
        self != Codec::Plain
    }

    /// Whether the content can be read (plain, or a format this build decompresses).
    pub fn readable(self) -> bool {
        !matches!(self, Codec::Unsupported(_))
    }

    /// A name for logs and `check`: "plain", "gzip", ...
    pub fn name(self) -> &'static str {
        match self {
            Codec::Plain => "plain",
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
            Codec::Unsupported(n) => n,
        }
    }

    /// The stored form (checkpoints): the name; unknown names read back as plain files'
    /// absence of a codec is never guessed: see [`Codec::from_name`].
    pub fn from_name(name: &str) -> Option<Codec> {
        match name {
            "plain" => Some(Codec::Plain),
            "gzip" => Some(Codec::Gzip),
            "zstd" => Some(Codec::Zstd),
            "xz" => Some(Codec::Unsupported("xz")),
            "bzip2" => Some(Codec::Unsupported("bzip2")),
            "lz4" => Some(Codec::Unsupported("lz4")),
            _ => None,
        }
    }
}

/// Reads an open file from a position with `pread`, so several readers (a scan, the
/// reader) can share one descriptor without disturbing each other's position.
#[derive(Debug)]
pub struct FileAt {
    file: Arc<File>,
    pos: u64,
}

impl FileAt {
    pub fn new(file: Arc<File>, pos: u64) -> FileAt {
        FileAt { file, pos }
    }
}

impl Read for FileAt {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.file.read_at(buf, self.pos) {
                Ok(n) => {
                    self.pos += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// The decompressed content of a compressed file, from its first byte.
pub fn decoder(file: Arc<File>, codec: Codec) -> io::Result<Box<dyn Read + Send>> {
    let raw = FileAt::new(file, 0);
    match codec {
        Codec::Plain => Ok(Box::new(raw)),
        Codec::Gzip => Ok(Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::with_capacity(64 * 1024, raw),
        ))),
        Codec::Zstd => Ok(Box::new(zstd::stream::read::Decoder::new(raw)?)),
        Codec::Unsupported(name) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{name}-compressed files cannot be read"),
        )),
    }
}

/// Whether a read error of a decoder means "the compressed file ends early": it is still
/// being written (gzip running), so read again later; not corruption.
pub fn is_truncated_stream(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::UnexpectedEof
}

/// Fill `buf` with up to `max` bytes of the content's beginning (fewer if the content, or
/// the part of a compressed file written so far, is shorter).
pub fn content_prefix(
    file: &Arc<File>,
    codec: Codec,
    max: usize,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    buf.clear();
    if !codec.readable() {
        return Ok(());
    }
    let mut r = decoder(file.clone(), codec)?;
    buf.resize(max, 0);
    let mut filled = 0;
    while filled < max {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A compressed file still being written: what decoded so far is the prefix.
            Err(e) if codec.is_compressed() && is_truncated_stream(&e) => break,
            Err(e) if codec.is_compressed() && e.kind() == io::ErrorKind::InvalidInput => break,
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(())
}

/// The first [`MAGIC_LEN`] bytes of a file, to sniff its codec.
pub fn sniff_file(file: &File) -> io::Result<Codec> {
    let mut head = [0u8; MAGIC_LEN];
    let mut filled = 0;
    while filled < MAGIC_LEN {
        match file.read_at(&mut head[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(Codec::sniff(&head[..filled]))
}

/// The content length of a complete compressed file, read from its trailer without
/// decompressing (gzip: ISIZE of the last member, modulo 4 GiB; used for the backlog gauge and
/// to recognise an already shipped file). None for formats without one, or a file too short.
pub fn content_len_hint(file: &File, codec: Codec, disk_size: u64) -> Option<u64> {
    match codec {
        Codec::Gzip if disk_size >= 18 => {
            let mut t = [0u8; 4];
            file.read_exact_at(&mut t, disk_size - 4).ok()?;
            Some(u64::from(u32::from_le_bytes(t)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).expect("gzip");
        e.finish().expect("gzip")
    }

    fn file_with(bytes: &[u8]) -> (tempfile::TempDir, Arc<File>) {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("f");
        std::fs::write(&p, bytes).expect("write");
        let f = Arc::new(File::open(&p).expect("open"));
        (dir, f)
    }

    #[test]
    fn formats_are_recognised_by_magic_and_text_is_plain() {
        assert_eq!(Codec::sniff(&gz(b"x")), Codec::Gzip);
        assert_eq!(
            Codec::sniff(&zstd::encode_all(&b"x"[..], 1).expect("zstd")),
            Codec::Zstd
        );
        assert_eq!(Codec::sniff(b"\xfd7zXZ\x00rest"), Codec::Unsupported("xz"));
        assert_eq!(Codec::sniff(b"BZh91AY&SYrest"), Codec::Unsupported("bzip2"));
        assert_eq!(
            Codec::sniff(b"BZh9\x17\x72\x45\x38\x50\x90\0\0\0\0"),
            Codec::Unsupported("bzip2")
        );
        // Text that happens to start like bzip2's magic is a log line.
        assert_eq!(Codec::sniff(b"BZh9 started\n"), Codec::Plain);
        assert_eq!(Codec::sniff(b"BZh"), Codec::Plain);
        assert_eq!(Codec::sniff(b"2026-11-26 GET /\n"), Codec::Plain);
        assert_eq!(Codec::sniff(b""), Codec::Plain);
        for c in [
            Codec::Plain,
            Codec::Gzip,
            Codec::Zstd,
            Codec::Unsupported("xz"),
        ] {
            assert_eq!(Codec::from_name(c.name()), Some(c));
        }
    }

    #[test]
    fn concatenated_gzip_members_decode_as_one_stream_with_a_length_hint() {
        let mut bytes = gz(b"line 1\nline 2\n");
        bytes.extend(gz(b"line 3\n"));
        let (_d, f) = file_with(&bytes);
        assert_eq!(sniff_file(&f).expect("sniff"), Codec::Gzip);
        let mut all = String::new();
        decoder(f.clone(), Codec::Gzip)
            .expect("decoder")
            .read_to_string(&mut all)
            .expect("read");
        assert_eq!(all, "line 1\nline 2\nline 3\n");
        // The trailer holds the last member's length only; a hint, not a promise.
        assert_eq!(
            content_len_hint(&f, Codec::Gzip, bytes.len() as u64),
            Some(7)
        );
        let mut p = Vec::new();
        content_prefix(&f, Codec::Gzip, 10, &mut p).expect("prefix");
        assert_eq!(p, b"line 1\nlin");
    }

    #[test]
    fn a_gzip_file_still_being_written_yields_its_decoded_prefix() {
        let data: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("{i:08}\n").into_bytes())
            .collect();
        let bytes = gz(&data);
        let (_d, f) = file_with(&bytes[..bytes.len() / 2]);
        let mut p = Vec::new();
        content_prefix(&f, Codec::Gzip, 256, &mut p).expect("partial prefix");
        assert_eq!(p, &data[..256]);
        let mut r = decoder(f, Codec::Gzip).expect("decoder");
        let mut sink = Vec::new();
        let e = r.read_to_end(&mut sink).expect_err("ends early");
        assert!(is_truncated_stream(&e), "{e:?}");
        assert!(data.starts_with(&sink));
    }
}
