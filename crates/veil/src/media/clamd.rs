//! The optional virus scan: files streamed to a `ClamAV` daemon over its Unix socket
//! (`INSTREAM`: length-prefixed chunks, a zero-length end, one reply line).

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const CHUNK: usize = 64 * 1024;
const TIMEOUT: Duration = Duration::from_mins(1);
/// Longer replies are not clamd's.
const MAX_REPLY: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ClamdError {
    #[error("clamd: {0}")]
    Io(#[from] std::io::Error),
    #[error("clamd did not answer in time")]
    Timeout,
    #[error("clamd: unexpected reply")]
    Reply,
}

/// What clamd said about a file: `None` when clean, the signature's name when not.
pub async fn scan(socket: &Path, bytes: &[u8]) -> Result<Option<String>, ClamdError> {
    tokio::time::timeout(TIMEOUT, exchange(socket, bytes))
        .await
        .map_err(|_| ClamdError::Timeout)?
}

async fn exchange(socket: &Path, bytes: &[u8]) -> Result<Option<String>, ClamdError> {
    let mut stream = UnixStream::connect(socket).await?;
    stream.write_all(b"zINSTREAM\0").await?;
    for chunk in bytes.chunks(CHUNK) {
        let len = u32::try_from(chunk.len()).map_err(|_| ClamdError::Reply)?;
        stream.write_all(&len.to_be_bytes()).await?;
        stream.write_all(chunk).await?;
    }
    stream.write_all(&0u32.to_be_bytes()).await?;
    stream.flush().await?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(buf.get(..n).unwrap_or_default());
        if reply.contains(&0) || reply.len() > MAX_REPLY {
            break;
        }
    }
    let text = String::from_utf8_lossy(&reply);
    let line = text.trim_end_matches(['\0', '\n']).trim();
    let verdict = line
        .strip_prefix("stream:")
        .map(str::trim)
        .ok_or(ClamdError::Reply)?;
    if verdict == "OK" {
        Ok(None)
    } else if let Some(name) = verdict.strip_suffix("FOUND") {
        Ok(Some(name.trim().chars().take(120).collect()))
    } else {
        Err(ClamdError::Reply)
    }
}
