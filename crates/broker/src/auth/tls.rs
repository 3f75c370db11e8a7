//! TLS for SSL and SASL_SSL listeners: rustls (ring provider) via tokio-rustls, PEM
//! certificate chain and key, and with `tls_client_ca` mutual TLS (a client certificate
//! signed by one of those CAs is required). The client's subject, as Kafka writes it
//! (RFC 2253: "CN=client,OU=ops,O=example"), is its principal on SSL listeners.

use crate::config::Listener;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("listener {listener}: {what} {path}: {reason}")]
    File {
        listener: String,
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error("listener {listener}: {reason}")]
    Config { listener: String, reason: String },
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The acceptor of a TLS listener.
pub fn acceptor(l: &Listener) -> Result<TlsAcceptor, TlsError> {
    let file_err = |what: &'static str, path: &Path, reason: String| TlsError::File {
        listener: l.name.clone(),
        what,
        path: path.display().to_string(),
        reason,
    };
    let cfg_err = |reason: String| TlsError::Config {
        listener: l.name.clone(),
        reason,
    };
    let (Some(cert), Some(key)) = (&l.tls_cert, &l.tls_key) else {
        return Err(cfg_err("tls_cert and tls_key are required".to_string()));
    };
    let certs = read_certs(cert).map_err(|r| file_err("tls_cert", cert, r))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| file_err("tls_key", key, format!("no PEM private key ({e})")))?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| cfg_err(e.to_string()))?;
    let builder = match &l.tls_client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in read_certs(ca).map_err(|r| file_err("tls_client_ca", ca, r))? {
                roots
                    .add(c)
                    .map_err(|e| file_err("tls_client_ca", ca, e.to_string()))?;
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| cfg_err(format!("client verifier: {e}")))?;
            builder.with_client_cert_verifier(v)
        }
    };
    let cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| cfg_err(format!("certificate and key: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| e.to_string())?
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no PEM certificate in it".to_string());
    }
    Ok(certs)
}

/// The subject of a DER certificate in RFC 2253 form (most specific RDN first, as Java's
/// X500Principal.getName() and so Kafka's default principal builder).
pub fn subject_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let registry = x509_parser::objects::oid_registry();
    let mut rdns = Vec::new();
    for rdn in cert.subject().iter() {
        let mut attrs = Vec::new();
        for a in rdn.iter() {
            let oid = a.attr_type();
            let name = match x509_parser::objects::oid2abbrev(oid, registry) {
                Ok(n) if ["CN", "C", "L", "ST", "O", "OU", "STREET", "DC", "UID"].contains(&n) => {
                    n.to_string()
                }
                _ => oid.to_id_string(),
            };
            let value = a.as_str().map(escape).unwrap_or_else(|_| {
                let hex: String = a.as_slice().iter().map(|b| format!("{b:02x}")).collect();
                format!("#{hex}")
            });
            attrs.push(format!("{name}={value}"));
        }
        rdns.push(attrs.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

/// RFC 2253 escaping of an attribute value.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_in_rfc2253_order_and_escaped() {
        let mut p = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "DE");
        dn.push(rcgen::DnType::OrganizationName, "Acme, Inc");
        dn.push(rcgen::DnType::CommonName, "agent-01");
        p.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = p.self_signed(&key).expect("cert");
        assert_eq!(
            subject_name(cert.der()).as_deref(),
            Some("CN=agent-01,O=Acme\\, Inc,C=DE")
        );
        assert_eq!(subject_name(b"garbage"), None);
    }
}
