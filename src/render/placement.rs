//! What the user adds to a rendered pod: scheduling and metadata (`spec.pods` merged with the
//! workload's `pod`), extra volumes, mounts and init containers, and the image registry that
//! moves the default images. Applied after a workload is rendered, so the operator's own
//! containers, volumes, mounts and labels come first and stay as they are.

use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec, Volume, VolumeMount};

use super::RenderError;
use crate::api::PodSettings;

/// `image` with everything before its name (the last `/`-separated part, tag or digest
/// included) replaced by `registry`: `ghcr.io/a/b/canton-participant:0.7.4` with
/// `mirror.example.com/canton` is `mirror.example.com/canton/canton-participant:0.7.4`, and
/// `postgres:17` is `mirror.example.com/canton/postgres:17`.
pub(crate) fn relocate(image: &str, registry: Option<&str>) -> String {
    let Some(registry) = registry.map(|r| r.trim_end_matches('/')) else {
        return image.to_string();
    };
    let name = image.rsplit('/').next().unwrap_or(image);
    format!("{registry}/{name}")
}

/// Puts `settings` on a rendered pod template. The operator's labels win over the user's (which
/// `validate` has refused already); every container without a pull policy of its own gets
/// `imagePullPolicy`.
pub(super) fn place(template: &mut PodTemplateSpec, settings: &PodSettings) {
    let meta = template.metadata.get_or_insert_default();
    if !settings.labels.is_empty() {
        let labels = meta.labels.get_or_insert_default();
        for (key, value) in &settings.labels {
            labels.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    if !settings.annotations.is_empty() {
        meta.annotations
            .get_or_insert_default()
            .extend(settings.annotations.clone());
    }
    let pod = template.spec.get_or_insert_default();
    if !settings.node_selector.is_empty() {
        pod.node_selector = Some(settings.node_selector.clone());
    }
    pod.affinity = settings.affinity.clone();
    pod.tolerations = settings.tolerations.clone().filter(|t| !t.is_empty());
    pod.topology_spread_constraints = settings
        .topology_spread_constraints
        .clone()
        .filter(|t| !t.is_empty());
    pod.priority_class_name = settings.priority_class_name.clone();
    pod.image_pull_secrets = settings
        .image_pull_secrets
        .clone()
        .filter(|s| !s.is_empty());
    if let Some(policy) = settings.image_pull_policy {
        for container in containers(pod) {
            container
                .image_pull_policy
                .get_or_insert_with(|| policy.as_str().to_string());
        }
    }
}

fn containers(pod: &mut PodSpec) -> impl Iterator<Item = &mut Container> {
    pod.init_containers
        .iter_mut()
        .flatten()
        .chain(pod.containers.iter_mut())
}

/// A workload's extra volumes, mounts (into its main container) and init containers.
pub(super) struct Extras<'a> {
    /// The field they come from, for messages (`spec.participant`).
    pub field: &'static str,
    pub volumes: &'a [Volume],
    pub volume_mounts: &'a [VolumeMount],
    pub init_containers: &'a [Container],
}

/// Appends `extras` after the operator's own volumes, mounts and init containers. Refuses a
/// mount at a path the main container already mounts something at, which the API server would
/// refuse only once the Deployment is written.
pub(super) fn add_extras(
    template: &mut PodTemplateSpec,
    extras: &Extras,
) -> Result<(), RenderError> {
    let pod = template.spec.get_or_insert_default();
    if !extras.volumes.is_empty() {
        pod.volumes
            .get_or_insert_default()
            .extend(extras.volumes.iter().cloned());
    }
    if !extras.init_containers.is_empty() {
        pod.init_containers
            .get_or_insert_default()
            .extend(extras.init_containers.iter().cloned());
    }
    if extras.volume_mounts.is_empty() {
        return Ok(());
    }
    let Some(main) = pod.containers.first_mut() else {
        return Ok(());
    };
    let mounts = main.volume_mounts.get_or_insert_default();
    for (i, mount) in extras.volume_mounts.iter().enumerate() {
        if mounts.iter().any(|m| m.mount_path == mount.mount_path) {
            return Err(RenderError::InvalidField {
                field: format!("{}.extraVolumeMounts[{i}].mountPath", extras.field),
                message: format!(
                    "`{}` is where the operator mounts a volume of its own; mount yours elsewhere",
                    mount.mount_path
                ),
            });
        }
        mounts.push(mount.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relocation_keeps_name_tag_and_digest() {
        let mirror = Some("mirror.example.com:5000/canton/");
        assert_eq!(
            relocate(
                "ghcr.io/digital-asset/x/docker/canton-participant:0.7.4",
                mirror
            ),
            "mirror.example.com:5000/canton/canton-participant:0.7.4"
        );
        assert_eq!(
            relocate("postgres:17", mirror),
            "mirror.example.com:5000/canton/postgres:17"
        );
        assert_eq!(
            relocate("ghcr.io/o/op@sha256:abcd", mirror),
            "mirror.example.com:5000/canton/op@sha256:abcd"
        );
        assert_eq!(relocate("postgres:17", None), "postgres:17");
    }
}
