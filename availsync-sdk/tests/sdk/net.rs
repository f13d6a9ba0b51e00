//! Network fixtures for the https:// and proxy tests: a private
//! certificate authority, a TLS-terminating front for the plain-HTTP test
//! server, an HTTP proxy and a SOCKS5 proxy, each counting what
//! went through it. availsync-setup's guard tests include this file too
//! (by path), so the two suites test the same fixtures.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A private certificate authority.
pub struct TestCa {
    certificate: rcgen::Certificate,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = params.self_signed(&key).unwrap();
        Self {
            certificate,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// The CA's certificate, PEM-encoded (what `SSL_CERT_FILE` names).
    pub fn pem(&self) -> String {
        self.certificate.pem()
    }

    /// A server certificate for `name`, signed by this CA, and its key.
    pub fn server(&self, name: &str) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.use_authority_key_identifier_extension = true;
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        (
            certificate.der().clone(),
            PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
    }
}

/// A TLS-terminating proxy in front of `upstream` (an `http://` URL) with
/// the given certificate; answers its port and a count of the connections
/// it took.
pub async fn tls_proxy(
    upstream: &str,
    (certificate, key): (CertificateDer<'static>, PrivateKeyDer<'static>),
) -> (u16, Arc<AtomicUsize>) {
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificate], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let upstream = upstream.strip_prefix("http://").unwrap().to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            counted.fetch_add(1, Ordering::SeqCst);
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake.
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut server = TcpStream::connect(&upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
            });
        }
    });
    (port, connections)
}

/// A proxy on a new loopback port: `open` reads a client's request and
/// answers the connection to relay it to (having answered the client), or
/// `None` to drop it. Answers the proxy's URL (`scheme://address`) and a
/// count of the connections it relayed.
async fn proxy<F, Fut>(scheme: &str, open: F) -> (String, Arc<AtomicUsize>)
where
    F: Fn(TcpStream) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Option<(TcpStream, TcpStream)>> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("{scheme}://{}", listener.local_addr().unwrap());
    let relayed = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&relayed);
    tokio::spawn(async move {
        loop {
            let (client, _) = listener.accept().await.unwrap();
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                if let Some((mut client, mut server)) = open(client).await {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (url, relayed)
}

/// An HTTP proxy: it tunnels a `CONNECT` to its target (as clients do for
/// `https://`), and relays a request in absolute form (`GET
/// http://host:port/path`, as clients send for `http://`) to the host it
/// names. Answers its `http://` URL and a count of the connections it
/// carried.
pub async fn http_proxy() -> (String, Arc<AtomicUsize>) {
    proxy("http", |mut client| async move {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            client.read_exact(&mut byte).await.ok()?;
            head.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let mut request_line = text.split(' ');
        let (target, tunnel) = match (request_line.next(), request_line.next()) {
            (Some("CONNECT"), Some(target)) => (target.to_owned(), true),
            (Some(_), Some(url)) if url.starts_with("http://") => {
                let authority = url["http://".len()..].split('/').next()?;
                (authority.to_owned(), false)
            }
            _ => {
                let _ = client.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
                return None;
            }
        };
        let Ok(mut server) = TcpStream::connect(&target).await else {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
            return None;
        };
        if tunnel {
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .ok()?;
        } else {
            // Servers accept requests in absolute form: relay as is.
            server.write_all(&head).await.ok()?;
        }
        Some((client, server))
    })
    .await
}

/// A SOCKS5 proxy (no authentication, `CONNECT` to an IPv4 address or a
/// name) that relays to its target; answers its `socks5://` URL and a
/// count of the connections it relayed.
pub async fn socks5_proxy() -> (String, Arc<AtomicUsize>) {
    proxy("socks5", |mut client| async move {
        let target = socks5_handshake(&mut client).await?;
        let Ok(server) = TcpStream::connect(&target).await else {
            // General failure.
            let _ = client.write_all(&[5, 1, 0, 1, 0, 0, 0, 0, 0, 0]).await;
            return None;
        };
        // Succeeded, bound to 0.0.0.0:0 (clients ignore it).
        client
            .write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])
            .await
            .ok()?;
        Some((client, server))
    })
    .await
}

/// Reads a SOCKS5 greeting and `CONNECT` request; answers the target as
/// `host:port`.
async fn socks5_handshake(client: &mut TcpStream) -> Option<String> {
    let mut greeting = [0u8; 2];
    client.read_exact(&mut greeting).await.ok()?;
    let mut methods = vec![0u8; usize::from(greeting[1])];
    client.read_exact(&mut methods).await.ok()?;
    if greeting[0] != 5 || !methods.contains(&0) {
        return None;
    }
    client.write_all(&[5, 0]).await.ok()?;
    let mut request = [0u8; 4];
    client.read_exact(&mut request).await.ok()?;
    if request[..3] != [5, 1, 0] {
        return None;
    }
    let host = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await.ok()?;
            std::net::Ipv4Addr::from(ip).to_string()
        }
        3 => {
            let mut length = [0u8; 1];
            client.read_exact(&mut length).await.ok()?;
            let mut name = vec![0u8; usize::from(length[0])];
            client.read_exact(&mut name).await.ok()?;
            String::from_utf8(name).ok()?
        }
        _ => return None,
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port).await.ok()?;
    Some(format!("{host}:{}", u16::from_be_bytes(port)))
}
