//! Lists as streams that follow `next_cursor` page by page.

use std::future::Future;

use availsync_types::Page;
use futures::{Stream, TryStreamExt, stream};

use crate::error::{Error, Result};

enum Position {
    First,
    After(String),
    End,
}

/// Every item of every page, fetched lazily as the stream is polled.
pub(crate) fn pages<T, F, Fut>(fetch: F) -> impl Stream<Item = Result<T>> + Send + 'static
where
    T: Send + 'static,
    F: Fn(Option<String>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<T>>> + Send + 'static,
{
    stream::try_unfold((fetch, Position::First), |(fetch, position)| async move {
        let cursor = match position {
            Position::First => None,
            Position::After(cursor) => Some(cursor),
            Position::End => return Ok::<_, Error>(None),
        };
        let page = fetch(cursor).await?;
        let next = page.next_cursor.map_or(Position::End, Position::After);
        let items = stream::iter(page.items.into_iter().map(Ok::<T, Error>));
        Ok::<_, Error>(Some((items, (fetch, next))))
    })
    .try_flatten()
}
