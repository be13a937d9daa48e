//! Pushes small but well-formed images into a test registry through the
//! distribution HTTP API, so tests have real manifests, indexes and blobs to
//! pull without any container tooling on the machine.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use serde_json::{Value, json};

use super::pki::Pki;
use super::token::mint_jwt;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Platforms of the multi-platform kinds, in index order.
pub const PLATFORMS: [(&str, &str); 2] = [("linux", "amd64"), ("linux", "arm64")];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// Single OCI image manifest (linux/amd64).
    OciManifest,
    /// OCI index over linux/amd64 and linux/arm64 OCI manifests.
    OciIndex,
    /// Single Docker schema 2 manifest (linux/amd64).
    DockerV2,
    /// Docker manifest list over linux/amd64 and linux/arm64.
    DockerList,
}

/// What was pushed under the tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `sha256:…` of the manifest bytes (what the registry reports).
    pub digest: String,
    pub media_type: String,
    /// Manifest size in bytes.
    pub size: u64,
    /// `os/arch` for a platform manifest; `None` for the tagged top level.
    pub platform: Option<String>,
    /// Config and layer digests of an image manifest (empty for an index).
    pub blobs: Vec<String>,
    /// For an index or list: the platform manifests, in [`PLATFORMS`] order.
    pub children: Vec<Pushed>,
}

/// Pushes `repo:tag` of `kind` to the registry at `registry_base_url`
/// (`http://…` or `https://…`). `auth` is a full `Authorization` header
/// value (see `registry::basic_auth`, [`bearer_for_push`]); `ca_pem` is the
/// CA to trust for https (the test CA, usually). Panics on any failure.
///
/// Runs on a private thread and runtime, so it also works when called from
/// inside an async test.
pub fn push(
    registry_base_url: &str,
    auth: Option<&str>,
    ca_pem: Option<&Path>,
    repo: &str,
    tag: &str,
    kind: ImageKind,
) -> Pushed {
    let pusher = Pusher::new(registry_base_url, auth, ca_pem);
    let repo = repo.to_owned();
    let tag = tag.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("seed runtime");
        rt.block_on(pusher.push_image(&repo, &tag, kind))
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Pushes an OCI index under `repo:tag` over one OCI image manifest per
/// platform in `platforms` (`(os, arch)`, in index order) — e.g. an index
/// that lacks the node's platform. Otherwise like [`push`].
pub fn push_index(
    registry_base_url: &str,
    auth: Option<&str>,
    ca_pem: Option<&Path>,
    repo: &str,
    tag: &str,
    platforms: &[(&'static str, &'static str)],
) -> Pushed {
    let pusher = Pusher::new(registry_base_url, auth, ca_pem);
    let repo = repo.to_owned();
    let tag = tag.to_owned();
    let platforms = platforms.to_vec();
    on_own_runtime(async move {
        pusher
            .push_list(&repo, &tag, OCI_INDEX, OCI_MANIFEST, &platforms)
            .await
    })
}

/// Deletes the manifest `digest` of `repo` through the API (the registry
/// must allow deletes; the suite's does): what a cleanup job that prunes
/// per-platform manifests under a multi-platform tag leaves behind.
pub fn delete_manifest(
    registry_base_url: &str,
    auth: Option<&str>,
    ca_pem: Option<&Path>,
    repo: &str,
    digest: &str,
) {
    let pusher = Pusher::new(registry_base_url, auth, ca_pem);
    let url = format!("{}/v2/{repo}/manifests/{digest}", pusher.base);
    on_own_runtime(async move {
        let response = pusher
            .request(reqwest::Method::DELETE, &url)
            .send()
            .await
            .expect("delete manifest");
        expect_status(response, 202, "delete manifest").await;
    });
}

/// Runs `work` on a private thread and runtime, like [`push`].
fn on_own_runtime<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("seed runtime");
        rt.block_on(work)
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// `Bearer <jwt>` granting pull and push on `repo`, signed directly with
/// `pki.token_signer`, for seeding a token-auth registry without a token
/// server round trip.
pub fn bearer_for_push(pki: &Pki, service: &str, issuer: &str, repo: &str) -> String {
    let jwt = mint_jwt(
        &pki.token_signer,
        issuer,
        service,
        "seed",
        &[(repo, &["pull", "push"])],
        3600,
    );
    format!("Bearer {jwt}")
}

/// `sha256:<hex>` of `bytes`, the registry's digest format.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = digest(&SHA256, bytes);
    let mut out = String::from("sha256:");
    for b in hash.as_ref() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

struct Pusher {
    client: reqwest::Client,
    base: String,
    auth: Option<String>,
}

impl Pusher {
    fn new(base: &str, auth: Option<&str>, ca_pem: Option<&Path>) -> Pusher {
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30));
        if let Some(path) = ca_pem {
            let pem =
                std::fs::read(path).unwrap_or_else(|e| panic!("read CA {}: {e}", path.display()));
            let cert = reqwest::Certificate::from_pem(&pem).expect("CA PEM parses");
            // Only the test CA: a seeding client that silently trusted the
            // system store could mask a broken test PKI.
            builder = builder.tls_certs_only([cert]);
        }
        Pusher {
            client: builder.build().expect("build seed HTTP client"),
            base: base.trim_end_matches('/').to_owned(),
            auth: auth.map(str::to_owned),
        }
    }

    async fn push_image(&self, repo: &str, tag: &str, kind: ImageKind) -> Pushed {
        let (single, list) = match kind {
            ImageKind::OciManifest => (Some(OCI_MANIFEST), None),
            ImageKind::DockerV2 => (Some(DOCKER_MANIFEST), None),
            ImageKind::OciIndex => (None, Some((OCI_INDEX, OCI_MANIFEST))),
            ImageKind::DockerList => (None, Some((DOCKER_LIST, DOCKER_MANIFEST))),
        };
        if let Some(media_type) = single {
            let mut pushed = self
                .push_platform(repo, tag, media_type, PLATFORMS[0], Some(tag))
                .await;
            pushed.platform = None;
            return pushed;
        }
        let (list_type, child_type) = list.expect("either single or list");
        self.push_list(repo, tag, list_type, child_type, &PLATFORMS)
            .await
    }

    /// An index or list of `list_type` over one `child_type` manifest per
    /// platform, in the order given, under `tag`.
    async fn push_list(
        &self,
        repo: &str,
        tag: &str,
        list_type: &str,
        child_type: &str,
        platforms: &[(&str, &str)],
    ) -> Pushed {
        // Children go first, by digest: the registry refuses an index that
        // references manifests it does not have.
        let mut children = Vec::new();
        for &platform in platforms {
            children.push(
                self.push_platform(repo, tag, child_type, platform, None)
                    .await,
            );
        }
        let entries: Vec<Value> = children
            .iter()
            .zip(platforms.iter().copied())
            .map(|(child, (os, arch))| {
                json!({
                    "mediaType": child.media_type,
                    "digest": child.digest,
                    "size": child.size,
                    "platform": {"architecture": arch, "os": os},
                })
            })
            .collect();
        let index = json!({"schemaVersion": 2, "mediaType": list_type, "manifests": entries});
        let bytes = serde_json::to_vec_pretty(&index).expect("serialise index");
        let digest = self.put_manifest(repo, tag, list_type, &bytes).await;
        Pushed {
            digest,
            media_type: list_type.to_owned(),
            size: bytes.len() as u64,
            platform: None,
            blobs: Vec::new(),
            children,
        }
    }

    /// Pushes config, layer and manifest for one platform, under `tag` if
    /// given, else by digest.
    async fn push_platform(
        &self,
        repo: &str,
        tag: &str,
        manifest_type: &str,
        (os, arch): (&str, &str),
        under_tag: Option<&str>,
    ) -> Pushed {
        let docker = manifest_type == DOCKER_MANIFEST;
        let (config_type, layer_type) = if docker {
            (DOCKER_CONFIG, DOCKER_LAYER_GZIP)
        } else {
            (OCI_CONFIG, OCI_LAYER_GZIP)
        };

        let tar = tar_one_file(
            "hello.txt",
            format!("preflight test image {repo}:{tag} {os}/{arch}\n").as_bytes(),
        );
        let layer = gzip_stored(&tar);
        let config = json!({
            "architecture": arch,
            "os": os,
            "config": {"Cmd": ["/hello"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&tar)]},
        });
        let config = serde_json::to_vec(&config).expect("serialise config");

        let config_digest = self.put_blob(repo, &config).await;
        let layer_digest = self.put_blob(repo, &layer).await;

        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": layer_type, "digest": layer_digest, "size": layer.len()}],
        });
        let bytes = serde_json::to_vec_pretty(&manifest).expect("serialise manifest");
        let own_digest = sha256_digest(&bytes);
        let reference = under_tag.unwrap_or(&own_digest);
        let digest = self
            .put_manifest(repo, reference, manifest_type, &bytes)
            .await;
        Pushed {
            digest,
            media_type: manifest_type.to_owned(),
            size: bytes.len() as u64,
            platform: Some(format!("{os}/{arch}")),
            blobs: vec![config_digest, layer_digest],
            children: Vec::new(),
        }
    }

    /// Monolithic upload: POST to open a session, PUT the bytes to close it.
    async fn put_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        let start = self
            .request(
                reqwest::Method::POST,
                &format!("{}/v2/{repo}/blobs/uploads/", self.base),
            )
            .send()
            .await
            .expect("start blob upload");
        let start = expect_status(start, 202, "start blob upload").await;
        let location = start
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("upload Location header")
            .to_owned();
        let url = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        let separator = if url.contains('?') { '&' } else { '?' };
        let put = self
            .request(
                reqwest::Method::PUT,
                &format!("{url}{separator}digest={digest}"),
            )
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .expect("finish blob upload");
        expect_status(put, 201, "finish blob upload").await;
        digest
    }

    async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let expected = sha256_digest(bytes);
        let response = self
            .request(
                reqwest::Method::PUT,
                &format!("{}/v2/{repo}/manifests/{reference}", self.base),
            )
            .header("content-type", media_type)
            .body(bytes.to_vec())
            .send()
            .await
            .expect("put manifest");
        let response = expect_status(response, 201, "put manifest").await;
        let reported = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert_eq!(
            reported, expected,
            "registry digest differs from ours for {repo}:{reference}"
        );
        expected
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, url);
        match &self.auth {
            Some(value) => builder.header("authorization", value),
            None => builder,
        }
    }
}

async fn expect_status(response: reqwest::Response, want: u16, what: &str) -> reqwest::Response {
    if response.status().as_u16() == want {
        return response;
    }
    let status = response.status();
    let headers = format!("{:?}", response.headers());
    let body = response.text().await.unwrap_or_default();
    panic!("{what}: expected {want}, got {status}\nheaders: {headers}\nbody: {body}");
}

/// A ustar archive holding one regular file: enough for a layer that real
/// tools can unpack, built by hand to avoid an archive dependency.
fn tar_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let mut field =
        |offset: usize, value: &[u8]| header[offset..offset + value.len()].copy_from_slice(value);
    field(0, name.as_bytes());
    field(100, b"0000644\0");
    field(108, b"0000000\0");
    field(116, b"0000000\0");
    field(124, format!("{:011o}\0", content.len()).as_bytes());
    field(136, b"00000000000\0");
    field(148, b"        ");
    field(156, b"0");
    field(257, b"ustar\0");
    field(263, b"00");
    let checksum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{checksum:06o}\0 ").as_bytes());

    let mut out = header.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().next_multiple_of(512), 0);
    // Two zero blocks mark the end of the archive.
    out.resize(out.len() + 1024, 0);
    out
}

/// Gzip with "stored" (uncompressed) deflate blocks: a valid gzip stream
/// without a compression dependency; size does not matter for tiny layers.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(0xffff).collect()
    };
    let last = chunks.len() - 1;
    for (i, chunk) in chunks.iter().enumerate() {
        out.push(u8::from(i == last));
        let len = u16::try_from(chunk.len()).expect("chunk fits a stored block");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    // ISIZE is the length modulo 2^32 by definition, so truncation is right.
    #[allow(clippy::cast_possible_truncation)]
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
