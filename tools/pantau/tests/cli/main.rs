//! The built `pantau` binary against in-process identity, attendance and
//! scoring services on throwaway NATS and PostgreSQL: a legacy payroll import
//! reports what it imported, flagged and rejected, and rerunning the same
//! file imports nothing new (`import`); `qr export` writes a scannable card
//! per active worker (`qr`); `scores` closes a month, rebuilds it with
//! corrected rules and accepts the rebuild as its next revision (`scores`);
//! it calls services over mutual TLS with `--tls-*` (`tls`).

mod import;
mod qr;
mod scores;
mod sim;
mod tls;
mod token;

use std::time::Duration;

use anyhow::Context;
use pantau_proto::identity::v1::LoginRequest;
use pantau_proto::identity::v1::identity_service_client::IdentityServiceClient;
use tonic::Request;
use tonic::transport::Channel;

const PASSWORD: &str = "admin-password";

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// `pantau` signed in as the province admin of the identity service at `url`.
fn command(url: &str, password: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_pantau"));
    cmd.env("PANTAU_IDENTITY_URL", url)
        .env("PANTAU_LOGIN_ID", "admin")
        .env("PANTAU_PASSWORD", password)
        .kill_on_drop(true);
    cmd
}

async fn pantau(url: &str, password: &str, args: &[&str]) -> anyhow::Result<Output> {
    run(command(url, password).args(args)).await
}

async fn run(cmd: &mut tokio::process::Command) -> anyhow::Result<Output> {
    run_within(cmd, 120).await
}

async fn run_within(cmd: &mut tokio::process::Command, secs: u64) -> anyhow::Result<Output> {
    let out = tokio::time::timeout(Duration::from_secs(secs), cmd.output())
        .await
        .with_context(|| format!("pantau did not finish within {secs} s"))??;
    Ok(Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

fn authed<T>(token: &str, msg: T) -> anyhow::Result<Request<T>> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(req)
}

/// NIK 317101 + DDMMYY (+40 on DD for women) + serial.
fn nik(day: u32, month: u32, yy: u32, female: bool, serial: u32) -> String {
    let dd = if female { day + 40 } else { day };
    format!("317101{dd:02}{month:02}{yy:02}{serial:04}")
}

/// Signs in as the province admin.
async fn admin_token(client: &mut IdentityServiceClient<Channel>) -> anyhow::Result<String> {
    Ok(client
        .login(LoginRequest {
            login_id: "admin".into(),
            password: PASSWORD.into(),
        })
        .await?
        .into_inner()
        .access_token)
}
