//! The drain rules against in-memory fakes: refusals before any write, conflict retries, and the
//! restore rules.

use std::time::Duration;

use super::*;
use crate::contract::Drain;
use crate::lane::cluster::MemCluster;

fn lane(sets: &[&str]) -> Lane {
    Lane {
        name: "heavy-nix".into(),
        drain: Drain { namespace: "arc-runners".into(), scale_sets: sets.iter().map(|s| (*s).to_string()).collect() },
    }
}

fn opts() -> LaneOptions {
    LaneOptions {
        poll: Duration::from_millis(5),
        who: "unit@test".into(),
        own_pod: None,
        progress: false,
        quiet: true,
        allow_missing: false,
    }
}

fn recorded(c: &MemCluster, set: &str) -> DrainedFrom {
    serde_json::from_str(&c.annotation(set).expect("annotated")).unwrap()
}

#[tokio::test]
async fn a_listed_set_the_cluster_lacks_is_refused_before_any_write() {
    let c = MemCluster::default();
    c.add_set("nix", Some(1), Some(10));
    let wrote = AtomicBool::new(false);
    let err = drain_caps(&c, &lane(&["nix", "docker", "dind"]), &opts(), &wrote).await.unwrap_err();
    let LaneError::Refused(r) = err else { panic!("not a refusal: {err}") };
    assert_eq!(r.gate, "lane");
    assert!(r.message.contains("scale sets `docker`, `dind` of lane `heavy-nix` do not exist"), "{}", r.message);
    assert!(!wrote.load(Ordering::SeqCst));
    assert!(c.patches().is_empty(), "{:?}", c.patches());
}

#[tokio::test]
async fn a_first_install_drains_what_exists_and_skips_the_rest() {
    let c = MemCluster::default();
    c.add_set("nix", Some(1), Some(10));
    let wrote = AtomicBool::new(false);
    let first_install = LaneOptions { allow_missing: true, ..opts() };
    let out = drain_caps(&c, &lane(&["docker", "nix"]), &first_install, &wrote).await.unwrap();
    assert_eq!(out.iter().map(|s| s.action).collect::<Vec<_>>(), ["missing", "drained"]);
    assert_eq!(c.caps("nix"), (Some(0), Some(0)));
}

#[tokio::test]
async fn drain_records_caps_and_zeroes_both_in_one_patch() {
    let c = MemCluster::default();
    c.add_set("nix", Some(1), Some(10));
    c.add_set("dind", None, None);
    let wrote = AtomicBool::new(false);
    let out = drain_caps(&c, &lane(&["nix", "dind"]), &opts(), &wrote).await.unwrap();
    assert!(wrote.load(Ordering::SeqCst));
    assert_eq!(out.iter().map(|s| s.action).collect::<Vec<_>>(), ["drained", "drained"]);
    assert_eq!((c.caps("nix"), c.caps("dind")), ((Some(0), Some(0)), (Some(0), Some(0))));
    assert_eq!((recorded(&c, "nix").min, recorded(&c, "nix").max), (Some(1), Some(10)));
    assert_eq!((recorded(&c, "dind").min, recorded(&c, "dind").max), (None, None), "unset and unlimited");
    // One patch per set, carrying both caps and the annotation (max never below min).
    let patches = c.patches();
    assert_eq!(patches.len(), 2);
    for (_, p) in patches {
        assert_eq!((p["spec"]["minRunners"].as_i64(), p["spec"]["maxRunners"].as_i64()), (Some(0), Some(0)));
        assert!(p["metadata"]["resourceVersion"].is_string(), "the patch carries what was read: {p}");
    }
}

#[tokio::test]
async fn a_second_drain_never_overwrites_the_recorded_caps() {
    let c = MemCluster::default();
    c.add_set("nix", Some(2), Some(8));
    let l = lane(&["nix"]);
    drain_caps(&c, &l, &opts(), &AtomicBool::new(false)).await.unwrap();
    let first = recorded(&c, "nix");
    // Something bumped the caps of the drained set; a second drain zeroes them again, keeps the record.
    c.set_caps("nix", 1, 3);
    let out = drain_caps(&c, &l, &opts(), &AtomicBool::new(false)).await.unwrap();
    assert_eq!(out[0].action, "already-drained");
    assert_eq!(recorded(&c, "nix"), first);
    assert_eq!(c.caps("nix"), (Some(0), Some(0)));
}

#[tokio::test]
async fn conflicts_are_retried_on_a_fresh_read_then_given_up() {
    let c = MemCluster::default();
    c.add_set("nix", Some(1), Some(4));
    c.conflict_next("nix", 3);
    drain_caps(&c, &lane(&["nix"]), &opts(), &AtomicBool::new(false)).await.unwrap();
    assert_eq!(c.patches().len(), 4, "three conflicts, then the write");
    assert_eq!(c.caps("nix"), (Some(0), Some(0)));

    let c = MemCluster::default();
    c.add_set("nix", Some(1), Some(4));
    c.conflict_next("nix", CONFLICT_ATTEMPTS);
    let err = drain_caps(&c, &lane(&["nix"]), &opts(), &AtomicBool::new(false)).await.unwrap_err();
    assert!(matches!(err, LaneError::Cluster(ClusterError::Conflict { .. })), "{err}");
    assert_eq!(c.patches().len(), CONFLICT_ATTEMPTS);
}

#[tokio::test]
async fn restore_puts_back_only_caps_still_zero_and_always_drops_the_annotation() {
    let c = MemCluster::default();
    c.add_set("nix", Some(1), Some(10));
    c.add_set("docker", Some(0), Some(5));
    c.add_set("untouched", Some(3), Some(3));
    let l = lane(&["nix", "docker", "untouched"]);
    drain_caps(&c, &lane(&["nix", "docker"]), &opts(), &AtomicBool::new(false)).await.unwrap();
    // The apply changed `docker`'s caps: they are kept.
    c.set_caps("docker", 1, 3);
    let out = restore(&c, &l).await.unwrap();
    let actions: Vec<(&str, &str)> = out.iter().map(|s| (s.name.as_str(), s.action)).collect();
    assert_eq!(actions, [("nix", "restored"), ("docker", "kept"), ("untouched", "not-drained")]);
    assert_eq!(c.caps("nix"), (Some(1), Some(10)));
    assert_eq!(c.caps("docker"), (Some(1), Some(3)));
    assert!(c.annotation("nix").is_none() && c.annotation("docker").is_none());
    // Idempotent: a second restore writes nothing.
    let before = c.patches().len();
    let again = restore(&c, &l).await.unwrap();
    assert!(again.iter().all(|s| s.action == "not-drained"));
    assert_eq!(c.patches().len(), before);
}

#[tokio::test]
async fn wait_idle_waits_for_busy_runners_and_times_out_naming_them() {
    let c = MemCluster::default();
    c.add_set("nix", Some(0), Some(0));
    c.add_runner("nix", "r-1", Some("42"));
    c.add_runner("nix", "r-2", None);
    let l = lane(&["nix"]);
    let err = wait_idle(&c, &l, &["nix".to_string()], &opts(), Duration::from_millis(30)).await.unwrap_err();
    match err {
        LaneError::Timeout { busy, .. } => assert_eq!(busy, [("nix".to_string(), 1)]),
        other => panic!("{other}"),
    }
    let idle = MemCluster::default();
    idle.add_set("nix", Some(0), Some(0));
    idle.add_runner("nix", "r-2", None);
    wait_idle(&idle, &l, &["nix".to_string()], &opts(), Duration::from_secs(5)).await.unwrap();
}
