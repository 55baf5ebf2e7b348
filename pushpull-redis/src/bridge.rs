//! Bridges between a local pushpull queue and a stream: a pipeline crosses machines at one
//! stage.
//!
//! ```no_run
//! use pushpull::Builder as Local;
//! use pushpull_redis::{bridge, Builder};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let remote = Builder::new("redis://127.0.0.1:6379", "lines")?.capacity(4096);
//!
//! // Machine A: stage 1 writes into a local queue; a thread ships it to the stream.
//! let (tx, rx) = Local::new(1024).mpmc::<String>();
//! let mut out = remote.sender::<String>()?;
//! let shipper = std::thread::spawn(move || bridge::to_stream(&rx, &mut out, 256));
//! for i in 0..10_000 {
//!     tx.send(format!("line {i}")).unwrap();
//! }
//! drop(tx); // the shipper drains what is left, then returns
//! let report = shipper.join().unwrap()?;
//! assert_eq!(report.values, 10_000);
//!
//! // Machine B: the stream feeds a local queue that stage 2 reads.
//! let (tx, rx) = Local::new(1024).mpmc::<String>();
//! let mut input = remote.receiver::<String>("machine-b")?;
//! std::thread::spawn(move || bridge::from_stream(&mut input, &tx));
//! for line in rx.iter().take(10_000) {
//!     let _ = line;
//! }
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use pushpull::spill::Codec;

use crate::{Error, Receiver, SendError, Sender};

/// What a bridge moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BridgeReport {
    /// Values taken from the source.
    pub values: u64,
    /// Writes to the destination: batches appended for [`to_stream`] (one script call
    /// each, more while a Block stream is full), ack calls for [`from_stream`].
    pub batches: u64,
    /// Values the destination's policy dropped or refused: dropped-newest and rejected
    /// values of a stream ([`to_stream`]), or values the local queue dropped, evicted or
    /// refused ([`from_stream`]; refused ones are given back to the group).
    pub lost: u64,
    /// Entries the stream evicted to take a value (DropOldest, [`to_stream`]).
    pub evicted: u64,
}

/// Drains the local queue `local` into the stream, up to `batch` values per append (one
/// script call, one round trip), until the local queue is closed and empty.
///
/// Each batch is what the local queue holds when the bridge comes for it (at least one
/// value, at most `batch`): under load, batches fill and the round trips are shared; when
/// values trickle in, each goes at once. With the stream's Block policy, a full stream
/// stops the bridge, the local queue fills, and the local producers feel the backpressure
/// of consumers on other machines. Values a Reject or DropNewest stream refuses cannot be
/// handed back to anyone here: they are dropped and counted in [`BridgeReport::lost`].
///
/// On an error (the server unreachable for the sender's `reconnect_for`), the values of
/// the batch in hand are dropped and the error returned.
pub fn to_stream<T, C: Codec<T>>(
    local: &pushpull::Receiver<T>,
    stream: &mut Sender<T, C>,
    batch: usize,
) -> Result<BridgeReport, Error> {
    let batch = batch.max(1);
    let mut report = BridgeReport::default();
    let mut buf = Vec::with_capacity(batch);
    while local.recv_many(&mut buf, batch).is_ok() {
        report.values += buf.len() as u64;
        report.batches += 1;
        match stream.send_batch(&mut buf) {
            Ok(done) => {
                report.lost += (done.dropped_newest + done.rejected) as u64;
                report.evicted += done.evicted as u64;
            }
            Err(SendError::Failed((), e)) => return Err(e),
            Err(SendError::Encode((), e)) => return Err(Error::reply(format!("encode: {e}"))),
            Err(SendError::Overloaded(()) | SendError::Timeout(())) => {}
        }
        buf.clear();
    }
    Ok(report)
}

/// Feeds the stream into the local queue `local`, until that queue is closed (close it, or
/// drop its receivers, to stop the bridge).
///
/// Each value is acknowledged once the local queue has taken it; the acks of one received
/// batch go in one call. Delivery is at least once up to the local queue: a value is
/// redelivered to the group if this process dies before acknowledging it, but a value in
/// the local queue when this process dies is lost (acknowledge in the consumer instead,
/// with a [`Receiver`] of your own, when that matters). The local queue's policy applies:
/// with Block, a slow local consumer stops the bridge, the group's length grows, and the
/// stream's senders wait in turn. A value the local queue refuses (Reject, or closed) is
/// given back to the group at once ([`Receiver::nack`]).
pub fn from_stream<T, C: Codec<T>>(
    stream: &mut Receiver<T, C>,
    local: &pushpull::Sender<T>,
) -> Result<BridgeReport, Error> {
    let mut report = BridgeReport::default();
    let mut acks: Vec<String> = Vec::new();
    let flush = |stream: &mut Receiver<T, C>, acks: &mut Vec<String>, report: &mut BridgeReport| {
        if acks.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = acks.iter().map(String::as_str).collect();
        stream.ack_ids(&ids)?;
        report.batches += 1;
        acks.clear();
        Ok::<(), Error>(())
    };
    while !local.is_closed() {
        let Some(d) = stream.recv_timeout(Duration::from_millis(100))? else {
            flush(stream, &mut acks, &mut report)?;
            continue;
        };
        report.values += 1;
        let (id, value) = d.into_parts();
        // A send that would wait sends this batch's acks first: they must not idle towards
        // `claim_idle` while a slow local consumer holds the bridge.
        let sent = match local.try_send(value) {
            Err(pushpull::TrySendError::Full(value)) => {
                flush(stream, &mut acks, &mut report)?;
                local.send(value).map_err(drop)
            }
            other => other.map(|()| pushpull::Sent::Queued).map_err(drop),
        };
        match sent {
            Ok(sent) => {
                if !matches!(sent, pushpull::Sent::Queued) {
                    report.lost += 1;
                }
                acks.push(id);
            }
            Err(()) => {
                flush(stream, &mut acks, &mut report)?;
                stream.nack_ids(&[&id])?;
                report.lost += 1;
                if local.is_closed() {
                    break;
                }
            }
        }
        if stream.buffered() == 0 || acks.len() >= 1024 {
            flush(stream, &mut acks, &mut report)?;
        }
    }
    flush(stream, &mut acks, &mut report)?;
    Ok(report)
}
