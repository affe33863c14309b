//! The end-to-end check against a real kube-apiserver, `scripts/real-cluster-check`: opt-in, since CI has no
//! cluster. Run it against a throw-away cluster where you are cluster-admin:
//! `KUBECONFIG=… [AUDIT_LOG=…] cargo test --test real_cluster -- --ignored --nocapture`.

use std::process::Command;

#[test]
#[ignore = "needs a real cluster: KUBECONFIG=... cargo test --test real_cluster -- --ignored"]
fn real_cluster_check() {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "KUBECONFIG must name a throw-away cluster"
    );
    let status = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/real-cluster-check"
    ))
    .arg(env!("CARGO_BIN_EXE_canton-operator"))
    .status()
    .expect("scripts/real-cluster-check runs");
    assert!(status.success(), "the real-cluster check failed: {status}");
}
