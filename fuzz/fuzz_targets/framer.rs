//! The line framer: for any bytes and any max_line_bytes, the frames it returns tile the
//! buffer exactly (no byte skipped or repeated), respect the maximum, and strip only one
//! trailing `\r` before a `\n`. Loss or reordering at this layer would break the promise.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logferry::agent::framing::LineFramer;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let max = 1 + usize::from(u16::from_le_bytes([data[0], data[1]]) % 300);
    let base = u64::from(data[2]) * 1_000_003;
    let buf = &data[3..];
    let f = LineFramer::new(max);
    let mut pos = 0usize;
    while let Some(fr) = f.next(buf, pos, base) {
        assert_eq!(fr.start, pos, "frames are contiguous");
        let consumed = usize::try_from(fr.end - base).expect("end within buffer") - pos;
        assert!(consumed >= 1, "progress");
        assert!(pos + consumed <= buf.len());
        assert!(fr.len <= max && fr.len <= consumed);
        let raw = &buf[pos..pos + consumed];
        if fr.split {
            assert_eq!(consumed, max);
            assert_eq!(fr.len, max);
        } else {
            assert_eq!(raw.last(), Some(&b'\n'));
            let body = &raw[..raw.len() - 1];
            assert!(!body.contains(&b'\n'));
            let want = body.strip_suffix(b"\r").unwrap_or(body);
            assert_eq!(&buf[fr.start..fr.start + fr.len], want);
        }
        pos += consumed;
    }
    // What is left is an incomplete line no longer than max.
    let rest = &buf[pos..];
    assert!(rest.len() <= max && !rest.contains(&b'\n'));
    match f.finish(buf, pos, base) {
        None => assert!(rest.is_empty()),
        Some(fr) => {
            assert_eq!(fr.end, base + buf.len() as u64);
            assert_eq!(fr.start, pos);
            let want = rest.strip_suffix(b"\r").unwrap_or(rest);
            assert_eq!(&buf[fr.start..fr.start + fr.len], want);
        }
    }
});
