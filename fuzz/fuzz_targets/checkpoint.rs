//! Checkpoint loading: any bytes give either a checkpoint whose offsets are within the
//! recorded sizes, or an error that names the file and says how to recover ("mv ... .bad",
//! or upgrade). Never a silent empty/default checkpoint, which would mean restarting from 0
//! or from the end. An accepted checkpoint survives a write/read round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logferry::agent::checkpoint::{parse_bytes, CheckpointError, VERSION};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("/state/topic_fuzz");
    match parse_bytes(path, data) {
        Ok(cp) => {
            assert!(cp.version <= VERSION);
            for f in &cp.files {
                assert!(f.offset <= f.size);
            }
            let again = serde_json::to_vec(&cp).expect("serialize");
            assert_eq!(parse_bytes(path, &again).expect("round trip"), cp);
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("/state/topic_fuzz"), "{msg}");
            match e {
                CheckpointError::Corrupt { .. } => assert!(msg.contains("mv "), "{msg}"),
                CheckpointError::TooNew { .. } => assert!(msg.contains("upgrade"), "{msg}"),
                other => panic!("parsing bytes cannot fail with {other}"),
            }
        }
    }
});
