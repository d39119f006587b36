//! The `kipp` binary itself: help text and the start-up summary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn help_documents_every_subcommand() {
    let out = Command::new(env!("CARGO_BIN_EXE_kipp")).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("emulator") && text.contains("token"), "{text}");
    let out = Command::new(env!("CARGO_BIN_EXE_kipp")).args(["emulator", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--api-key",
        "--webhook-url",
        "--webhook-secret",
        "--session-ttl",
        "--webhook-retry",
        "--seed",
        "--state-file",
        "--dev-vars",
        "--production",
        "KUSTOM_WEBHOOK_SECRETS",
    ] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
}

#[test]
fn emulator_prints_its_configuration_without_secrets() {
    let dir = std::env::temp_dir().join(format!("kipp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let vars = dir.join(".dev.vars");
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    std::fs::write(&vars, format!("KUSTOM_API_KEY=kco_test_api_from_dev_vars_123\nKUSTOM_WEBHOOK_SECRETS={secret}\nKUSTOM_MERCHANT_ID=DMFILE1\n")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kipp"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--no-webhooks", "--dev-vars"])
        .arg(&vars)
        .env("KUSTOM_MERCHANT_ID", "DMENV1")
        .env_remove("KUSTOM_API_KEY")
        .env_remove("KUSTOM_WEBHOOK_SECRETS")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut text = String::new();
    for _ in 0..6 {
        text.push_str(&lines.next().unwrap().unwrap());
        text.push('\n');
    }
    child.kill().unwrap();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(text.starts_with("kipp emulator listening on http://127.0.0.1:"), "{text}");
    assert!(text.contains("DMENV1"), "env wins over .dev.vars: {text}");
    assert!(text.contains("kco_test_api…") && !text.contains("from_dev_vars"), "key shown partially: {text}");
    assert!(!text.contains(secret), "secret not printed: {text}");
}

#[test]
fn token_subcommand_exists() {
    let out = Command::new(env!("CARGO_BIN_EXE_kipp")).args(["token", "--help"]).output().unwrap();
    assert!(out.status.success());
}

#[test]
fn token_without_a_key_says_where_one_may_come_from() {
    let out = Command::new(env!("CARGO_BIN_EXE_kipp"))
        .args(["token", "--role", "clerk", "--dev-vars", "/nonexistent/.dev.vars"])
        .env_remove("KIPP_TOKEN_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("KIPP_TOKEN_KEY") && err.contains("check the --dev-vars path"), "{err}");
    // Without --dev-vars (and no ./.dev.vars where it runs), the way out is to name one.
    let dir = std::env::temp_dir().join(format!("kipp-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kipp"))
        .args(["token", "--role", "clerk"])
        .current_dir(&dir)
        .env_remove("KIPP_TOKEN_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pass --dev-vars <file>"), "{err}");
}
