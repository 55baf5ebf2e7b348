//! Each API checked on its own before any timing: at capacity 2, two values fit, a third is
//! refused, and they come out in order; at capacity 0 (where there is one), a send with no
//! receiver waiting is refused.

use ringbuf::traits::{Consumer as _, Producer as _, Split as _};

fn ring(name: &str, push: &mut dyn FnMut(u64) -> bool, pop: &mut dyn FnMut() -> Option<u64>) {
    assert_eq!(pop(), None, "{name}: not empty at start");
    assert!(push(1) && push(2), "{name}: refused a value with room");
    assert!(!push(3), "{name}: took a value when full");
    assert_eq!((pop(), pop(), pop()), (Some(1), Some(2), None), "{name}");
}

pub fn check_apis() {
    {
        let (mut p, mut c) = pushpull::spsc::<u64>(2);
        ring("pushpull spsc", &mut |v| p.try_send(v).is_ok(), &mut || {
            c.try_recv().ok()
        });
        let (mut p, mut c) = pushpull::Builder::new(2)
            .policy(pushpull::Policy::Block)
            .spsc::<u64>();
        ring(
            "pushpull spsc (Builder)",
            &mut |v| p.try_send(v).is_ok(),
            &mut || c.try_recv().ok(),
        );
    }
    {
        let (tx, rx) = pushpull::mpmc::<u64>(2);
        ring(
            "pushpull mpmc",
            &mut |v| tx.try_send(v).is_ok(),
            &mut || rx.try_recv().ok(),
        );
        let (tx, _rx) = pushpull::mpmc::<u64>(0);
        assert!(tx.try_send(1).is_err(), "pushpull rendezvous");
        let (tx, rx) = pushpull::mpmc::<u64>(1);
        drop(tx);
        assert!(
            rx.recv().is_err(),
            "pushpull: recv after the last sender dropped"
        );
    }
    {
        let (mut p, mut c) = rtrb::RingBuffer::<u64>::new(2);
        ring("rtrb", &mut |v| p.push(v).is_ok(), &mut || c.pop().ok());
    }
    {
        let (mut p, mut c) = ringbuf::HeapRb::<u64>::new(2).split();
        ring("ringbuf", &mut |v| p.try_push(v).is_ok(), &mut || {
            c.try_pop()
        });
    }
    {
        let q = crossbeam_queue::ArrayQueue::<u64>::new(2);
        ring("ArrayQueue", &mut |v| q.push(v).is_ok(), &mut || q.pop());
    }
    {
        let (tx, rx) = crossbeam_channel::bounded::<u64>(2);
        ring(
            "crossbeam-channel",
            &mut |v| tx.try_send(v).is_ok(),
            &mut || rx.try_recv().ok(),
        );
        let (tx, _rx) = crossbeam_channel::bounded::<u64>(0);
        assert!(tx.try_send(1).is_err(), "crossbeam rendezvous");
    }
    {
        let (tx, rx) = kanal::bounded::<u64>(2);
        ring("kanal", &mut |v| tx.try_send(v).unwrap(), &mut || {
            rx.try_recv().unwrap()
        });
        let (tx, _rx) = kanal::bounded::<u64>(0);
        assert!(!tx.try_send(1).unwrap(), "kanal rendezvous");
        let (tx, rx) = kanal::bounded_async::<u64>(2);
        ring("kanal async", &mut |v| tx.try_send(v).unwrap(), &mut || {
            rx.try_recv().unwrap()
        });
    }
    {
        let (tx, rx) = flume::bounded::<u64>(2);
        ring("flume", &mut |v| tx.try_send(v).is_ok(), &mut || {
            rx.try_recv().ok()
        });
        let (tx, _rx) = flume::bounded::<u64>(0);
        assert!(tx.try_send(1).is_err(), "flume rendezvous");
    }
    {
        let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(2);
        ring(
            "std sync_channel",
            &mut |v| tx.try_send(v).is_ok(),
            &mut || rx.try_recv().ok(),
        );
        let (tx, _rx) = std::sync::mpsc::sync_channel::<u64>(0);
        assert!(tx.try_send(1).is_err(), "std rendezvous");
    }
    {
        let (tx, rx) = async_channel::bounded::<u64>(2);
        ring(
            "async-channel",
            &mut |v| tx.try_send(v).is_ok(),
            &mut || rx.try_recv().ok(),
        );
    }
    {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(2);
        ring("tokio mpsc", &mut |v| tx.try_send(v).is_ok(), &mut || {
            rx.try_recv().ok()
        });
    }
    {
        let (tx, mut rx) = tachyonix::channel::<u64>(2);
        ring("tachyonix", &mut |v| tx.try_send(v).is_ok(), &mut || {
            rx.try_recv().ok()
        });
        drop(tx);
        assert!(rx.try_recv().is_err(), "tachyonix: closed and empty");
    }
}
