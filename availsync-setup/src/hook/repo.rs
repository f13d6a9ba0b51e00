//! Which repository a file belongs to, and its path there: the nearest
//! enclosing git work tree, named `repo:owner/name` after its `origin`
//! remote, and the file's path relative to the work tree's root with `/`
//! separators.
//!
//! The hook runs before every edit, so this reads `.git` and the
//! repository's `config` file itself (a few small reads) instead of
//! starting `git` (a process start, about as long as the rest of the
//! hook's work). Only a configuration this reading cannot settle — an
//! `[include]`, or a remote URL it does not recognise — is handed to
//! `git remote get-url origin`, which applies includes and `insteadOf`
//! rewrites.

use std::path::{Component, Path, PathBuf};

use availsync_sdk::types::{PathPattern, ResourceKey};

/// Where an edited file lives, as far as Availsync is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// In a work tree whose `origin` names a repository.
    Repo(RepoFile),
    /// Outside any git work tree, inside a `.git` directory, or in a
    /// repository without a recognisable `origin`: not Availsync's to
    /// coordinate.
    Untracked,
}

/// A file in a repository Availsync can name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    /// `repo:owner/name`.
    pub resource: ResourceKey,
    /// The pattern to claim: the file's path from the work tree's root, or
    /// the nearest directory (`dir/**`) when the file's own path is not a
    /// valid pattern (a backslash in its name, over 512 bytes).
    pub pattern: PathPattern,
}

/// The file's repository could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// Reading `.git` or the repository's config failed.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The path from the work tree's root is not UTF-8, or no part of it
    /// can be claimed.
    #[error("{path} has no path Availsync can claim in its repository ({why})")]
    Unclaimable {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// Locates `file` (absolute).
pub fn locate(file: &Path) -> Result<Location, RepoError> {
    let file = resolve(file);
    let Some((root, git_dir)) = work_tree(&file)? else {
        return Ok(Location::Untracked);
    };
    let Ok(relative) = file.strip_prefix(&root) else {
        return Ok(Location::Untracked);
    };
    let mut segments = Vec::new();
    for component in relative.components() {
        let Component::Normal(part) = component else {
            return Ok(Location::Untracked);
        };
        let part = part.to_str().ok_or_else(|| RepoError::Unclaimable {
            path: file.clone(),
            why: "its path is not UTF-8".to_owned(),
        })?;
        if part == ".git" {
            return Ok(Location::Untracked);
        }
        segments.push(part);
    }
    let Some(url) = origin_url(&root, &git_dir)? else {
        return Ok(Location::Untracked);
    };
    let Some(resource) = repo_key(&url) else {
        return Ok(Location::Untracked);
    };
    let pattern = claimable(&segments).ok_or_else(|| RepoError::Unclaimable {
        path: file.clone(),
        why: "its name and folders hold characters a working set refuses".to_owned(),
    })?;
    Ok(Location::Repo(RepoFile { resource, pattern }))
}

/// The file's path with `.` and `..` taken out and the longest existing
/// part resolved through symbolic links (the file itself may not exist
/// yet: a new file, possibly in new folders).
fn resolve(file: &Path) -> PathBuf {
    let mut lexical = PathBuf::new();
    for component in file.components() {
        match component {
            Component::ParentDir => {
                lexical.pop();
            }
            Component::CurDir => {}
            other => lexical.push(other),
        }
    }
    let mut existing = lexical.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            let mut resolved = real;
            resolved.extend(rest.iter().rev());
            return resolved;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return lexical,
        }
    }
}

/// The root of the work tree holding `file`, and its git directory.
fn work_tree(file: &Path) -> Result<Option<(PathBuf, PathBuf)>, RepoError> {
    for dir in file.ancestors().skip(1) {
        let dot_git = dir.join(".git");
        let Ok(meta) = std::fs::metadata(&dot_git) else {
            continue;
        };
        if meta.is_dir() {
            return Ok(Some((dir.to_owned(), dot_git)));
        }
        // A linked work tree or a submodule: `.git` is a file saying
        // `gitdir: <path>`, relative to the work tree.
        let text = read(&dot_git)?;
        return Ok(text
            .lines()
            .find_map(|line| line.strip_prefix("gitdir:"))
            .map(|path| (dir.to_owned(), dir.join(path.trim()))));
    }
    Ok(None)
}

/// The URL of the `origin` remote, if there is one.
fn origin_url(root: &Path, git_dir: &Path) -> Result<Option<String>, RepoError> {
    // A linked work tree keeps its config in the main repository's git
    // directory, named in `commondir`.
    let common = match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(text) => git_dir.join(text.trim()),
        Err(_) => git_dir.to_owned(),
    };
    let path = common.join("config");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(RepoError::Read { path, source }),
    };
    let config = parse_config(&text);
    match config.origin {
        Some(url) if !config.includes && repo_key(&url).is_some() => Ok(Some(url)),
        None if !config.includes => Ok(None),
        _ => Ok(git_origin(root)),
    }
}

/// `git remote get-url origin`, for the configurations read here cannot
/// settle.
fn git_origin(root: &Path) -> Option<String> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["remote", "get-url", "origin"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .filter(|url| !url.is_empty())
}

/// What this module needs from a git config file.
#[derive(Debug, Default, PartialEq, Eq)]
struct GitConfig {
    /// The first `url` of `[remote "origin"]`.
    origin: Option<String>,
    /// Whether it has `[include]` or `[includeIf …]` sections, which may
    /// set or change the remote elsewhere.
    includes: bool,
}

/// Reads the sections and keys that matter from git's INI dialect:
/// section names and keys are case-insensitive, subsection names are
/// not; values may be quoted and carry `#` or `;` comments.
fn parse_config(text: &str) -> GitConfig {
    let mut config = GitConfig::default();
    let mut in_origin = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            let Some(end) = header.find(']') else {
                in_origin = false;
                continue;
            };
            let header = header[..end].trim();
            let (name, sub) = match header.split_once(char::is_whitespace) {
                Some((name, sub)) => (name, Some(sub.trim().trim_matches('"'))),
                None => (header, None),
            };
            let name = name.to_ascii_lowercase();
            config.includes |= name == "include" || name == "includeif";
            in_origin = name == "remote" && sub == Some("origin");
            // `[remote "origin"] url = …` on one line is legal too.
            let rest = line[end + 2..].trim();
            if in_origin && !rest.is_empty() {
                origin_key(rest, &mut config);
            }
            continue;
        }
        if in_origin {
            origin_key(line, &mut config);
        }
    }
    config
}

fn origin_key(line: &str, config: &mut GitConfig) {
    let Some((key, value)) = line.split_once('=') else {
        return;
    };
    if key.trim().eq_ignore_ascii_case("url") && config.origin.is_none() {
        let value = config_value(value);
        if !value.is_empty() {
            config.origin = Some(value);
        }
    }
}

/// A config value without its quotes and trailing comment.
fn config_value(raw: &str) -> String {
    let mut value = String::new();
    let mut quoted = false;
    let mut chars = raw.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' => {
                if let Some(next) = chars.next() {
                    value.push(match next {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                }
            }
            '#' | ';' if !quoted => break,
            c => value.push(c),
        }
    }
    value.trim().to_owned()
}

/// `repo:owner/name` from a remote URL: `https://host/owner/name(.git)`,
/// `ssh://[user@]host[:port]/owner/name(.git)`, `git://…`, and scp-like
/// `[user@]host:owner/name(.git)`. Anything else — a local path, a
/// `file://` URL, a path of more or fewer than two segments (GitLab
/// subgroups) — names no repository.
pub fn repo_key(url: &str) -> Option<ResourceKey> {
    let url = url.trim();
    let path = if let Some((scheme, rest)) = url.split_once("://") {
        if !matches!(
            scheme.to_ascii_lowercase().as_str(),
            "https" | "http" | "ssh" | "git" | "git+ssh" | "ssh+git"
        ) {
            return None;
        }
        // Past the authority (`user@host:port`).
        rest.split_once('/')?.1
    } else {
        // scp-like: `host:path`, the colon before any slash.
        let (host, path) = url.split_once(':')?;
        if host.is_empty() || host.contains('/') {
            return None;
        }
        path
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let mut segments = path.split('/');
    let (owner, name) = (segments.next()?, segments.next()?);
    if segments.next().is_some() || owner.is_empty() || name.is_empty() {
        return None;
    }
    format!("repo:{owner}/{name}").parse().ok()
}

/// The pattern for a file whose path from the root is `segments`: the
/// path itself, else its nearest directory that is a valid pattern.
fn claimable(segments: &[&str]) -> Option<PathPattern> {
    if let Ok(pattern) = segments.join("/").parse() {
        return Some(pattern);
    }
    (1..segments.len())
        .rev()
        .find_map(|n| format!("{}/**", segments[..n].join("/")).parse().ok())
}

fn read(path: &Path) -> Result<String, RepoError> {
    std::fs::read_to_string(path).map_err(|source| RepoError::Read {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(url: &str) -> Option<String> {
        repo_key(url).map(|k| k.to_string())
    }

    #[test]
    fn remote_urls_of_every_usual_form_name_the_repository() {
        for url in [
            "https://github.com/Acme/Web.git",
            "https://github.com/acme/web",
            "https://user:token@github.com/acme/web.git/",
            "http://git.example.com:8080/acme/web.git",
            "ssh://git@github.com/acme/web.git",
            "ssh://git@github.com:2222/acme/web",
            "git+ssh://git@host/acme/web.git",
            "git://github.com/acme/web.git",
            "git@github.com:acme/web.git",
            "git@github.com:/acme/web.git",
            "github.com:acme/web",
        ] {
            assert_eq!(key(url).as_deref(), Some("repo:acme/web"), "{url}");
        }
    }

    #[test]
    fn urls_that_name_no_owner_and_name_are_not_repositories() {
        for url in [
            "/srv/git/web.git",
            "../web",
            "file:///srv/git/acme/web.git",
            "https://gitlab.com/group/sub/web.git",
            "https://github.com/acme",
            "git@github.com:web.git",
            "C:\\repos\\web",
            "",
            "https://github.com/acme/we b",
        ] {
            assert_eq!(key(url), None, "{url}");
        }
    }

    #[test]
    fn the_origin_url_is_read_from_quoted_commented_mixed_case_config() {
        let text = r#"
[core]
	bare = false
[remote "upstream"]
	url = git@github.com:other/thing.git
[Remote "origin"]
	URL = "git@github.com:acme/web.git" ; the main one
	fetch = +refs/heads/*:refs/remotes/origin/*
[remote "origin"]
	url = https://mirror/acme/web2
"#;
        assert_eq!(
            parse_config(text),
            GitConfig {
                origin: Some("git@github.com:acme/web.git".into()),
                includes: false
            }
        );
        let one_line =
            "[remote \"origin\"] url = https://h/a/b\n[includeIf \"gitdir:~/w/\"]\n\tpath = x";
        assert_eq!(
            parse_config(one_line),
            GitConfig {
                origin: Some("https://h/a/b".into()),
                includes: true
            }
        );
        assert_eq!(
            parse_config("[remote \"Origin\"]\n\turl = https://h/a/b\n"),
            GitConfig::default()
        );
    }

    #[test]
    fn a_file_whose_name_is_no_pattern_claims_its_folder() {
        assert_eq!(claimable(&["src", "a.rs"]).unwrap().as_str(), "src/a.rs");
        assert_eq!(
            claimable(&["src", "odd\\name.rs"]).unwrap().as_str(),
            "src/**"
        );
        assert_eq!(claimable(&["odd\\name.rs"]), None);
    }

    fn git(dir: &Path, args: &[&str]) {
        let status = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    fn repo_file(location: Location) -> (String, String) {
        match location {
            Location::Repo(file) => (file.resource.to_string(), file.pattern.as_str().to_owned()),
            Location::Untracked => panic!("untracked"),
        }
    }

    #[test]
    fn files_map_to_their_work_tree_also_through_links_and_linked_work_trees() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("web");
        std::fs::create_dir_all(root.join("src")).unwrap();
        git(&root, &["init", "-q"]);
        git(
            &root,
            &["remote", "add", "origin", "git@github.com:Acme/Web.git"],
        );
        std::fs::write(root.join("src/a.rs"), "").unwrap();

        let expect = |path: &Path, want: &str| {
            assert_eq!(
                repo_file(locate(path).unwrap()),
                ("repo:acme/web".to_owned(), want.to_owned()),
                "{}",
                path.display()
            );
        };
        expect(&root.join("src/a.rs"), "src/a.rs");
        // Not there yet, in folders not there yet.
        expect(&root.join("src/new/deep/b.rs"), "src/new/deep/b.rs");
        expect(&root.join("src/../src/./a.rs"), "src/a.rs");
        #[cfg(unix)]
        {
            let link = tmp.path().join("link");
            std::os::unix::fs::symlink(&root, &link).unwrap();
            expect(&link.join("src/a.rs"), "src/a.rs");
        }
        assert_eq!(
            locate(&root.join(".git/config")).unwrap(),
            Location::Untracked
        );

        git(
            &root,
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                "x",
            ],
        );
        let linked = tmp.path().join("web-wt");
        git(&root, &["worktree", "add", "-q", linked.to_str().unwrap()]);
        expect(&linked.join("lib/c.rs"), "lib/c.rs");
    }

    #[test]
    fn files_outside_repositories_or_without_origin_are_untracked() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(
            locate(&tmp.path().join("notes.txt")).unwrap(),
            Location::Untracked
        );
        let local = tmp.path().join("local");
        std::fs::create_dir_all(&local).unwrap();
        git(&local, &["init", "-q"]);
        assert_eq!(locate(&local.join("a.rs")).unwrap(), Location::Untracked);
        git(&local, &["remote", "add", "origin", "/srv/git/local.git"]);
        assert_eq!(locate(&local.join("a.rs")).unwrap(), Location::Untracked);
    }

    #[test]
    fn an_included_config_is_left_to_git() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("inc");
        std::fs::create_dir_all(&root).unwrap();
        git(&root, &["init", "-q"]);
        let extra = tmp.path().join("extra.cfg");
        std::fs::write(
            &extra,
            "[remote \"origin\"]\n\turl = https://github.com/acme/inc.git\n",
        )
        .unwrap();
        git(&root, &["config", "include.path", extra.to_str().unwrap()]);
        assert_eq!(
            repo_file(locate(&root.join("x.rs")).unwrap()),
            ("repo:acme/inc".to_owned(), "x.rs".to_owned())
        );
    }
}
