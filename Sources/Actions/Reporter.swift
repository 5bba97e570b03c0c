import Foundation

/// The one way fluxci speaks: log lines, groups, annotations, masks, outputs and the step
/// summary. On GitHub (`GITHUB_ACTIONS=true`) it writes workflow commands and file commands;
/// elsewhere the same calls render for a terminal. Callers never branch on where they run.
///
/// Every text it prints passes through the secret mask first, and untrusted text cannot become
/// a workflow command.
public final class Reporter: @unchecked Sendable {
    public struct Configuration: Sendable {
        public enum Mode: Sendable, Equatable {
            case github
            case terminal(color: Bool)
        }

        public var mode: Mode
        /// Paths of the runner's file commands; nil where the variable is unset.
        public var files: [FileCommand.Kind: String]
        public var pathFile: String?
        public var summaryFile: String?
        public var debug: Bool

        public init(
            mode: Mode, files: [FileCommand.Kind: String] = [:], pathFile: String? = nil, summaryFile: String? = nil,
            debug: Bool = false
        ) {
            self.mode = mode
            self.files = files
            self.pathFile = pathFile
            self.summaryFile = summaryFile
            self.debug = debug
        }

        /// What the runner's (or a terminal's) environment says. Colour only on a terminal, and
        /// never when `NO_COLOR` is set to anything.
        public static func from(environment: [String: String], logIsTerminal: Bool) -> Configuration {
            let github = environment["GITHUB_ACTIONS"] == "true"
            let color = logIsTerminal && environment["NO_COLOR"] == nil && environment["TERM"] != "dumb"
            var files: [FileCommand.Kind: String] = [:]
            for kind in FileCommand.Kind.allCases {
                if let path = environment[kind.rawValue], !path.isEmpty { files[kind] = path }
            }
            func nonEmpty(_ key: String) -> String? { environment[key].flatMap { $0.isEmpty ? nil : $0 } }
            return Configuration(
                mode: github ? .github : .terminal(color: color),
                files: files,
                pathFile: nonEmpty("GITHUB_PATH"),
                summaryFile: nonEmpty("GITHUB_STEP_SUMMARY"),
                debug: environment["RUNNER_DEBUG"] == "1" || environment["FLUXCI_DEBUG"] == "1")
        }
    }

    /// GitHub shows this many annotations of each level per step; the rest go to the summary.
    public static let annotationsShownPerLevel = 10

    public let configuration: Configuration
    private let sink: TextSink
    private let lock = NSLock()
    private var mask = SecretMask()
    private var depth = 0
    private var shownPerLevel: [Annotation.Level: Int] = [:]
    private var recorded: [Annotation] = []
    private var recordedOutputs: [(name: String, value: String)] = []
    private var pendingSummary: [StepSummary.Section: StepSummary] = [:]
    private var finished = false

    public init(_ configuration: Configuration, log sink: TextSink = FileDescriptorSink.standardError) {
        self.configuration = configuration
        self.sink = sink
    }

    private var isGitHub: Bool { configuration.mode == .github }
    private var useColor: Bool { configuration.mode == .terminal(color: true) }

    // MARK: Secrets

    /// Registers a secret (and each of its lines) before anything that could contain it is
    /// printed. On GitHub each form is also sent as `::add-mask::`, so the runner hides it in
    /// every later step too.
    public func mask(_ secret: String) {
        let newForms = lock.withLock { mask.register(secret) }
        guard isGitHub else { return }
        for form in newForms {
            sink.write(WorkflowCommand("add-mask", message: form).rendered + "\n")
        }
    }

    /// Text as it may be printed: every registered secret replaced with `***`.
    public func redact(_ text: String) -> String {
        lock.withLock { mask.redact(text) }
    }

    // MARK: Log

    /// A line (or lines) of the log. Text that would read as a workflow command on GitHub is
    /// printed with commands stopped, so a file name or a YAML value cannot inject one.
    public func log(_ text: String) {
        let text = redact(text)
        if isGitHub {
            if Self.couldBeCommand(text) { writeUntrusted(text) } else { sink.write(text + "\n") }
        } else {
            emitTerminal(Self.sanitizedForTerminal(text))
        }
    }

    /// Detail shown only with debug logging (`RUNNER_DEBUG=1` on GitHub, `FLUXCI_DEBUG=1` locally).
    public func debug(_ text: String) {
        let text = redact(text)
        if isGitHub {
            sink.write(WorkflowCommand("debug", message: text).rendered + "\n")
        } else if configuration.debug {
            emitTerminal(paint("debug: ", .dim) + Self.sanitizedForTerminal(text))
        }
    }

    /// Prints text that someone else wrote (tool output, controller messages) verbatim, with
    /// workflow commands stopped around it by a token nobody can guess.
    public func untrusted(_ text: String) {
        let text = redact(text)
        if isGitHub {
            writeUntrusted(text)
        } else {
            emitTerminal(Self.sanitizedForTerminal(text))
        }
    }

    private func writeUntrusted(_ text: String) {
        let token = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        var block = WorkflowCommand("stop-commands", message: token).rendered + "\n"
        block += text + (text.hasSuffix("\n") ? "" : "\n")
        block += "::\(token)::\n"
        sink.write(block)
    }

    /// A runner reads a line as a command when, trimmed, it starts with `::` (or the old `##[`).
    static func couldBeCommand(_ text: String) -> Bool {
        text.split(whereSeparator: \.isNewline).contains { line in
            let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
            return trimmed.hasPrefix("::") || trimmed.hasPrefix("##[")
        } || text.unicodeScalars.contains("\r")
    }

    /// Control characters other than tab and newline could move the cursor or recolour a terminal.
    static func sanitizedForTerminal(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 && scalar != "\n" && scalar != "\t" || scalar.value == 0x7F {
                out.append(contentsOf: String(format: "\\x%02X", scalar.value).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    private func emitTerminal(_ text: String) {
        let indent = String(repeating: "  ", count: lock.withLock { depth })
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        sink.write(lines.map { indent + $0 }.joined(separator: "\n") + "\n")
    }

    // MARK: Annotations

    /// Reports a problem. The first ten of each level in a step become GitHub annotations; all
    /// of them are listed in the step summary by `finish()`.
    public func annotate(_ annotation: Annotation) {
        var annotation = annotation
        annotation.message = redact(annotation.message)
        annotation.title = annotation.title.map(redact)
        annotation.fix = annotation.fix.map(redact)
        let shown: Bool = lock.withLock {
            recorded.append(annotation)
            let count = shownPerLevel[annotation.level, default: 0]
            shownPerLevel[annotation.level] = count + 1
            return count < Self.annotationsShownPerLevel
        }
        if isGitHub {
            if shown {
                var placed = annotation
                if let location = annotation.location { placed.location?.file = repositoryFile(location) }
                sink.write(placed.workflowCommand.rendered + "\n")
            } else {
                log("\(annotation)")
            }
        } else {
            let color: Paint = switch annotation.level {
            case .error: .red
            case .warning: .yellow
            case .notice: .cyan
            }
            var text = ""
            if let location = annotation.location { text += paint("\(location): ", .bold) }
            text += paint("\(annotation.level.rawValue): ", color)
            if let title = annotation.title, !annotation.message.hasPrefix(title) { text += paint(title, .bold) + ": " }
            text += Self.sanitizedForTerminal(annotation.message)
            if let fix = annotation.fix { text += "\n  " + paint("fix: ", .dim) + Self.sanitizedForTerminal(fix) }
            emitTerminal(text)
        }
    }

    public func error(_ message: String, title: String? = nil, fix: String? = nil, at location: SourceLocation? = nil) {
        annotate(.error(message, title: title, fix: fix, at: location))
    }

    public func warning(_ message: String, title: String? = nil, fix: String? = nil, at location: SourceLocation? = nil) {
        annotate(.warning(message, title: title, fix: fix, at: location))
    }

    public func notice(_ message: String, title: String? = nil, at location: SourceLocation? = nil) {
        annotate(Annotation(.notice, message, title: title, at: location))
    }

    /// Every annotation reported so far, in order, including those GitHub would not show.
    public var annotations: [Annotation] { lock.withLock { recorded } }

    // MARK: Groups

    /// Runs `body` inside a collapsible group (GitHub) or an indented block (terminal), and
    /// says how long it took and whether it failed.
    public func group<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        let start = ContinuousClock.now
        openGroup(name)
        do {
            let value = try body()
            closeGroup(name, elapsed: ContinuousClock.now - start, failed: false)
            return value
        } catch {
            closeGroup(name, elapsed: ContinuousClock.now - start, failed: true)
            throw error
        }
    }

    public func group<T>(_ name: String, _ body: () async throws -> T) async rethrows -> T {
        let start = ContinuousClock.now
        openGroup(name)
        do {
            let value = try await body()
            closeGroup(name, elapsed: ContinuousClock.now - start, failed: false)
            return value
        } catch {
            closeGroup(name, elapsed: ContinuousClock.now - start, failed: true)
            throw error
        }
    }

    private func openGroup(_ name: String) {
        let name = redact(name)
        let outer = lock.withLock { () -> Bool in
            depth += 1
            return depth == 1
        }
        if isGitHub {
            // GitHub has no nested groups: an inner group is a plain line.
            if outer { sink.write(WorkflowCommand("group", message: name).rendered + "\n") } else { log("▶ " + name) }
        } else {
            let indent = String(repeating: "  ", count: lock.withLock { depth - 1 })
            sink.write(indent + paint("▶ ", .cyan) + paint(Self.sanitizedForTerminal(name), .bold) + "\n")
        }
    }

    /// Ends every open group at once (GitHub: one `::endgroup::`), so that what follows — a
    /// signal's cleanup while a wait is under way (tester t13 F9) — is not folded into it. The
    /// groups' own ends, if they still come, then write nothing.
    public func closeOpenGroups() {
        let wasOpen = lock.withLock { () -> Bool in
            defer { depth = 0 }
            return depth > 0
        }
        if wasOpen && isGitHub { sink.write(WorkflowCommand("endgroup").rendered + "\n") }
    }

    private func closeGroup(_ name: String, elapsed: Duration, failed: Bool) {
        let time = Self.format(elapsed)
        let verdict = failed ? "failed after \(time)" : "done in \(time)"
        guard lock.withLock({ depth > 0 }) else { return }  // closed by closeOpenGroups
        if isGitHub {
            log("\(redact(name)): \(verdict)")
            let outer = lock.withLock { () -> Bool in
                depth -= 1
                return depth == 0
            }
            if outer { sink.write(WorkflowCommand("endgroup").rendered + "\n") }
        } else {
            let depthNow = lock.withLock { () -> Int in
                depth -= 1
                return depth
            }
            let indent = String(repeating: "  ", count: depthNow)
            let mark = failed ? paint("✗ ", .red) : paint("✓ ", .green)
            sink.write(indent + mark + Self.sanitizedForTerminal(redact(name)) + paint(" (\(verdict))", .dim) + "\n")
        }
    }

    /// `0.42s`, `12.3s`, `2m05s`.
    public static func format(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        if seconds < 10 { return String(format: "%.2fs", seconds) }
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        let whole = Int(seconds.rounded())
        return String(format: "%dm%02ds", whole / 60, whole % 60)
    }

    // MARK: File commands

    /// A step output. Written to `GITHUB_OUTPUT` when the runner gave one; always recorded.
    public func setOutput(_ name: String, _ value: String) throws {
        lock.withLock { recordedOutputs.append((name, value)) }
        try writeFileCommand(.output, name: name, value: value)
    }

    /// An environment variable for later steps (`GITHUB_ENV`).
    public func exportVariable(_ name: String, _ value: String) throws {
        try writeFileCommand(.env, name: name, value: value)
    }

    /// State for this action's post step (`GITHUB_STATE`).
    public func saveState(_ name: String, _ value: String) throws {
        try writeFileCommand(.state, name: name, value: value)
    }

    /// A directory prepended to `PATH` for later steps (`GITHUB_PATH`).
    public func addPath(_ directory: String) throws {
        guard !directory.contains(where: \.isNewline) else {
            throw Annotation.error("A PATH entry may not contain a line break: \(directory.debugDescription).")
        }
        guard let path = configuration.pathFile else { return }
        try FileCommand.append(directory + "\n", to: path)
    }

    private func writeFileCommand(_ kind: FileCommand.Kind, name: String, value: String) throws {
        let text = try FileCommand.keyValue(name: name, value: value)
        guard let path = configuration.files[kind] else { return }
        try FileCommand.append(text, to: path)
    }

    /// Outputs set so far, in order.
    public var outputs: [(name: String, value: String)] { lock.withLock { recordedOutputs } }

    // MARK: Step summary

    /// Adds to a section of the step summary, which `finish()` writes.
    public func summary(_ section: StepSummary.Section = .details, _ edit: (inout StepSummary) -> Void) {
        lock.withLock { edit(&pendingSummary[section, default: StepSummary()]) }
    }

    /// Shows a block in the log now and keeps it for the step summary's `section` (sections are
    /// written in their order, whatever the order of the calls). On a terminal, where the summary
    /// is printed at the end, it is not repeated there.
    public func publish(_ block: StepSummary, section: StepSummary.Section = .tables) {
        log(block.plainText)
        if isGitHub { summary(section) { $0.append(block) } }
    }

    /// Writes the step summary: the verdict and the picture, then every annotation of the step
    /// (saying how many GitHub did not show), then the tables and details — the linked problems
    /// right under what failed, since GitHub does not follow a Mermaid node's link (its
    /// `securityLevel: strict`; tester t13 F10). On GitHub it goes to `GITHUB_STEP_SUMMARY`; on
    /// a terminal it is printed as plain text. Call once, at the end of a command, also when it failed.
    public func finish() {
        guard lock.withLock({ () -> Bool in
            defer { finished = true }
            return !finished
        }) else { return }
        let parts: [StepSummary.Section: StepSummary] = lock.withLock {
            defer { pendingSummary = [:] }
            return pendingSummary
        }
        // A summary line ("the tree has 2 problems (annotated above)") is not a problem of its own.
        let all = annotations.filter { !$0.isSummary }
        let folded = Annotation.Level.allCases.reduce(0) { total, level in
            total + max(0, all.filter { $0.level == level }.count - Self.annotationsShownPerLevel)
        }
        var problems = StepSummary()
        if !all.isEmpty && (isGitHub || folded > 0 || !parts.isEmpty) {
            problems.heading("Problems (\(all.count))", level: StepSummary.sectionLevel)
            if folded > 0 {
                problems.paragraph(
                    "GitHub shows \(Self.annotationsShownPerLevel) annotations of each level per step: \(folded) more are listed here only.")
            }
            problems.table(
                header: ["Level", "Where", "Message"],
                rows: all.map { [$0.level.rawValue, $0.location.map { location in sourceLink(location) } ?? "", [$0.title, $0.fullMessage].compactMap { $0 }.joined(separator: ": ")] })
        }
        var summary = StepSummary()
        for section in StepSummary.Section.allCases {
            if section == .tables { summary.append(problems) }
            if let part = parts[section] { summary.append(part) }
        }
        guard !summary.isEmpty else { return }
        if isGitHub {
            guard let path = configuration.summaryFile else { return }
            do {
                try FileCommand.append(redact(summary.markdown()), to: path)
            } catch {
                log("Could not write the step summary: \(error)")
            }
        } else {
            sink.write("\n" + Self.sanitizedForTerminal(redact(summary.plainText)))
        }
    }

    // MARK: Links

    /// Where a repository file's lines are shown: `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/blob/<commit>`.
    /// Set once the tested commit is known; nil off GitHub, where nothing links. `pathPrefix` is
    /// the folder the locations are relative to (a served subfolder), `unlinked` the
    /// repository-relative files whose lines at `commit` are not the tested ones (a served work
    /// tree's changes): those stay plain text rather than point at other lines.
    /// The prefix holds also without a server to link to: annotations name files by it.
    public func setSourceLinks(server: String?, repository: String?, commit: String, pathPrefix: String = "", unlinked: Set<String> = []) {
        lock.withLock { linkPrefix = pathPrefix }
        guard let server, let repository, !server.isEmpty, !repository.isEmpty, !commit.isEmpty else { return }
        lock.withLock {
            blobBase = "\(server.hasSuffix("/") ? String(server.dropLast()) : server)/\(repository)/blob/\(commit)"
            unlinkedFiles = unlinked
        }
    }

    /// A location's file as the repository GitHub checked out names it: under the served folder
    /// when the locations are relative to one. The one place that makes this path, for the
    /// summary's links and the annotations' `file=` alike (GitHub attaches an annotation to a
    /// file of the workspace's repository only).
    public func repositoryFile(_ location: SourceLocation) -> String {
        let prefix = lock.withLock { linkPrefix }
        return prefix.isEmpty ? location.file : prefix + "/" + location.file
    }

    private var blobBase: String?
    private var linkPrefix = ""
    private var unlinkedFiles: Set<String> = []

    /// The URL of a location's line at the tested commit, when on GitHub with a commit known.
    public func sourceURL(_ location: SourceLocation) -> String? {
        guard isGitHub, let (base, unlinked) = lock.withLock({ blobBase.map { ($0, unlinkedFiles) } }) else { return nil }
        let file = repositoryFile(location)
        guard !unlinked.contains(file) else { return nil }
        let path = file.split(separator: "/").map { part in
            String(part).addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "()<>\"' "))) ?? String(part)
        }.joined(separator: "/")
        return base + "/" + path + (location.line.map { "#L\($0)" } ?? "")
    }

    /// `file:line`, linked to that line at the tested commit when `sourceURL` has one.
    public func sourceLink(_ location: SourceLocation) -> String {
        sourceURL(location).map { StepSummary.link(location.description, $0) } ?? location.description
    }

    // MARK: Colour

    private enum Paint: String {
        case red = "31", green = "32", yellow = "33", cyan = "36", bold = "1", dim = "2"
    }

    private func paint(_ text: String, _ paint: Paint) -> String {
        useColor ? "\u{1B}[\(paint.rawValue)m\(text)\u{1B}[0m" : text
    }
}
