//! A signed-in session: the identity service client, and the same access
//! token for the other services.

use anyhow::Context;
use pantau_platform::tls::GrpcTls;
use pantau_proto::attendance::v1::attendance_service_client::AttendanceServiceClient;
use pantau_proto::identity::v1::LoginRequest;
use pantau_proto::identity::v1::identity_service_client::IdentityServiceClient;
use pantau_proto::scoring::v1::scoring_service_client::ScoringServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status};

/// Import responses list every rejected row, which can exceed tonic's 4 MiB
/// default for a large file.
const MAX_MESSAGE: usize = 256 * 1024 * 1024;

pub type Client = IdentityServiceClient<InterceptedService<Channel, Bearer>>;
pub type Attendance = AttendanceServiceClient<InterceptedService<Channel, Bearer>>;
pub type Scoring = ScoringServiceClient<InterceptedService<Channel, Bearer>>;

/// Signed in to identity; its access token also opens the other services.
pub struct Session {
    pub identity: Client,
    bearer: Bearer,
    tls: GrpcTls,
}

impl Session {
    /// Connects to the attendance service at `url` with this session's token.
    pub async fn attendance(&self, url: &str) -> anyhow::Result<Attendance> {
        let channel = channel(url, "attendance", &self.tls).await?;
        Ok(AttendanceServiceClient::with_interceptor(
            channel,
            self.bearer.clone(),
        ))
    }

    /// The access token itself (what `Bearer` sends).
    pub fn access_token(&self) -> &str {
        self.bearer
            .0
            .to_str()
            .unwrap_or_default()
            .trim_start_matches("Bearer ")
    }

    /// Connects to the scoring service at `url` with this session's token.
    pub async fn scoring(&self, url: &str) -> anyhow::Result<Scoring> {
        let channel = channel(url, "scoring", &self.tls).await?;
        Ok(ScoringServiceClient::with_interceptor(
            channel,
            self.bearer.clone(),
        ))
    }
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl Interceptor for Bearer {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

/// A connection to the `service` at `url`, over TLS with `tls` when the URL
/// is `https://`.
pub async fn channel(url: &str, service: &str, tls: &GrpcTls) -> anyhow::Result<Channel> {
    tls.endpoint(url)
        .with_context(|| {
            format!("the {service} service URL {url:?} (TLS: --tls-ca, --tls-cert, --tls-key)")
        })?
        .connect()
        .await
        .with_context(|| format!("failed to connect to the {service} service at {url}"))
}

/// Connects to the identity service at `url` and signs in.
pub async fn connect(
    url: &str,
    login: &str,
    password: &str,
    tls: GrpcTls,
) -> anyhow::Result<Session> {
    let channel = channel(url, "identity", &tls).await?;
    let token = IdentityServiceClient::new(channel.clone())
        .login(LoginRequest {
            login_id: login.to_owned(),
            password: password.to_owned(),
        })
        .await
        .map_err(|s| rpc_error(&format!("login as {login:?}"), &s))?
        .into_inner()
        .access_token;
    let bearer = Bearer(
        format!("Bearer {token}")
            .parse()
            .context("the identity service returned a token that is not a valid header")?,
    );
    let identity = IdentityServiceClient::with_interceptor(channel, bearer.clone())
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    Ok(Session {
        identity,
        bearer,
        tls,
    })
}

/// The gRPC message of a failed call, with its code.
pub fn rpc_error(what: &str, s: &Status) -> anyhow::Error {
    anyhow::anyhow!("{what} failed: {} ({:?})", s.message(), s.code())
}
