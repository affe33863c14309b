//! The response body: a complete buffer, or a long-lived watch stream fed
//! line by line by a background task.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// Response body of the fake apiserver.
#[derive(Debug)]
pub enum FakeBody {
    /// A complete response.
    Full(Option<Bytes>),
    /// Newline-delimited watch events; ends when the sender is dropped.
    Stream(mpsc::Receiver<Bytes>),
}

impl FakeBody {
    /// A complete JSON body.
    pub(crate) fn json(value: &serde_json::Value) -> Self {
        FakeBody::Full(Some(Bytes::from(value.to_string())))
    }
}

impl Body for FakeBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            FakeBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            FakeBody::Stream(rx) => rx
                .poll_recv(cx)
                .map(|line| line.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, FakeBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            FakeBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            FakeBody::Full(None) => SizeHint::with_exact(0),
            FakeBody::Stream(_) => SizeHint::default(),
        }
    }
}
