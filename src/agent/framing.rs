//! Bytes → lines. Pure: works on a byte slice and its file offset, knows nothing of files.
//!
//! A line is the bytes up to `\n`, with one trailing `\r` stripped; it is shipped as bytes
//! (no UTF-8 requirement). A line longer than `max_line_bytes` is split into pieces of at
//! most that size. Bytes after the last `\n` are incomplete: the caller reads more, or, when
//! its file is finished, calls [`LineFramer::finish`] to ship them as a last line.

/// One line found in the buffer. `end` is the file offset just past the line's terminator:
/// once this line is acknowledged, the file may be resumed at `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Range of the line's content in the buffer (terminator excluded).
    pub start: usize,
    pub len: usize,
    /// File offset just past the line (its newline included).
    pub end: u64,
    /// True for a piece of a line that was longer than `max_line_bytes`.
    pub split: bool,
}

/// Finds lines in a buffer that holds the file's bytes starting at `base_offset`.
#[derive(Debug, Clone)]
pub struct LineFramer {
    max_line_bytes: usize,
}

impl LineFramer {
    pub fn new(max_line_bytes: usize) -> LineFramer {
        LineFramer {
            max_line_bytes: max_line_bytes.max(1),
        }
    }

    /// The next complete line in `buf[pos..]`, where `buf[0]` is at file offset `base`.
    /// Returns `None` when the rest is an incomplete line shorter than `max_line_bytes`.
    pub fn next(&self, buf: &[u8], pos: usize, base: u64) -> Option<Frame> {
        let rest = &buf[pos..];
        let window = &rest[..rest.len().min(self.max_line_bytes + 1)];
        match memchr::memchr(b'\n', window) {
            Some(nl) if nl <= self.max_line_bytes => {
                let len = if nl > 0 && rest[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                Some(Frame {
                    start: pos,
                    len,
                    end: base + (pos + nl + 1) as u64,
                    split: false,
                })
            }
            _ if rest.len() > self.max_line_bytes => Some(Frame {
                start: pos,
                len: self.max_line_bytes,
                end: base + (pos + self.max_line_bytes) as u64,
                split: true,
            }),
            _ => None,
        }
    }

    /// The incomplete last line `buf[pos..]` (no newline), shipped because its file is
    /// finished. `None` if there is nothing left.
    pub fn finish(&self, buf: &[u8], pos: usize, base: u64) -> Option<Frame> {
        let rest = &buf[pos..];
        if rest.is_empty() {
            return None;
        }
        let len = if rest.ends_with(b"\r") {
            rest.len() - 1
        } else {
            rest.len()
        };
        Some(Frame {
            start: pos,
            len,
            end: base + buf.len() as u64,
            split: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(f: &LineFramer, buf: &[u8], base: u64) -> (Vec<(Vec<u8>, u64, bool)>, usize) {
        let mut out = Vec::new();
        let mut pos = 0;
        while let Some(fr) = f.next(buf, pos, base) {
            out.push((buf[fr.start..fr.start + fr.len].to_vec(), fr.end, fr.split));
            pos = (fr.end - base) as usize;
        }
        (out, pos)
    }

    #[test]
    fn lines_crlf_and_partial() {
        let f = LineFramer::new(100);
        let (lines, pos) = all(&f, b"a\r\nbb\n\nccc", 10);
        assert_eq!(
            lines,
            vec![
                (b"a".to_vec(), 13, false),
                (b"bb".to_vec(), 16, false),
                (b"".to_vec(), 17, false)
            ]
        );
        assert_eq!(pos, 7);
        let last = f.finish(b"a\r\nbb\n\nccc", pos, 10).expect("partial");
        assert_eq!((last.start, last.len, last.end), (7, 3, 20));
        assert_eq!(f.finish(b"x\n", 2, 0), None);
    }

    #[test]
    fn long_lines_are_split_at_max() {
        let f = LineFramer::new(4);
        let (lines, pos) = all(&f, b"abcdefghij\nxy\n", 0);
        assert_eq!(
            lines,
            vec![
                (b"abcd".to_vec(), 4, true),
                (b"efgh".to_vec(), 8, true),
                (b"ij".to_vec(), 11, false),
                (b"xy".to_vec(), 14, false)
            ]
        );
        assert_eq!(pos, 14);
        // exactly max bytes followed by a newline is one line, not a split
        let (lines, _) = all(&f, b"abcd\n", 0);
        assert_eq!(lines, vec![(b"abcd".to_vec(), 5, false)]);
        // an incomplete line shorter than max waits
        assert_eq!(f.next(b"abc", 0, 0), None);
    }

    #[test]
    fn binary_and_nul_bytes_pass_through() {
        let f = LineFramer::new(100);
        let (lines, _) = all(&f, b"\xff\x00\xfe\n", 0);
        assert_eq!(lines, vec![(b"\xff\x00\xfe".to_vec(), 4, false)]);
    }
}
