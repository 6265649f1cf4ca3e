//! The real binary: configuration errors, key and token commands, and `veil demo` end to end.

use std::process::{Command, Stdio};
use std::time::Duration;

const VEIL: &str = env!("CARGO_BIN_EXE_veil");

fn veil(args: &[&str]) -> std::process::Output {
    Command::new(VEIL)
        .args(args)
        .env_remove("VEIL_CONFIG")
        .output()
        .expect("veil runs")
}

#[test]
fn invalid_configuration_names_the_key_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("veil.toml");
    std::fs::write(&file, "[outbound]\nmessages_per_second = \"fast\"\n").unwrap();
    let out = veil(&["--config", file.to_str().unwrap(), "serve"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("outbound.messages_per_second"), "{stderr}");
    std::fs::write(&file, "[whatsapp]\napp_secret = \"s\"\n").unwrap();
    let out = veil(&["--config", file.to_str().unwrap(), "serve"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("whatsapp.verify_token"));
}

#[test]
fn keys_and_tokens_work_on_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    assert!(veil(&["--data-dir", data, "keys", "init"]).status.success());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let out = veil(&[
        "--data-dir",
        data,
        "token",
        "create",
        "--name",
        "ci",
        "--scope",
        "root",
    ]);
    assert!(!out.status.success(), "unknown scopes are refused");
    let out = veil(&[
        "--data-dir",
        data,
        "token",
        "create",
        "--name",
        "ci",
        "--scope",
        "conversation.read.all",
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("token (shown once, store it safely): "))
        .unwrap();
    assert!(token.starts_with("veil_"));
    let db = std::fs::read(dir.path().join("veil.db")).unwrap();
    assert!(
        !db.windows(token.len()).any(|w| w == token.as_bytes()),
        "only the hash is stored"
    );
    let out = veil(&["--data-dir", data, "keys", "rotate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status =
        String::from_utf8_lossy(&veil(&["--data-dir", data, "keys", "status"]).stdout).into_owned();
    assert!(status.contains("current version: 2"), "{status}");
    assert!(
        veil(&["--data-dir", data, "keys", "retire", "--version", "1"])
            .status
            .success()
    );
}

#[test]
fn users_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    assert!(veil(&["--data-dir", data, "keys", "init"]).status.success());
    let out = veil(&[
        "--data-dir",
        data,
        "user",
        "add",
        "--email",
        "Ana@Example.com",
        "--role",
        "agent",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let link = stdout.lines().find(|l| l.contains("/setup/")).unwrap();
    let secret = link.rsplit('/').next().unwrap();
    assert!(secret.len() >= 40, "a 256-bit link");
    let db = std::fs::read(dir.path().join("veil.db")).unwrap();
    assert!(
        !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "only the link's hash is stored"
    );
    let out = veil(&[
        "--data-dir",
        data,
        "user",
        "add",
        "--email",
        "x@example.com",
        "--role",
        "root",
    ]);
    assert!(!out.status.success());
    let list =
        String::from_utf8_lossy(&veil(&["--data-dir", data, "user", "list"]).stdout).into_owned();
    assert!(
        list.contains("ana@example.com  agent  active  no 2fa yet"),
        "{list}"
    );
    for args in [
        ["user", "disable", "--email", "ana@example.com"],
        ["user", "reset-2fa", "--email", "ana@example.com"],
        ["user", "unlock", "--email", "ana@example.com"],
        ["user", "logout", "--email", "ana@example.com"],
    ] {
        let mut all = vec!["--data-dir", data];
        all.extend(args);
        let out = veil(&all);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let list =
        String::from_utf8_lossy(&veil(&["--data-dir", data, "user", "list"]).stdout).into_owned();
    assert!(list.contains("ana@example.com  agent  disabled"), "{list}");
    // Every change was recorded, by `cli`.
    let db = rusqlite::Connection::open(dir.path().join("veil.db")).unwrap();
    let actions: Vec<String> = db
        .prepare("SELECT action FROM audit_log WHERE actor = 'cli' ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for action in [
        "user.create",
        "user.disable",
        "user.reset_2fa",
        "user.unlock",
        "user.logout",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    // With the audit store refusing appends, no command changes anything.
    db.execute_batch(
        "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'down'); END;",
    )
    .unwrap();
    let users = |db: &rusqlite::Connection| -> Vec<String> {
        db.prepare("SELECT email || status || role || session_epoch FROM users ORDER BY email")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let tokens = |db: &rusqlite::Connection| -> i64 {
        db.query_row(
            "SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let (users_before, tokens_before) = (users(&db), tokens(&db));
    for args in [
        vec!["user", "enable", "--email", "ana@example.com"],
        vec![
            "user",
            "add",
            "--email",
            "bo@example.com",
            "--role",
            "agent",
        ],
        vec!["user", "unlock", "--email", "ana@example.com"],
        vec!["user", "logout", "--email", "ana@example.com"],
        vec![
            "token",
            "create",
            "--name",
            "t",
            "--scope",
            "conversation.read.all",
        ],
    ] {
        let mut all = vec!["--data-dir", data];
        all.extend(args.iter());
        assert!(
            !veil(&all).status.success(),
            "{args:?} succeeded without its entry"
        );
    }
    assert_eq!(users(&db), users_before);
    assert_eq!(tokens(&db), tokens_before);
    db.execute_batch("DROP TRIGGER audit_down;").unwrap();
    assert!(
        !veil(&[
            "--data-dir",
            data,
            "user",
            "disable",
            "--email",
            "nobody@example.com"
        ])
        .status
        .success()
    );
}

/// The benchmark appends synthetic entries to an append-only log: it runs on an empty one only.
#[test]
fn bench_audit_refuses_a_log_that_already_has_entries() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let bench = [
        "--data-dir",
        data,
        "bench",
        "audit",
        "--entries",
        "40",
        "--callers",
        "4",
    ];
    let first = veil(&bench);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("verify: 40 entries"));
    let again = veil(&bench);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already holds 40 entries"), "{stderr}");
}

#[test]
fn the_permissions_document_is_generated_from_the_code() {
    let out = veil(&["permissions"]);
    assert!(out.status.success());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/permissions.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        committed,
        String::from_utf8_lossy(&out.stdout),
        "docs/permissions.md is stale: run `cargo run -p veil -- permissions > docs/permissions.md`"
    );
}

fn wait_for(path: &std::path::Path) -> serde_json::Value {
    for _ in 0..300 {
        if let Some(value) = std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            return value;
        }
        #[allow(
            clippy::disallowed_methods,
            reason = "waits for another process; bounded to 30 s"
        )]
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{} never appeared", path.display());
}

fn stop(child: &mut std::process::Child) -> std::process::ExitStatus {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_runs_serves_traffic_stops_cleanly_and_reuses_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let mut child = Command::new(VEIL)
        .args(["--data-dir", &data, "demo", "--port", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let info = wait_for(&dir.path().join("demo.json"));
    for key in [
        "url",
        "webhook_url",
        "app_secret",
        "verify_token",
        "phone_number_id",
        "simulator_url",
        "access_token",
        "api_token",
    ] {
        assert!(
            info[key].as_str().is_some_and(|v| !v.is_empty()),
            "demo.json lacks {key}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(dir.path().join("demo.json"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    veil::cli::install_tls_provider();
    let client = reqwest::Client::new();
    let url = info["url"].as_str().unwrap();
    assert!(
        client
            .get(format!("{url}/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let token = info["api_token"].as_str().unwrap();
    let mut conversations = Vec::new();
    for _ in 0..150 {
        let body: serde_json::Value = client
            .get(format!("{url}/api/v1/conversations"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        conversations = body["conversations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !conversations.is_empty() {
            break;
        }
        #[allow(
            clippy::disallowed_methods,
            reason = "waits for simulated customers of another process; bounded"
        )]
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!conversations.is_empty(), "simulated customers wrote in");
    // The demo owner signs in with the password and a code from the real oathtool.
    let owner = &info["users"][0];
    assert_eq!(owner["role"], "owner");
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = browser
        .post(format!("{url}/login"))
        .form(&[
            ("email", owner["email"].as_str().unwrap()),
            ("password", owner["password"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let page = browser
        .get(format!("{url}/login/2fa"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::helpers::csrf_of(&page);
    let code = Command::new("oathtool")
        .args(["--totp", "-b", owner["totp_secret"].as_str().unwrap()])
        .output()
        .unwrap();
    let code = String::from_utf8_lossy(&code.stdout).trim().to_owned();
    let r = browser
        .post(format!("{url}/login/2fa"))
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        reqwest::StatusCode::SEE_OTHER,
        "the demo owner is signed in"
    );
    let me: serde_json::Value = browser
        .get(format!("{url}/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["principal"]["role"], "owner");
    assert!(stop(&mut child).success(), "SIGTERM stops the demo cleanly");
    // The README's verification, from a bare data dir (none of the demo's settings), passes on
    // the untouched log, and still does after a second demo on another port (another URL).
    let verify = || {
        let out = veil(&["--data-dir", &data, "audit", "verify"]);
        assert!(
            out.status.success(),
            "audit verify on the demo's log: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    verify();
    // Second start: same data, same token.
    std::fs::remove_file(dir.path().join("demo.json")).ok();
    std::fs::write(
        dir.path().join("demo.json"),
        serde_json::to_vec(&info).unwrap(),
    )
    .unwrap();
    let mut child = Command::new(VEIL)
        .args(["--data-dir", &data, "demo", "--port", "0", "--no-traffic"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut again = serde_json::Value::Null;
    for _ in 0..300 {
        again = wait_for(&dir.path().join("demo.json"));
        if again["url"] != info["url"] {
            break;
        }
        #[allow(
            clippy::disallowed_methods,
            reason = "waits for another process; bounded"
        )]
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(again["api_token"], info["api_token"]);
    assert_eq!(again["users"], info["users"], "the demo users are kept");
    let body: serde_json::Value = client
        .get(format!(
            "{}/api/v1/conversations",
            again["url"].as_str().unwrap()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["conversations"].as_array().unwrap().len() >= conversations.len());
    assert!(stop(&mut child).success());
    verify();
}

#[test]
fn guard_scan_reads_json_lines_and_writes_one_result_per_line() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(VEIL)
        .args(["--data-dir", dir.path().to_str().unwrap(), "guard", "scan"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input = concat!(
        "{\"id\": \"a\", \"text\": \"卡号5555555555554444谢谢\"}\n",
        "{\"id\": 2, \"text\": \"Olá, tudo bem?\"}\n",
        "not json\n",
        "{\"id\": 4, \"text\": \"send me the code, pls: http://whatsapp.com.login-check.ru/x\"}\n",
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    let card = &lines[0]["findings"][0];
    assert_eq!(
        (lines[0]["id"].as_str(), card["kind"].as_str()),
        (Some("a"), Some("card_number"))
    );
    // Byte offsets into the UTF-8 text: 卡号 is six bytes.
    assert_eq!(
        (card["start"].as_u64(), card["end"].as_u64()),
        (Some(6), Some(22))
    );
    assert_eq!(card["action"], "mask");
    assert_eq!(lines[0]["risk"], "high");
    assert_eq!(lines[1]["findings"].as_array().unwrap().len(), 0);
    assert_eq!(lines[1]["risk"], "none");
    assert!(lines[2]["error"].is_string());
    let kinds: Vec<&str> = lines[3]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["code_request", "phishing_url"], "{}", lines[3]);
}

#[test]
fn guard_eval_meets_the_bars_on_a_small_corpus() {
    let out = veil(&["guard", "eval", "--messages", "3000", "--seconds", "0"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("bars: met"), "{text}");
    for kind in [
        "card_number",
        "iban",
        "br_cpf",
        "cn_resident_id",
        "phishing_url",
        "code_request",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(kind)),
            "{kind} missing from\n{text}"
        );
    }
}
