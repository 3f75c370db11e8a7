//! `[output]` and `[output.librdkafka]`: where lines go.

use super::{section_err, ConfigError};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Brokers {
    /// Start the bundled broker in-process and ship to it.
    Bundled,
    /// `bootstrap.servers` of an external cluster.
    External(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutputConfig {
    pub brokers: Brokers,
    /// Passed to librdkafka verbatim, after logferry's own settings.
    pub librdkafka: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutput {
    #[serde(default = "default_brokers")]
    brokers: String,
    #[serde(default)]
    librdkafka: BTreeMap<String, toml::Value>,
}

fn default_brokers() -> String {
    "bundled".to_string()
}

pub(super) fn validate_output(raw: RawOutput) -> Result<OutputConfig, ConfigError> {
    let brokers = match raw.brokers.trim() {
        "" => {
            return Err(section_err(
                "output",
                "brokers must be \"bundled\" or a list like \"k1:9092,k2:9092\"",
            ))
        }
        "bundled" => Brokers::Bundled,
        list => Brokers::External(list.to_string()),
    };
    let librdkafka = librdkafka_properties("output.librdkafka", raw.librdkafka)?;
    Ok(OutputConfig {
        brokers,
        librdkafka,
    })
}

/// A `[... .librdkafka]` table as librdkafka properties: every value a string, number or
/// boolean, passed as its text.
pub(super) fn librdkafka_properties(
    section: &str,
    table: BTreeMap<String, toml::Value>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out = BTreeMap::new();
    for (k, v) in table {
        let s = match v {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(section_err(
                    section,
                    format!(
                        "\"{k}\" must be a string, number or boolean, not {}",
                        other.type_str()
                    ),
                ))
            }
        };
        out.insert(k, s);
    }
    Ok(out)
}
