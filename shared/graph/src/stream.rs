//! Delta pages read while they arrive, their changes handed on in bounded parts.
//!
//! Graph may put a large group's `members@delta` (100,000s of references) in one delta page, so
//! a client that holds a page whole holds memory in proportion to the largest page. Here a page
//! is parsed from the body as it is received (serde's visitors over an `io::Read`, on a blocking
//! thread) and its changes go on in parts of about [`GraphConfig::delta_part_size`]: one per
//! object, one per member reference. A group whose members fill a part is handed on as an upsert
//! of the group with that share of its member changes, then again with the next share, as Graph
//! itself may spread a big group over pages. Memory then follows the part size, not the page.
//!
//! [`GraphConfig::delta_part_size`]: crate::GraphConfig::delta_part_size

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::time::Duration;

use futures::{Stream, stream};
use reqwest::Method;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use tokio::sync::mpsc;
use url::Url;

use crate::client::TenantGraph;
use crate::error::GraphError;
use crate::paging::{MAX_PAGE, RawPage};
use crate::transport::Call;
use crate::wire::Key;

/// What the parser of one page hands on.
#[derive(Debug)]
pub(crate) enum Part<C> {
    /// Changes of the page; more of the page follows.
    Changes(Vec<C>),
    /// The page's last changes and its links.
    End {
        changes: Vec<C>,
        next_link: Option<String>,
        delta_link: Option<String>,
    },
}

/// The reader of the parts went away (the stream was dropped): parsing stops.
#[derive(Debug)]
pub(crate) struct Stopped;

/// Where parts go: the stream's channel, or a list in unit tests.
pub(crate) trait Out<C> {
    fn send(&mut self, part: Part<C>) -> Result<(), Stopped>;
}

impl<C> Out<C> for mpsc::Sender<Result<Part<C>, GraphError>> {
    fn send(&mut self, part: Part<C>) -> Result<(), Stopped> {
        self.blocking_send(Ok(part)).map_err(|_| Stopped)
    }
}

impl<C> Out<C> for Vec<Part<C>> {
    fn send(&mut self, part: Part<C>) -> Result<(), Stopped> {
        self.push(part);
        Ok(())
    }
}

/// Collects a page's changes and hands them on whenever they weigh `size` or more.
pub(crate) struct Sink<'o, C> {
    out: &'o mut dyn Out<C>,
    pending: Vec<C>,
    weight: usize,
    /// The part size: what a part holds before it is handed on.
    pub(crate) size: usize,
    /// Set when the reader went away.
    stopped: bool,
}

impl<'o, C> Sink<'o, C> {
    pub(crate) fn new(out: &'o mut dyn Out<C>, size: usize) -> Self {
        Sink {
            out,
            pending: Vec::new(),
            weight: 0,
            size: size.max(1),
            stopped: false,
        }
    }

    /// Adds a change of `weight` (1 per object and per member reference it carries).
    pub(crate) fn push(&mut self, change: C, weight: usize) -> Result<(), Stopped> {
        self.pending.push(change);
        self.weight += weight;
        if self.weight >= self.size {
            let part = std::mem::take(&mut self.pending);
            self.weight = 0;
            return self.send(Part::Changes(part));
        }
        Ok(())
    }

    fn end(&mut self, links: Links) -> Result<(), Stopped> {
        let changes = std::mem::take(&mut self.pending);
        self.send(Part::End {
            changes,
            next_link: links.next_link,
            delta_link: links.delta_link,
        })
    }

    fn send(&mut self, part: Part<C>) -> Result<(), Stopped> {
        self.out.send(part).inspect_err(|_| self.stopped = true)
    }
}

/// A serde error for a stopped reader.
pub(crate) fn stopped<E: de::Error>(_: Stopped) -> E {
    E::custom("the reader of the delta page went away")
}

/// How one element of a delta page's `value` becomes changes.
pub(crate) trait Changes: Send + 'static {
    type Change: Send + 'static;

    /// Reads one element and pushes its changes to `sink`.
    fn item<'de, D: Deserializer<'de>>(
        deserializer: D,
        sink: &mut Sink<'_, Self::Change>,
    ) -> Result<(), D::Error>;
}

#[derive(Default)]
struct Links {
    next_link: Option<String>,
    delta_link: Option<String>,
}

/// Parses one delta page from `reader`, handing its changes to `sink` as they are read.
pub(crate) fn parse<K: Changes, R: io::Read>(
    reader: R,
    sink: &mut Sink<'_, K::Change>,
) -> Result<(), serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let links = PageSeed::<K> {
        sink: &mut *sink,
        kind: PhantomData,
    }
    .deserialize(&mut deserializer)?;
    deserializer.end()?;
    sink.end(links).map_err(stopped)
}

/// The page object: `value` streamed, the links kept, anything else skipped.
struct PageSeed<'s, 'o, K: Changes> {
    sink: &'s mut Sink<'o, K::Change>,
    kind: PhantomData<K>,
}

impl<'de, K: Changes> DeserializeSeed<'de> for PageSeed<'_, '_, K> {
    type Value = Links;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Links, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, K: Changes> Visitor<'de> for PageSeed<'_, '_, K> {
    type Value = Links;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a delta page object with \"value\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Links, A::Error> {
        let mut links = Links::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match key.as_ref() {
                "value" => map.next_value_seed(ValueSeed::<K> {
                    sink: &mut *self.sink,
                    kind: PhantomData,
                })?,
                "@odata.nextLink" => links.next_link = map.next_value()?,
                "@odata.deltaLink" => links.delta_link = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(links)
    }
}

/// `value`: each element handed to [`Changes::item`] as it is read (`null` reads as empty).
struct ValueSeed<'s, 'o, K: Changes> {
    sink: &'s mut Sink<'o, K::Change>,
    kind: PhantomData<K>,
}

impl<'de, K: Changes> DeserializeSeed<'de> for ValueSeed<'_, '_, K> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, K: Changes> Visitor<'de> for ValueSeed<'_, '_, K> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of delta items")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        while seq
            .next_element_seed(ItemSeed::<K> {
                sink: &mut *self.sink,
                kind: PhantomData,
            })?
            .is_some()
        {}
        Ok(())
    }
}

struct ItemSeed<'s, 'o, K: Changes> {
    sink: &'s mut Sink<'o, K::Change>,
    kind: PhantomData<K>,
}

impl<'de, K: Changes> DeserializeSeed<'de> for ItemSeed<'_, '_, K> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        K::item(deserializer, self.sink)
    }
}

/// The body of an answer as an `io::Read`, for the parser's blocking thread: each read waits on
/// the connection for at most `idle`.
struct BodyReader {
    response: reqwest::Response,
    runtime: tokio::runtime::Handle,
    idle: Duration,
    chunk: Vec<u8>,
    at: usize,
    /// Why the body ended early, when it did.
    failure: Option<GraphError>,
}

impl io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.chunk.len() {
            let next = self
                .runtime
                .block_on(tokio::time::timeout(self.idle, self.response.chunk()));
            match next {
                Ok(Ok(Some(bytes))) => {
                    self.chunk = Vec::from(bytes);
                    self.at = 0;
                }
                Ok(Ok(None)) => return Ok(0),
                Ok(Err(source)) => {
                    self.failure = Some(GraphError::Transport {
                        source,
                        retryable: true,
                    });
                    return Err(io::Error::other("the answer broke off"));
                }
                Err(_) => {
                    self.failure = Some(GraphError::Stalled { waited: self.idle });
                    return Err(io::Error::other("the answer stalled"));
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

type Parts<C> = mpsc::Receiver<Result<Part<C>, GraphError>>;

/// Where a delta stream stands between two of its parts.
enum State<C> {
    /// The next page to fetch.
    Fetch(Result<Url, GraphError>),
    /// A page being read: its parts, and its own URL (where to resume from mid-page).
    Reading {
        parts: Parts<C>,
        page: Url,
    },
    Done,
}

impl TenantGraph {
    /// GETs delta pages from `start`, following `@odata.nextLink`, and yields each page in parts
    /// (see the module). A part before a page's end carries the page's own URL as its next link:
    /// resuming there reads the page again from its start (a delta page read twice repeats
    /// changes, which a delta reader applies idempotently). The page's last part carries the
    /// page's links as Graph sent them. Ends after the first error.
    pub(crate) fn delta_parts<K: Changes>(
        &self,
        start: Result<Url, GraphError>,
    ) -> impl Stream<Item = Result<RawPage<K::Change>, GraphError>> + Send + 'static + use<K> {
        let graph = self.clone();
        stream::try_unfold(State::Fetch(start), move |state| {
            let graph = graph.clone();
            async move {
                let (mut parts, page) = match state {
                    State::Done => return Ok(None),
                    State::Reading { parts, page } => (parts, page),
                    State::Fetch(url) => {
                        let url = url?;
                        let mut call = Call::new(Method::GET, url.clone());
                        // Delta queries refuse `$top`; their page size is asked for with a
                        // Prefer header (999 objects per request instead of Graph's default 100).
                        call.max_page_size = Some(MAX_PAGE);
                        let response = graph.send_streamed(&call).await?;
                        (graph.read_parts::<K>(response), url)
                    }
                };
                match parts.recv().await {
                    Some(Ok(Part::Changes(items))) => Ok(Some((
                        RawPage {
                            items,
                            next_link: Some(page.to_string()),
                            delta_link: None,
                            more_of_page: true,
                        },
                        State::Reading { parts, page },
                    ))),
                    Some(Ok(Part::End {
                        changes,
                        next_link,
                        delta_link,
                    })) => {
                        if next_link.is_none() && delta_link.is_none() {
                            return Err(GraphError::unexpected(
                                200,
                                None,
                                "a delta page has neither @odata.nextLink nor @odata.deltaLink",
                            ));
                        }
                        let next = match next_link.as_deref() {
                            Some(link) => State::Fetch(graph.trusted_link(link)),
                            None => State::Done,
                        };
                        Ok(Some((
                            RawPage {
                                items: changes,
                                next_link,
                                delta_link,
                                more_of_page: false,
                            },
                            next,
                        )))
                    }
                    Some(Err(error)) => Err(error),
                    None => Err(GraphError::unexpected(
                        200,
                        None,
                        "the reader of a delta page ended before the page did",
                    )),
                }
            }
        })
    }

    /// Starts parsing `response` on a blocking thread; its parts come through the channel, at
    /// most one waiting while the next is read.
    fn read_parts<K: Changes>(&self, response: reqwest::Response) -> Parts<K::Change> {
        let (sender, parts) = mpsc::channel(1);
        let size = self.config().delta_part_size;
        let status = response.status().as_u16();
        let request_id =
            crate::transport::header_str(response.headers(), "request-id").map(str::to_owned);
        let mut reader = BodyReader {
            response,
            runtime: tokio::runtime::Handle::current(),
            idle: self.config().request_timeout,
            chunk: Vec::new(),
            at: 0,
            failure: None,
        };
        tokio::task::spawn_blocking(move || {
            let mut out = sender.clone();
            let mut sink = Sink::new(&mut out, size);
            let parsed = parse::<K, _>(&mut reader, &mut sink);
            let stopped = sink.stopped;
            if let Err(error) = parsed
                && !stopped
            {
                let failure = reader.failure.take().unwrap_or_else(|| {
                    GraphError::unexpected(
                        status,
                        request_id,
                        format!("body does not match the documented shape: {error}"),
                    )
                });
                // The reader may have gone meanwhile: then nobody waits for the failure either.
                let _ = sender.blocking_send(Err(failure));
            }
        });
        parts
    }
}
