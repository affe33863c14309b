//! Leader election over a Lease on the fake API server: one holder, and a takeover within the lease
//! duration when the holder stops renewing.

mod harness;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use canton_operator::controller::leader::{self, Clock, LeaseSettings};
use harness::within;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

fn settings(identity: &str) -> LeaseSettings {
    LeaseSettings {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_millis(1500),
        renew_every: Duration::from_millis(100),
        ..LeaseSettings::new(
            "default".into(),
            "canton-operator-leader".into(),
            identity.into(),
        )
    }
}

struct Elector {
    leading: watch::Receiver<bool>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn elect(server: &support::fake_api::FakeApiServer, identity: &str) -> Elector {
    elect_skewed(server, identity, SignedDuration::ZERO)
}

/// A wall clock `offset` away from the real one.
struct SkewedClock(SignedDuration);

impl Clock for SkewedClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
            .checked_add(self.0)
            .expect("skewed time in range")
    }
}

/// An elector whose wall clock is `offset` away from the others'.
fn elect_skewed(
    server: &support::fake_api::FakeApiServer,
    identity: &str,
    offset: SignedDuration,
) -> Elector {
    let (tx, leading) = watch::channel(false);
    let (shutdown, rx) = watch::channel(false);
    let task = tokio::spawn(leader::run_with_clock(
        server.client(),
        settings(identity),
        Arc::new(SkewedClock(offset)),
        tx,
        rx,
    ));
    Elector {
        leading,
        shutdown,
        task,
    }
}

async fn wait_leading(e: &mut Elector) {
    e.leading.wait_for(|l| *l).await.expect("elector alive");
}

#[tokio::test]
async fn exactly_one_leads_and_the_other_takes_over_after_a_crash() {
    within(30, async {
        let server = support::fake_api::FakeApiServer::new();
        let mut a = elect(&server, "a");
        wait_leading(&mut a).await;
        let mut b = elect(&server, "b");
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(
            *a.leading.borrow() && !*b.leading.borrow(),
            "exactly one leader"
        );

        // a crashes: it stops renewing without releasing.
        let crashed = Instant::now();
        a.task.abort();
        wait_leading(&mut b).await;
        let took = crashed.elapsed();
        assert!(
            took <= Duration::from_secs(4),
            "takeover took {took:?}, lease is 2 s"
        );
        let lease = server
            .get(
                "coordination.k8s.io/v1",
                "leases",
                Some("default"),
                "canton-operator-leader",
            )
            .unwrap();
        assert_eq!(lease["spec"]["holderIdentity"], "b");
        assert_eq!(lease["spec"]["leaseTransitions"], 1);
        let _ = b.shutdown.send(true);
    })
    .await;
}

#[tokio::test]
async fn a_leader_that_cannot_renew_steps_down_before_the_lease_expires() {
    within(30, async {
        let server = support::fake_api::FakeApiServer::new();
        let mut a = elect(&server, "a");
        wait_leading(&mut a).await;
        // Every Lease request now fails: a partition from the API server.
        server.inject(
            support::fake_api::Fault::new(500)
                .path("/leases")
                .times(10_000),
        );
        let cut = Instant::now();
        a.leading.wait_for(|l| !*l).await.unwrap();
        assert!(
            cut.elapsed() < Duration::from_secs(2),
            "stepped down after {:?}, before the 2 s lease ran out",
            cut.elapsed()
        );
        let _ = a.shutdown.send(true);
    })
    .await;
}

#[tokio::test]
async fn graceful_shutdown_releases_the_lease_for_an_immediate_takeover() {
    within(30, async {
        let server = support::fake_api::FakeApiServer::new();
        let mut a = elect(&server, "a");
        wait_leading(&mut a).await;
        let mut b = elect(&server, "b");
        let _ = a.shutdown.send(true);
        let _ = a.task.await;
        let released = Instant::now();
        wait_leading(&mut b).await;
        assert!(
            released.elapsed() < Duration::from_secs(1),
            "took {:?}",
            released.elapsed()
        );
    })
    .await;
}

/// Clocks hours apart: a replica whose clock runs ahead of the leader's must not take the live
/// lease (the leader's `renewTime` looks hours old to it), and a replica whose clock runs behind
/// must still take over when the leader stops (its `renewTime` looks hours in the future).
#[tokio::test]
async fn clock_skew_neither_steals_a_live_lease_nor_keeps_a_dead_one() {
    within(60, async {
        let hours = SignedDuration::from_hours(3);
        for (leader_offset, standby_offset) in
            [(SignedDuration::ZERO, hours), (hours, SignedDuration::ZERO)]
        {
            let server = support::fake_api::FakeApiServer::new();
            let mut a = elect_skewed(&server, "a", leader_offset);
            wait_leading(&mut a).await;
            let mut b = elect_skewed(&server, "b", standby_offset);
            // Watch b for longer than a lease duration (2 s) while a renews.
            let watched = Instant::now();
            let mut b_led = false;
            while watched.elapsed() < Duration::from_secs(3) {
                b_led |= *b.leading.borrow();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(
                !b_led && *a.leading.borrow(),
                "b (clock {standby_offset:?} off) led beside a live leader (clock {leader_offset:?} off)"
            );

            a.task.abort();
            let crashed = Instant::now();
            wait_leading(&mut b).await;
            assert!(
                crashed.elapsed() <= Duration::from_secs(4),
                "takeover took {:?}, lease is 2 s",
                crashed.elapsed()
            );
            let _ = b.shutdown.send(true);
            let _ = b.task.await;
        }
    })
    .await;
}
