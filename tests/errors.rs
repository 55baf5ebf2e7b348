#![cfg(not(loom))]
//! Error types: `Debug` without `T: Debug`, lowercase `Display`, `std::error::Error`,
//! `into_inner`, and the conversions between them.

use std::error::Error;

use pushpull::{
    BuildErrorKind, Builder, Policy, RecvError, RecvTimeoutError, SendError, SendTimeoutError,
    Sent, TryRecvError, TrySendError,
};

/// A payload that is neither `Debug` nor `Clone` nor `PartialEq`.
struct Opaque(u32);

/// The style of every message: lowercase first letter, no trailing punctuation.
#[track_caller]
fn check_display(e: &dyn Error) {
    let msg = e.to_string();
    assert!(!msg.is_empty());
    assert!(msg.starts_with(|c: char| c.is_lowercase()), "{msg:?}");
    assert!(!msg.ends_with(['.', '!', '\n']), "{msg:?}");
    assert!(e.source().is_none());
}

/// Boxes an error as `dyn Error + Send + Sync`, the usual way errors travel.
fn boxed<E: Error + Send + Sync + 'static>(e: E) -> Box<dyn Error + Send + Sync> {
    Box::new(e)
}

#[test]
fn send_errors_without_debug_payloads() {
    let full: TrySendError<Opaque> = TrySendError::Full(Opaque(1));
    let closed: TrySendError<Opaque> = TrySendError::Closed(Opaque(2));
    assert_eq!(format!("{full:?}"), "Full(..)");
    assert_eq!(format!("{closed:?}"), "Closed(..)");
    check_display(&full);
    check_display(&closed);
    assert_ne!(full.to_string(), closed.to_string());
    assert_eq!(full.into_inner().0, 1);
    assert_eq!(closed.into_inner().0, 2);

    let closed: SendError<Opaque> = SendError::Closed(Opaque(3));
    let overloaded: SendError<Opaque> = SendError::Overloaded(Opaque(4));
    assert_eq!(format!("{closed:?}"), "Closed(..)");
    assert_eq!(format!("{overloaded:?}"), "Overloaded(..)");
    check_display(&closed);
    check_display(&overloaded);
    assert_ne!(closed.to_string(), overloaded.to_string());
    assert_eq!(closed.into_inner().0, 3);
    assert_eq!(overloaded.into_inner().0, 4);

    let all: [SendTimeoutError<Opaque>; 3] = [
        SendTimeoutError::Timeout(Opaque(5)),
        SendTimeoutError::Closed(Opaque(6)),
        SendTimeoutError::Overloaded(Opaque(7)),
    ];
    let names = ["Timeout(..)", "Closed(..)", "Overloaded(..)"];
    let mut messages = Vec::new();
    for (e, name) in all.into_iter().zip(names) {
        assert_eq!(format!("{e:?}"), name);
        check_display(&e);
        messages.push(e.to_string());
        let _ = e.into_inner();
    }
    messages.dedup();
    assert_eq!(messages.len(), 3, "each variant has its own message");

    // Sent needs no Debug payload either.
    assert_eq!(format!("{:?}", Sent::Evicted(Opaque(8))), "Evicted(..)");
    assert_eq!(format!("{:?}", Sent::<Opaque>::Queued), "Queued");
    assert_eq!(
        format!("{:?}", Sent::<Opaque>::DroppedNewest),
        "DroppedNewest"
    );
}

#[test]
fn receive_errors() {
    for e in [TryRecvError::Empty, TryRecvError::Closed] {
        check_display(&e);
    }
    assert_ne!(
        TryRecvError::Empty.to_string(),
        TryRecvError::Closed.to_string()
    );
    check_display(&RecvError);
    for e in [RecvTimeoutError::Timeout, RecvTimeoutError::Closed] {
        check_display(&e);
    }
    assert_eq!(RecvTimeoutError::from(RecvError), RecvTimeoutError::Closed);
    assert_eq!(format!("{:?}", TryRecvError::Empty), "Empty");
    assert_eq!(format!("{RecvError:?}"), "RecvError");
}

#[test]
fn conversions_keep_the_value() {
    assert!(matches!(
        SendTimeoutError::from(SendError::Closed(Opaque(1))),
        SendTimeoutError::Closed(Opaque(1))
    ));
    assert!(matches!(
        SendTimeoutError::from(SendError::Overloaded(Opaque(2))),
        SendTimeoutError::Overloaded(Opaque(2))
    ));
    // A `Full` from a non-waiting attempt is a timeout of a wait that ended.
    assert!(matches!(
        SendTimeoutError::from(TrySendError::Full(Opaque(3))),
        SendTimeoutError::Timeout(Opaque(3))
    ));
    assert!(matches!(
        SendTimeoutError::from(TrySendError::Closed(Opaque(4))),
        SendTimeoutError::Closed(Opaque(4))
    ));
}

#[test]
fn errors_travel_as_boxed_std_errors() {
    let errors: Vec<Box<dyn Error + Send + Sync>> = vec![
        boxed(TrySendError::Full(Opaque(0))),
        boxed(SendError::Overloaded(Opaque(0))),
        boxed(SendTimeoutError::Timeout(Opaque(0))),
        boxed(TryRecvError::Empty),
        boxed(RecvError),
        boxed(RecvTimeoutError::Timeout),
        boxed(Builder::new(0).try_spsc::<Opaque>().unwrap_err()),
    ];
    for e in &errors {
        check_display(&**e);
    }
    // `?` works in a function returning a boxed error.
    fn uses_question_mark() -> Result<(), Box<dyn Error + Send + Sync>> {
        let (tx, _rx) = pushpull::mpmc::<String>(1);
        tx.try_send("a".into())?;
        tx.try_send("b".into())?;
        Ok(())
    }
    let err = uses_question_mark().unwrap_err();
    assert_eq!(err.to_string(), TrySendError::Full(()).to_string());
    assert!(err.downcast_ref::<TrySendError<String>>().is_some());
}

#[test]
fn errors_from_real_queues_carry_the_value() {
    let (tx, rx) = Builder::new(1).policy(Policy::Reject).mpmc::<Opaque>();
    let _ = tx.send(Opaque(1)).ok().unwrap();
    let e = tx.try_send(Opaque(2)).unwrap_err();
    assert_eq!(format!("{e:?}"), "Full(..)");
    assert_eq!(e.into_inner().0, 2);
    let e = tx.send(Opaque(3)).unwrap_err();
    assert_eq!(format!("{e:?}"), "Overloaded(..)");
    assert_eq!(e.into_inner().0, 3);
    drop(rx);
    let e = tx.send(Opaque(4)).unwrap_err();
    assert_eq!(format!("{e:?}"), "Closed(..)");
    assert_eq!(e.into_inner().0, 4);
}

#[test]
fn build_errors() {
    let cases = [
        Builder::new(0).try_spsc::<u8>().map(drop).unwrap_err(),
        Builder::new(usize::MAX)
            .try_mpmc::<u8>()
            .map(drop)
            .unwrap_err(),
        Builder::new(0)
            .policy(Policy::DropOldest)
            .try_mpmc::<u8>()
            .map(drop)
            .unwrap_err(),
        Builder::new(1 << 58)
            .try_spsc::<[u64; 4]>()
            .map(drop)
            .unwrap_err(),
    ];
    let mut messages = Vec::new();
    for e in &cases {
        check_display(e);
        messages.push(e.to_string());
        // Debug names the kind.
        let debug = format!("{e:?}");
        let kind = format!("{:?}", e.kind());
        assert!(debug.contains(&kind), "{debug} vs {kind}");
    }
    messages.dedup();
    assert_eq!(messages.len(), cases.len());
    assert_eq!(cases[0].kind(), BuildErrorKind::ZeroCapacity);
    assert_eq!(cases[0].clone(), cases[0]);
}
