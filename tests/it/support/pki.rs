//! A throw-away PKI: one trusted test CA, the server certificates the TLS
//! diagnosis tests need (good, expired, wrong host, unknown issuer) and the
//! key that signs registry tokens. Everything is written under a temp dir
//! because the registry child process and the CLI read PEM files by path.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256,
};
use tempfile::TempDir;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// The names every "good" server certificate is valid for: what tests dial
/// (`127.0.0.1`, `localhost`, `::1`) plus a DNS name the dnsmasq helper can map.
pub const SERVER_NAMES: [&str; 4] = ["localhost", "127.0.0.1", "::1", "registry.preflight.test"];

/// The cloud registries' host names (and a Harbor's), on [`Pki::cloud`]: tests reach them on
/// loopback through a DNS server of their own, so the registry profiles chosen by host name apply.
pub const CLOUD_NAMES: [&str; 9] = [
    "123456789012.dkr.ecr.us-east-1.amazonaws.com",
    "public.ecr.aws",
    "europe-west1-docker.pkg.dev",
    "gcr.io",
    "myregistry.azurecr.io",
    "ghcr.io",
    "quay.io",
    "harbor.preflight.test",
    "localhost",
];

/// The only name on [`Pki::wrong_host`].
pub const WRONG_HOST_NAME: &str = "other.preflight.test";

/// A CA certificate on disk.
// `pem_path` is the name the tests use; the lint dislikes the `pem` prefix.
#[allow(clippy::struct_field_names)]
#[derive(Debug, Clone)]
pub struct Pem {
    /// PEM file, to hand to the CLI (`--ca-file`-style options) or registry.
    pub pem_path: PathBuf,
    pub pem: String,
    pub der: Vec<u8>,
}

/// A leaf certificate and its private key, on disk and in memory.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert_pem: PathBuf,
    /// PKCS#8 private key in PEM.
    pub key_pem: PathBuf,
    pub cert_der: Vec<u8>,
    /// PKCS#8 private key in DER.
    pub key_der: Vec<u8>,
}

#[derive(Debug)]
pub struct Pki {
    pub dir: TempDir,
    /// The test CA; the only one tests should trust.
    pub ca: Pem,
    /// CA-signed, [`SERVER_NAMES`], valid from a day ago for 30 days.
    pub server: CertFiles,
    /// CA-signed, [`SERVER_NAMES`], expired yesterday.
    pub expired: CertFiles,
    /// Signed by the CA, same names as `server`, valid for 7 more days: "expires soon".
    pub expiring: CertFiles,
    /// CA-signed, valid, but only for [`WRONG_HOST_NAME`].
    pub wrong_host: CertFiles,
    /// [`SERVER_NAMES`], valid, signed by a CA whose certificate is never
    /// written out, so no client can trust it.
    pub unknown_ca_server: CertFiles,
    /// CA-signed, valid, for [`CLOUD_NAMES`].
    pub cloud: CertFiles,
    /// Self-signed RSA-2048 certificate that signs registry tokens (RS256);
    /// it is its own root, so the registry's `rootcertbundle` is this file.
    pub token_signer: CertFiles,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("preflight-pki-")
            .tempdir()
            .expect("create pki temp dir");
        let now = SystemTime::now();

        let (ca_params, ca_key) = new_ca("preflight test CA", now);
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign test CA");
        let ca_path = dir.path().join("ca.pem");
        write(&ca_path, ca_cert.pem().as_bytes());
        let ca = Pem {
            pem_path: ca_path,
            pem: ca_cert.pem(),
            der: ca_cert.der().to_vec(),
        };
        let issuer = Issuer::new(ca_params, ca_key);

        let server = leaf(
            dir.path(),
            "server",
            &SERVER_NAMES,
            now - DAY,
            now + 30 * DAY,
            &issuer,
        );
        let expired = leaf(
            dir.path(),
            "expired",
            &SERVER_NAMES,
            now - 60 * DAY,
            now - DAY,
            &issuer,
        );
        let expiring = leaf(
            dir.path(),
            "expiring",
            &SERVER_NAMES,
            now - 80 * DAY,
            now + 7 * DAY + DAY / 2,
            &issuer,
        );
        let wrong_host = leaf(
            dir.path(),
            "wrong-host",
            &[WRONG_HOST_NAME],
            now - DAY,
            now + 30 * DAY,
            &issuer,
        );

        // A second CA that exists only in memory: its leaf is otherwise
        // identical to `server`, so the only failure is the unknown issuer.
        let (rogue_params, rogue_key) = new_ca("preflight untrusted CA", now);
        let rogue = Issuer::new(rogue_params, rogue_key);
        let unknown_ca_server = leaf(
            dir.path(),
            "unknown-ca-server",
            &SERVER_NAMES,
            now - DAY,
            now + 30 * DAY,
            &rogue,
        );

        let cloud = leaf(
            dir.path(),
            "cloud",
            &CLOUD_NAMES,
            now - DAY,
            now + 30 * DAY,
            &issuer,
        );
        let token_signer = token_signer(dir.path(), now);

        Pki {
            dir,
            ca,
            server,
            expired,
            expiring,
            wrong_host,
            unknown_ca_server,
            cloud,
            token_signer,
        }
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

/// A rustls server config presenting `files`. ALPN offers only http/1.1 so
/// the in-process fakes never have to speak HTTP/2.
pub fn rustls_server_config(files: &CertFiles) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    // An explicit provider: the process-wide default may be unset, or set by
    // another crate to something else, in any given test binary.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("default TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(files.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(files.key_der.clone())),
        )
        .expect("server certificate and key match");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

fn new_ca(common_name: &str, now: SystemTime) -> (CertificateParams, KeyPair) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("generate CA key");
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = (now - DAY).into();
    params.not_after = (now + 3650 * DAY).into();
    (params, key)
}

fn leaf(
    dir: &Path,
    stem: &str,
    names: &[&str],
    not_before: SystemTime,
    not_after: SystemTime,
    issuer: &Issuer<'_, KeyPair>,
) -> CertFiles {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("generate server key");
    let sans: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    // `new` turns strings that parse as IP addresses into IP SANs, which is
    // what rustls and Go need to accept a certificate for 127.0.0.1.
    let mut params = CertificateParams::new(sans).expect("valid SANs");
    params.distinguished_name = name(names[0]);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = not_before.into();
    params.not_after = not_after.into();
    let cert = params
        .signed_by(&key, issuer)
        .expect("sign server certificate");
    store(dir, stem, &cert.pem(), cert.der().to_vec(), &key)
}

fn token_signer(dir: &Path, now: SystemTime) -> CertFiles {
    // RSA because RS256 is what every registry token verifier supports;
    // aws-lc-rs can generate RSA keys (ring cannot).
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256).expect("generate RSA token signing key");
    let mut params = CertificateParams::default();
    params.distinguished_name = name("preflight test token signer");
    // No extended key usage on purpose: Go's verifier treats a certificate
    // without EKUs as usable for anything, whereas any EKU list that lacks
    // the one it asks for would make the registry reject every token.
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.not_before = (now - DAY).into();
    params.not_after = (now + 365 * DAY).into();
    let cert = params.self_signed(&key).expect("self-sign token signer");
    store(dir, "token-signer", &cert.pem(), cert.der().to_vec(), &key)
}

fn store(dir: &Path, stem: &str, cert_pem: &str, cert_der: Vec<u8>, key: &KeyPair) -> CertFiles {
    let cert_path = dir.join(format!("{stem}.pem"));
    let key_path = dir.join(format!("{stem}-key.pem"));
    write(&cert_path, cert_pem.as_bytes());
    write(&key_path, key.serialize_pem().as_bytes());
    CertFiles {
        cert_pem: cert_path,
        key_pem: key_path,
        cert_der,
        key_der: key.serialize_der(),
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "preflight tests");
    dn
}

fn write(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
