//! The bundled broker's connection handshakes (issue 14): a byte stream as a client would send
//! it on a SASL_PLAINTEXT listener (SaslHandshake v0/v1, SaslAuthenticate, raw PLAIN/SCRAM
//! tokens, then requests) or on a SASL_SSL listener (a TLS ClientHello and what follows, into
//! rustls), served by the same code a connection runs. The first byte picks the listener.
//! Must never panic, hang, or allocate more than what arrived.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logferry_broker::{
    self as broker, BrokerConfig, BrokerHandle, Flush, ListenerConfig, SaslMechanism,
    SecurityProtocol,
};
use std::sync::OnceLock;

struct Env {
    rt: tokio::runtime::Runtime,
    broker: BrokerHandle,
    _dir: tempfile::TempDir,
}

fn listener(name: &str, protocol: SecurityProtocol, dir: &std::path::Path) -> ListenerConfig {
    let tls = protocol.tls();
    ListenerConfig {
        name: name.into(),
        listen: "127.0.0.1:0".into(),
        advertised: None,
        security_protocol: protocol,
        tls_cert: tls.then(|| dir.join("server.pem")),
        tls_key: tls.then(|| dir.join("server.key")),
        tls_client_ca: None,
        sasl_mechanisms: vec![
            SaslMechanism::Plain,
            SaslMechanism::ScramSha256,
            SaslMechanism::ScramSha512,
        ],
    }
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        // A certificate made now (never a committed key).
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        std::fs::write(dir.path().join("server.pem"), cert.pem()).expect("cert file");
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).expect("key file");
        let users = dir.path().join("users.toml");
        broker::auth::credentials::add_user(&users, "fuzz", "fuzz").expect("user");
        let acl = dir.path().join("acl.toml");
        std::fs::write(
            &acl,
            "[[acl]]\npermission = \"allow\"\noperations = [\"all\"]\ntopic = \"*\"\nprincipal = \"User:fuzz\"\n",
        )
        .expect("acl");
        let cfg = BrokerConfig {
            listen: String::new(),
            listener: vec![
                listener("sasl", SecurityProtocol::SaslPlaintext, dir.path()),
                listener("sasl_ssl", SecurityProtocol::SaslSsl, dir.path()),
            ],
            credentials_file: Some(users),
            acl_enabled: true,
            acl_file: Some(acl),
            flush: Flush::IntervalMs(60_000),
            group_initial_rebalance_delay_ms: 0,
            segment_bytes: 1 << 20,
            ..BrokerConfig::default()
        };
        let broker = rt
            .block_on(broker::start(cfg, dir.path().join("data")))
            .expect("broker starts");
        Env {
            rt,
            broker,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, stream)) = data.split_first() else {
        return;
    };
    let env = env();
    let name = if which & 1 == 0 { "sasl" } else { "sasl_ssl" };
    env.rt.block_on(env.broker.serve_bytes(name, stream));
});
