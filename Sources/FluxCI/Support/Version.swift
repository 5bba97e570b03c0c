/// fluxci's release number (semantic version): the release archive and its tag are named after it.
public let fluxciRelease = "0.1.0"

/// What `--version` prints on every command: the release, the commit and how this binary was
/// built, e.g. `0.1.0 (commit 1a2b3c4d5e6f, release archive)` or `0.1.0 (commit unknown, built
/// from source)`. `scripts/release` writes BuildStamp.swift in its copy of the sources.
public let fluxciVersion = "\(fluxciRelease) (commit \(BuildStamp.commit), \(BuildStamp.build))"
