//! A stable run id from the CI environment, so a retried step replays its
//! claim instead of taking a second one.

use std::collections::HashMap;

use crate::fnv::fnv1a;

/// The CI's own identity of this job, if a known CI is detected:
/// GitHub Actions (run id, attempt, job), GitLab, Buildkite, CircleCI or
/// Jenkins.
pub fn ci_job_id(env: &HashMap<String, String>) -> Option<String> {
    let get = |name: &str| env.get(name).filter(|v| !v.is_empty()).cloned();
    let id = if let Some(run) = get("GITHUB_RUN_ID") {
        let attempt = get("GITHUB_RUN_ATTEMPT").unwrap_or_else(|| "1".into());
        let job = get("GITHUB_JOB").unwrap_or_default();
        format!("gha-{run}-{attempt}-{job}")
    } else if let Some(job) = get("CI_JOB_ID") {
        format!("gitlab-{job}")
    } else if let Some(job) = get("BUILDKITE_JOB_ID") {
        format!("buildkite-{job}")
    } else if let Some(job) = get("CIRCLE_WORKFLOW_JOB_ID").or_else(|| get("CIRCLE_BUILD_NUM")) {
        format!("circleci-{job}")
    } else {
        get("BUILD_TAG").filter(|_| get("JENKINS_URL").is_some())?
    };
    Some(sanitise(&id))
}

/// The run id for guarding `resource` in this job: the CI job's id plus a
/// short hash of the resource (one job may guard several resources), or
/// `None` outside CI.
pub fn stable_run_id(env: &HashMap<String, String>, resource: &str) -> Option<String> {
    let job = ci_job_id(env)?;
    let suffix = format!("-{:08x}", fnv1a(resource) as u32);
    let keep = 128 - suffix.len();
    Some(format!("{}{suffix}", &job[..job.len().min(keep)]))
}

/// Keeps only the characters a run id allows (`[A-Za-z0-9._:-]`).
fn sanitise(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn each_ci_gives_a_stable_valid_id() {
        let cases = [
            (
                env(&[
                    ("GITHUB_RUN_ID", "42"),
                    ("GITHUB_RUN_ATTEMPT", "2"),
                    ("GITHUB_JOB", "deploy web"),
                ]),
                "gha-42-2-deploy_web",
            ),
            (env(&[("CI_JOB_ID", "9001")]), "gitlab-9001"),
            (env(&[("BUILDKITE_JOB_ID", "0190-ab")]), "buildkite-0190-ab"),
            (env(&[("CIRCLE_BUILD_NUM", "7")]), "circleci-7"),
            (
                env(&[
                    ("JENKINS_URL", "http://ci"),
                    ("BUILD_TAG", "jenkins-web-12"),
                ]),
                "jenkins-web-12",
            ),
        ];
        for (vars, expected) in cases {
            assert_eq!(ci_job_id(&vars).as_deref(), Some(expected));
            let id = stable_run_id(&vars, "repo:acme/web").unwrap();
            assert!(availsync_sdk::types::is_valid_run_id(&id), "{id}");
            assert_eq!(stable_run_id(&vars, "repo:acme/web").unwrap(), id);
            assert_ne!(stable_run_id(&vars, "repo:acme/api").unwrap(), id);
        }
        assert_eq!(ci_job_id(&env(&[("PATH", "/bin")])), None);
    }

    #[test]
    fn long_ids_are_cut_to_fit() {
        let vars = env(&[("CI_JOB_ID", &"9".repeat(300))]);
        let id = stable_run_id(&vars, "repo:a/b").unwrap();
        assert_eq!(id.len(), 128);
        assert!(availsync_sdk::types::is_valid_run_id(&id));
    }
}
