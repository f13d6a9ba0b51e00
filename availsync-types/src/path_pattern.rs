//! The path language of working sets (SPEC §10): repo-relative POSIX
//! patterns, and the conservative rule that decides when two of them may
//! name one file. Shared by the server (decisions), the SDK and the edit
//! hook (what they send), so a pattern means the same everywhere.
//!
//! A pattern is a file (`src/main.rs`), a directory and everything under it
//! (`src/api/`, echoed as `src/api/**`), `*` inside one segment
//! (`src/*.rs`), or `**` as a whole segment (any number of segments,
//! none included). Matching is case-sensitive.
//!
//! ```
//! use availsync_types::PathPattern;
//!
//! let api: PathPattern = "./src//api/".parse().unwrap();
//! assert_eq!(api.as_str(), "src/api/**");
//! assert!(api.matches("src/api/users.rs"));
//! let rust: PathPattern = "src/*.rs".parse().unwrap();
//! assert!(!api.overlaps(&rust));
//! assert!(rust.overlaps(&"src/main.rs".parse().unwrap()));
//! ```

use std::fmt;
use std::str::FromStr;

/// Most paths in one working set.
pub const MAX_WORKING_SET_PATHS: usize = 200;
/// Longest path pattern, in bytes.
pub const MAX_PATH_PATTERN_BYTES: usize = 512;

/// Why a path pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathPatternError {
    /// Nothing left once `./` and repeated `/` are taken out.
    #[error("the path is empty")]
    Empty,
    /// Longer than [`MAX_PATH_PATTERN_BYTES`].
    #[error("the path is longer than {MAX_PATH_PATTERN_BYTES} bytes")]
    TooLong,
    /// Starts with `/`.
    #[error("the path must be relative to the repository root (no leading '/')")]
    Absolute,
    /// Has a `..` segment.
    #[error("the path may not contain '..' segments")]
    ParentSegment,
    /// Has a backslash.
    #[error("the path must use '/' as separator (no backslash)")]
    Backslash,
    /// `**` inside a segment (`a**`, `**.rs`).
    #[error("'**' must be a whole path segment (as in 'src/**' or '**/x.rs')")]
    DoubleStarInSegment,
    /// A control character.
    #[error("the path contains a control character")]
    ControlCharacter,
}

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Segment {
    /// Matches itself only.
    Literal(String),
    /// Holds `*`: matches any run of characters but `/`.
    Glob(String),
    /// `**`: any number of segments, none included.
    AnyDepth,
}

/// A validated, normalised path pattern of a working set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathPattern {
    text: String,
    segments: Vec<Segment>,
}

impl PathPattern {
    /// `**`: every path.
    pub fn any() -> Self {
        Self {
            text: "**".to_owned(),
            segments: vec![Segment::AnyDepth],
        }
    }

    /// The normalised pattern, as the server echoes it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The literal segments before the first wildcard, each followed by
    /// `/` (`src/api/` for `src/api/*.rs`; `""` for `**/x.rs`). Two
    /// patterns can overlap only when one's literal prefix starts with the
    /// other's, which is what lets a server index live patterns by it.
    pub fn literal_prefix(&self) -> String {
        let mut prefix = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => {
                    prefix.push_str(text);
                    prefix.push('/');
                }
                Segment::Glob(_) | Segment::AnyDepth => break,
            }
        }
        prefix
    }

    /// Whether the pattern names a single file (no wildcard).
    pub fn is_literal(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)))
    }

    /// Whether the concrete repo-relative `path` is one the pattern names.
    pub fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        sequence_matches(&self.segments, &parts)
    }

    /// Whether some path could be named by both patterns. Conservative: a
    /// pair it cannot prove disjoint counts as overlapping, never the
    /// other way round.
    pub fn overlaps(&self, other: &PathPattern) -> bool {
        sequences_overlap(&self.segments, &other.segments)
    }
}

impl FromStr for PathPattern {
    type Err = PathPatternError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.len() > MAX_PATH_PATTERN_BYTES {
            return Err(PathPatternError::TooLong);
        }
        if raw.chars().any(char::is_control) {
            return Err(PathPatternError::ControlCharacter);
        }
        if raw.contains('\\') {
            return Err(PathPatternError::Backslash);
        }
        if raw.starts_with('/') {
            return Err(PathPatternError::Absolute);
        }
        let directory = raw.ends_with('/');
        let mut segments = Vec::new();
        for part in raw.split('/') {
            let segment = match part {
                "" | "." => continue,
                ".." => return Err(PathPatternError::ParentSegment),
                "**" => Segment::AnyDepth,
                _ if part.contains("**") => return Err(PathPatternError::DoubleStarInSegment),
                _ if part.contains('*') => Segment::Glob(part.to_owned()),
                _ => Segment::Literal(part.to_owned()),
            };
            // `**/**` names what `**` does.
            if segment == Segment::AnyDepth && segments.last() == Some(&Segment::AnyDepth) {
                continue;
            }
            segments.push(segment);
        }
        if segments.is_empty() {
            return Err(PathPatternError::Empty);
        }
        if directory && segments.last() != Some(&Segment::AnyDepth) {
            segments.push(Segment::AnyDepth);
        }
        let text = segments
            .iter()
            .map(|s| match s {
                Segment::Literal(t) | Segment::Glob(t) => t.as_str(),
                Segment::AnyDepth => "**",
            })
            .collect::<Vec<_>>()
            .join("/");
        Ok(Self { text, segments })
    }
}

/// The normalised text, so that a pattern can go wherever a path string
/// does (the SDK's working-set calls take either).
impl AsRef<str> for PathPattern {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.text)
    }
}

/// Parses a working set's paths: 1 to [`MAX_WORKING_SET_PATHS`], each a
/// valid pattern; duplicates (after normalisation) are dropped. A refused
/// path is named by its index.
///
/// ```
/// use availsync_types::parse_working_set;
/// let paths = parse_working_set(&["src/".into(), "./src/**".into(), "README.md".into()]).unwrap();
/// assert_eq!(paths.len(), 2);
/// assert!(parse_working_set(&["ok".into(), "../x".into()]).is_err());
/// ```
pub fn parse_working_set(paths: &[String]) -> Result<Vec<PathPattern>, WorkingSetError> {
    if paths.is_empty() || paths.len() > MAX_WORKING_SET_PATHS {
        return Err(WorkingSetError::Count(paths.len()));
    }
    let mut parsed: Vec<PathPattern> = Vec::with_capacity(paths.len());
    for (index, raw) in paths.iter().enumerate() {
        let pattern: PathPattern = raw
            .parse()
            .map_err(|error| WorkingSetError::Path { index, error })?;
        if !parsed.contains(&pattern) {
            parsed.push(pattern);
        }
    }
    Ok(parsed)
}

/// Why a working set's paths were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WorkingSetError {
    /// Fewer than one or more than [`MAX_WORKING_SET_PATHS`] paths.
    #[error("a working set holds 1 to {MAX_WORKING_SET_PATHS} paths, not {0}")]
    Count(usize),
    /// The path at `index` is refused.
    #[error("path {index}: {error}")]
    Path {
        /// Its position in the list.
        index: usize,
        /// What is wrong with it.
        error: PathPatternError,
    },
}

/// Whether any pattern of `a` overlaps any of `b`.
pub fn any_overlap(a: &[PathPattern], b: &[PathPattern]) -> bool {
    a.iter().any(|x| b.iter().any(|y| x.overlaps(y)))
}

fn sequence_matches(pattern: &[Segment], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (Some(Segment::AnyDepth), _) => {
            sequence_matches(&pattern[1..], path)
                || (!path.is_empty() && sequence_matches(pattern, &path[1..]))
        }
        (None, Some(_)) | (Some(_), None) => false,
        (Some(Segment::Literal(text)), Some(part)) => {
            text == part && sequence_matches(&pattern[1..], &path[1..])
        }
        (Some(Segment::Glob(glob)), Some(part)) => {
            glob_matches(glob, part) && sequence_matches(&pattern[1..], &path[1..])
        }
    }
}

/// Whether two segment sequences can match one path, by dynamic
/// programming over (position in `a`, position in `b`).
fn sequences_overlap(a: &[Segment], b: &[Segment]) -> bool {
    let (n, m) = (a.len(), b.len());
    // reach[i][j]: the first i segments of a and the first j of b can
    // match one common prefix of a path.
    let mut reach = vec![vec![false; m + 1]; n + 1];
    reach[0][0] = true;
    for i in 0..=n {
        for j in 0..=m {
            if !reach[i][j] {
                continue;
            }
            if i < n && a[i] == Segment::AnyDepth {
                // `**` matching nothing more; or taking b's next segment.
                reach[i + 1][j] = true;
                if j < m {
                    reach[i][j + 1] = true;
                }
            }
            if j < m && b[j] == Segment::AnyDepth {
                reach[i][j + 1] = true;
                if i < n {
                    reach[i + 1][j] = true;
                }
            }
            if i < n && j < m && segments_overlap(&a[i], &b[j]) {
                reach[i + 1][j + 1] = true;
            }
        }
    }
    reach[n][m]
}

fn segments_overlap(a: &Segment, b: &Segment) -> bool {
    match (a, b) {
        (Segment::AnyDepth, _) | (_, Segment::AnyDepth) => true,
        (Segment::Literal(x), Segment::Literal(y)) => x == y,
        (Segment::Literal(text), Segment::Glob(glob))
        | (Segment::Glob(glob), Segment::Literal(text)) => glob_matches(glob, text),
        (Segment::Glob(x), Segment::Glob(y)) => globs_may_overlap(x, y),
    }
}

/// `*`-only wildcard matching within one segment.
fn glob_matches(glob: &str, text: &str) -> bool {
    let (g, t): (Vec<char>, Vec<char>) = (glob.chars().collect(), text.chars().collect());
    let (mut gi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if gi < g.len() && g[gi] == '*' {
            star = Some((gi, ti));
            gi += 1;
        } else if gi < g.len() && g[gi] == t[ti] {
            gi += 1;
            ti += 1;
        } else if let Some((star_gi, star_ti)) = star {
            gi = star_gi + 1;
            ti = star_ti + 1;
            star = Some((star_gi, star_ti + 1));
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == '*')
}

/// Two globs can name one segment only if their literal heads agree (one
/// starts the other) and so do their literal tails; past that, say yes.
fn globs_may_overlap(x: &str, y: &str) -> bool {
    let head = |g: &str| g.split('*').next().unwrap_or_default().to_owned();
    let tail = |g: &str| g.rsplit('*').next().unwrap_or_default().to_owned();
    let (hx, hy, tx, ty) = (head(x), head(y), tail(x), tail(y));
    (hx.starts_with(&hy) || hy.starts_with(&hx)) && (tx.ends_with(&ty) || ty.ends_with(&tx))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn p(text: &str) -> PathPattern {
        text.parse().unwrap()
    }

    #[test]
    fn patterns_are_normalised_and_directories_echoed_with_double_star() {
        assert_eq!(p("./src//api/").as_str(), "src/api/**");
        assert_eq!(p("src/./main.rs").as_str(), "src/main.rs");
        assert_eq!(p("src/**/**/x").as_str(), "src/**/x");
        assert_eq!(p("docs/**/").as_str(), "docs/**");
        assert_eq!(p("src/api/").literal_prefix(), "src/api/");
        assert_eq!(p("**/x.rs").literal_prefix(), "");
        assert!(p("a/b.rs").is_literal() && !p("a/*.rs").is_literal());
    }

    #[test]
    fn bad_paths_are_refused_with_their_reason() {
        for (raw, error) in [
            ("", PathPatternError::Empty),
            ("./", PathPatternError::Empty),
            ("/etc/passwd", PathPatternError::Absolute),
            ("src/../secret", PathPatternError::ParentSegment),
            ("src\\main.rs", PathPatternError::Backslash),
            ("src/a**", PathPatternError::DoubleStarInSegment),
            ("src/\u{0}x", PathPatternError::ControlCharacter),
        ] {
            assert_eq!(raw.parse::<PathPattern>(), Err(error), "{raw:?}");
        }
        let long = "a/".repeat(300);
        assert_eq!(long.parse::<PathPattern>(), Err(PathPatternError::TooLong));
        assert_eq!(parse_working_set(&[]), Err(WorkingSetError::Count(0)));
        let too_many: Vec<String> = (0..201).map(|i| format!("f{i}")).collect();
        assert_eq!(
            parse_working_set(&too_many),
            Err(WorkingSetError::Count(201))
        );
        assert!(matches!(
            parse_working_set(&["a".into(), "b/../c".into()]),
            Err(WorkingSetError::Path { index: 1, .. })
        ));
    }

    #[test]
    fn overlap_follows_the_segments() {
        let yes = [
            ("src/main.rs", "src/main.rs"),
            ("src/**", "src/api/users.rs"),
            ("src/*.rs", "src/main.rs"),
            ("**/x.rs", "deep/down/x.rs"),
            ("src/*_test.rs", "src/a*.rs"),
            ("**", "anything"),
            ("src/**", "src"),
        ];
        for (a, b) in yes {
            assert!(p(a).overlaps(&p(b)), "{a} ~ {b}");
            assert!(p(b).overlaps(&p(a)), "{b} ~ {a}");
        }
        let no = [
            ("src/main.rs", "src/lib.rs"),
            ("src/api/**", "src/db/**"),
            ("src/*.rs", "src/api/x.rs"),
            ("src/*.rs", "src/*.md"),
            ("docs/**", "src/**"),
            ("a/b", "a/b/c"),
        ];
        for (a, b) in no {
            assert!(!p(a).overlaps(&p(b)), "{a} !~ {b}");
        }
    }

    /// Patterns over a small alphabet, so that they often meet.
    fn pattern() -> impl Strategy<Value = String> {
        let segment = prop_oneof![
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("ab".to_owned()),
            Just("x.rs".to_owned()),
            Just("*".to_owned()),
            Just("a*".to_owned()),
            Just("*b".to_owned()),
            Just("*.rs".to_owned()),
            Just("**".to_owned()),
        ];
        prop::collection::vec(segment, 1..5).prop_map(|s| s.join("/"))
    }

    /// Concrete paths over the same alphabet.
    fn path() -> impl Strategy<Value = String> {
        let segment = prop_oneof![
            Just("a"),
            Just("b"),
            Just("ab"),
            Just("aab"),
            Just("x.rs"),
            Just("ax.rs"),
            Just("c"),
        ];
        prop::collection::vec(segment, 1..6).prop_map(|s| s.join("/"))
    }

    /// A concrete path `pattern` matches, its wildcards filled from `picks`.
    fn instantiate(pattern: &PathPattern, picks: &[u8]) -> String {
        const FILL: [&str; 5] = ["", "a", "b", "x.rs", "ab"];
        let mut picks = picks.iter().copied().cycle();
        let mut pick = || usize::from(picks.next().unwrap_or(0));
        let mut parts: Vec<String> = Vec::new();
        for segment in &pattern.segments {
            match segment {
                Segment::Literal(text) => parts.push(text.clone()),
                Segment::Glob(glob) => {
                    let mut filled: String = glob
                        .split('*')
                        .enumerate()
                        .map(|(i, piece)| {
                            let fill = if i == 0 {
                                ""
                            } else {
                                FILL[pick() % FILL.len()]
                            };
                            format!("{fill}{piece}")
                        })
                        .collect();
                    if filled.is_empty() {
                        filled.push('a');
                    }
                    parts.push(filled);
                }
                Segment::AnyDepth => {
                    for _ in 0..pick() % 3 {
                        parts.push(["a", "b", "x.rs"][pick() % 3].to_owned());
                    }
                }
            }
        }
        if parts.is_empty() {
            parts.push("a".into());
        }
        parts.join("/")
    }

    proptest! {
        #[test]
        fn every_instance_of_a_pattern_is_matched_by_it(
            a in pattern(),
            picks in prop::collection::vec(any::<u8>(), 1..16),
        ) {
            let a = p(&a);
            let q = instantiate(&a, &picks);
            prop_assert!(a.matches(&q), "{} should match its instance {}", a, q);
        }

        #[test]
        fn disjoint_patterns_never_share_an_instance(
            a in pattern(),
            b in pattern(),
            picks in prop::collection::vec(any::<u8>(), 1..16),
        ) {
            let (a, b) = (p(&a), p(&b));
            let q = instantiate(&a, &picks);
            if b.matches(&q) {
                prop_assert!(a.overlaps(&b), "{} and {} both match {}, yet were judged disjoint", a, b, q);
            }
        }

        #[test]
        fn overlap_is_symmetric(a in pattern(), b in pattern()) {
            let (a, b) = (p(&a), p(&b));
            prop_assert_eq!(a.overlaps(&b), b.overlaps(&a));
        }

        #[test]
        fn a_pattern_overlaps_every_path_it_matches(a in pattern(), q in path()) {
            let a = p(&a);
            if a.matches(&q) {
                prop_assert!(a.overlaps(&p(&q)), "{} should overlap {}", a, q);
            }
        }

        #[test]
        fn patterns_judged_disjoint_never_match_a_common_path(
            a in pattern(),
            b in pattern(),
            paths in prop::collection::vec(path(), 1..40),
        ) {
            let (a, b) = (p(&a), p(&b));
            if !a.overlaps(&b) {
                for q in &paths {
                    prop_assert!(
                        !(a.matches(q) && b.matches(q)),
                        "{} and {} were judged disjoint, yet both match {}", a, b, q
                    );
                }
            }
        }
    }
}
