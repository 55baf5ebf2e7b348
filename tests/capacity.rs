#![cfg(not(loom))]
//! Capacity is exact, and impossible capacities are refused with a clear error (or panic)
//! before anything is allocated.

mod harness;

use std::panic::{catch_unwind, AssertUnwindSafe};

use harness::{build, scaled, FLAVORS, POLICIES};
use pushpull::{BuildError, BuildErrorKind, Builder, Policy, Sent, TrySendError};

fn capacities() -> Vec<usize> {
    let mut caps = vec![1, 2, 3, 4, 7, 8, 9];
    if !cfg!(miri) {
        caps.extend([63, 1000]);
    }
    caps
}

#[test]
fn exactly_capacity_try_sends_fit() {
    for flavor in FLAVORS {
        for policy in POLICIES {
            for cap in capacities() {
                let ctx = format!("{flavor:?} {policy:?} cap {cap}");
                let (mut tx, mut rx) = build::<usize>(flavor, cap, policy);
                assert_eq!(tx.capacity(), cap, "{ctx}");
                assert_eq!(rx.capacity(), cap, "{ctx}");
                assert_eq!(tx.metrics().capacity, cap, "{ctx}");
                for i in 0..cap {
                    assert_eq!(tx.try_send(i), Ok(()), "{ctx}: value {i}");
                }
                assert_eq!(tx.try_send(cap), Err(TrySendError::Full(cap)), "{ctx}");
                assert!(tx.is_full() && rx.is_full(), "{ctx}");
                // One out, exactly one more in.
                assert_eq!(rx.try_recv(), Ok(0), "{ctx}");
                assert_eq!(tx.try_send(cap), Ok(()), "{ctx}");
                assert_eq!(
                    tx.try_send(cap + 1),
                    Err(TrySendError::Full(cap + 1)),
                    "{ctx}"
                );
                let rest = rx.take_all();
                assert_eq!(rest, (1..=cap).collect::<Vec<_>>(), "{ctx}");
            }
        }
    }
}

#[test]
fn policy_sends_never_exceed_capacity() {
    for flavor in FLAVORS {
        for cap in capacities() {
            // Drop-oldest keeps exactly the newest `cap` values: never more, never fewer.
            let (mut tx, mut rx) = build::<usize>(flavor, cap, Policy::DropOldest);
            for i in 0..3 * cap {
                let sent = tx.send(i).unwrap();
                if i < cap {
                    assert_eq!(sent, Sent::Queued);
                } else {
                    assert_eq!(sent, Sent::Evicted(i - cap), "{flavor:?} cap {cap}");
                }
                assert_eq!(tx.len(), (i + 1).min(cap));
            }
            assert_eq!(rx.take_all(), (2 * cap..3 * cap).collect::<Vec<_>>());

            // Drop-newest and reject keep exactly the oldest `cap`.
            for policy in [Policy::DropNewest, Policy::Reject] {
                let (mut tx, mut rx) = build::<usize>(flavor, cap, policy);
                for i in 0..2 * cap {
                    let queued = matches!(tx.send(i), Ok(Sent::Queued));
                    assert_eq!(queued, i < cap, "{flavor:?} {policy:?} cap {cap} value {i}");
                }
                assert_eq!(tx.len(), cap);
                assert_eq!(rx.take_all(), (0..cap).collect::<Vec<_>>());
            }
        }
    }
}

#[test]
fn spsc_capacity_zero_is_refused() {
    for policy in POLICIES {
        let err = Builder::new(0).policy(policy).try_spsc::<u8>().unwrap_err();
        assert_eq!(err.kind(), BuildErrorKind::ZeroCapacity, "{policy:?}");
        check_message(&err, None);
        assert!(err.to_string().contains("capacity"), "{err}");
    }
}

#[test]
fn mpmc_capacity_zero_is_a_rendezvous_except_drop_oldest() {
    for policy in [Policy::Block, Policy::DropNewest, Policy::Reject] {
        let (tx, _rx) = Builder::new(0).policy(policy).try_mpmc::<u8>().unwrap();
        assert_eq!(tx.capacity(), 0);
    }
    let err = Builder::new(0)
        .policy(Policy::DropOldest)
        .try_mpmc::<u8>()
        .unwrap_err();
    assert_eq!(err.kind(), BuildErrorKind::DropOldestRendezvous);
    check_message(&err, None);
    assert!(err.to_string().contains("capacity"), "{err}");
    // Capacity 1 is fine with drop-oldest.
    assert!(Builder::new(1)
        .policy(Policy::DropOldest)
        .try_mpmc::<u8>()
        .is_ok());
}

#[test]
fn capacity_overflow_is_refused() {
    for capacity in [usize::MAX, usize::MAX / 2, usize::MAX / 4 + 1] {
        for policy in POLICIES {
            let errors = [
                Builder::new(capacity)
                    .policy(policy)
                    .try_spsc::<u64>()
                    .unwrap_err(),
                Builder::new(capacity)
                    .policy(policy)
                    .try_mpmc::<u64>()
                    .unwrap_err(),
            ];
            for err in errors {
                match err.kind() {
                    BuildErrorKind::CapacityOverflow { capacity: c, max } => {
                        assert_eq!(c, capacity);
                        assert!(max < capacity);
                        assert!(err.to_string().contains(&max.to_string()), "{err}");
                    }
                    other => panic!("capacity {capacity}: expected overflow, got {other:?}"),
                }
                check_message(&err, Some(capacity));
            }
        }
    }
}

/// An item so large that any capacity above one overflows the address space.
type Huge = [u8; 1 << 40];

#[test]
fn the_largest_capacity_passes_the_overflow_check() {
    // `max` itself is countable (it then fails for memory: its size overflows, so nothing
    // is even asked of the allocator); `max + 1` is not. Each ring has its own limit (the
    // MPMC ring and the drop-oldest SPSC ring pack more into their index words).
    for (spsc, policy) in [
        (true, Policy::Block),
        (true, Policy::DropOldest),
        (false, Policy::Block),
        (false, Policy::DropOldest),
    ] {
        let build = |cap: usize| {
            let b = Builder::new(cap).policy(policy);
            if spsc {
                b.try_spsc::<Huge>().map(drop)
            } else {
                b.try_mpmc::<Huge>().map(drop)
            }
        };
        let max = match build(usize::MAX).unwrap_err().kind() {
            BuildErrorKind::CapacityOverflow { max, .. } => max,
            other => panic!("{other:?}"),
        };
        match build(max).unwrap_err().kind() {
            BuildErrorKind::OutOfMemory { capacity } => assert_eq!(capacity, max),
            other => panic!("spsc {spsc}: capacity {max}: {other:?}"),
        }
        assert!(matches!(
            build(max + 1).unwrap_err().kind(),
            BuildErrorKind::CapacityOverflow { .. }
        ));
    }
}

#[test]
fn slots_larger_than_isize_max_are_refused_without_allocating() {
    // 2^20 slots of 2^43 bytes: 2^63 bytes, more than `isize::MAX`.
    let capacity = 1usize << 20;
    for policy in POLICIES {
        let err = Builder::new(capacity)
            .policy(policy)
            .try_spsc::<[u8; 1 << 43]>()
            .unwrap_err();
        assert_eq!(err.kind(), BuildErrorKind::OutOfMemory { capacity });
        check_message(&err, Some(capacity));
        let err = Builder::new(capacity)
            .policy(policy)
            .try_mpmc::<[u8; 1 << 43]>()
            .unwrap_err();
        assert_eq!(err.kind(), BuildErrorKind::OutOfMemory { capacity });
    }
    // Size arithmetic that overflows `usize` altogether.
    let capacity = 1usize << 57;
    let err = Builder::new(capacity).try_spsc::<[u64; 128]>().unwrap_err();
    assert_eq!(err.kind(), BuildErrorKind::OutOfMemory { capacity });
}

/// 2^20 slots of 2^41 bytes (2^42 with the MPMC stamp and padding) = at most 2^62 bytes:
/// below `isize::MAX`, so it reaches the allocator, which must refuse (no machine has 4 EiB
/// of address space); the error comes back instead of an abort.
#[test]
#[cfg_attr(miri, ignore = "Miri reports huge allocations as resource exhaustion")]
fn allocation_failure_is_an_error() {
    let capacity = 1usize << 20;
    for policy in POLICIES {
        let err = Builder::new(capacity)
            .policy(policy)
            .try_spsc::<[u8; 1 << 41]>()
            .unwrap_err();
        assert_eq!(
            err.kind(),
            BuildErrorKind::OutOfMemory { capacity },
            "{policy:?}"
        );
        check_message(&err, Some(capacity));
        let err = Builder::new(capacity)
            .policy(policy)
            .try_mpmc::<[u8; 1 << 41]>()
            .unwrap_err();
        assert_eq!(
            err.kind(),
            BuildErrorKind::OutOfMemory { capacity },
            "{policy:?}"
        );
    }
}

/// The error's message: lowercase, no trailing punctuation, mentions the capacity.
#[track_caller]
fn check_message(err: &BuildError, capacity: Option<usize>) {
    let msg = err.to_string();
    assert!(!msg.is_empty());
    assert!(
        msg.starts_with(|c: char| c.is_lowercase()),
        "not lowercase: {msg:?}"
    );
    assert!(
        !msg.ends_with(['.', '!', '\n']),
        "trailing punctuation: {msg:?}"
    );
    if let Some(capacity) = capacity {
        assert!(
            msg.contains(&capacity.to_string()),
            "no capacity in {msg:?}"
        );
    }
}

/// The panic of a non-`try_` constructor carries `pushpull: ` and the error's message.
#[test]
fn panic_messages_match_the_errors() {
    let cases: Vec<(Builder, bool)> = vec![
        (Builder::new(0), true),
        (Builder::new(usize::MAX), true),
        (Builder::new(usize::MAX), false),
        (Builder::new(0).policy(Policy::DropOldest), false),
        (Builder::new(1 << 58), true),
    ];
    for (builder, spsc) in cases {
        let (err, panic) = if spsc {
            let err = builder.try_spsc::<[u64; 4]>().unwrap_err();
            (
                err,
                catch_unwind(AssertUnwindSafe(|| drop(builder.spsc::<[u64; 4]>()))),
            )
        } else {
            let err = builder.try_mpmc::<[u64; 4]>().unwrap_err();
            (
                err,
                catch_unwind(AssertUnwindSafe(|| drop(builder.mpmc::<[u64; 4]>()))),
            )
        };
        let payload = panic.expect_err("the constructor must panic");
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .expect("a string panic payload");
        assert_eq!(msg, format!("pushpull: {err}"));
    }
}

#[test]
#[should_panic(expected = "pushpull: ")]
fn spsc_zero_panics() {
    let _ = pushpull::spsc::<u8>(0);
}

#[test]
#[should_panic(expected = "at least 1")]
fn builder_spsc_zero_panics() {
    let _ = Builder::new(0).policy(Policy::Reject).spsc::<u8>();
}

#[test]
#[should_panic(expected = "18446744073709551615")]
fn spsc_overflow_panics_naming_the_capacity() {
    let _ = pushpull::spsc::<u8>(usize::MAX);
}

#[test]
#[should_panic(expected = "18446744073709551615")]
fn mpmc_overflow_panics_naming_the_capacity() {
    let _ = pushpull::mpmc::<u8>(usize::MAX);
}

#[test]
#[should_panic(expected = "9223372036854775807")]
fn mpmc_half_overflow_panics_naming_the_capacity() {
    let _ = Builder::new(usize::MAX / 2)
        .policy(Policy::DropNewest)
        .mpmc::<u8>();
}

#[test]
#[should_panic(expected = "drop-oldest")]
fn mpmc_drop_oldest_rendezvous_panics() {
    let _ = Builder::new(0).policy(Policy::DropOldest).mpmc::<u8>();
}

#[test]
#[cfg_attr(miri, ignore = "Miri reports huge allocations as resource exhaustion")]
#[should_panic(expected = "144115188075855872")]
fn out_of_memory_panics_naming_the_capacity() {
    let _ = pushpull::mpmc::<[u64; 4]>(1 << 57);
}

#[test]
fn wrap_around_keeps_capacity_exact() {
    // Many laps with a non-power-of-two capacity: the ring never holds one more or one less.
    let laps = scaled(200, 4);
    for flavor in FLAVORS {
        for cap in [1, 3, 7] {
            let (mut tx, mut rx) = build::<usize>(flavor, cap, Policy::Block);
            let mut next_in = 0;
            let mut next_out = 0;
            for lap in 0..laps {
                // Fill completely, from whatever the current offset is.
                while tx.try_send(next_in).is_ok() {
                    next_in += 1;
                }
                assert_eq!(next_in - next_out, cap, "{flavor:?} cap {cap} lap {lap}");
                // Take out a varying number so the next fill starts at another slot.
                for _ in 0..1 + lap % cap {
                    assert_eq!(rx.try_recv(), Ok(next_out));
                    next_out += 1;
                }
            }
        }
    }
}
