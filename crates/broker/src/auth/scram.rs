//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), server side, as Kafka's
//! ScramSaslServer: credentials are (salt, iterations, StoredKey, ServerKey), never the
//! password. The crypto is the `hmac`, `pbkdf2` and `sha2` crates'; this module only parses
//! and builds the SCRAM messages and compares in constant time (`subtle`).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// Iterations for new credentials (Kafka accepts 4096 and more).
pub const DEFAULT_ITERATIONS: u32 = 8192;
pub const MIN_ITERATIONS: u32 = 4096;
/// Longest SCRAM message accepted.
const MAX_MESSAGE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hash {
    Sha256,
    Sha512,
}

/// A stored SCRAM credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

/// Why an exchange failed. The client only ever learns "authentication failed".
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScramError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("channel binding and SCRAM extensions are not supported")]
    Unsupported,
    #[error("nonce mismatch")]
    Nonce,
    #[error("invalid credentials for user {0:?}")]
    BadProof(String),
}

fn hmac(hash: Hash, key: &[u8], data: &[u8]) -> Vec<u8> {
    match hash {
        // new_from_slice accepts keys of any length for HMAC.
        Hash::Sha256 => <Hmac<Sha256> as Mac>::new_from_slice(key)
            .map(|m| m.chain_update(data).finalize().into_bytes().to_vec())
            .unwrap_or_default(),
        Hash::Sha512 => <Hmac<Sha512> as Mac>::new_from_slice(key)
            .map(|m| m.chain_update(data).finalize().into_bytes().to_vec())
            .unwrap_or_default(),
    }
}

fn digest(hash: Hash, data: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Sha256 => Sha256::digest(data).to_vec(),
        Hash::Sha512 => Sha512::digest(data).to_vec(),
    }
}

fn salted_password(hash: Hash, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
    match hash {
        Hash::Sha256 => {
            pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec()
        }
        Hash::Sha512 => {
            pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password, salt, iterations).to_vec()
        }
    }
}

/// The credential for `password` (RFC 5802: SaltedPassword = Hi(password, salt, i);
/// StoredKey = H(HMAC(SaltedPassword, "Client Key")); ServerKey = HMAC(SaltedPassword,
/// "Server Key")).
pub fn derive(hash: Hash, password: &str, salt: &[u8], iterations: u32) -> Credential {
    let sp = salted_password(hash, password.as_bytes(), salt, iterations);
    let client_key = hmac(hash, &sp, b"Client Key");
    Credential {
        salt: salt.to_vec(),
        iterations,
        stored_key: digest(hash, &client_key),
        server_key: hmac(hash, &sp, b"Server Key"),
    }
}

/// Does `password` match the credential (SASL/PLAIN against stored SCRAM credentials)?
pub fn verify_password(hash: Hash, c: &Credential, password: &str) -> bool {
    let d = derive(hash, password, &c.salt, c.iterations);
    bool::from(d.stored_key.ct_eq(&c.stored_key))
}

/// Random bytes from the OS.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    if let Err(e) = getrandom::getrandom(&mut b) {
        // No OS randomness: nonces would repeat. Refuse rather than weaken (the exchange
        // fails because the all-zero nonce is never accepted as fresh).
        tracing::error!(error = %e, "no OS randomness");
    }
    b
}

/// One server-side exchange.
pub struct ScramServer {
    hash: Hash,
    state: State,
}

// One per authenticating connection, short-lived, and boxed by its user (sasl::Stage).
#[allow(clippy::large_enum_variant)]
enum State {
    First,
    Final {
        user: String,
        gs2_header: String,
        client_first_bare: String,
        server_first: String,
        nonce: String,
        cred: Credential,
        /// No such user: the exchange goes on with a made-up credential and fails at the end,
        /// as for a wrong password (no user enumeration).
        known: bool,
    },
    Done,
}

impl ScramServer {
    pub fn new(hash: Hash) -> ScramServer {
        ScramServer {
            hash,
            state: State::First,
        }
    }

    /// client-first-message → server-first-message. `lookup` finds the user's credential.
    pub fn first(
        &mut self,
        msg: &[u8],
        lookup: impl Fn(&str) -> Option<Credential>,
    ) -> Result<Vec<u8>, ScramError> {
        if !matches!(self.state, State::First) {
            return Err(ScramError::Malformed("unexpected client-first message"));
        }
        let msg = text(msg)?;
        // gs2-header = gs2-cbind-flag "," [ authzid ] ","
        let (flag, rest) = msg
            .split_once(',')
            .ok_or(ScramError::Malformed("no gs2 header"))?;
        match flag {
            "n" | "y" => {}
            _ => return Err(ScramError::Unsupported),
        }
        let (authzid, bare) = rest
            .split_once(',')
            .ok_or(ScramError::Malformed("no gs2 header"))?;
        let gs2_header = format!("{flag},{authzid},");
        let mut user = None;
        let mut cnonce = None;
        for attr in bare.split(',') {
            match attr.split_once('=') {
                Some(("n", v)) => user = Some(decode_name(v)?),
                Some(("r", v)) => cnonce = Some(v.to_string()),
                // Mandatory extensions (and Kafka's delegation tokens) are not supported.
                Some(("m", _)) | Some(("tokenauth", _)) => return Err(ScramError::Unsupported),
                Some(_) => {}
                None => return Err(ScramError::Malformed("attribute without '='")),
            }
        }
        let user = user.ok_or(ScramError::Malformed("no user name"))?;
        let cnonce = cnonce
            .filter(|n| !n.is_empty())
            .ok_or(ScramError::Malformed("no client nonce"))?;
        if let Some(a) = authzid.strip_prefix("a=") {
            if decode_name(a)? != user {
                return Err(ScramError::Unsupported);
            }
        } else if !authzid.is_empty() {
            return Err(ScramError::Malformed("bad authzid"));
        }
        let (cred, known) = match lookup(&user) {
            Some(c) => (c, true),
            None => (made_up(self.hash, &user), false),
        };
        let nonce = format!("{cnonce}{}", B64.encode(random_bytes::<24>()));
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&cred.salt),
            cred.iterations
        );
        let out = server_first.clone().into_bytes();
        self.state = State::Final {
            user,
            gs2_header,
            client_first_bare: bare.to_string(),
            server_first,
            nonce,
            cred,
            known,
        };
        Ok(out)
    }

    /// client-final-message → server-final-message and the authenticated user.
    pub fn last(&mut self, msg: &[u8]) -> Result<(Vec<u8>, String), ScramError> {
        let State::Final {
            user,
            gs2_header,
            client_first_bare,
            server_first,
            nonce,
            cred,
            known,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(ScramError::Malformed("unexpected client-final message"));
        };
        let msg = text(msg)?;
        let (without_proof, proof) = msg
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let mut channel = None;
        let mut rnonce = None;
        for attr in without_proof.split(',') {
            match attr.split_once('=') {
                Some(("c", v)) => channel = Some(v),
                Some(("r", v)) => rnonce = Some(v),
                Some(("m", _)) => return Err(ScramError::Unsupported),
                Some(_) => {}
                None => return Err(ScramError::Malformed("attribute without '='")),
            }
        }
        let channel = channel.ok_or(ScramError::Malformed("no channel binding"))?;
        let cb = B64
            .decode(channel)
            .map_err(|_| ScramError::Malformed("channel binding not base64"))?;
        if cb != gs2_header.as_bytes() {
            return Err(ScramError::Malformed(
                "channel binding differs from gs2 header",
            ));
        }
        if rnonce != Some(nonce.as_str()) {
            return Err(ScramError::Nonce);
        }
        let proof = B64
            .decode(proof)
            .map_err(|_| ScramError::Malformed("proof not base64"))?;
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_signature = hmac(self.hash, &cred.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(ScramError::BadProof(user));
        }
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let ok = digest(self.hash, &client_key).ct_eq(&cred.stored_key);
        if !bool::from(ok) || !known {
            return Err(ScramError::BadProof(user));
        }
        let server_signature = hmac(self.hash, &cred.server_key, auth_message.as_bytes());
        Ok((
            format!("v={}", B64.encode(server_signature)).into_bytes(),
            user,
        ))
    }
}

fn text(msg: &[u8]) -> Result<&str, ScramError> {
    if msg.len() > MAX_MESSAGE {
        return Err(ScramError::Malformed("message too long"));
    }
    std::str::from_utf8(msg).map_err(|_| ScramError::Malformed("not UTF-8"))
}

/// saslname: "=2C" is ',' and "=3D" is '='; any other '=' is an error.
fn decode_name(v: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i + 1..i + 3) {
            Some("2C") => out.push(','),
            Some("3D") => out.push('='),
            _ => return Err(ScramError::Malformed("bad escape in user name")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    if out.is_empty() {
        return Err(ScramError::Malformed("empty user name"));
    }
    Ok(out)
}

/// A stable made-up credential for an unknown user (same salt on every attempt).
fn made_up(hash: Hash, user: &str) -> Credential {
    static SECRET: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    let secret = SECRET.get_or_init(random_bytes::<32>);
    let salt = hmac(hash, secret, user.as_bytes())[..16].to_vec();
    Credential {
        salt,
        iterations: DEFAULT_ITERATIONS,
        stored_key: random_bytes::<64>()[..digest(hash, b"").len()].to_vec(),
        server_key: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's SCRAM-SHA-256 example: user "user", password "pencil".
    #[test]
    fn rfc7677_example() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("b64");
        let cred = derive(Hash::Sha256, "pencil", &salt, 4096);
        let client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
        let server_first =
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let without_proof = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let mut s = ScramServer::new(Hash::Sha256);
        s.state = State::Final {
            user: "user".into(),
            gs2_header: "n,,".into(),
            client_first_bare: client_first_bare.into(),
            server_first: server_first.into(),
            nonce: "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into(),
            cred: cred.clone(),
            known: true,
        };
        let fin = format!("{without_proof},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        let (v, user) = s.last(fin.as_bytes()).expect("RFC proof verifies");
        assert_eq!(user, "user");
        assert_eq!(
            String::from_utf8(v).expect("utf8"),
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        assert!(verify_password(Hash::Sha256, &cred, "pencil"));
        assert!(!verify_password(Hash::Sha256, &cred, "pencil2"));
    }

    /// A whole exchange, client computed here as RFC 5802 says.
    fn client_exchange(hash: Hash, password: &str, known: bool) -> Result<String, ScramError> {
        let cred = derive(hash, "secret", b"0123456789abcdef", 4096);
        let mut s = ScramServer::new(hash);
        let sf = s.first(b"n,,n=alice,r=abc", |u| {
            (known && u == "alice").then(|| cred.clone())
        })?;
        let sf = String::from_utf8(sf).expect("utf8");
        let nonce = sf.split(',').next().expect("r").trim_start_matches("r=");
        assert!(nonce.starts_with("abc") && nonce.len() > 3);
        let without_proof = format!("c=biws,r={nonce}");
        let am = format!("n=alice,r=abc,{sf},{without_proof}");
        let salt = B64
            .decode(
                sf.split(",s=")
                    .nth(1)
                    .expect("s")
                    .split(',')
                    .next()
                    .expect("s"),
            )
            .expect("b64");
        let sp = salted_password(hash, password.as_bytes(), &salt, 4096);
        let ck = hmac(hash, &sp, b"Client Key");
        let sig = hmac(hash, &digest(hash, &ck), am.as_bytes());
        let proof: Vec<u8> = ck.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        let (v, user) = s.last(format!("{without_proof},p={}", B64.encode(proof)).as_bytes())?;
        let sk = hmac(hash, &sp, b"Server Key");
        assert_eq!(
            String::from_utf8(v).expect("utf8"),
            format!("v={}", B64.encode(hmac(hash, &sk, am.as_bytes())))
        );
        Ok(user)
    }

    #[test]
    fn exchanges_both_hashes_wrong_password_and_unknown_user() {
        for h in [Hash::Sha256, Hash::Sha512] {
            assert_eq!(client_exchange(h, "secret", true), Ok("alice".to_string()));
            assert_eq!(
                client_exchange(h, "wrong", true),
                Err(ScramError::BadProof("alice".into()))
            );
            assert_eq!(
                client_exchange(h, "secret", false),
                Err(ScramError::BadProof("alice".into()))
            );
        }
    }

    #[test]
    fn malformed_messages_are_errors() {
        let none = |_: &str| None;
        for m in [
            &b""[..],
            b"n",
            b"p=tls-unique,,n=a,r=b",
            b"n,,r=abc",
            b"n,,n=a",
            b"n,,n=a=ZZ,r=x",
            b"n,a=other,n=a,r=x",
            b"n,,n=a,r=x,m=ext",
            &[0xff, 0xfe],
        ] {
            assert!(
                ScramServer::new(Hash::Sha256).first(m, none).is_err(),
                "{m:?}"
            );
        }
        let mut s = ScramServer::new(Hash::Sha512);
        s.first(b"n,,n=a,r=x", none).expect("first");
        assert_eq!(s.last(b"c=biws,r=wrong,p=AAAA"), Err(ScramError::Nonce));
        assert!(s.last(b"again").is_err());
        assert_eq!(decode_name("a=2Cb=3Dc").expect("escapes"), "a,b=c");
    }
}
