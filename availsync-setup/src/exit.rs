//! Exit codes, following sysexits(3) where one fits.

/// The command line was wrong.
pub const USAGE: u8 = 64;
/// The server could not be reached (EX_UNAVAILABLE).
pub const UNAVAILABLE: u8 = 69;
/// An internal failure.
pub const SOFTWARE: u8 = 70;
/// The lease was lost while the command ran (EX_TEMPFAIL): try again later.
pub const LEASE_LOST: u8 = 75;
/// Configuration is missing or wrong (no key, bad credentials file).
pub const CONFIG: u8 = 78;
