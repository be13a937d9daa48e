//! The digests a push produced, so a check can say whether the tag still points at them:
//! `--expect-digest IMAGE=sha256:…`, docker buildx's `--metadata-file` JSON, or lines of
//! `IMAGE@sha256:…` as `crane push` prints them. Pure parsing, no I/O.

use std::collections::HashMap;

use crate::model::reference::{Digest, Reference};

/// Expected manifest digests, by canonical reference (`registry/repository:tag`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedDigests {
    by_name: HashMap<String, Digest>,
}

/// Why expected digests could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestsError {
    /// An `IMAGE=DIGEST` or `IMAGE@DIGEST` entry that does not parse.
    #[error("{origin}: {problem}")]
    Invalid {
        /// `--expect-digest`, or `FILE:LINE`.
        origin: String,
        /// What is wrong.
        problem: String,
    },
    /// The same image expected at two different digests.
    #[error("{origin}: {image} is already expected at {previous}")]
    Conflict {
        /// Where the second one was given.
        origin: String,
        /// The image.
        image: String,
        /// The digest given first.
        previous: String,
    },
}

impl ExpectedDigests {
    /// No expectations.
    pub fn new() -> ExpectedDigests {
        ExpectedDigests::default()
    }

    /// Adds `IMAGE=sha256:…` as given to `--expect-digest`.
    pub fn add_argument(&mut self, argument: &str) -> Result<(), DigestsError> {
        let invalid = |problem: String| DigestsError::Invalid {
            origin: format!("--expect-digest {argument}"),
            problem,
        };
        let (image, digest) = argument
            .rsplit_once('=')
            .ok_or_else(|| invalid("expected IMAGE=sha256:…".into()))?;
        self.add(image, digest, &format!("--expect-digest {argument}"))
            .map_err(|e| match e {
                DigestsError::Invalid { problem, .. } => invalid(problem),
                other => other,
            })
    }

    /// Reads a digests file: docker buildx's `--metadata-file` JSON (one build, or a bake's
    /// targets), or lines of `IMAGE@sha256:…` (blank lines and `#` comments skipped). `name` is
    /// the file's name for messages.
    pub fn add_file(&mut self, name: &str, text: &str) -> Result<(), DigestsError> {
        if text.trim_start().starts_with('{') {
            return self.add_buildx(name, text);
        }
        for (i, line) in text.lines().enumerate() {
            let origin = format!("{name}:{}", i + 1);
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // `crane push` prints the reference alone; other tools add words around it.
            let Some(word) = line.split_whitespace().find(|w| w.contains("@sha")) else {
                return Err(DigestsError::Invalid {
                    origin,
                    problem: "expected IMAGE@sha256:…".into(),
                });
            };
            let (image, digest) = word.rsplit_once('@').unwrap_or((word, ""));
            self.add(image, digest, &origin)?;
        }
        Ok(())
    }

    fn add_buildx(&mut self, name: &str, text: &str) -> Result<(), DigestsError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| DigestsError::Invalid {
                origin: format!("{name}:{}:{}", e.line(), e.column()),
                problem: "not valid JSON".into(),
            })?;
        let mut builds: Vec<&serde_json::Value> = Vec::new();
        if value.get("containerimage.digest").is_some() {
            builds.push(&value);
        } else if let Some(targets) = value.as_object() {
            // `docker buildx bake --metadata-file`: one entry per target.
            builds.extend(
                targets
                    .values()
                    .filter(|v| v.get("containerimage.digest").is_some()),
            );
        }
        if builds.is_empty() {
            return Err(DigestsError::Invalid {
                origin: name.to_owned(),
                problem: "no \"containerimage.digest\" in this buildx metadata".into(),
            });
        }
        for build in builds {
            let digest = build["containerimage.digest"].as_str().unwrap_or_default();
            let names = build["image.name"].as_str().unwrap_or_default();
            if names.is_empty() {
                return Err(DigestsError::Invalid {
                    origin: name.to_owned(),
                    problem: "a build has no \"image.name\" (was it pushed with a tag?)".into(),
                });
            }
            for image in names.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                self.add(image, digest, name)?;
            }
        }
        Ok(())
    }

    fn add(&mut self, image: &str, digest: &str, origin: &str) -> Result<(), DigestsError> {
        let invalid = |problem: String| DigestsError::Invalid {
            origin: origin.to_owned(),
            problem,
        };
        let reference = Reference::parse(image.trim()).map_err(|e| invalid(e.to_string()))?;
        let digest = Digest::parse(digest.trim()).map_err(|e| invalid(e.to_string()))?;
        let key = name_of(&reference);
        if let Some(previous) = self.by_name.get(&key)
            && previous != &digest
        {
            return Err(DigestsError::Conflict {
                origin: origin.to_owned(),
                image: key,
                previous: previous.to_string(),
            });
        }
        self.by_name.insert(key, digest);
        Ok(())
    }

    /// The digest `reference` is expected at, if any.
    pub fn get(&self, reference: &Reference) -> Option<&Digest> {
        self.by_name.get(&name_of(reference))
    }

    /// How many images have an expected digest.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// `registry/repository:tag` without any digest: what a push names.
fn name_of(r: &Reference) -> String {
    match r.tag() {
        Some(tag) => format!("{}/{}:{tag}", r.registry(), r.repository()),
        None => format!("{}/{}", r.registry(), r.repository()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn get(e: &ExpectedDigests, image: &str) -> Option<String> {
        e.get(&Reference::parse(image).unwrap())
            .map(ToString::to_string)
    }

    #[test]
    fn arguments_are_normalized_like_references() {
        let mut e = ExpectedDigests::new();
        e.add_argument(&format!("nginx:1.27={A}")).unwrap();
        assert_eq!(get(&e, "docker.io/library/nginx:1.27").as_deref(), Some(A));
        assert_eq!(get(&e, "nginx:1.28"), None);
        assert!(e.add_argument("nginx:1.27").is_err());
        assert!(e.add_argument("nginx=sha256:short").is_err());
        let conflict = e
            .add_argument(&format!("docker.io/library/nginx:1.27={B}"))
            .unwrap_err();
        assert!(
            matches!(conflict, DigestsError::Conflict { .. }),
            "{conflict}"
        );
    }

    #[test]
    fn buildx_metadata_single_and_bake() {
        let mut e = ExpectedDigests::new();
        let single = format!(
            r#"{{"buildx.build.ref":"x","containerimage.digest":"{A}","image.name":"reg.example/app:v1,reg.example/app:latest"}}"#
        );
        e.add_file("meta.json", &single).unwrap();
        assert_eq!(get(&e, "reg.example/app:v1").as_deref(), Some(A));
        assert_eq!(get(&e, "reg.example/app:latest").as_deref(), Some(A));
        let bake = format!(
            r#"{{"api":{{"containerimage.digest":"{B}","image.name":"reg.example/api:v2"}},"other":{{"x":1}}}}"#
        );
        e.add_file("bake.json", &bake).unwrap();
        assert_eq!(get(&e, "reg.example/api:v2").as_deref(), Some(B));
        let err = ExpectedDigests::new()
            .add_file("bad.json", "{\n  nope")
            .unwrap_err();
        assert!(err.to_string().starts_with("bad.json:2:"), "{err}");
        assert!(ExpectedDigests::new().add_file("empty.json", "{}").is_err());
    }

    #[test]
    fn lines_of_image_at_digest() {
        let mut e = ExpectedDigests::new();
        let text = format!(
            "# pushed by CI\nreg.example/app:v1@{A}\n\n2026/11/24 pushed reg.example/web:v3@{B} ok\n"
        );
        e.add_file("pushed.txt", &text).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(get(&e, "reg.example/web:v3").as_deref(), Some(B));
        let err = ExpectedDigests::new()
            .add_file("pushed.txt", "ok\nnot a digest line\n")
            .unwrap_err();
        assert!(err.to_string().starts_with("pushed.txt:1:"), "{err}");
    }
}
