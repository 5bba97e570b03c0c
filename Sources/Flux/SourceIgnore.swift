import Foundation

/// gitignore patterns as source-controller reads them: fluxcd/pkg `sourceignore` over its copy of
/// go-git's `plumbing/format/gitignore` (pattern.go, matcher.go). That reader differs from git's
/// own: a pattern without a slash matches any path component below its folder (not only the last
/// one), `**` is supported only as a whole component, and a negation can re-include a file below
/// an excluded folder (source-controller's archive walk filters each file on its own path).
public struct SourceIgnorePattern: Sendable, Equatable {
    enum Result { case noMatch, exclude, include }

    /// The folder (path components) of the `.sourceignore` that holds the pattern; [] for the root.
    let domain: [String]
    let parts: [String]
    let inclusion: Bool
    let directoryOnly: Bool
    let isGlob: Bool
    /// Where the pattern comes from, for messages: `clusters/.sourceignore:3`, `spec.ignore line 2`,
    /// or source-controller's default or VCS exclusion.
    public internal(set) var origin: Origin = .repository(file: "", line: 0, text: "")

    public enum Origin: Sendable, Equatable {
        /// fluxcd/pkg sourceignore `ExcludeVCS`: always applied.
        case vcs(String)
        /// `ExcludeExt`, `ExcludeCI`, `ExcludeExtra`: applied only when the repository gives no pattern.
        case defaultExclusion(String)
        /// A line of a `.sourceignore` file (its repository path) or of the GitRepository's `spec.ignore` (file "").
        case repository(file: String, line: Int, text: String)
    }

    /// `gitignore.ParsePattern`: `!` negates; trailing spaces are dropped unless escaped (`\ `);
    /// a trailing `/` restricts to folders; a pattern holding `/` is matched component by
    /// component from its folder.
    public init(_ line: String, domain: [String]) {
        var text = Substring(line)
        var inclusion = false
        if text.hasPrefix("!") {
            inclusion = true
            text = text.dropFirst()
        }
        if !text.hasSuffix("\\ ") {
            while text.hasSuffix(" ") { text = text.dropLast() }
        }
        var directoryOnly = false
        if text.hasSuffix("/") {
            directoryOnly = true
            text = text.dropLast()
        }
        self.domain = domain
        self.inclusion = inclusion
        self.directoryOnly = directoryOnly
        isGlob = text.contains("/")
        parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
    }

    func match(_ path: [String], isDirectory: Bool) -> Result {
        guard path.count > domain.count, Array(path.prefix(domain.count)) == domain else { return .noMatch }
        let rest = Array(path.dropFirst(domain.count))
        let matched = isGlob ? globMatch(rest, isDirectory: isDirectory) : simpleNameMatch(rest, isDirectory: isDirectory)
        guard matched else { return .noMatch }
        return inclusion ? .include : .exclude
    }

    /// Any component matches the single-component pattern; a folder-only pattern does not match
    /// the last component when that is a file.
    private func simpleNameMatch(_ path: [String], isDirectory: Bool) -> Bool {
        for (index, name) in path.enumerated() {
            guard GoPathMatch.match(parts[0], name) == true else { continue }
            if directoryOnly && !isDirectory && index == path.count - 1 { return false }
            return true
        }
        return false
    }

    /// go-git's `globMatch`, step for step: components in order, `**` letting the next component
    /// match any later one, an empty component (a leading `/`) anchoring.
    private func globMatch(_ fullPath: [String], isDirectory: Bool) -> Bool {
        var path = ArraySlice(fullPath)
        var matched = false
        var canTraverse = false
        for (index, pattern) in parts.enumerated() {
            if pattern.isEmpty {
                canTraverse = false
                continue
            }
            if pattern == "**" {
                if index == parts.count - 1 { break }
                canTraverse = true
                continue
            }
            if pattern.contains("**") { return false }
            if path.isEmpty { return false }
            if canTraverse {
                canTraverse = false
                while let first = path.first {
                    path = path.dropFirst()
                    guard let result = GoPathMatch.match(pattern, first) else { return false }
                    if result {
                        matched = true
                        break
                    } else if path.isEmpty {
                        matched = false
                    }
                }
            } else {
                guard GoPathMatch.match(pattern, path.first!) == true else { return false }
                matched = true
                path = path.dropFirst()
            }
        }
        if matched && directoryOnly && !isDirectory && path.isEmpty { matched = false }
        return matched
    }
}

/// The patterns of an artifact in increasing priority; the last pattern that matches decides
/// (go-git's `matcher.Match`).
public struct SourceIgnore: Sendable {
    public var patterns: [SourceIgnorePattern]

    /// fluxcd/pkg sourceignore's `ExcludeVCS`.
    static let vcs = [".git/", ".gitignore", ".gitmodules", ".gitattributes"]
    /// `ExcludeExt`, `ExcludeCI`, `ExcludeExtra`: source-controller applies these only when the
    /// repository gives no pattern of its own (storage.SourceIgnoreFilter).
    static let defaults = [
        "*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip",
        ".github/", ".circleci/", ".travis.yml", ".gitlab-ci.yml", "appveyor.yml", ".drone.yml", "cloudbuild.yaml",
        "codeship-services.yml", "codeship-steps.yml",
        "**/.goreleaser.yml", "**/.sops.yaml", "**/.flux.yaml",
    ]

    /// `sourceignore.ReadPatterns`: one pattern a line, `#` lines and blank lines skipped. `file`
    /// names the `.sourceignore` for messages ("" for `spec.ignore`).
    public static func patterns(in text: String, domain: [String], file: String = "") -> [SourceIgnorePattern] {
        text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { index, raw in
            let line = raw.hasSuffix("\r") ? String(raw.dropLast()) : String(raw)
            guard !line.hasPrefix("#"), !line.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
            var pattern = SourceIgnorePattern(line, domain: domain)
            pattern.origin = .repository(file: file, line: index + 1, text: line)
            return pattern
        }
    }

    /// source-controller's filter: the repository's patterns (every `.sourceignore`, then
    /// `spec.ignore`) after the VCS ones, or, when the repository gives none, the VCS and default
    /// patterns.
    public init(repositoryPatterns: [SourceIgnorePattern]) {
        func make(_ text: String, _ origin: SourceIgnorePattern.Origin) -> SourceIgnorePattern {
            var pattern = SourceIgnorePattern(text, domain: [])
            pattern.origin = origin
            return pattern
        }
        let vcs = Self.vcs.map { make($0, .vcs($0)) }
        patterns = repositoryPatterns.isEmpty ? vcs + Self.defaults.map { make($0, .defaultExclusion($0)) } : vcs + repositoryPatterns
    }

    public func excludes(_ path: String, isDirectory: Bool = false) -> Bool {
        exclusion(of: path, isDirectory: isDirectory) != nil
    }

    /// The pattern that leaves `path` out, or nil when the artifact keeps it. As source-controller's
    /// archive walk (storage.Archive), a file is filtered on its own path, and every folder above
    /// it on the folder's path: an excluded folder leaves out everything below it.
    public func exclusion(of path: String, isDirectory: Bool = false) -> SourceIgnorePattern? {
        let components = path.split(separator: "/").map(String.init)
        for pattern in patterns.reversed() {
            switch pattern.match(components, isDirectory: isDirectory) {
            case .noMatch: continue
            case .exclude: return pattern
            case .include: return nil
            }
        }
        return nil
    }
}

/// Go's `path/filepath.Match` on Unix: `*` (no `/`), `?`, `[…]` classes with `^` negation and
/// ranges, `\` escapes. nil for a malformed pattern (Go's ErrBadPattern), which go-git treats as no
/// match.
enum GoPathMatch {
    static func match(_ pattern: String, _ name: String) -> Bool? {
        match(Array(pattern.unicodeScalars)[...], Array(name.unicodeScalars)[...])
    }

    private static func match(_ pattern: ArraySlice<Unicode.Scalar>, _ name: ArraySlice<Unicode.Scalar>) -> Bool? {
        var p = pattern.startIndex
        var n = name.startIndex
        while p < pattern.endIndex {
            let c = pattern[p]
            switch c {
            case "*":
                var rest = p + 1
                while rest < pattern.endIndex, pattern[rest] == "*" { rest += 1 }
                if rest == pattern.endIndex { return !name[n...].contains("/") }
                var i = n
                while true {
                    guard let result = match(pattern[rest...], name[i...]) else { return nil }
                    if result { return true }
                    if i == name.endIndex || name[i] == "/" { return validate(pattern[rest...]) ? false : nil }
                    i += 1
                }
            case "?":
                guard n < name.endIndex, name[n] != "/" else { return validate(pattern[(p + 1)...]) ? false : nil }
                p += 1
                n += 1
            case "[":
                guard let (matched, next) = matchClass(pattern, p, n < name.endIndex ? name[n] : nil) else { return nil }
                guard n < name.endIndex, matched else { return validate(pattern[next...]) ? false : nil }
                p = next
                n += 1
            case "\\":
                guard p + 1 < pattern.endIndex else { return nil }
                guard n < name.endIndex, name[n] == pattern[p + 1] else { return validate(pattern[(p + 2)...]) ? false : nil }
                p += 2
                n += 1
            default:
                guard n < name.endIndex, name[n] == c else { return validate(pattern[(p + 1)...]) ? false : nil }
                p += 1
                n += 1
            }
        }
        return n == name.endIndex
    }

    /// A class at `start` (`[`): whether `character` is in it, and the index after `]`.
    private static func matchClass(_ pattern: ArraySlice<Unicode.Scalar>, _ start: Int, _ character: Unicode.Scalar?) -> (Bool, Int)? {
        var i = start + 1
        var negated = false
        if i < pattern.endIndex, pattern[i] == "^" {
            negated = true
            i += 1
        }
        var matched = false
        var count = 0
        while true {
            guard i < pattern.endIndex else { return nil }
            if pattern[i] == "]" && count > 0 { break }
            guard let (low, afterLow) = classChar(pattern, i) else { return nil }
            var high = low
            i = afterLow
            if i < pattern.endIndex, pattern[i] == "-" {
                guard let (h, afterHigh) = classChar(pattern, i + 1) else { return nil }
                high = h
                i = afterHigh
            }
            if let character, low.value <= character.value, character.value <= high.value { matched = true }
            count += 1
        }
        return (matched != negated, i + 1)
    }

    private static func classChar(_ pattern: ArraySlice<Unicode.Scalar>, _ i: Int) -> (Unicode.Scalar, Int)? {
        guard i < pattern.endIndex else { return nil }
        let c = pattern[i]
        if c == "-" || c == "]" { return nil }
        if c == "\\" {
            guard i + 1 < pattern.endIndex else { return nil }
            return (pattern[i + 1], i + 2)
        }
        return (c, i + 1)
    }

    /// Go checks the rest of a pattern when a match fails, so a malformed pattern is an error.
    private static func validate(_ pattern: ArraySlice<Unicode.Scalar>) -> Bool {
        var i = pattern.startIndex
        while i < pattern.endIndex {
            switch pattern[i] {
            case "\\":
                guard i + 1 < pattern.endIndex else { return false }
                i += 2
            case "[":
                guard let (_, next) = matchClass(pattern, i, nil) else { return false }
                i = next
            default: i += 1
            }
        }
        return true
    }
}
