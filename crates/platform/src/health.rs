//! `pantau-<service> health`: a service binary asking its own running server
//! for the standard gRPC health check (`grpc.health.v1.Health/Check`, the
//! whole server), with the same settings the server runs with. It exits 0
//! only when the server answers SERVING.
//!
//! It exists for TLS: Kubernetes' `grpc:` probes and the images'
//! `pantau-healthcheck` speak plaintext only, so with `PANTAU_TLS_CERT` set a
//! deployment probes with `exec: [pantau-<service>, health]` instead. Over
//! TLS the probe trusts [`tls::CA`] (or, without it, [`tls::CLIENT_CA`]),
//! verifies the server under the first name its own certificate carries (a
//! wildcard's `*` read as `health`) while connecting to loopback, and
//! presents that certificate, so a server requiring client certificates
//! answers it too.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tonic::transport::Endpoint;
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use x509_parser::extensions::GeneralName;

use crate::Settings;
use crate::tls::{self, GrpcTls};

/// How long the probe waits to connect, and then for the answer (within a
/// Kubernetes probe's `timeoutSeconds: 5`).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a service binary was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// No argument: run the service.
    Serve,
    /// `health`: probe the running server ([`probe`]).
    Health,
    /// `help`, `-h` or `--help`: print this text.
    Help(String),
}

fn usage(program: &str) -> String {
    format!(
        "usage: {program} [health]\n\
         \n\
         without an argument, runs the service (settings: PANTAU_* environment variables)\n\
         health   asks the running server, with the same settings, for its gRPC health;\n\
         \x20        exits 0 only if it answers SERVING (a probe that works with gRPC TLS on)"
    )
}

/// The command in a service binary's arguments (those after the program
/// name); anything else is an error carrying the usage.
pub fn command(program: &str, args: impl IntoIterator<Item = String>) -> anyhow::Result<Command> {
    let args: Vec<String> = args.into_iter().collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => Ok(Command::Serve),
        ["health"] => Ok(Command::Health),
        ["help" | "-h" | "--help"] => Ok(Command::Help(usage(program))),
        _ => bail!("unexpected arguments {args:?}\n{}", usage(program)),
    }
}

/// The first thing a service's `main` does: reads the command line and
/// returns only if the service is to run. `health` and `help` are done here
/// and exit the process (`health` with 1 and one line on stderr when the
/// server is not serving); other arguments exit with 2 and the usage.
pub async fn dispatch(program: &str, defaults: &[(&str, &str)], addr_key: &str) {
    let command = match command(program, std::env::args().skip(1)) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("{program}: {e:#}");
            std::process::exit(2);
        }
    };
    match command {
        Command::Serve => {}
        Command::Health => {
            let outcome = async { probe(&Settings::load(defaults)?, addr_key).await }.await;
            if let Err(e) = outcome {
                eprintln!("{program} health: {e:#}");
                std::process::exit(1);
            }
            std::process::exit(0);
        }
        Command::Help(text) => {
            println!("{text}");
            std::process::exit(0);
        }
    }
}

/// `<service> health`: the server at the address `addr_key` names (its own
/// listening setting), with the TLS `settings` give. Prints `SERVING` and
/// returns `Ok` only if it is.
pub async fn probe(settings: &Settings, addr_key: &str) -> anyhow::Result<()> {
    let addr: SocketAddr = settings.parse(addr_key)?;
    let tls = GrpcTls::from_settings(settings)?;
    check(addr, &tls, PROBE_TIMEOUT).await?;
    println!("SERVING");
    Ok(())
}

/// Asks the server listening on `addr` (loopback when it listens on every
/// address) whether it is serving, over TLS when `tls` has a certificate.
pub async fn check(addr: SocketAddr, tls: &GrpcTls, timeout: Duration) -> anyhow::Result<()> {
    let target = crate::grpc::dial_addr(addr);
    let endpoint = endpoint(target, tls)?
        .connect_timeout(timeout)
        .timeout(timeout);
    let channel = endpoint.connect().await.map_err(|e| {
        anyhow!(
            "cannot reach the gRPC server on {target}: {}",
            tls::error_chain(&e)
        )
    })?;
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map_err(|s| {
            anyhow!(
                "the gRPC server on {target} did not answer the health check: {:?}: {}",
                s.code(),
                s.message()
            )
        })?
        .into_inner()
        .status;
    if status != ServingStatus::Serving as i32 {
        let name = tonic_health::pb::health_check_response::ServingStatus::try_from(status)
            .map(|s| s.as_str_name().to_owned())
            .unwrap_or_else(|_| status.to_string());
        bail!("the gRPC server on {target} is {name}, not SERVING");
    }
    Ok(())
}

fn endpoint(target: SocketAddr, tls: &GrpcTls) -> anyhow::Result<Endpoint> {
    let Some(identity) = &tls.identity else {
        return Ok(Endpoint::from_shared(format!("http://{target}"))?);
    };
    let trusted = tls.ca.as_ref().or(tls.client_ca.as_ref()).ok_or_else(|| {
        anyhow!(
            "the server speaks TLS ({}): the health probe needs {} (or {}) naming the CA that \
             signed its certificate",
            tls::CERT,
            tls::CA,
            tls::CLIENT_CA
        )
    })?;
    let name = certificate_name(identity.cert.pem())
        .with_context(|| format!("{}: {}", tls::CERT, identity.cert.path().display()))?;
    let config = tls.client_trusting(trusted).domain_name(name);
    Ok(Endpoint::from_shared(format!("https://{target}"))?.tls_config(config)?)
}

/// The name to verify the server's certificate under: the first DNS name of
/// its subject alternative names (`localhost` if it is among them; a
/// wildcard's `*` as `health`), else its first IP address.
pub fn certificate_name(pem: &[u8]) -> anyhow::Result<String> {
    let der = CertificateDer::pem_slice_iter(pem)
        .next()
        .ok_or_else(|| anyhow!("holds no PEM certificate"))?
        .map_err(|e| anyhow!("not a PEM certificate file ({e})"))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| anyhow!("not an X.509 certificate ({e})"))?;
    let names = cert
        .subject_alternative_name()
        .map_err(|e| anyhow!("unreadable subject alternative names ({e})"))?
        .map(|san| san.value.general_names.clone())
        .unwrap_or_default();
    let dns: Vec<&str> = names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(*d),
            _ => None,
        })
        .collect();
    if dns.contains(&"localhost") {
        return Ok("localhost".to_owned());
    }
    if let Some(first) = dns.first() {
        return Ok(match first.strip_prefix("*.") {
            Some(rest) => format!("health.{rest}"),
            None => (*first).to_owned(),
        });
    }
    for n in &names {
        if let GeneralName::IPAddress(bytes) = n {
            let ip = match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                _ => None,
            };
            if let Some(ip) = ip {
                return Ok(ip.to_string());
            }
        }
    }
    bail!("names no DNS name or IP address (subject alternative names) to verify the server under")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn no_argument_serves_health_probes_and_anything_else_is_refused_with_the_usage() {
        assert_eq!(
            command("pantau-x", args(&[])).expect("serve"),
            Command::Serve
        );
        assert_eq!(
            command("pantau-x", args(&["health"])).expect("health"),
            Command::Health
        );
        for help in ["help", "-h", "--help"] {
            let Command::Help(text) = command("pantau-x", args(&[help])).expect("help") else {
                panic!("{help} is not help");
            };
            assert!(text.starts_with("usage: pantau-x [health]"), "{text}");
        }
        for wrong in [&["healthz"][..], &["health", "now"], &["--serve"]] {
            let e = command("pantau-x", args(wrong))
                .expect_err("refused")
                .to_string();
            assert!(
                e.contains("unexpected arguments") && e.contains("usage: pantau-x"),
                "{e}"
            );
        }
    }

    fn certificate(names: &[&str]) -> String {
        let key = rcgen::KeyPair::generate().expect("key");
        rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .expect("params")
            .self_signed(&key)
            .expect("cert")
            .pem()
    }

    #[test]
    fn the_probe_verifies_under_localhost_else_the_first_name_a_wildcard_or_an_address() {
        let name = |names: &[&str]| certificate_name(certificate(names).as_bytes());
        assert_eq!(
            name(&["attendance.pantau.svc", "localhost"]).expect("name"),
            "localhost"
        );
        assert_eq!(
            name(&["attendance.pantau.svc", "a.b"]).expect("name"),
            "attendance.pantau.svc"
        );
        assert_eq!(name(&["*.pantau.svc"]).expect("name"), "health.pantau.svc");
        assert_eq!(name(&["10.0.0.7"]).expect("name"), "10.0.0.7");
        assert_eq!(name(&["::1"]).expect("name"), "::1");
        let e = name(&[]).expect_err("no name").to_string();
        assert!(e.contains("names no DNS name"), "{e}");
        let e = certificate_name(b"not pem")
            .expect_err("not pem")
            .to_string();
        assert!(e.contains("no PEM certificate"), "{e}");
    }
}
