//! The files a Codex `apply_patch` envelope touches. Codex gives hooks the
//! raw patch (`*** Begin Patch` … `*** End Patch`), not a path; each file
//! operation starts with a header line naming its file, relative to the
//! session's working directory.

/// The headers that name a file: added, updated (and the new name of a
/// moved file), deleted.
const HEADERS: [&str; 4] = [
    "*** Add File: ",
    "*** Update File: ",
    "*** Delete File: ",
    "*** Move to: ",
];

/// Every file the patch adds, changes, deletes or moves to, in order, each
/// once.
pub fn files(patch: &str) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    for line in patch.lines() {
        let line = line.trim_end_matches('\r');
        let Some(path) = HEADERS.iter().find_map(|h| line.strip_prefix(h)) else {
            continue;
        };
        let path = path.trim();
        if !path.is_empty() && !files.iter().any(|f| f == path) {
            files.push(path.to_owned());
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_header_names_its_file_once() {
        let patch = "\
*** Begin Patch\r
*** Add File: docs/new.md\r
+# New\r
*** Update File: src/lib.rs\r
*** Move to: src/core.rs\r
@@ fn main()\r
-    old();\r
+    new();\r
*** Delete File: src/old.rs\r
*** Update File: src/lib.rs\r
@@\r
+// a line that reads *** Add File: not-a-header\r
*** End Patch\r
";
        assert_eq!(
            files(patch),
            ["docs/new.md", "src/lib.rs", "src/core.rs", "src/old.rs"]
        );
    }

    #[test]
    fn a_patch_without_headers_names_nothing() {
        assert!(files("*** Begin Patch\n*** End Patch\n").is_empty());
        assert!(files("").is_empty());
    }
}
