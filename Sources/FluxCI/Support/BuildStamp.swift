/// How this binary was built. This committed file describes a build from source; `scripts/release`
/// replaces it in the copy of the sources it builds the release archive from (never here), with
/// the commit and `release archive`.
enum BuildStamp {
    /// The git commit the binary was built from (12 hex digits), or `unknown`.
    static let commit = "unknown"
    /// `built from source` or `release archive`.
    static let build = "built from source"
}
