//! Pod templates nested in custom resources, Argo Workflows and Tekton, and image volumes, as
//! `preflight images -o json` lists them: every image with the field path it was found at and the
//! credentials the kubelet would pull it with. No network.

use serde_json::Value;

use crate::common::*;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/manifests"
);

/// Every source of every image as `reference path object container`, in report order, and the
/// report itself.
fn sources(file: &str) -> (Vec<String>, Value) {
    let path = format!("{FIXTURES}/{file}");
    let r = run(&["images", "-o", "json", "-f", &path]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    let mut rows = Vec::new();
    for image in j["images"].as_array().unwrap() {
        for s in image["sources"].as_array().unwrap() {
            assert_eq!(s["file"], path.as_str());
            rows.push(format!(
                "{} {} {} {}",
                image["reference"].as_str().unwrap(),
                s["path"].as_str().unwrap(),
                s["object"].as_str().unwrap(),
                s["container"].as_str().unwrap_or("-"),
            ));
        }
    }
    (rows, j)
}

#[test]
fn images_in_nested_pod_templates_are_listed_with_their_paths() {
    let (rows, j) = sources("templates.yaml");
    // In input order: an image per reference and set of credentials, its sources in order.
    assert_eq!(
        rows,
        [
            "rayproject/ray:2.9.0 spec.headGroupSpec.template.spec.containers[0] RayCluster/ml/raycluster-kuberay ray-head",
            "rayproject/ray:2.9.0 spec.workerGroupSpecs[0].template.spec.containers[0] RayCluster/ml/raycluster-kuberay ray-worker",
            "busybox:1.36 spec.workerGroupSpecs[1].template.spec.initContainers[0] RayCluster/ml/raycluster-kuberay wait-gcs",
            "rayproject/ray-ml:2.9.0-gpu spec.workerGroupSpecs[1].template.spec.containers[0] RayCluster/ml/raycluster-kuberay ray-worker",
            "rayproject/ray:2.9.0-py310 spec.rayClusterSpec.headGroupSpec.template.spec.containers[0] RayJob/ml/rayjob-sample ray-head",
            "rayproject/ray:2.9.0-py310 spec.rayClusterSpec.workerGroupSpecs[0].template.spec.containers[0] RayJob/ml/rayjob-sample ray-worker",
            "rayproject/ray:2.9.0-submit spec.submitterPodTemplate.spec.containers[0] RayJob/ml/rayjob-sample submitter",
            "rayproject/ray:2.9.0-serve spec.rayClusterConfig.headGroupSpec.template.spec.containers[0] RayService/ml/rayservice-sample ray-head",
            "registry.example.com/shop/smoke:1.0 spec.metrics[1].provider.job.spec.template.spec.containers[0] AnalysisTemplate/shop/smoke-test smoke",
            "registry.example.com/shop/app:v1 spec.templates[0].template.spec.containers[0] Experiment/shop/canary-exp app",
            "registry.example.com/shop/app:v2 spec.templates[1].template.spec.containers[0] Experiment/shop/canary-exp app",
            "pytorch/pytorch:2.5.0-cuda12.4-cudnn9-runtime spec.template.spec.replicatedJobs[0].template.spec.template.spec.containers[0] TrainingRuntime/train/torch-distributed node",
            "python:3.12-slim spec.podTemplate.spec.containers[0] SandboxTemplate/agents/python-sandbox python",
            "ghcr.io/example/tools:1.0 spec.podTemplate.spec.volumes[0].image SandboxTemplate/agents/python-sandbox tools",
            "ghcr.io/example/server:1.0 spec.template.spec.containers[0] Deployment/ml/model-server server",
            "quay.io/example/model-weights:v3 spec.template.spec.volumes[2].image Deployment/ml/model-server model",
        ]
    );
    // The head group names a pull secret the input lacks: only its image is warned about.
    let warned: Vec<_> = j["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| {
            i["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["code"] == "pull-secret-missing")
        })
        .map(|i| i["reference"].as_str().unwrap())
        .collect();
    assert_eq!(warned, ["rayproject/ray:2.9.0"]);
}

#[test]
fn argo_workflow_and_tekton_containers_are_listed_with_their_paths() {
    let (rows, _) = sources("workflows.yaml");
    assert_eq!(
        rows,
        [
            "alpine/git:2.45.2 spec.templates[1].initContainers[0] Workflow/ci/build- fetch",
            "golang:1.23 spec.templates[1].container Workflow/ci/build- -",
            "docker:27-dind spec.templates[1].sidecars[0] Workflow/ci/build- dind",
            "python:3.12 spec.templates[2].script Workflow/ci/build- -",
            "registry.example.com/ci/nightly:1.0 spec.workflowSpec.templates[0].container CronWorkflow/ci/nightly -",
            "gcr.io/kaniko-project/executor:v1.23.2 spec.steps[0] Task/ci/build-push build",
            "registry:2 spec.sidecars[0] Task/ci/build-push registry",
            "golangci/golangci-lint:v1.60 spec.tasks[0].taskSpec.steps[0] Pipeline/ci/release lint",
        ]
    );
}

#[test]
fn a_crd_bundle_lists_only_the_images_its_objects_use() {
    let (rows, j) = sources("crd-bundle.yaml");
    assert_eq!(
        rows,
        [
            "quay.io/kuberay/operator:v1.2.2 spec.template.spec.containers[0] Deployment/ray-system/kuberay-operator operator",
            "rayproject/ray:2.9.0 spec.headGroupSpec.template.spec.containers[0] RayCluster/ml/demo ray-head",
            "rayproject/ray:2.9.0 spec.workerGroupSpecs[0].template.spec.containers[0] RayCluster/ml/demo ray-worker",
            "example.io/widget-sidecar:1.0 spec.containers[0] Widget/ml/w plain",
        ]
    );
    assert_eq!(j["summary"]["images"], 3);
}
