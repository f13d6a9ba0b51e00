//! Terminal output: colours only on a terminal, never when `NO_COLOR` is set.

use std::io::IsTerminal;

/// How to paint text on one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    colour: bool,
}

impl Style {
    /// Colours for standard output when it is a terminal and `NO_COLOR` is
    /// unset or empty.
    pub fn stdout() -> Self {
        Self {
            colour: std::io::stdout().is_terminal() && !no_color(),
        }
    }

    /// Colours for standard error, on the same terms.
    pub fn stderr() -> Self {
        Self {
            colour: std::io::stderr().is_terminal() && !no_color(),
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Green: a passing step, an added line.
    pub fn good(self, text: &str) -> String {
        self.paint("32", text)
    }

    /// Red: a failing step, a removed line.
    pub fn bad(self, text: &str) -> String {
        self.paint("31", text)
    }

    /// Yellow: a warning.
    pub fn warn(self, text: &str) -> String {
        self.paint("33", text)
    }

    /// Bold: headings and paths.
    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    /// Dim: hints and timings.
    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    /// Colours a unified diff line by line.
    pub fn diff(self, diff: &str) -> String {
        diff.lines()
            .map(|line| {
                if line.starts_with("+++") || line.starts_with("---") {
                    self.bold(line)
                } else if line.starts_with('+') {
                    self.good(line)
                } else if line.starts_with('-') {
                    self.bad(line)
                } else if line.starts_with("@@") {
                    self.dim(line)
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Prints a warning line to standard error.
pub fn warn(message: &str) {
    let style = Style::stderr();
    eprintln!("{} {message}", style.warn("warning:"));
}
