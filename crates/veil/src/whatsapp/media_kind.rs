//! Meta's table of the media a WhatsApp message can carry: kind and size limit per MIME type.

/// WhatsApp media kind and size limit for a MIME type (Meta's supported-media table).
pub fn media_kind(mime: &str) -> Option<(&'static str, usize)> {
    const MB: usize = 1024 * 1024;
    Some(match mime {
        "image/jpeg" | "image/png" => ("image", 5 * MB),
        "image/webp" => ("sticker", 500 * 1024),
        "video/mp4" | "video/3gp" => ("video", 16 * MB),
        "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg" => ("audio", 16 * MB),
        "text/plain"
        | "application/pdf"
        | "application/msword"
        | "application/vnd.ms-excel"
        | "application/vnd.ms-powerpoint"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => {
            ("document", 100 * MB)
        }
        _ => return None,
    })
}
