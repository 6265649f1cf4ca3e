//! The network edge: Veil's own accept loop over hyper, so that a client cannot hold the server
//! with slow or idle connections. Each connection needs a permit (`server.max_connections`;
//! when all are taken, new connections wait in the kernel's backlog); its request headers must
//! arrive within `server.header_timeout_secs` (slowloris), also for every further request of a
//! keep-alive connection, or the connection is closed. Shutdown lets running requests finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

use crate::http::webhook::Direct;

/// What the edge allows.
#[derive(Debug, Clone, Copy)]
pub struct EdgeLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time to send a request's headers (and, on a kept-alive connection, the next request's).
    pub header_timeout: Duration,
}

/// Serves `router` on `listener` until `stop` completes; then waits up to `drain` for running
/// requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    webhook: Direct,
    limits: EdgeLimits,
    stop: impl Future<Output = ()>,
    drain: Duration,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors and the like: back off a moment rather than spin.
                    tracing::warn!(error = %err, "accept failed");
                    #[allow(
                        clippy::disallowed_methods,
                        reason = "a pause of the accept loop after an OS error, not a timer of Veil's logic"
                    )]
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let service = connection_service(router.clone(), webhook.clone(), peer);
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A closed or timed-out connection is the client's business, not an error of ours.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open at shutdown were closed");
    }
}

/// What one connection's requests go to: the webhook POST skips the router (see
/// `webhook::Direct`); everything else goes through it, with the peer's address.
fn connection_service(
    router: Router,
    webhook: Direct,
    peer: SocketAddr,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let router = router.clone();
        let webhook = webhook.clone();
        async move {
            if Direct::takes(&request) {
                return Ok(webhook.receive(request).await);
            }
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            router.oneshot(request).await
        }
    })
}
