//! Record formats beyond what the log stores verbatim: bounded (de)compression, the legacy
//! message sets (magic 0/1) and conversion to and from v2 record batches.

pub mod compression;
pub mod convert;
pub mod legacy;
