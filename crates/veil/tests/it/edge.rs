//! The network edge under abuse: slow and idle connections, many of them.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::TestApp;

fn address(app: &TestApp) -> std::net::SocketAddr {
    app.app().url.trim_start_matches("http://").parse().unwrap()
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_while_others_are_served() {
    const HELD: usize = 2_000;
    let app = TestApp::spawn_with(|config, _| config.header_timeout_secs = 1).await;
    let addr = address(&app);
    // 2,000 connections, each with half a request's headers, never finished.
    let mut held = Vec::with_capacity(HELD);
    for _ in 0..HELD {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: veil\r\nX-Slow: ")
            .await
            .unwrap();
        held.push(stream);
    }
    // Others are served meanwhile.
    for _ in 0..20 {
        let r = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    // Every held connection is closed by the server (end of stream or reset), none answered
    // with a page; all are read at once, so a server without the timeout fails in 30 s.
    let mut reads = tokio::task::JoinSet::new();
    for mut stream in held {
        reads.spawn(async move {
            let mut buf = [0u8; 256];
            match tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => true,
                // hyper may answer 408 before closing: closed all the same, never a 200.
                Ok(Ok(n)) => !String::from_utf8_lossy(&buf[..n]).contains(" 200 "),
                Err(_) => false,
            }
        });
    }
    let mut closed = 0;
    while let Some(done) = reads.join_next().await {
        closed += usize::from(done.unwrap());
    }
    assert_eq!(closed, HELD, "every half-sent request was cut off");
    // A new connection: the pooled ones sat idle past the (1 s) timeout and were closed too.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let r = fresh.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "and the server still serves");
    app.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_their_turn() {
    let app = TestApp::spawn_with(|config, _| {
        config.max_connections = 4;
        config.header_timeout_secs = 1;
    })
    .await;
    let addr = address(&app);
    // Four idle connections take every permit; a fifth client is served once they are cut off.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    drop(idle);
    app.shutdown().await;
}
