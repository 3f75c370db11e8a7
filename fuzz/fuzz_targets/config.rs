//! The config loader: any text gives a typed Config or a ConfigError, never a panic; an
//! accepted config has at least one section, each with a topic and a base path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logferry::config::Config;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = Config::parse(text, Path::new("/fuzz/base")) {
        assert!(!cfg.sections.is_empty());
        for s in &cfg.sections {
            assert!(!s.topic.is_empty(), "section {} has an empty topic", s.name);
        }
        // Errors must render (they are what an operator sees).
    } else if let Err(e) = Config::parse(text, Path::new("/fuzz/base")) {
        assert!(!e.to_string().is_empty());
    }
});
