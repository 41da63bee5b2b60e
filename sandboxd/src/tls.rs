//! TLS for the one port sandboxd serves (`--tls-cert` / `--tls-key`): rustls with ALPN h2
//! and http/1.1, so browsers get HTTP/2 and Modal's clients see an https API like
//! Modal's own. Also the roots a gateway trusts for its upstream.

use anyhow::{Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// The certificate chain and private key of `--tls-cert` / `--tls-key` (PEM).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading certificates from {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificates in {}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("no certificate in {}", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key in {}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("the TLS certificate and key do not match")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The PEM certificates of `--upstream-ca` (for tonic's client TLS).
pub fn ca_pem(path: &Path) -> Result<Vec<u8>> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let n = CertificateDer::pem_slice_iter(&pem)
        .filter(|c| c.is_ok())
        .count();
    if n == 0 {
        anyhow::bail!("no PEM certificate in {}", path.display());
    }
    Ok(pem)
}
