import Actions
import Foundation
import Kube
import SOPS
import Yams

/// The walk behind `ClusterTreeReader.read`: the flux-system folder, the root pair, then every
/// Kustomization level by level (each build started as soon as its Kustomization is found, on up
/// to the cores at once), each build's output substituted and mapped to its origins before the
/// child Kustomizations in it are read.
struct Reader {
    typealias Reference = FluxKustomization.Reference

    let artifact: SourceArtifact
    /// The root GitRepository's `spec.ignore`, for naming the rule that leaves a file out.
    var rootIgnore: String?
    /// What the root GitRepository's artifact holds that fluxci does not read (submodules, includes).
    var sourceContent = SourceContent(repository: nil, artifact: nil)
    /// The CRDs of the fleet so far (the flux-system components, then every build's).
    var schemas = CRDSchemas()
    /// Objects of a kind no CRD read so far defines, checked against the fleet's CRDs once every
    /// Kustomization is built: a CRD another Kustomization installs (an infrastructure one, for
    /// the apps) is the one the API server has when the object is applied (tester t18 F3).
    var schemaLater: [(object: KubeObject, owner: Reference, document: Node?, before: JSONValue)] = []
    /// Files whose `${…}` kustomize-controller applies as written, with why (tester t19 F4):
    /// fluxcd/pkg kustomize `SubstituteVariables` runs envsubst only when postBuild gives at least
    /// one variable (`if len(vars) > 0`), so not even a `${VAR:=default}` is replaced then.
    var literalPlaceholders: [String: String] = [:]
    /// The Kustomizations on whose objects no substitution runs (their `${…}` is applied as written).
    var literalKustomizations: Set<Reference> = []
    /// CEL rules fluxci could not evaluate, by CRD and rule: the first object they apply to,
    /// where, and how many objects (one notice each at the end of the walk; tester t18 F4).
    var unevaluatedRules: [String: (crd: String, rule: String, object: String, at: SourceLocation?, count: Int)] = [:]

    let tool: KustomizeTool
    /// Checks the built-in kinds' schemas; nil: not checked (the caller says so).
    var schemaTool: KubernetesSchemaTool?
    let decrypt: ClusterTreeReader.Decrypt?
    /// What the run's keys put into the decryption Secrets (nil: only their names are known).
    var keys: DecryptionKeys?
    let origins: Origins
    /// Where a problem about a field of a built object is annotated (every check asks it).
    let fieldSites: FieldSites
    let scratch: URL
    var problems: [Annotation] = []
    /// The document of each Kustomization in its file, for the lines of its fields.
    var documents: [Reference: Node] = [:]
    var objects: [Reference: [KubeObject]] = [:]
    /// Each built object's JSON as the build wrote it, before postBuild substitution (in the
    /// order of `objects`): the checks quote that text, never a substituted value.
    var unsubstituted: [Reference: [JSONValue]] = [:]
    /// Every value a substituteFrom Secret gave (decoded; with and without its newlines): no
    /// message may hold one (SubstitutedValues), and on GitHub each is masked.
    var secretValues: Set<String> = []
    var files: [Reference: [String]] = [:]
    var sopsFiles: [Reference: [String]] = [:]
    /// ClusterTree.patchedFields.
    var patched: [ObjectReference: [String: SourceLocation]] = [:]
    /// ClusterTree.suspendLocations.
    var suspendLocations: [ObjectReference: SourceLocation] = [:]
    /// The envs: entries (`file:line`) that read a SOPS file Flux decrypts as YAML, JSON or ini.
    var envsReadAsStructured: Set<String> = []
    /// The decrypted documents of each SOPS file a build applies as objects (nil: the keys do
    /// not open it), in memory only (`DecryptedObjects`).
    var decryptedFiles: [String: [String]?] = [:]
    var decryptorReads: [Reference: [String: Set<SOPSDecryptorRead>]] = [:]
    /// ClusterTree.decryptionSecretOpeners.
    var decryptionSecretOpeners: [String: String] = [:]
    var builds: [Reference: ClusterTree.BuildStatus] = [:]
    /// Objects of every build so far (substitution sources, known sources).
    var available: [KubeObject] = []
    /// Whether kustomize-controller runs with `StrictPostBuildSubstitutions` (read from the
    /// flux-system components).
    var strictSubstitution = false
    /// Whether kustomize-controller and helm-controller run with `--no-cross-namespace-refs=true`
    /// (read from the flux-system components).
    var blocksCrossNamespace = (kustomize: false, helm: false)
    /// Whether kustomize-controller runs with `--no-remote-bases=true`: it then builds from the
    /// source artifact only, and a remote resource fails the build (tester t14 F17).
    var noRemoteBases = false
    /// The cluster's root Kustomization (the one gotk-sync.yaml defines).
    var rootID: Reference?
    /// The Kustomization whose build applies each child Kustomization.
    var appliedBy: [Reference: FluxKustomization] = [:]
    /// Whether Kustomizations found together may share one kustomize run (KustomizationBatch);
    /// off only in the tests that compare the two.
    var batches = true
    /// The Kustomizations that read each alias bomb (`file:line`), the first one reported.
    var bombReaders: [String: [Reference]] = [:]

    init(artifact: SourceArtifact, tool: KustomizeTool, decrypt: ClusterTreeReader.Decrypt?) {
        self.artifact = artifact
        self.tool = tool
        self.decrypt = decrypt
        origins = Origins(root: artifact.root)
        fieldSites = FieldSites(origins: origins)
        // Recorded for the run's cleanup the moment it exists (a signal during the tree check).
        scratch = ScratchFolders.make("fluxci-builds") ?? FileManager.default.temporaryDirectory
    }

    func finish() {
        if scratch.lastPathComponent.hasPrefix("fluxci-builds-") { ScratchFolders.remove(scratch) }
    }

    // MARK: Locations

    func location(_ kustomization: FluxKustomization, _ field: [Origins.FieldKey] = []) -> SourceLocation? {
        // The patch that writes the field (FieldSites); for a field its file does not write and
        // no recorded build patches, the spec.patches of the Kustomization that applies it as
        // written text (tester t3 F5, f27), or a kustomize patch of the folder that builds it
        // (flux-system/kustomization.yaml patching the root Kustomization, tester t5 F).
        fieldSites.location(of: kustomization.object, field, document: documents[kustomization.id]) {
            patchLocation(kustomization, field) ?? kustomizePatchLocation(kustomization, field)
        }
    }

    /// The line of a kustomize patch that writes `field` into the Kustomization: in the
    /// kustomization file of its own file's folder, or of the folder its parent builds.
    func kustomizePatchLocation(_ kustomization: FluxKustomization, _ field: [Origins.FieldKey]) -> SourceLocation? {
        guard let file = kustomization.object.file else { return nil }
        var folders = [(file as NSString).deletingLastPathComponent]
        if let parent = appliedBy[kustomization.id], !folders.contains(parent.path) { folders.append(parent.path) }
        for folder in folders {
            guard let candidate = KustomizationGenerator.kustomizationFile(in: folder, files: artifact.written) else { continue }
            if let found = PatchSites.location(of: field, object: kustomization.object, kustomizationFile: candidate, origins: origins) { return found }
        }
        return nil
    }

    /// The line, inside the spec.patches entry of the Kustomization that applies `kustomization`,
    /// that writes `field` (each key found in turn in the patch's text, for a block-scalar patch;
    /// else the entry's line); nil when no patch of it mentions the field.
    func patchLocation(_ kustomization: FluxKustomization, _ field: [Origins.FieldKey]) -> SourceLocation? {
        guard let parent = appliedBy[kustomization.id], let file = parent.object.file else { return nil }
        let keys = field.compactMap { key -> String? in if case .key(let name) = key { return name } else { return nil } }
        guard keys.count > 1 else { return nil }
        // The patch parsed, so that an item's index counts (`substituteFrom[1]` is the second
        // entry, tester t5 F); the text walk below when the patch does not parse.
        let entries = documents[parent.id]?["spec"]?["patches"]?.sequence.map(Array.init) ?? []
        for entry in entries {
            guard case .scalar(let scalar)? = entry["patch"] else { continue }
            if let line = PatchSites.line(of: field, object: kustomization.object, inPatch: scalar, target: entry["target"]) {
                return SourceLocation(file: file, line: line)
            }
        }
        for (index, patch) in (parent.object.json["spec", "patches"]?.array ?? []).enumerated() {
            guard let text = patch["patch"]?.string, text.contains(keys[1] + ":") || text.contains("\"" + keys[1] + "\"") else { continue }
            let entry = Origins.line(of: ["spec", "patches", .index(index)], in: documents[parent.id]) ?? parent.object.line
            guard text.contains("\n"), let patchLine = Origins.line(of: ["spec", "patches", .index(index), "patch"], in: documents[parent.id]) else {
                return SourceLocation(file: file, line: entry)
            }
            // A block scalar's text starts on the line after `patch: |`.
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            var at = 0
            for key in keys {
                guard let found = lines[at...].firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(key + ":") || $0.trimmingCharacters(in: .whitespaces).hasPrefix("- " + key + ":") }) else { break }
                at = found
            }
            return SourceLocation(file: file, line: patchLine + 1 + at)
        }
        return nil
    }

    // MARK: The walk

    mutating func read(cluster: String, fluxSystem: String, decryptionSecrets: Set<String>) throws(Annotation) -> ClusterTree {
        let builder = KustomizationBuild(artifact: artifact, tool: tool, scratch: scratch)
        let queue = BuildQueue()
        let plain = artifact.files(ignore: nil)
        // flux-system as bootstrap applies it: built as it is, no Flux fields.
        func plainKustomization(_ path: String) -> FluxKustomization {
            FluxKustomization(KubeObject(.object([
                ("apiVersion", .string("kustomize.toolkit.fluxcd.io/v1")), ("kind", .string("Kustomization")),
                ("metadata", .object([("name", .string("flux-system")), ("namespace", .string("flux-system"))])),
                ("spec", .object([("path", .string(path))])),
            ])))!
        }
        let system = plainKustomization(fluxSystem)
        // The root is the Kustomization whose path is the cluster path, and the gotk-sync.yaml
        // flux bootstrap writes gives it no field that changes its build: that build (the guess)
        // is started first. It is used only when the root found in flux-system's objects asks
        // for exactly that build (`buildsAlike`), else the root found is built; its children are
        // still found only in the root's own output.
        let guess = KustomizationBuild.Request(kustomization: plainKustomization(cluster), files: plain)
        // flux-system's objects are taken from the guess when it builds flux-system as kustomize
        // builds it alone (`FluxSystemInRoot`): gotk-components.yaml (13,000 lines) is then read
        // by one kustomize run, not two. Else flux-system is built beside the guess (with a core
        // to spare) or alone.
        let inRoot = FluxSystemInRoot.applies(cluster: cluster, fluxSystem: fluxSystem, files: plain, root: artifact.root)
        let guessTicket = inRoot || queue.width > 1 ? queue.submit { builder.run(guess, index: 0) } : nil
        // Its folder is in the scratch folder, removed after the walk.
        defer { _ = guessTicket?.wait() }
        var taken: [KubeObject]?
        if inRoot, case .success(let output)? = guessTicket?.wait() {
            let placed = output.documents.map { document in
                (document.origin, place(document.object, origin: document.origin, keepsOrigins: output.written.keepsOrigins, directory: cluster, written: output.written).object)
            }
            taken = FluxSystemInRoot.objects(placed, fluxSystem: fluxSystem)
        }
        let systemObjects: [KubeObject]
        if let taken {
            systemObjects = taken
        } else {
            switch queue.submit({ builder.run(.init(kustomization: system, files: plain), index: 0) }).wait() {
            case .success(let output):
                systemObjects = output.documents.map { document in place(document.object, origin: document.origin, keepsOrigins: output.written.keepsOrigins, directory: fluxSystem, written: output.written).object }
            case .failure(let failure):
                var site = SourceLocation(file: fluxSystem)
                if case .aliasBomb(let bomb) = failure { site = SourceLocation(file: bomb.file, line: bomb.line) }
                throw .error(
                    "\(fluxSystem) does not build: \(describe(failure, path: fluxSystem))", title: "flux-system does not build",
                    fix: "Fix \(fluxSystem) so that `\(tool.description) \(fluxSystem)` succeeds.", at: site)
            }
        }
        let candidates = systemObjects.compactMap { FluxKustomization($0) }
        // The root is the Kustomization whose path is the cluster path; else (a nested
        // flux-system) the one whose path holds flux-system, the deepest first.
        let root = candidates.first { $0.path == cluster && $0.source.kind == "GitRepository" }
            ?? candidates.filter { $0.source.kind == "GitRepository" && (cluster.isEmpty || $0.path == cluster || $0.path.hasPrefix(cluster + "/")) && (fluxSystem.hasPrefix($0.path + "/") || $0.path.isEmpty) }
                .max { $0.path.count < $1.path.count }
        guard let root,
            let repository = systemObjects.first(where: {
                $0.kind == "GitRepository" && $0.apiVersion.hasPrefix(FluxKustomization.sourceGroup + "/") && $0.name == root.source.name
                    && ($0.namespace ?? "flux-system") == root.source.namespace
            })
        else {
            let found = candidates.map { "\($0.id) (path \($0.writtenPath))" }.joined(separator: ", ")
            throw .error(
                "\(fluxSystem) has no GitRepository and Kustomization pair whose Kustomization's path is \(cluster.isEmpty ? "." : cluster) (the gotk-sync.yaml that flux bootstrap writes)\(found.isEmpty ? "" : "; it has \(found)").",
                title: "No Flux sync manifests", fix: "Run `flux bootstrap` once for the path \(cluster.isEmpty ? "." : cluster), or add gotk-sync.yaml to \(fluxSystem).",
                at: SourceLocation(file: fluxSystem))
        }
        for object in systemObjects where FluxKustomization(object) != nil {
            if let node = origins.documents(object.file ?? "").first(where: { $0.kind == object.kind && $0.name == object.name })?.node {
                documents[FluxKustomization(object)!.id] = node
            }
        }
        let components = systemObjects.filter { !ClusterTreeReader.isSync($0) }
        // flux bootstrap applies the whole flux-system build ("applying sync manifests": flux2
        // pkg/bootstrap ReconcileSyncConfig applies the folder's kustomization), so the other
        // sources and Kustomizations written there exist before the root Kustomization runs.
        let bootstrapSync = systemObjects.filter {
            ClusterTreeReader.isSync($0) && ObjectReference($0.json) != ObjectReference(repository.json) && FluxKustomization($0)?.id != root.id
        }
        strictSubstitution = PostBuild.strictSubstitutions(in: components)
        noRemoteBases = ControllerFlags("kustomize-controller", in: components).isSet("no-remote-bases")
        blocksCrossNamespace = (
            ControllerFlags("kustomize-controller", in: components).isSet("no-cross-namespace-refs"),
            ControllerFlags("helm-controller", in: components).isSet("no-cross-namespace-refs"))
        available = systemObjects
        schemas.add(systemObjects)
        // What the cluster's GitRepository fetches: the repository's own spec.ignore, nothing
        // more. The GitRepository fluxci applies keeps it (BootstrapPlan stops the in-cluster
        // sync from re-applying gotk-sync.yaml with an annotation, not with an ignore), so a
        // cluster kustomization.yaml that lists flux-system builds here as in the cluster, and
        // flux-system's other Kustomizations are children of the root.
        rootIgnore = repository.json["spec", "ignore"]?.string
        sourceContent = SourceContent(repository: repository, artifact: artifact)
        let rootFiles = rootIgnore == nil ? plain : artifact.files(ignore: rootIgnore)
        let secretsNamespace = repository.namespace ?? "flux-system"
        let rootSource = FluxKustomization.SourceReference(kind: "GitRepository", namespace: secretsNamespace, name: repository.name)

        rootID = root.id
        typealias Ticket = BuildQueue.Ticket<Result<KustomizationBuild.Output, KustomizationBuild.Failure>>
        var index = 1
        // A build starts as soon as its Kustomization is found (the walk below reads the results
        // in the order it found them, so the outcome is that of building level by level).
        func start(_ kustomization: FluxKustomization, started: (request: KustomizationBuild.Request, ticket: Ticket)? = nil) -> Ticket? {
            guard kustomization.source == rootSource, !kustomization.suspended, !kustomization.applyDisabled else { return nil }
            let request = KustomizationBuild.Request(kustomization: kustomization, files: rootFiles)
            if let started, started.request.buildsAlike(request) { return started.ticket }
            let at = index
            index += 1
            return queue.submit { builder.run(request, index: at) }
        }
        // Kustomizations found together are built in groups, one per core: each group in one
        // kustomize run where that gives each Kustomization what its own run gives
        // (KustomizationBatch), else queued again one by one.
        func startAll(_ kustomizations: [FluxKustomization]) -> [(FluxKustomization, Ticket?)] {
            var buildable: [(at: Int, request: KustomizationBuild.Request)] = []
            for kustomization in kustomizations where kustomization.source == rootSource && !kustomization.suspended && !kustomization.applyDisabled {
                buildable.append((index, KustomizationBuild.Request(kustomization: kustomization, files: rootFiles)))
                index += 1
            }
            var tickets: [Ticket] = []
            let size = batches ? max(1, (buildable.count + queue.width - 1) / queue.width) : 1
            for first in stride(from: 0, to: buildable.count, by: size) {
                let group = Array(buildable[first..<min(first + size, buildable.count)])
                guard group.count > 1 else {
                    let (at, request) = group[0]
                    tickets.append(queue.submit { builder.run(request, index: at) })
                    continue
                }
                let built = queue.submit { [queue] () -> [Ticket] in
                    if let results = builder.runBatch(group.map(\.request)) { return results.map { Ticket($0) } }
                    return group.map { at, request in queue.submit { builder.run(request, index: at) } }
                }
                tickets += group.indices.map { offset in Ticket(deriving: { built.wait()[offset].wait() }) }
            }
            var next = tickets.makeIterator()
            return kustomizations.map { kustomization in
                (kustomization, kustomization.source == rootSource && !kustomization.suspended && !kustomization.applyDisabled ? next.next() : nil)
            }
        }
        var all: [FluxKustomization] = [root]
        var level: [(FluxKustomization, Ticket?)] = [(root, start(root, started: guessTicket.map { (guess, $0) }))]
        var pending: [(FluxKustomization, KustomizationBuild.Output)] = []
        var built: [FluxKustomization] = []
        while !level.isEmpty || !pending.isEmpty {
            var requests: [(FluxKustomization, Ticket)] = []
            for (kustomization, ticket) in level {
                if kustomization.source != rootSource {
                    builds[kustomization.id] = .notBuilt("sourced from \(kustomization.source)")
                } else if kustomization.suspended {
                    builds[kustomization.id] = .notBuilt("suspended")
                } else if kustomization.applyDisabled {
                    builds[kustomization.id] = .notBuilt("never applied (apply disabled)")
                } else if let ticket {
                    requests.append((kustomization, ticket))
                }
            }
            level = []
            // postBuild needs the ConfigMaps and Secrets it names: a Kustomization whose sources
            // are not built yet waits for the next round, until no round makes progress.
            // The first round reads each output as soon as its build ends, while later builds
            // run; the problems of failed builds still come first, as when every build of the
            // level had ended before the first round.
            var progress = false
            var waiting: [(FluxKustomization, KustomizationBuild.Output)] = []
            func round(_ kustomization: FluxKustomization, _ output: KustomizationBuild.Output) {
                guard let variables = variables(for: kustomization, final: false) else {
                    waiting.append((kustomization, output))
                    return
                }
                progress = true
                built.append(kustomization)
                let children = process(kustomization, output, variables: variables, known: all.map(\.id) + level.map(\.0.id))
                level += startAll(children)
            }
            let failuresAt = problems.count
            var failures: [Annotation] = []
            for (kustomization, output) in pending { round(kustomization, output) }
            for (kustomization, ticket) in requests {
                switch ticket.wait() {
                case .success(let output): round(kustomization, output)
                case .failure(let failure):
                    let before = problems.count
                    buildFailed(kustomization, failure, files: rootFiles)
                    failures += problems[before...]
                    problems.removeSubrange(before...)
                }
            }
            problems.insert(contentsOf: failures, at: failuresAt)
            pending = waiting
            while progress && !pending.isEmpty {
                progress = false
                waiting = []
                for (kustomization, output) in pending { round(kustomization, output) }
                pending = waiting
            }
            if level.isEmpty, !pending.isEmpty {
                // What the Kustomizations found so far apply: a Kustomization fluxci does not
                // build may create a missing substituteFrom object (tester t11 F12, F25).
                let possible = AppliedObjects(objects, kustomizations: all, components: components)
                for (kustomization, output) in pending {
                    built.append(kustomization)
                    let children = process(kustomization, output, variables: variables(for: kustomization, final: true, own: output, possible: possible) ?? Variables(), known: all.map(\.id) + level.map(\.0.id))
                    level += startAll(children)
                }
                pending = []
            }
            all += level.map(\.0)
        }
        // Custom resources whose CRD a later build installs (tester t18 F3).
        for later in schemaLater {
            let fieldSites = self.fieldSites
            let at = { fieldSites.location(of: later.object, $0, document: later.document) }
            let checked = schemas.check(later.object, appliedBy: later.owner, at: at, before: later.before)
            noteUnevaluatedRules(checked.unevaluated, of: later.object, at: at)
            problems += checked.problems
        }
        for (_, rule) in unevaluatedRules.sorted(by: { $0.key < $1.key }) {
            let others = rule.count > 1 ? " and \(rule.count - 1) other object\(rule.count == 2 ? "" : "s")" : ""
            problems.append(Annotation(
                .notice,
                "The CRD \(rule.crd) validates \(rule.object)\(others) with the CEL rule `\(rule.rule)`, which fluxci cannot evaluate: the API server checks it on kustomize-controller's dry-run, fluxci did not.",
                title: "CEL rule not evaluated", at: rule.at))
        }
        // Targeted patches that select nothing (PatchSelection).
        problems += unselectedPatches(built, files: rootFiles, builder: builder, queue: queue)
        for (site, readers) in bombReaders where readers.count > 1 {
            guard let index = problems.firstIndex(where: { $0.title == "YAML alias bomb" && $0.location.map { "\($0.file):\($0.line ?? 0)" } == site }) else { continue }
            problems[index].message += " The same file stops the builds of \(readers.dropFirst().map(\.description).joined(separator: ", ")) too."
        }
        check(all, decryptionSecrets: decryptionSecrets, secretsNamespace: secretsNamespace)
        // What a Kustomization with spec.kubeConfig applies goes to another cluster (tester t14
        // F15): it neither creates nor needs anything of this one, so the checks of what this
        // cluster holds leave it out (the API server's own checks of each object still apply).
        // (Its child Kustomizations stay: the tree walks them as this cluster's.)
        let remote = Set(all.filter { $0.object.json["spec", "kubeConfig"] != nil }.map(\.id))
        var local = objects
        for id in remote { local[id] = local[id]?.filter { FluxKustomization($0) != nil } }
        problems += SharedObjects.problems(local, order: all.map(\.id))
        let origins = self.origins
        // One index of what every Kustomization applies, shared by the reference checks.
        let applied = AppliedObjects(local, kustomizations: all, components: components)
        let artifactFiles = rootFiles
        let reader = self
        var chartContext = HelmReleaseReferences.Context(
            noCrossNamespaceRefs: blocksCrossNamespace.helm, artifactSource: "\(secretsNamespace)/\(repository.name)",
            absence: { path in
                if path.hasSuffix("/") { return artifactFiles.contains { $0.hasPrefix(path) } ? nil : reader.absence(of: String(path.dropLast())) }
                if artifactFiles.contains(path) || artifactFiles.contains(where: { $0.hasPrefix(path + "/") }) { return nil }
                return reader.absence(of: path)
            })
        chartContext.defaultServiceAccount = ControllerFlags("helm-controller", in: components).value("default-service-account")
        // Where a problem about a field of an applied object is annotated (FieldSites).
        let fieldSites = self.fieldSites
        let fieldSite: (KubeObject, [Origins.FieldKey]) -> SourceLocation? = { object, field in fieldSites.location(of: object, field) }
        problems += HelmReleaseReferences.problems(applied, context: chartContext, fieldSite: fieldSite)
        // The root's credentials Secret exists on a bootstrapped cluster (flux bootstrap writes it,
        // named `flux-system` unless the root names another; fluxci's bootstrap writes it with the
        // token): another source may reuse it (tester t18 F7).
        let rootCredentials = "\(secretsNamespace)/\(repository.json["spec", "secretRef", "name"]?.string ?? "flux-system")"
        problems += SourceSecretReferences.problems(
            applied, given: Set(decryptionSecrets.map { "\(secretsNamespace)/\($0)" } + [rootCredentials]), root: "\(secretsNamespace)/\(repository.name)", fieldSite: fieldSite)
        problems += WorkloadReferences.problems(applied, fieldSite: fieldSite)
        problems += SuspendedNeeds.problems(applied, fieldSite: fieldSite)
        let writtenNamespaces = WrittenNamespaces(artifact: artifact, origins: origins)
        problems += AppliedObjectChecks.problems(
            local, applied: applied, components: components, gitRepository: repository, unsubstituted: unsubstituted, writtenNamespace: writtenNamespaces.hint,
            at: fieldSite)
        let defaultServiceAccount = ControllerFlags("kustomize-controller", in: components).value("default-service-account")
        problems += KustomizationReferences.problems(applied, defaultServiceAccount: defaultServiceAccount) { kustomization, field in reader.location(kustomization, field) }
        problems += CustomResourceChecks.problems(applied, objects: local, components: components)
        problems += sourceContent.includeProblems(repository: repository, applied: applied, bootstrapped: bootstrapSync) { field in fieldSites.location(of: repository, field) }
        // Another GitRepository of this same repository (another branch or tag of it): a warning
        // (tester t16 F7). Its Kustomizations are not built from the commit under test: that ref's
        // content can differ entirely (its paths, spec.ignore, includes; tester t18 F5, F6, F8).
        let rootURL = repository.json["spec", "url"]?.string ?? ""
        var seenSources: Set<FluxKustomization.SourceReference> = [rootSource]
        for source in available where source.kind == "GitRepository" && source.apiVersion.hasPrefix(FluxKustomization.sourceGroup + "/") {
            let reference = FluxKustomization.SourceReference(kind: "GitRepository", namespace: source.namespace ?? secretsNamespace, name: source.name)
            guard seenSources.insert(reference).inserted, let url = source.json["spec", "url"]?.string, ClusterTreeReader.sameRepository(url, rootURL) else { continue }
            let users = all.filter { $0.source == reference }.map(\.id.description).sorted()
            guard !users.isEmpty else { continue }
            let ref = (source.json["spec", "ref"]?.object ?? []).map { "\($0.key) \($0.value.string ?? $0.value.jsonText)" }.joined(separator: ", ")
            problems.append(.warning(
                "The GitRepository \(reference.namespace)/\(reference.name) fetches this same repository\(ref.isEmpty ? "" : " at \(ref)"), not the branch under test: \(users.joined(separator: ", ")) \(users.count == 1 ? "applies" : "apply") that ref's manifests, so a change this branch makes under \(users.count == 1 ? "its path" : "their paths") is neither built here nor deployed by this run; it reaches the cluster only once that ref has it.",
                title: "Same repository at another ref",
                fix: "Source \(users.count == 1 ? "that Kustomization" : "those Kustomizations") from the cluster's GitRepository (\(repository.namespace ?? "flux-system")/\(repository.name)), which follows the branch under test, unless pinning another ref is the point.",
                at: fieldSites.location(of: source, ["spec", "ref"])))
        }
        problems += NamespaceNotSpecified.problems(objects, kustomizations: all, crds: components + all.flatMap { objects[$0.id] ?? [] }, fieldSite: fieldSite)
        // The keys kustomize made from the ciphertext of an envs: file Flux decrypts as YAML or
        // JSON: the error at that entry says what happens instead (tester t12 F6).
        problems += BuiltInKindValidation.problems(objects, order: all.map(\.id), literal: literalKustomizations, fieldSite: fieldSite).filter { problem in
            !(problem.title == "Invalid data key" && problem.location.map { envsReadAsStructured.contains("\($0.file):\($0.line ?? 0)") } == true)
        }
        if let schemaTool {
            problems += KubernetesSchemaTool.problems(objects, order: all.map(\.id), tool: schemaTool, existing: problems, fieldSite: fieldSite)
        }
        // The safety net (tester t9 F5): no message holds a value a Secret gave, whatever path
        // quoted it (an object name, a controller's words).
        let searched = SubstitutedValues.searched(secretValues)
        problems = literalPlaceholderNotes(problems)
        // A problem placed at a patch names where its object is written.
        problems = fieldSites.noted(problems)
        problems = problems.map { SubstitutedValues.redact($0, searched) }
        for (id, status) in builds { if case .notBuilt(let why) = status { builds[id] = .notBuilt(SubstitutedValues.redact(why, searched)) } }
        var tree = ClusterTree(
            clusterPath: cluster, fluxSystemPath: fluxSystem, components: components, gitRepository: repository, rootKustomization: all[0],
            kustomizations: ClusterTreeReader.dependencyOrder(all), files: files, sopsFiles: sopsFiles, objects: objects, builds: builds,
            buildTool: tool.description, problems: problems, decryptorReads: decryptorReads)
        tree.secretValues = secretValues.sorted()
        tree.patchedFields = patched
        tree.suspendLocations = suspendLocations
        tree.bootstrapSync = bootstrapSync
        tree.decryptionSecretOpeners = decryptionSecretOpeners
        return tree
    }

    // MARK: One build's output

    /// An object with its origin annotation taken off (unless the repository asked for it) and
    /// `file`/`line` at its origin.
    func place(_ json: JSONValue, origin: String?, keepsOrigins: Bool, directory: String, written: KustomizationGenerator.Written) -> (object: KubeObject, document: Node?) {
        var json = json
        if !keepsOrigins, case .object(var metadata)? = json["metadata"] {
            if case .object(var annotations)? = json["metadata", "annotations"] {
                annotations.removeAll { $0.key == Origins.annotation }
                if annotations.isEmpty { metadata.removeAll { $0.key == "annotations" } } else {
                    metadata = metadata.map { $0.key == "annotations" ? ("annotations", .object(annotations)) : $0 }
                }
            }
            json.set("metadata", .object(metadata))
        }
        guard let origin else { return (KubeObject(json, file: written.file), nil) }
        let located = origins.locate(json, origin: origin, directory: directory, kustomizationFile: written.file)
        return (KubeObject(json, file: located.file, line: located.line), located.document)
    }

    /// `problems` with a note where they sit on a `${…}` that kustomize-controller applies as
    /// written (`literalPlaceholders`): the value the user wrote is a placeholder, not a typo.
    func literalPlaceholderNotes(_ problems: [Annotation]) -> [Annotation] {
        guard !literalPlaceholders.isEmpty else { return problems }
        var lines: [String: [Substring]] = [:]
        return problems.map { problem in
            guard let location = problem.location, let line = location.line, let why = literalPlaceholders[location.file] else { return problem }
            if lines[location.file] == nil {
                let data = FileManager.default.contents(atPath: artifact.root.appendingPathComponent(location.file).path) ?? Data()
                lines[location.file] = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            }
            guard let text = lines[location.file], line >= 1, line <= text.count, text[line - 1].contains("${"), !text[line - 1].contains("$${") else { return problem }
            var noted = problem
            noted.message += " The value is the placeholder as written: kustomize-controller substitutes only when postBuild gives at least one variable, and \(why), so not even a ${VAR:=default} default is applied."
            noted.fix = "Define the variable (or any one) in spec.postBuild.substitute so that substitution runs, or write the value itself."
            return noted
        }
    }

    /// Records the CEL rules of `object`'s CRD that fluxci could not evaluate (`unevaluatedRules`).
    mutating func noteUnevaluatedRules(_ found: [(crd: String, rule: String, field: [Origins.FieldKey])], of object: KubeObject, at: ([Origins.FieldKey]) -> SourceLocation?) {
        for found in found {
            let key = "\(found.crd)|\(found.rule)"
            if unevaluatedRules[key] != nil {
                unevaluatedRules[key]!.count += 1
            } else {
                let field = found.field.isEmpty ? "" : " (\(Origins.dotted(found.field)))"
                unevaluatedRules[key] = (found.crd, found.rule, "\(object.reference)\(field)", at(found.field), 1)
            }
        }
    }

    /// Substitutes, places and records a build's objects; returns the new child Kustomizations.
    mutating func process(_ kustomization: FluxKustomization, _ output: KustomizationBuild.Output, variables: Variables, known: [Reference]) -> [FluxKustomization] {
        let id = kustomization.id
        var placed: [KubeObject] = []
        var placedDocuments: [Node?] = []
        var placedSources: [JSONValue] = []
        var unresolved: Set<String> = []
        let invalid = variables.values.keys.filter { !PostBuild.validName($0) }.sorted()
        if let failure = variables.failure {
            builds[id] = .notBuilt(failure)
            return []
        }
        if !invalid.isEmpty {
            // At the key that defines the name (a substituteFrom ConfigMap's or Secret's data key,
            // or the spec.postBuild.substitute entry; tester t3 F3), with kustomize-controller's
            // words (fluxcd/pkg kustomize `varSubstitution`).
            let site = variables.sites[invalid[0]]
            problems.append(.error(
                "The Kustomization \(id) substitutes the variable '\(invalid[0])'\(site.map { " (defined at \($0.place))" } ?? ""), whose name is invalid: kustomize-controller fails the build (\"'\(invalid[0])' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'\").",
                title: "Invalid variable name",
                fix: "Rename the variable\(site.map { " in \($0.place)" } ?? "") (letters, digits and _, not starting with a digit)\(site?.fromSource == true ? ", or take the data from a ConfigMap or Secret that is not used for substitution" : "").",
                at: site?.location ?? location(kustomization, ["spec", "postBuild"])))
            builds[id] = .notBuilt("invalid variable name \(invalid[0])")
            return []
        }
        var children: [FluxKustomization] = []
        var reached: [String] = []
        var encrypted: [String] = []
        // The files of the objects that read each unset variable, in the build's order.
        var readers: [String: [String]] = [:]
        for document in output.documents {
            var json = document.object
            var found: Set<String> = []
            // The object as kustomize-controller's decryptor gives it, before it substitutes
            // (`DecryptedObjects`); nil without keys or for a plain object.
            let written = place(document.object, origin: document.origin, keepsOrigins: true, directory: kustomization.path, written: output.written)
            let opened = opened(document, file: written.object.file, node: written.document, kustomization: kustomization)
            let substitutes = !variables.values.isEmpty || !variables.locked.isEmpty || !variables.openSources.isEmpty
            if !substitutes { literalKustomizations.insert(id) }
            if !substitutes || PostBuild.isDisabled(json), document.text.contains("${"), let file = written.object.file {
                literalPlaceholders[file] = PostBuild.isDisabled(json)
                    ? "the object is annotated kustomize.toolkit.fluxcd.io/substitute: disabled"
                    : kustomization.object.json["spec", "postBuild"] == nil
                        ? "\(id) has no spec.postBuild"
                        : "\(id)'s postBuild gives no variable (a substituteFrom source that is optional and does not exist gives none)"
            }
            if substitutes, !PostBuild.isDisabled(json) {
                do {
                    let text = try PostBuild.substitute(document.text, variables: variables.values, unresolved: &found)
                    // Strict mode fails on an unset variable; one whose value sits in a Secret
                    // fluxci could not decrypt is set in the cluster, and so may be one an
                    // object only an unbuilt Kustomization creates gives.
                    if strictSubstitution, variables.openSources.isEmpty, let name = found.subtracting(variables.locked).sorted().first {
                        let file = place(document.object, origin: document.origin, keepsOrigins: true, directory: kustomization.path, written: output.written).object.file
                        let uses = variableUses(name, files: file.map { [$0] } ?? [])
                        throw PostBuild.Failure(
                            description: "variable substitution failed: variable not set (strict mode): \"\(name)\"\(uses.first.map { " (read at \($0))" } ?? "")", variable: name)
                    }
                    unresolved.formUnion(found)
                    let parsed: KubeObject?
                    do {
                        parsed = try Manifest.objects(text).first
                    } catch {
                        problems.append(substitutedYAMLProblem(error, substituted: text, document: document, kustomization: kustomization, output: output, variables: variables))
                        builds[id] = .notBuilt("substitution failed")
                        return []
                    }
                    guard let object = parsed else { continue }
                    json = object.json
                } catch {
                    // Annotated where the repository writes what fails (tester t3 F3): the
                    // `${…}` envsubst could not parse, or the strict-mode read of an unset
                    // variable, in the object's file (else a kustomization of the build, where a
                    // patch may hold it); spec.postBuild only when neither is found.
                    let failure = error as? PostBuild.Failure
                    let file = place(document.object, origin: document.origin, keepsOrigins: true, directory: kustomization.path, written: output.written).object.file
                    let candidates = (file.map { [$0] } ?? []) + output.kustomizationFiles.filter { !(output.written.generated && $0 == output.written.file) }
                    var site: SourceLocation?
                    if let expression = failure?.expression {
                        site = expressionSite(expression, files: candidates)
                    } else if let name = failure?.variable {
                        site = variableUses(name, files: candidates).first
                    }
                    let quoted = failure?.expression.map { " at `\($0)`\(site == nil ? "" : " (\(site!))")" } ?? ""
                    problems.append(.error(
                        "The postBuild substitution of \(id) fails on \(document.object["kind"]?.string ?? "")/\(document.object["metadata", "name"]?.string ?? "")\(quoted): \(error).",
                        title: "Substitution failed",
                        fix: failure?.variable != nil
                            ? "Define the variable in spec.postBuild (substitute or substituteFrom) or give it a default (${name:=value}); kustomize-controller runs with --feature-gates=\(PostBuild.strictFeatureGate)=true."
                            : failure?.expression.map { expression in
                                "Write $\(expression) to keep it as text (Flux's envsubst reads $${ as a literal ${), correct the expression, or annotate the object kustomize.toolkit.fluxcd.io/substitute: disabled."
                            } ?? "Fix the ${…} expression, or annotate the object kustomize.toolkit.fluxcd.io/substitute: disabled.",
                        at: site ?? location(kustomization, ["spec", "postBuild"])))
                    builds[id] = .notBuilt("substitution failed")
                    return []
                }
            }
            var substituted: Substituted?
            if let opened, substitutes, !PostBuild.isDisabled(opened.json) {
                let checked = decryptedSubstitutionProblems(opened, kustomization: kustomization, variables: variables, plainFound: found)
                problems += checked.problems
                if checked.fails {
                    builds[id] = .notBuilt("substitution failed")
                    return []
                }
                substituted = checked.substituted
            }
            if let opened {
                problems += decryptedSubstitutedProblems(opened, kustomization: kustomization, variables: variables, substituted: substituted)
            }
            var (object, node) = place(json, origin: document.origin, keepsOrigins: output.written.keepsOrigins, directory: kustomization.path, written: output.written)
            if let opened, (opened.json["apiVersion"]?.string ?? "").contains(".toolkit.fluxcd.io/") {
                // A Flux object's spec is configuration the checks read (its references, its
                // schema): checked decrypted, as it is applied (tester t18 F11: a HelmRelease
                // encrypted whole had its chart source reported as "Unknown … ENC[…]"). Its values
                // are secret values (above): no message shows them.
                var decrypted = Self.withDecryptedIdentity(object.json, from: opened.json)
                if let spec = opened.json["spec"] { decrypted.set("spec", spec) }
                object = KubeObject(decrypted, file: object.file, line: object.line)
            } else if Self.identityEncrypted(json) {
                if let opened {
                    // The checks below and the tree's see what the apply sees (tester t12 F9).
                    object = KubeObject(Self.withDecryptedIdentity(object.json, from: opened.json), file: object.file, line: object.line)
                } else if decrypt == nil, kustomization.decrypts {
                    problems.append(Self.identityUnchecked(object, appliedBy: id))
                }
            }
            placed.append(object)
            placedDocuments.append(node)
            // A decrypted object's fields are never described by their text before substitution
            // (it is the decrypted text, or ciphertext): its own JSON is its "before".
            placedSources.append(opened == nil ? document.object : object.json)
            if let file = object.file { for name in found { readers[name, default: []].append(file) } }
            if let file = object.file, !(output.written.generated && file == output.written.file) { reached.append(file) }
            if object.json["sops", "mac"] != nil, let file = object.file { encrypted.append(file) }
            if object.apiVersion.contains(".toolkit.fluxcd.io/"), object.namespace == nil {
                // kustomize-controller refuses a namespaced object without a namespace.
                problems.append(.error(
                    "\(object.kind) \(object.name) has no metadata.namespace, and nothing in the build of \(id) sets one: kustomize-controller fails \(id) with \"namespace not specified\".",
                    title: "Namespace not specified", fix: "Add metadata.namespace, or set namespace: in the kustomization.yaml, or spec.targetNamespace on \(id).",
                    at: object.file.map { SourceLocation(file: $0, line: object.line) }))
                continue
            }
            if let child = FluxKustomization(object), child.id != id, !known.contains(child.id), !children.contains(where: { $0.id == child.id }) {
                if let node { documents[child.id] = node }
                appliedBy[child.id] = kustomization
                children.append(child)
            }
        }
        for generated in output.generatorFiles {
            reached.append(generated.file)
            guard let data = FileManager.default.contents(atPath: artifact.root.appendingPathComponent(generated.file).path) else { continue }
            if data.starts(with: SourceArtifact.gitCryptMagic) {
                problems.append(lockedFile(generated.file, reachedBy: id, at: SourceLocation(file: generated.declaredIn, line: generated.line)))
            } else if SOPSFileFormat.encryptedStorage(of: data) != nil, !generated.decrypted,
                (origins.documents(generated.declaredIn).first?.node["patchesStrategicMerge"]?.sequence.map(Array.init) ?? []).contains(where: { $0.mark?.line == generated.line })
            {
                // tester t14 F21: kustomize-controller decrypts the files of `patches:` entries
                // only; this one is merged encrypted (ENC[…] values and its sops metadata) into
                // the object it patches, and decrypting that object fails on its plain values.
                problems.append(.error(
                    "\(generated.file) is a SOPS-encrypted patch listed under patchesStrategicMerge in \(generated.declaredIn): kustomize-controller decrypts before the build only the files of `patches:` entries, so kustomize merges this one encrypted (its ENC[…] values and sops metadata) into the object it patches, and decrypting that object then fails on its plain values: \(id) never becomes Ready.",
                    title: "Not decrypted by Flux",
                    fix: "List the patch under patches: (`- path: \((generated.file as NSString).lastPathComponent)`), whose files kustomize-controller decrypts first.",
                    at: SourceLocation(file: generated.declaredIn, line: generated.line)))
            } else if SOPSFileFormat.encryptedStorage(of: data) != nil, !generated.decrypted {
                // tester t12 F1: kustomize-controller decrypts secretGenerator inputs and patch
                // files before the build (decryptKustomizationSources), and after it only objects
                // with a sops field or Secrets whose values are SOPS documents (DecryptResource):
                // a ConfigMap generated from a SOPS file keeps the ciphertext.
                // A generator configured in its own file (`generators:`) is never visited by the
                // decryptor, Secret or ConfigMap (tester t14 F20).
                let inKustomization = KustomizationGenerator.isKustomizationFile(generated.declaredIn)
                problems.append(.error(
                    inKustomization
                        ? "\(generated.file) is a SOPS-encrypted file that a configMapGenerator of \(generated.declaredIn) reads: kustomize-controller decrypts only secretGenerator inputs and patch files before the build, and never a ConfigMap's data after it, so \(id) applies a ConfigMap holding the encrypted text (ENC[…] values and the sops metadata)."
                        : "\(generated.file) is a SOPS-encrypted file that the generator \(generated.declaredIn) (listed under generators:) reads: kustomize-controller decrypts only the secretGenerator inputs and patch files of the kustomization itself, so \(id) applies the generated object holding the encrypted text (ENC[…] values and the sops metadata).",
                    title: "Not decrypted by Flux",
                    fix: inKustomization
                        ? "Move the entry to a secretGenerator (the workload then reads a Secret), or keep the file unencrypted if it holds nothing secret."
                        : "Move the generator into the kustomization's secretGenerator (whose files kustomize-controller decrypts first).",
                    at: SourceLocation(file: generated.declaredIn, line: generated.line)))
            } else if let storage = SOPSFileFormat.encryptedStorage(of: data), let read = generated.read, read.entry == .env, read.format != .dotenv,
                read.decryptsInPlace(data)
            {
                // tester t12 F6: kustomize-controller decrypts an envs: file in place in the
                // format its name gives (formatForPath: YAML, JSON, ini) and kustomize then reads
                // it as `KEY=value` lines (a line without `=` is a key whose value comes from
                // the environment): each line of the YAML becomes a key the API server refuses,
                // and its error, in the Kustomization's status and events, quotes decrypted values.
                encrypted.append(generated.file)
                // The Secret's key problems sit at its generator's item (the line of its first key).
                let items = origins.documents(generated.declaredIn).first?.node["secretGenerator"]?.sequence.map(Array.init) ?? []
                let item = items.first { item in
                    ((item["envs"]?.sequence.map(Array.init) ?? []) + [item["env"]].compactMap { $0 }).contains { $0.mark?.line == generated.line }
                }
                envsReadAsStructured.insert("\(generated.declaredIn):\(item?.mark?.line ?? generated.line ?? 0)")
                problems.append(.error(
                    "\(generated.file) is a \(storage.rawValue) SOPS file that an envs: entry of \(generated.declaredIn) reads: kustomize-controller decrypts it in place as \(read.format.rawValue), and kustomize then reads each of its lines as KEY=value, so the generated Secret gets keys such as `name: value` that the API server refuses — and its refusal, in the Kustomization's status and events, quotes the decrypted values.",
                    title: "Not a dotenv file",
                    fix: "Encrypt a dotenv file (KEY=value lines, named *.env) for envs:, or list this file under files: (one key holding the whole \(read.format.rawValue)).",
                    at: SourceLocation(file: generated.declaredIn, line: generated.line)))
            } else if SOPSFileFormat.encryptedStorage(of: data) != nil {
                encrypted.append(generated.file)
                if let read = generated.read { decryptorReads[id, default: [:]][generated.file, default: []].insert(read) }
            }
        }
        reached += output.kustomizationFiles.filter { !(output.written.generated && $0 == output.written.file) }
        if noRemoteBases, let remote = remoteResource(in: output.kustomizationFiles) {
            problems.append(.error(
                "\(remote.file) lists the remote resource \(remote.reference), and kustomize-controller runs with --no-remote-bases=true: it builds from the source artifact only, so the build of \(id) fails and \(id) never becomes Ready.",
                title: "Remote resource refused",
                fix: "Vendor the resource into the repository (or give it a source of its own: a GitRepository or OCIRepository and a Kustomization), or remove kustomize-controller's no-remote-bases argument.",
                at: SourceLocation(file: remote.file, line: remote.line)))
        }
        for field in output.written.droppedFields {
            problems.append(.warning(
                "\(output.written.file) has the field \(field.name), which kustomize's Kustomization does not have: kustomize-controller reads the file leniently and drops it, so \(id) builds without it (kubectl kustomize would fail on it).",
                title: "Unknown kustomization field", fix: "Correct the field's name (a typo?) or remove it.",
                at: SourceLocation(file: output.written.file, line: field.line)))
        }
        if output.written.generated {
            for link in artifact.symbolicLinks where (kustomization.path.isEmpty || link.hasPrefix(kustomization.path + "/")) && (link.hasSuffix(".yaml") || link.hasSuffix(".yml")) {
                problems.append(.warning(
                    "\(link) is a symbolic link: source-controller leaves links out of the artifact, so \(id) does not apply it.",
                    title: "Symbolic link", fix: "Replace the link with the file it points to, or remove it.", at: SourceLocation(file: link)))
            }
        }
        if !unresolved.isEmpty {
            let locked = unresolved.intersection(variables.locked).sorted()
            let unset = unresolved.subtracting(variables.locked).sorted()
            if !locked.isEmpty {
                // "Without keys" only when no key was given; else why the keys given did not
                // open the Secret (a key source skipped, recipients the keys are not among).
                let why = variables.lockedWhy
                problems.append(.warning(
                    why.isEmpty || decrypt == nil
                        ? "The variables \(locked.joined(separator: ", ")) of \(id) come from a SOPS-encrypted Secret and could not be resolved without keys (no key was given): the objects are read with them empty."
                        : "The variables \(locked.joined(separator: ", ")) of \(id) come from a SOPS-encrypted Secret that the keys given do not decrypt: \(why.map(\.reason).joined(separator: " ")) The objects are read with them empty.",
                    title: "Variables not resolved",
                    fix: why.isEmpty || decrypt == nil ? "Pass the keys (SOPS_AGE_KEY or SOPS_GPG_KEY) to resolve them." : why.map(\.fix).joined(separator: " "),
                    at: location(kustomization, ["spec", "postBuild"])))
            }
            if !unset.isEmpty {
                // Each variable's first use (the objects' files first, then the build's
                // kustomization files, where a patch may read it), and how many more there are.
                var firstUse: SourceLocation?
                let described = unset.map { name -> String in
                    let uses = variableUses(name, files: (readers[name] ?? []) + reached.sorted())
                    guard let first = uses.first else { return name }
                    if firstUse == nil { firstUse = first }
                    return "\(name) (read at \(first)\(uses.count > 1 ? " and \(uses.count - 1) more place\(uses.count == 2 ? "" : "s")" : ""))"
                }
                let open = variables.openSources
                problems.append(.warning(
                    open.isEmpty
                        ? "The build of \(id) uses the variable\(unset.count == 1 ? "" : "s") \(described.joined(separator: ", ")), which neither postBuild.substitute nor substituteFrom defines: Flux substitutes an empty string."
                        : "The build of \(id) uses the variable\(unset.count == 1 ? "" : "s") \(described.joined(separator: ", ")), which neither postBuild.substitute nor the substituteFrom objects fluxci read define; \(open.joined(separator: " or ")), which only a Kustomization fluxci did not build may create, may: the objects are read with them empty.",
                    // At the first use, the line a pull request changes with a typo (tester t21 F5).
                    title: "Variables not set", fix: "Define them in spec.postBuild, or give them a default (${name:=value}).", at: firstUse ?? location(kustomization, ["spec", "postBuild"])))
            }
        }
        // The API server checks each object against its CRD; the build's own CRDs are applied
        // first (ApplyAllStaged), so they count.
        schemas.add(placed)
        var rejected: Set<Reference> = []
        // Each object's build, for the patches that write its fields (FieldSites).
        let reachedOnce = Array(Set(reached))
        let build = FieldSites.Build(kustomization: kustomization, document: documents[id], reached: reachedOnce)
        for object in placed { fieldSites.record(object, builtBy: build) }
        let fieldSites = self.fieldSites
        // Ciphertext in a plain object; a generated one whose SOPS input is already reported at
        // its generator entry (a configMapGenerator) is not reported twice.
        let reportedGenerators = Set(problems.filter { $0.title == "Not decrypted by Flux" }.compactMap(\.location?.file))
        for (object, document) in zip(placed, placedDocuments) where !(object.file.map(reportedGenerators.contains) ?? false) {
            let at = { (field: [Origins.FieldKey]) in fieldSites.location(of: object, field, document: document) }
            if let problem = StrayCiphertext.problem(object, document: document, appliedBy: id, at: at) ?? StrayCiphertext.plainProblem(object, document: document, appliedBy: id, at: at) {
                problems.append(problem)
            }
        }
        for (index, (object, document)) in zip(placed, placedDocuments).enumerated() {
            if !schemas.defines(object), object.apiVersion.contains(".") {
                schemaLater.append((object, id, document, placedSources[index]))
                continue
            }
            let at = { fieldSites.location(of: object, $0, document: document) }
            let checked = schemas.check(object, appliedBy: id, at: at, before: placedSources[index])
            noteUnevaluatedRules(checked.unevaluated, of: object, at: at)
            guard !checked.problems.isEmpty else { continue }
            problems += checked.problems
            if let child = FluxKustomization(object), child.id != id { rejected.insert(child.id) }
        }
        children.removeAll { rejected.contains($0.id) }
        objects[id] = placed
        for (object, document) in zip(placed, placedDocuments) where Self.patchedFieldPaths[object.kind] != nil {
            let reference = WrittenObjects.reference(object, in: kustomization)
            let fields = patchedFields(of: object, build: build)
            if !fields.isEmpty { patched[reference] = fields }
            if let site = suspendLocation(of: object, document: document, build: build) { suspendLocations[reference] = site }
        }
        unsubstituted[id] = placedSources
        available += placed
        files[id] = Array(Set(reached)).sorted()
        sopsFiles[id] = Array(Set(encrypted)).sorted()
        builds[id] = .built
        return children
    }

    /// The SOPS files of a Kustomization that the keys of its decryption Secret cannot open
    /// (tester t11 F18). kustomize-controller's decryptor imports only the keys of the Secret
    /// `spec.decryption.secretRef` names (decryptor.ImportKeys: `*.agekey` entries as age
    /// identities, `*.asc` as PGP keys), so a file encrypted only for a PGP key while the Secret
    /// is `sops-age` fails "failed to get the data key required to decrypt the SOPS file", even
    /// though the run's keys (and the preflight) open it. `held` is what the pipeline puts in that
    /// Secret. A file with a KMS, Vault or other recipient is not judged (the controller may hold
    /// credentials for it); key-group thresholds are not weighed.
    func unopenedFiles(_ kustomization: FluxKustomization, secret: String, held: Set<String>, files: [String]) -> [Annotation] {
        // Each file's metadata read once (a read and a parse of the file).
        let unopenedFiles = files.compactMap { file in sopsMetadata(file).map { (file: file, metadata: $0) } }.filter { file in
            let other = file.metadata.allKeys.contains { if case .other = $0 { return true } else { return false } }
            // A file no key of the run opens is the preflight's ("Not encrypted for the imported
            // keys"); here only one another Secret of the pipeline opens.
            // (All the run's keys together: a file split over key groups may need keys from
            // two Secrets, which no one Secret holds; tester t14 F7.)
            let all = Set((keys?.held ?? [:]).values.flatMap { $0 })
            return !other && !DecryptionKeys.opens(held, file.metadata) && DecryptionKeys.opens(all, file.metadata)
        }
        guard let first = unopenedFiles.first?.file, let metadata = unopenedFiles.first?.metadata else { return [] }
        let unopened = unopenedFiles.map(\.file)
        let id = kustomization.id
        let recipients = metadata.allKeys.map(\.description)
        let fitting = (keys?.held ?? [:]).filter { name, keys in
            name != secret && unopenedFiles.allSatisfy { DecryptionKeys.opens(keys, $0.metadata) }
        }.keys.sorted()
        let listed = unopened.prefix(3).joined(separator: ", ") + (unopened.count > 3 ? " and \(unopened.count - 3) more" : "")
        return [.error(
            "The Kustomization \(id) decrypts with the Secret \(id.namespace)/\(secret), which holds \(held.sorted().map { String($0.prefix(16)) + "…" }.joined(separator: ", ")), but \(listed) \(unopened.count == 1 ? "is" : "are") \(metadata.keyGroups.count > 1 ? "split over \(metadata.keyGroups.count) key groups, \(metadata.shamirThreshold.flatMap { $0 > 0 ? $0 : nil } ?? metadata.keyGroups.count) of which must be opened (sops' shamir_threshold), more than \(held.count == 1 ? "that key opens" : "those keys open")" : "not encrypted for \(held.count == 1 ? "that key" : "any of those keys")") (\(first): \(recipients.prefix(3).joined(separator: ", "))\(recipients.count > 3 ? ", …" : "")): kustomize-controller decrypts only with the Secret's keys, fails (\"failed to get the data key required to decrypt the SOPS file\"), and \(id) never becomes Ready.",
            title: "Not encrypted for the decryption Secret",
            fix: (fitting.isEmpty ? "" : "Set spec.decryption.secretRef.name to \(fitting.joined(separator: " or ")) (its keys open \(unopened.count == 1 ? "it" : "them")), or add ")
                + (fitting.isEmpty ? "Add " : "")
                + "the key of \(secret) to the files' creation rule in .sops.yaml and run `sops updatekeys` on \(unopened.count == 1 ? first : "each file").",
            at: location(kustomization, ["spec", "decryption", "secretRef", "name"]))]
    }

    /// The sops metadata of a repository file, nil when it holds none.
    func sopsMetadata(_ file: String) -> Metadata? {
        guard let data = FileManager.default.contents(atPath: artifact.root.appendingPathComponent(file).path) else { return nil }
        return (try? StoredSOPSFile(bytes: data, path: file))?.metadata
    }

    // MARK: postBuild variables

    /// Every place the repository files `files` (each once, in the order given) read `${name}`.
    func variableUses(_ name: String, files: [String]) -> [SourceLocation] {
        var seen: Set<String> = []
        var uses: [SourceLocation] = []
        for file in files where seen.insert(file).inserted {
            guard let data = FileManager.default.contents(atPath: artifact.root.appendingPathComponent(file).path) else { continue }
            uses += PostBuild.uses(of: name, in: String(decoding: data, as: UTF8.self)).map { SourceLocation(file: file, line: $0) }
        }
        return uses
    }

    /// The first place the repository files `files` (each once, in the order given) write the
    /// unescaped `${…}` `expression`.
    func expressionSite(_ expression: String, files: [String]) -> SourceLocation? {
        var seen: Set<String> = []
        for file in files where seen.insert(file).inserted {
            guard let data = FileManager.default.contents(atPath: artifact.root.appendingPathComponent(file).path) else { continue }
            if let line = PostBuild.lines(of: expression, in: String(decoding: data, as: UTF8.self)).first { return SourceLocation(file: file, line: line) }
        }
        return nil
    }

    struct Variables {
        var values: [String: String] = [:]
        /// Names whose values sit in an encrypted Secret that could not be decrypted.
        var locked: Set<String> = []
        /// Why those Secrets did not decrypt with the keys given (empty: no key was given).
        var lockedWhy: [DecryptFailure] = []
        /// Names whose value (the one that wins) a Secret gives: never quoted once substituted.
        var fromSecret: Set<String> = []
        /// Why Flux would fail the build (a source that does not exist).
        var failure: String?
        /// Sources fluxci did not find that a Kustomization it did not build may create
        /// (`ConfigMap apps/vars`): the variables they give are unknown, not unset.
        var openSources: [String] = []
        /// Where each name is defined: the key of a substituteFrom object's data, or of
        /// spec.postBuild.substitute (the last definition, the one that wins).
        var sites: [String: Site] = [:]

        struct Site {
            var location: SourceLocation
            /// `the data of ConfigMap flux-system/vars (clusters/c/vars.yaml:7)`.
            var place: String
            var fromSource: Bool
        }
    }

    /// The variables of `spec.postBuild`; nil while a non-optional source is not built yet
    /// (unless `final`, when its absence is reported).
    /// `own` is the Kustomization's own build, for saying that it creates a source itself;
    /// `possible` what the Kustomizations found so far apply, for naming an unbuilt one (sourced
    /// elsewhere) that may create a missing source.
    mutating func variables(for kustomization: FluxKustomization, final: Bool, own: KustomizationBuild.Output? = nil, possible: AppliedObjects? = nil) -> Variables? {
        var result = Variables()
        let references = kustomization.object.json["spec", "postBuild", "substituteFrom"]?.array ?? []
        for (index, reference) in references.enumerated() {
            let kind = reference["kind"]?.string ?? ""
            let name = reference["name"]?.string ?? ""
            let optional = reference["optional"]?.bool ?? false
            guard let object = available.last(where: { $0.kind == kind && $0.name == name && $0.namespace == kustomization.id.namespace && $0.apiVersion == "v1" }) else {
                if optional { continue }
                guard final else { return nil }
                let names = available.filter { $0.kind == kind && $0.namespace == kustomization.id.namespace }.map(\.name)
                // A generator's object carries kustomize's content hash (`-` and 10 characters)
                // unless disableNameSuffixHash is set: its name then never matches (tester t3 F26, f33).
                let hashed = names.first { $0.count == name.count + 11 && $0.hasPrefix(name + "-") && $0.suffix(10).allSatisfy { $0.isLowercase || $0.isNumber } }
                let hint = hashed.map {
                    " A generator makes \($0): kustomize appends a hash of the content to generated names; set generatorOptions.disableNameSuffixHash: true (or options.disableNameSuffixHash on the generator) to keep the name \(name)."
                } ?? ClusterTreeReader.nearest(name, in: names).map { " Did you mean \($0)?" } ?? ""
                let notFound = "kustomize-controller fails the build (\"substitute from '\(kind)/\(name)' error: not found\")"
                let subject = "The Kustomization \(kustomization.id) substitutes from \(kind) \(kustomization.id.namespace)/\(name)"
                // Every reference that fails is reported (tester t5 F: after fixing the first,
                // the user would meet the next); the first names the failure.
                func fail(_ message: String, title: String, fix: String, failure: String) {
                    problems.append(.error(
                        "\(subject), \(message)", title: title, fix: fix,
                        at: location(kustomization, ["spec", "postBuild", "substituteFrom", .index(index), "name"])))
                    if result.failure == nil { result.failure = failure }
                }
                // Its own build creates it: it does not exist yet when the substitution of that
                // build runs (kustomize-controller substitutes before it applies).
                if let own, own.documents.contains(where: { $0.object["kind"]?.string == kind && $0.object["metadata", "name"]?.string == name && ($0.object["metadata", "namespace"]?.string ?? kustomization.id.namespace) == kustomization.id.namespace }) {
                    fail(
                        "which is created by this same Kustomization, so it does not exist when its substitution runs: \(notFound) at the first reconcile.",
                        title: "substituteFrom created by itself", fix: "Create the \(kind) in a Kustomization this one dependsOn, or mark the reference optional: true.",
                        failure: "substituteFrom \(kind)/\(name) is created by the same Kustomization")
                    continue
                }
                // A Kustomization fluxci does not build (sourced elsewhere: a tenant's
                // GitRepository, an OCIRepository) that may write in the namespace and does not
                // wait for this one may create it (tester t11 F12, F25): a warning naming it, as
                // for the other references; the variables it gives are unknown, not unset.
                if let possible, !possible.unknown(for: kustomization.id, in: kustomization.id.namespace).isEmpty {
                    problems.append(.warning(
                        "\(subject), which no Kustomization fluxci built creates\(KustomizationReferences.unlessUnbuilt(possible, for: kustomization.id, in: kustomization.id.namespace)); without it \(notFound).\(hint)",
                        title: "Unknown substituteFrom",
                        fix: "Make sure that Kustomization creates the \(kind) \(name) in \(kustomization.id.namespace) and that \(kustomization.id) dependsOn it, or mark the reference optional: true.",
                        at: location(kustomization, ["spec", "postBuild", "substituteFrom", .index(index), "name"])))
                    result.openSources.append("\(kind) \(kustomization.id.namespace)/\(name)")
                    continue
                }
                // A dependency of the branch's source that does not build may be what creates it:
                // say that, not "no one creates it".
                let unbuilt = kustomization.dependsOn.filter { dependency in
                    guard case .notBuilt? = builds[dependency] else { return false }
                    return !(possible?.unbuilt.contains(dependency) ?? false)
                }
                if !unbuilt.isEmpty {
                    fail(
                        "which no built Kustomization creates; \(unbuilt.map(\.description).joined(separator: ", ")), which it depends on, does not build (reported above), and may be what creates it.",
                        title: "substituteFrom not checked", fix: "Fix the build of \(unbuilt.map(\.description).joined(separator: ", ")) first.",
                        failure: "dependency \(unbuilt[0]) does not build")
                    continue
                }
                // The Kustomizations this one applies exist only once its build succeeded, which
                // it never does without the source (tester t9 F2, a child creator): fluxci does not
                // build them either, so it names them as the possible creator.
                let children = (own?.documents ?? []).filter { $0.object["kind"]?.string == "Kustomization" && ($0.object["apiVersion"]?.string ?? "").hasPrefix("kustomize.toolkit.fluxcd.io/") }
                    .compactMap { document in document.object["metadata", "name"]?.string.map { "\(document.object["metadata", "namespace"]?.string ?? kustomization.id.namespace)/\($0)" } }
                let applied = children.isEmpty ? "" : " It applies the Kustomization\(children.count == 1 ? "" : "s") \(children.joined(separator: ", ")) itself, which kustomize-controller creates only after this build succeeded: if \(children.count == 1 ? "it creates" : "one of them creates") the \(kind), \(kustomization.id) waits for its own child and neither ever becomes Ready (a dependsOn would not help)."
                fail(
                    "which no Kustomization of this cluster creates: \(notFound).\(applied)\(hint)",
                    title: "Unknown substituteFrom", fix: "Create the \(kind) in \(kustomization.id.namespace)\(children.isEmpty ? "" : " in this Kustomization's parent or one it depends on (never in a Kustomization it applies)"), correct the name, or mark the reference optional: true.",
                    failure: "substituteFrom \(kind)/\(name) not found")
                continue
            }
            var data: [(String, String)] = []
            if kind == "ConfigMap" {
                data = (object.json["data"]?.object ?? []).compactMap { pair in pair.value.string.map { (pair.key, $0) } }
            } else if object.json["sops"] != nil {
                // SOPS-encrypted in the repository: decrypted with the run's keys.
                var failure: DecryptFailure?
                if let decrypt, let file = object.file {
                    do {
                        let text = try decrypt(file)
                        if let decrypted = try? Manifest.objects(text).first(where: { $0.kind == "Secret" && (name.contains($0.name) || $0.name == name) }) {
                            data = Self.secretData(decrypted.json)
                        }
                    } catch let error as DecryptFailure {
                        failure = error
                    } catch {
                        failure = DecryptFailure(reason: "\(file) does not decrypt with the keys given: \(error)", fix: "Pass a key it is encrypted for (SOPS_AGE_KEY or SOPS_GPG_KEY).")
                    }
                }
                if data.isEmpty {
                    for key in Self.secretKeys(object.json) { result.locked.insert(key) }
                    // Why (tester t9 F12): no key at all, or the keys given do not open it.
                    if let failure, !result.lockedWhy.contains(where: { $0.reason == failure.reason }) { result.lockedWhy.append(failure) }
                }
            } else {
                data = Self.secretData(object.json)
            }
            for (key, value) in data {
                let substituted = value.replacingOccurrences(of: "\n", with: "")
                result.values[key] = substituted
                if kind == "Secret" {
                    result.fromSecret.insert(key)
                    secretValues.formUnion([value, substituted])
                } else {
                    result.fromSecret.remove(key)
                }
            }
            if let file = object.file {
                for key in Self.secretKeys(object.json) {
                    let field: [Origins.FieldKey] = object.json["data", key] != nil ? ["data", .key(key)] : ["stringData", .key(key)]
                    let location = fieldSites.location(of: object, field) ?? SourceLocation(file: file, line: object.line)
                    result.sites[key] = .init(location: location, place: "the data of \(kind) \(kustomization.id.namespace)/\(name), \(location)", fromSource: true)
                }
            }
        }
        for (key, value) in kustomization.object.json["spec", "postBuild", "substitute"]?.object ?? [] {
            result.values[key] = (value.string ?? value.jsonText).replacingOccurrences(of: "\n", with: "")
            result.fromSecret.remove(key)
            if let location = location(kustomization, ["spec", "postBuild", "substitute", .key(key)]) {
                result.sites[key] = .init(location: location, place: "spec.postBuild.substitute, \(location)", fromSource: false)
            }
        }
        return result
    }

    /// A Secret's values as the API server holds them: `data` decoded, `stringData` over it.
    static func secretData(_ secret: JSONValue) -> [(String, String)] {
        var values: [(String, String)] = (secret["data"]?.object ?? []).compactMap { pair in
            pair.value.string.flatMap { Data(base64Encoded: $0) }.map { (pair.key, String(decoding: $0, as: UTF8.self)) }
        }
        for pair in secret["stringData"]?.object ?? [] {
            guard let value = pair.value.string else { continue }
            values.removeAll { $0.0 == pair.key }
            values.append((pair.key, value))
        }
        return values
    }

    static func secretKeys(_ secret: JSONValue) -> [String] {
        ((secret["data"]?.object ?? []) + (secret["stringData"]?.object ?? [])).map(\.key)
    }

    // MARK: Problems

    func describe(_ failure: KustomizationBuild.Failure, path: String) -> String {
        switch failure {
        case .notADirectory: "\(path) is a file, not a directory"
        case .symbolicLink: "\(path) is a symbolic link, which source-controller leaves out of the artifact"
        // `path` as written (`./apps/x`): the artifact's files are looked up by the path the build used.
        case .missing(let ignored): ignored ? absence(of: FluxKustomization.heldAtRoot(FluxKustomization.normalize(path))) : "\(path) does not exist"
        case .build(let message), .timedOut(let message): message
        case .aliasBomb(let bomb):
            "\(bomb.file):\(bomb.line) expands through YAML aliases to \(AliasExpansion.count(bomb.nodes)) nodes in one document (an alias bomb; fluxci's bound is \(AliasExpansion.count(Manifest.maximumNodes)) per document), and kustomize inflates every alias it reads without a bound (kyaml DeAnchor)"
        case .missingReference(let missing):
            missing.fromSpec || !artifact.written.contains(missing.declaredIn)
                ? "its spec.\(missing.field) names \(missing.reference), but \(absence(of: missing.path))"
                : "\(missing.declaredIn)\(missing.line.map { ":\($0)" } ?? "") names \(missing.reference) in \(missing.field), but \(absence(of: missing.path))"
        }
    }

    /// Why a path the build names is not in the artifact.
    func absence(of path: String) -> String {
        if artifact.symbolicLinks.contains(path) { return "\(path) is a symbolic link, which source-controller leaves out of the artifact" }
        if let excluded = artifact.exclusion(of: artifact.written.contains(path) ? path : artifact.written.sorted().first { $0.hasPrefix(path + "/") } ?? path, ignore: rootIgnore) {
            return "\(path) is left out of the artifact by \(excluded.rule)"
        }
        if artifact.written.contains(path) || artifact.written.contains(where: { $0.hasPrefix(path + "/") }) {
            return "\(path) is left out of the artifact by .sourceignore or spec.ignore"
        }
        return "\(path) does not exist at \(artifact.revisionDescription)"
    }

    func lockedFile(_ file: String, reachedBy id: Reference, at location: SourceLocation?) -> Annotation {
        .error(
            "\(file) is locked by git-crypt (it starts with \\0GITCRYPT\\0), and the build of \(id) reads it: Flux would read the encrypted bytes. git-crypt keeps every commit's copy encrypted (`git-crypt unlock` decrypts only the checkout), and source-controller fetches the commit, so Flux always gets these bytes.",
            title: "Locked file (git-crypt)", fix: "Keep git-crypt files out of what the Kustomization builds (.sourceignore or another path), and encrypt what Flux must read with SOPS instead.",
            at: location ?? SourceLocation(file: file))
    }

    /// The entry of the Kustomization's own `spec.<field>` list that names the missing path (a
    /// component, a patch file), so the problem sits on that entry's line; [] when none does.
    func specEntry(_ kustomization: FluxKustomization, _ missing: KustomizationBuild.MissingReference) -> [Origins.FieldKey] {
        let entries = kustomization.object.json["spec", missing.field]?.array ?? []
        return entries.firstIndex { ($0.string ?? $0["path"]?.string) == missing.reference }.map { [.index($0)] } ?? []
    }

    mutating func buildFailed(_ kustomization: FluxKustomization, _ failure: KustomizationBuild.Failure, files: Set<String>) {
        let id = kustomization.id
        if case .build(let message) = failure, duplicateDefinitions(kustomization, message: message, files: files) { return }
        if case .build(let message) = failure,
            let locked = artifact.locked.sorted().first(where: { message.contains($0) || (kustomization.path.isEmpty || $0.hasPrefix(kustomization.path + "/")) && message.contains(($0 as NSString).lastPathComponent) })
        {
            problems.append(lockedFile(locked, reachedBy: id, at: SourceLocation(file: locked)))
            builds[id] = .notBuilt("\(locked) is locked by git-crypt")
            return
        }
        switch failure {
        case .aliasBomb(let bomb):
            // One problem per bomb, however many Kustomizations read it (the others are named in
            // it at the end of the walk, and reported as not built).
            let site = "\(bomb.file):\(bomb.line)"
            builds[id] = .notBuilt("\(site) is a YAML alias bomb")
            guard bombReaders[site] == nil else {
                bombReaders[site]?.append(id)
                return
            }
            bombReaders[site] = [id]
            problems.append(.error(
                "\(describe(failure, path: kustomization.writtenPath)): neither `\(tool.description)` nor kustomize-controller (the same kustomize, in-process, with no deadline on a build) finishes the build of \(id), so it applies nothing and never becomes Ready. fluxci did not run kustomize on it.",
                title: "YAML alias bomb",
                fix: "Write the values out, or alias fewer nested anchors, so that the document expands to at most \(AliasExpansion.count(Manifest.maximumNodes)) nodes (anchors that repeat a value a few times are fine).",
                at: SourceLocation(file: bomb.file, line: bomb.line)))
        case .timedOut(let message):
            problems.append(.error(
                "The Kustomization \(id) does not build here: \(message). Something it reads keeps kustomize working (a generator or a YAML expansion fluxci does not recognise); kustomize-controller builds with the same kustomize, in-process and with no deadline on a build, so it would not finish either.",
                title: "Kustomize build timed out",
                fix: "Run `\(tool.description) \(kustomization.path.isEmpty ? "." : kustomization.path)` on a checkout to see what it spends its time on, and remove that from what \(id) builds.",
                at: location(kustomization, ["spec", "path"])))
            builds[id] = .notBuilt("kustomize build timed out")
        case .missingReference(let missing):
            // kustomize stops on the first entry naming nothing: the problem is that entry's line.
            problems.append(.error(
                "The Kustomization \(id) does not build: \(describe(failure, path: kustomization.writtenPath)). kustomize-controller fails the build (BuildFailed).",
                title: "Kustomize build failed",
                fix: artifact.written.contains(missing.path)
                    ? "Correct the \(missing.field) entry, or keep \(missing.path) in the artifact: \(artifact.exclusion(of: missing.path, ignore: rootIgnore)?.fix ?? "change the ignore rule that leaves it out")."
                    : "Correct the \(missing.field) entry, or add \(missing.path) to the repository.",
                at: missing.fromSpec || !artifact.written.contains(missing.declaredIn)
                    ? location(kustomization, ["spec", .key(missing.field)] + specEntry(kustomization, missing)) : SourceLocation(file: missing.declaredIn, line: missing.line)))
            builds[id] = .notBuilt("\(missing.path) not found")
        case .build(let message) where Self.isRemoteFetchFailure(message) && noRemoteBases:
            // Refused by kustomize-controller whatever this machine can fetch (its flag).
            let remote = remoteResource(in: files.filter { KustomizationGenerator.isKustomizationFile($0) && (kustomization.path.isEmpty || $0.hasPrefix(kustomization.path + "/")) }.sorted())
            problems.append(.error(
                "The Kustomization \(id) reaches a remote resource\(remote.map { " (\($0.reference))" } ?? ""), and kustomize-controller runs with --no-remote-bases=true: it builds from the source artifact only, so the build fails and \(id) never becomes Ready.",
                title: "Remote resource refused",
                fix: "Vendor the resource into the repository (or give it a source of its own), or remove kustomize-controller's no-remote-bases argument.",
                at: remote.map { SourceLocation(file: $0.file, line: $0.line) } ?? location(kustomization, ["spec", "path"])))
            builds[id] = .notBuilt("remote resource refused (--no-remote-bases)")
        case .build(let message) where Self.isRemoteFetchFailure(message):
            // kustomize-controller fetches remote bases from inside the cluster, with its own
            // network and none of this machine's git configuration (`--no-remote-bases` is false
            // in the stock components): a fetch that fails here says nothing about Flux's build.
            problems.append(.warning(
                "The Kustomization \(id) reaches a remote resource that this machine could not fetch, so fluxci could not build it: \(message)",
                title: "Remote resource not fetched", fix: "Give this runner network access to the remote, or vendor the resource into the repository; kustomize-controller fetches it from the cluster.",
                at: location(kustomization, ["spec", "path"])))
            builds[id] = .notBuilt("remote resource not fetched here")
        case .build(let message) where patchFailure(kustomization, message: message, files: files) != nil:
            // At the patch entry kustomize failed on (PatchFailures).
            problems.append(patchFailure(kustomization, message: message, files: files)!)
            builds[id] = .notBuilt("a patch does not apply")
        case .build(let message):
            let links = artifact.symbolicLinks.sorted().filter { message.contains($0) || message.contains(($0 as NSString).lastPathComponent) }
            // A file source-controller's defaults would leave out (.github/, *.png, …) is in the
            // artifact when the repository has a .sourceignore or spec.ignore: those replace the
            // defaults (storage.SourceIgnoreFilter), so kustomize-controller reads it too.
            let undefaulted = artifact.written.sorted().compactMap { file in
                message.contains(file) ? artifact.defaultExclusion(of: file).map { (file, $0) } : nil
            }.first
            let undefaultedHint = undefaulted.map { " (\($0.0) is in the artifact: source-controller's default exclusion `\($0.1)` applies only to a repository without .sourceignore and spec.ignore, and this one has patterns of its own, which replace the defaults; add `\($0.1)` to its .sourceignore)" } ?? ""
            // At the file (and line) kustomize's message leads to, or at the Flux field the error
            // comes from; the command shown only when it reproduces the error (BuildFailureSite).
            let site = failureSite(kustomization, message: message, files: files)
            let how = reproduction(kustomization, message: message, files: files)
            let detail = site?.fluxMessage.map { "kustomize-controller fails with \"\($0)\"" } ?? Self.panicHead(message)
            problems.append(.error(
                "The Kustomization \(id) does not build\(how.text): \(site.map { "\($0.what); " } ?? "")\(detail)\(links.isEmpty ? "" : " (\(links.joined(separator: ", ")) is a symbolic link, which source-controller leaves out of the artifact)")\(undefaultedHint)",
                title: "Kustomize build failed", fix: how.field != nil ? how.fix : site?.fix ?? "Fix what kustomize names; kustomize-controller fails the same build.",
                at: how.field.map { location(kustomization, $0) } ?? site?.location ?? location(kustomization, ["spec", "path"])))
            builds[id] = .notBuilt("kustomize build failed")
        default:
            // A path in a submodule or an include: content source-controller adds or leaves out.
            if let (problem, reason) = sourceContent.problem(for: kustomization, at: location(kustomization, ["spec", "path"])) {
                problems.append(problem)
                builds[id] = .notBuilt(reason)
                return
            }
            // The folder itself is in the artifact, empty (its files ignored, or only symbolic
            // links): Flux builds nothing and is Ready, applying nothing (tester t14 F8).
            if case .missing = failure, artifact.keepsEmptyFolder(kustomization.path, ignore: rootIgnore) {
                let links = artifact.symbolicLinks.filter { $0.hasPrefix(kustomization.path + "/") }.sorted()
                let why = artifact.written.contains(where: { $0.hasPrefix(kustomization.path + "/") })
                    ? absence(of: kustomization.path).replacingOccurrences(of: "\(kustomization.path) is ", with: "its content is ")
                    : "its only entries are symbolic links (\(links.prefix(3).joined(separator: ", "))), which source-controller leaves out"
                problems.append(.warning(
                    "The Kustomization \(id) has spec.path \(kustomization.writtenPath), which holds nothing source-controller puts into the artifact (\(why)): kustomize-controller finds the empty folder, builds nothing and becomes Ready applying nothing (and prunes what it applied before).",
                    title: "Kustomization applies nothing",
                    fix: "Keep the folder's manifests in the artifact (regular files, not ignored), or remove the Kustomization.",
                    at: location(kustomization, ["spec", "path"])))
                builds[id] = .notBuilt("its folder is empty in the artifact")
                return
            }
            // The folder's files may all be in git and left out of the artifact: `describe` names
            // the rule (or, for nothing under the path, says the revision itself).
            let excluded: Bool = if case .missing(true) = failure { true } else { false }
            let what = describe(failure, path: kustomization.writtenPath)
            problems.append(.error(
                "The Kustomization \(id) has spec.path \(kustomization.writtenPath), but \(what)\(excluded ? "" : " at \(artifact.revisionDescription)").",
                title: "Kustomization path not found",
                fix: excluded
                    ? "Keep the folder's files in the artifact (change the ignore rule named), or point spec.path at another folder."
                    : "Point spec.path at a folder of the repository (relative to its root), or create it.",
                at: location(kustomization, ["spec", "path"])))
            builds[id] = .notBuilt(what)
        }
    }

    /// A build kustomize refused because two documents it reads have one id (issue 13 item 20,
    /// and item 24 for a Kustomization defined twice in the cluster's folder): one error, at the
    /// `metadata.name` line of the definition kustomize refuses, naming every definition, with
    /// kustomize's sentence, not its accumulation context. False when the definitions cannot be found (the message is then reported as
    /// kustomize gave it).
    mutating func duplicateDefinitions(_ kustomization: FluxKustomization, message: String, files: Set<String>) -> Bool {
        guard let refusal = RegisteredIds.refusal(in: message) else { return false }
        let components = (kustomization.object.json["spec", "components"]?.array ?? []).compactMap(\.string)
        let definitions = RegisteredIds.definitions(of: refusal.id, building: kustomization.path, extraComponents: components, files: files, origins: origins)
        guard definitions.count >= 2 else { return false }
        let id = kustomization.id
        let listed = definitions.map { definition in definition.line.map { "\(definition.file):\($0)" } ?? definition.file }
        let what = id == rootID ? "nothing of it, and so nothing of the cluster" : "nothing of it"
        // One fault, one problem (tester t8 F2): at the definition kustomize refuses, the second
        // it reads (definitions come in kustomize's reading order), naming every one.
        let refused = definitions[1]
        problems.append(.error(
            "\(refusal.id.description) is defined \(definitions.count) times in what the Kustomization \(id) builds (\(listed.joined(separator: " and "))): kustomize refuses the second, \(listed[1]) (\"\(refusal.sentence)\"), so kustomize-controller fails the build of \(id) (BuildFailed) and applies \(what).",
            title: "Kustomize build failed",
            fix: "Keep one definition of \(refusal.id.description): remove the other\(definitions.count > 2 ? "s" : ""), or give each its own name or namespace; to change an object a base defines, patch it instead.",
            at: SourceLocation(file: refused.file, line: refused.line)))
        builds[id] = .notBuilt("\(refusal.id.description) defined twice")
        return true
    }

    /// Whether kustomize failed fetching a remote resource (git or HTTP), not on the repository.
    /// The first `resources`/`components` entry of `files` that kustomize fetches (a URL, a
    /// `github.com/…` or `git@…` address), with its line.
    func remoteResource(in files: [String]) -> (file: String, line: Int?, reference: String)? {
        for file in files {
            guard let node = origins.documents(file).first?.node else { continue }
            for key in ["resources", "components", "bases"] {
                for entry in node[key]?.sequence ?? [] {
                    guard let text = entry.string else { continue }
                    if text.contains("://") || text.hasPrefix("github.com/") || text.hasPrefix("git@") || text.hasPrefix("gitlab.com/") {
                        return (file, entry.mark?.line, text)
                    }
                }
            }
        }
        return nil
    }

    static func isRemoteFetchFailure(_ message: String) -> Bool {
        let fetching = ["git fetch", "git clone", "failed to run '", "git cmd", "unable to fetch", "HTTP request"]
        let network = ["dial tcp", "no such host", "Could not resolve host", "connection refused", "i/o timeout", "TLS handshake", "does not appear to be a git repository", "Could not read from remote repository", "timed out", "network is unreachable"]
        return fetching.contains(where: message.contains) && network.contains(where: message.contains)
            || message.contains("dial tcp") && message.contains("http")
    }

    // MARK: Checks of the whole tree

    mutating func check(_ kustomizations: [FluxKustomization], decryptionSecrets: Set<String>, secretsNamespace: String) {
        let known = Set(kustomizations.map(\.id))
        let suspended = Set(kustomizations.filter(\.suspended).map(\.id))
        let neverApplied = Set(kustomizations.filter(\.applyDisabled).map(\.id))
        let sources = Set(available.filter { $0.apiVersion.hasPrefix(FluxKustomization.sourceGroup + "/") }.map { "\($0.kind)/\($0.namespace ?? "flux-system")/\($0.name)" })
        let applied = AppliedObjects(objects, kustomizations: kustomizations)
        for kustomization in kustomizations {
            let id = kustomization.id
            for (index, dependency) in kustomization.dependsOn.enumerated() {
                if !known.contains(dependency) {
                    // One of that name in another namespace is what was meant, however far apart
                    // the namespaces are spelt (tester t3 F26, f40).
                    // Never the Kustomization itself (a dependsOn on itself never resolves; t11 F23).
                    let others = known.filter { $0 != id }
                    let sameName = others.filter { $0.name == dependency.name }.map(\.description).sorted()
                    let hint = (sameName.first ?? ClusterTreeReader.nearest(dependency.description, in: others.map(\.description))).map { " Did you mean \($0)?" } ?? ""
                    let written = kustomization.object.json["spec", "dependsOn"]?.array?[index]["namespace"]?.string != nil
                    // Defined inside what a Kustomization fluxci did not build applies (another
                    // source's artifact, tester t9 F6): not known here, so a warning that names them.
                    problems.append(Annotation(
                        applied.unknown(for: id, in: dependency.namespace).isEmpty ? .error : .warning,
                        "The Kustomization \(id) depends on \(dependency), which no Kustomization of this cluster defines\(KustomizationReferences.unlessUnbuilt(applied, for: id, in: dependency.namespace, defines: true)): Flux keeps \(id) waiting (DependencyNotReady).\(hint)",
                        title: "Unknown dependency",
                        fix: sameName.first.map { other in
                            "\(written ? "Correct" : "Add") the entry's namespace: \(other.split(separator: "/")[0])\(written ? "" : " (an entry without one is in \(id.namespace), the Kustomization's own)"), or define \(dependency)."
                        } ?? "Correct spec.dependsOn (a missing namespace is \(id.namespace)), or define \(dependency).",
                        at: location(kustomization, ["spec", "dependsOn", .index(index)])))
                } else if neverApplied.contains(dependency) {
                    problems.append(.error(
                        "The Kustomization \(id) depends on \(dependency), which its parent never applies (it is marked kustomize.toolkit.fluxcd.io/reconcile: disabled): on a fresh cluster it does not exist, so \(id) waits forever.",
                        title: "Depends on a Kustomization never applied", fix: "Remove the annotation from \(dependency), or drop the dependency.",
                        at: location(kustomization, ["spec", "dependsOn", .index(index)])))
                } else if suspended.contains(dependency) {
                    problems.append(.error(
                        "The Kustomization \(id) depends on \(dependency), which is suspended: Flux never reconciles it, so \(id) waits forever.",
                        title: "Depends on a suspended Kustomization", fix: "Resume \(dependency) (remove spec.suspend), or drop the dependency.",
                        at: location(kustomization, ["spec", "dependsOn", .index(index)])))
                }
            }
            for field in ["patchesStrategicMerge", "patchesJson6902"] where kustomization.object.json["spec", field] != nil {
                problems.append(.warning(
                    "The Kustomization \(id) sets spec.\(field), which the Kustomization v1 API does not have: the API server stores Kustomizations as v1 and prunes the field, so kustomize-controller never applies these patches.",
                    title: "Field pruned by the API server", fix: "Move the patches to spec.patches (each entry: patch, and target).",
                    at: location(kustomization, ["spec", .key(field)])))
            }
            if kustomization.climbsAboveRoot {
                problems.append(.warning(
                    "The Kustomization \(id) has spec.path \(kustomization.writtenPath), which climbs above the source's root: kustomize-controller holds it at the root (securejoin), so it builds ./\(kustomization.path).",
                    title: "Path above the repository's root", fix: "Write the path from the repository's root: ./\(kustomization.path).",
                    at: location(kustomization, ["spec", "path"])))
            }
            if kustomization.applyDisabled {
                problems.append(.warning(
                    "The Kustomization \(id) is marked not to be applied (kustomize.toolkit.fluxcd.io/reconcile: disabled, or ssa: ignore): kustomize-controller skips it when it applies its parent, so on a fresh cluster it is never created, and fluxci neither builds it nor waits for it.",
                    title: "Kustomization never applied", fix: "Remove the annotation to have it applied.", at: location(kustomization)))
            }
            if kustomization.suspended {
                problems.append(.warning(
                    "The Kustomization \(id) is suspended (spec.suspend: true): Flux never reconciles it, and nothing it defines is applied.",
                    title: "Suspended Kustomization", fix: "Remove spec.suspend to have it applied.", at: location(kustomization, ["spec", "suspend"])))
            }
            // A suspended source is never fetched on a new cluster (source-controller skips it):
            // what takes its artifact from it never becomes Ready (tester t15 F3).
            if !kustomization.suspended, let source = available.first(where: {
                $0.kind == kustomization.source.kind && $0.apiVersion.hasPrefix(FluxKustomization.sourceGroup + "/")
                    && ($0.namespace ?? "flux-system") == kustomization.source.namespace && $0.name == kustomization.source.name
            }), source.json["spec", "suspend"]?.bool == true {
                problems.append(.error(
                    "The Kustomization \(id) takes its source from \(kustomization.source), which is suspended (spec.suspend: true): source-controller never fetches it, so on a fresh cluster it has no artifact and \(id) never becomes Ready.",
                    title: "Source suspended", fix: "Remove spec.suspend from \(kustomization.source)\(source.file.map { " (\($0))" } ?? ""), or suspend \(id) too.",
                    at: location(kustomization, ["spec", "sourceRef"])))
            }
            if ["GitRepository", "OCIRepository", "Bucket"].contains(kustomization.source.kind), !sources.contains(kustomization.source.description) {
                let candidates = sources.filter { $0.hasPrefix(kustomization.source.kind + "/") }.map { String($0.dropFirst(kustomization.source.kind.count + 1)) }
                // A source of that name in another namespace is what was meant, however far apart the namespaces are spelt.
                let sameName = candidates.filter { $0.hasSuffix("/" + kustomization.source.name) }.sorted()
                let hint = (sameName.first ?? ClusterTreeReader.nearest("\(kustomization.source.namespace)/\(kustomization.source.name)", in: candidates)).map { " Did you mean \($0)?" } ?? ""
                // At the field to change (item 24): a source of that name elsewhere makes the
                // namespace the problem, at its `namespace:` line when written, else at the
                // `sourceRef:` line (kustomize-controller took the Kustomization's own); no source
                // of that name anywhere makes it the `name:` line.
                let namedElsewhere = !sameName.isEmpty
                let writtenNamespace = kustomization.object.json["spec", "sourceRef", "namespace"]?.string != nil
                // (An unwritten namespace's line is its parent's key, `sourceRef:`.)
                let at = location(kustomization, ["spec", "sourceRef", namedElsewhere ? "namespace" : "name"])
                problems.append(.error(
                    "The Kustomization \(id) takes its source from \(kustomization.source), which no object of this cluster defines\(writtenNamespace ? "" : " (a sourceRef without a namespace is in the Kustomization's own, \(id.namespace))"): it never becomes Ready.\(hint)",
                    title: "Unknown source",
                    fix: namedElsewhere
                        ? (writtenNamespace ? "Correct spec.sourceRef.namespace." : "Set spec.sourceRef.namespace to the source's namespace.")
                        : "Correct spec.sourceRef.name (or define the \(kustomization.source.kind) it names).",
                    at: at))
            }
            if blocksCrossNamespace.kustomize, kustomization.source.namespace != id.namespace, !kustomization.suspended {
                // kustomize-controller `getSource` with NoCrossNamespaceRefs: an
                // acl.AccessDeniedError before the source is even looked up (its dependsOn are
                // not checked so: `checkDependencies` reads any namespace).
                problems.append(.error(
                    "The Kustomization \(id) takes its source from \(kustomization.source), in another namespace, and kustomize-controller runs with --no-cross-namespace-refs=true (patched into the flux-system components): it refuses the reference (\"can't access '\(kustomization.source.kind)/\(kustomization.source.namespace)/\(kustomization.source.name)', cross-namespace references have been blocked\", reason AccessDenied), so \(id) never applies anything and never becomes Ready.",
                    title: "Cross-namespace reference blocked",
                    fix: "Define a \(kustomization.source.kind) in \(id.namespace) (the tenant's own source) and reference it without a namespace, or remove the `no-cross-namespace-refs` argument from the flux-system patches.",
                    at: location(kustomization, ["spec", "sourceRef", "namespace"])))
            }
            let encrypted = sopsFiles[id] ?? []
            if let secret = kustomization.decryptionSecret, !decryptionSecrets.isEmpty,
                !(decryptionSecrets.contains(secret) && id.namespace == secretsNamespace)
            {
                // kustomize-controller reads the Secret from the API server when it reconciles
                // (kustomization_controller.go, decryptor.ImportKeys: Get of secretRef.name in
                // the Kustomization's namespace), so one the repository creates counts as much
                // as one the pipeline creates, once it is applied before the Kustomization runs.
                let owned = applied.find("Secret", group: "", namespace: id.namespace, name: secret)
                let creators = owned.map(\.owner)
                let at = location(kustomization, ["spec", "decryption", "secretRef", "name"])
                let availability = applied.availability(of: creators, for: id, sameBuildIsOrdered: false)
                // The repository's Secret is what kustomize-controller imports keys from: its
                // SOPS files must open with those keys, not the run's (tester t14 F4).
                switch availability {
                case .ordered, .racing:
                    if let first = owned.first { problems += repositorySecretProblems(kustomization, secret: secret, owned: first, files: encrypted, at: at) }
                default: break
                }
                switch availability {
                case .ordered: break  // applied before the Kustomization first reconciles: kustomize-controller finds it
                case .racing(let other):
                    problems.append(.warning(
                        "The Kustomization \(id) decrypts with the Secret \(id.namespace)/\(secret), which the Kustomization \(other) creates, and \(id) does not depend on it (nor is it applied by it): on a fresh cluster \(id) can reconcile first and fail to decrypt (Secret \"\(secret)\" not found); it retries at its interval.",
                        title: "Decryption Secret created by another Kustomization",
                        fix: "Add `\(AppliedObjects.dependsOnText(other, from: id))` to the Kustomization \(id).",
                        at: at))
                case .deadlocked(let other):
                    problems.append(.error(
                        "The Kustomization \(id) decrypts with the Secret \(id.namespace)/\(secret), which only the Kustomization \(other) creates, \(applied.deadlock(other, needs: id)) (Secret \"\(secret)\" not found at every decryption).",
                        title: "Decryption Secret created by a dependent",
                        fix: "Create \(id.namespace)/\(secret) in the build of a Kustomization that applies \(id) or that \(id) depends on (a dependsOn on \(other) would be a cycle).",
                        at: at))
                case .itself:
                    problems.append(.error(
                        "The Kustomization \(id) decrypts with the Secret \(id.namespace)/\(secret), which only its own build creates: kustomize-controller reads the Secret before it builds, so on a fresh cluster the Secret is never there and \(id) never becomes Ready.",
                        title: "Decryption Secret created by itself",
                        fix: "Create \(id.namespace)/\(secret) in a Kustomization that applies \(id) or that \(id) depends on.",
                        at: at))
                case .missing:
                    let created = decryptionSecrets.sorted().map { "\(secretsNamespace)/\($0)" }.joined(separator: " and ")
                    let message = "The Kustomization \(id) decrypts with the Secret \(id.namespace)/\(secret) (kustomize-controller reads it from the Kustomization's namespace), but the pipeline creates \(created)\(keys == nil ? " when given keys (a plan without keys creates none)" : ""), and no Kustomization of this cluster creates \(id.namespace)/\(secret)\(KustomizationReferences.unlessUnbuilt(applied, for: id, in: id.namespace))."
                    var (cause, fix) = ("", id.namespace == secretsNamespace
                        ? "Pass --secret-names so that the pipeline creates \(secret), or set spec.decryption.secretRef.name to one of: \(decryptionSecrets.sorted().joined(separator: ", "))."
                        : "Create \(id.namespace)/\(secret) in the repository (a SOPS-encrypted Secret applied by a parent of \(id) or by a Kustomization it depends on), or move \(id) to \(secretsNamespace).")
                    if id.namespace == secretsNamespace, let keys {
                        // Which keys were given decides the fix (tester t9 F12): a Secret the
                        // pipeline would create but for a skipped key source is that source's
                        // problem, and renaming a Secret helps only when its keys open the files.
                        // --secret-names renames the Secret for every Kustomization of the
                        // namespace that names it: all their files count; secretRef.name
                        // changes this one: its own files count.
                        let sharing = kustomizations.filter { $0.id.namespace == id.namespace && $0.decryptionSecret == secret }
                        let all = Array(Set(sharing.flatMap { sopsFiles[$0.id] ?? [] })).sorted().compactMap(sopsMetadata)
                        let own = encrypted.compactMap(sopsMetadata)
                        func fitting(_ files: [Metadata]) -> [String] {
                            decryptionSecrets.filter { name in files.allSatisfy { DecryptionKeys.opens(keys.held[name] ?? [], $0) } }.sorted()
                        }
                        let renameFits = fitting(all), pointFits = fitting(own)
                        let recipients = Array(Set(all.flatMap { $0.allKeys.map(\.description) })).sorted()
                        if let skipped = keys.skipped[secret] {
                            cause = " " + skipped.why.prefix(1).uppercased() + skipped.why.dropFirst() + "."
                            fix = skipped.fix
                        } else if !all.isEmpty, renameFits.isEmpty {
                            cause = " The keys given (in \(decryptionSecrets.sorted().joined(separator: ", "))) are not among the recipients of the SOPS files decrypted with \(secret) (\(recipients.prefix(4).joined(separator: ", "))\(recipients.count > 4 ? ", …" : "")): renaming a Secret would give Flux a key no file is encrypted for."
                            let skipped = keys.skipped.values.sorted { $0.why < $1.why }
                            fix = "Pass the key the files are encrypted for (SOPS_AGE_KEY for an age1… recipient, SOPS_GPG_KEY for a PGP one): the pipeline then creates \(secret) from it."
                                + (skipped.isEmpty ? "" : " Skipped: " + skipped.map(\.why).joined(separator: "; ") + ": " + skipped.map(\.fix).joined(separator: " "))
                                + (!own.isEmpty && !pointFits.isEmpty ? " Or set spec.decryption.secretRef.name to \(pointFits.joined(separator: " or ")), whose keys open this Kustomization's SOPS files." : "")
                        } else if !all.isEmpty {
                            fix = "Pass --secret-names so that the pipeline creates \(secret) from the keys now in \(renameFits.joined(separator: " or ")) (they open every SOPS file decrypted with \(secret))"
                                + (own.isEmpty || pointFits.isEmpty ? "." : ", or set spec.decryption.secretRef.name to \(pointFits.count == 1 ? "" : "one of: ")\(pointFits.joined(separator: ", ")).")
                        }
                    }
                    // A Kustomization fluxci did not build may create it (tester t9 F6).
                    let unbuilt = applied.unknown(for: id, in: id.namespace)
                    problems.append(Annotation(unbuilt.isEmpty ? .error : .warning, message + cause, title: "Decryption Secret mismatch", fix: fix, at: at))
                    // Then its keys are not known: the preflight's line says so (tester t14 F4).
                    if !unbuilt.isEmpty {
                        for file in encrypted {
                            decryptionSecretOpeners[file] = "not with \(id.namespace)/\(secret), the Secret Flux decrypts it with, which fluxci could not check: no Kustomization it built creates it (\(unbuilt.prefix(3).map(\.description).joined(separator: ", ")) may)"
                        }
                    }
                }
            }
            if let secret = kustomization.decryptionSecret, id.namespace == secretsNamespace, let held = keys?.held[secret] {
                problems += unopenedFiles(kustomization, secret: secret, held: held, files: encrypted)
            }
            if !kustomization.decrypts, !encrypted.isEmpty {
                // kustomize-controller refuses only an object that still carries sops metadata
                // (decryptor.IsEncryptedSecret, at apply: "configuring decryption is required");
                // a generator reads an encrypted file as data, and that is applied as it is.
                let manifests = Set((objects[id] ?? []).filter { $0.json["sops", "mac"] != nil }.compactMap(\.file))
                // An encrypted patch (tester t12 F2) merges its ENC[…] values and sops metadata
                // into the object it patches, whose own file may be plain: the patch is named,
                // not that file, and it is no generator data.
                let reads = decryptorReads[id] ?? [:]
                let asPatches = encrypted.filter { file in reads[file]?.contains { $0.entry == .patch } == true }
                let sealed = encrypted.filter { file in
                    guard manifests.contains(file), !asPatches.contains(file) else { return false }
                    let data = FileManager.default.contents(atPath: artifact.root.appendingPathComponent(file).path) ?? Data()
                    return asPatches.isEmpty || SOPSFileFormat.encryptedStorage(of: data) != nil
                }
                let asManifests = sealed
                let asData = encrypted.filter { !manifests.contains($0) && !asPatches.contains($0) }
                func list(_ files: [String]) -> String { files.prefix(3).joined(separator: ", ") + (files.count > 3 ? ", …" : "") }
                var what: [String] = []
                if !asManifests.isEmpty {
                    what.append("SOPS-encrypted objects (\(list(asManifests))), which kustomize-controller refuses to apply (\"configuring decryption is required\")")
                }
                if !asPatches.isEmpty {
                    what.append("SOPS-encrypted patches (\(list(asPatches))), which kustomize-controller decrypts before the build only when spec.decryption is set: without it their ENC[…] values and sops metadata are merged into the objects they patch, which kustomize-controller then refuses to apply (\"configuring decryption is required\")")
                }
                if !asData.isEmpty {
                    what.append("SOPS-encrypted files as generator data (\(list(asData))), which kustomize-controller does not decrypt: it applies the ciphertext (ENC[…] values, sops_* keys) as the generated objects' data")
                }
                problems.append(.error(
                    "The Kustomization \(id) has no spec.decryption but reaches \(what.joined(separator: ", and ")).",
                    title: "No decryption", fix: "Add spec.decryption (provider: sops, secretRef.name: sops-age or sops-gpg).",
                    at: location(kustomization, ["spec", "path"])))
            }
            if kustomization.decrypts, kustomization.decryptionSecret == nil, !encrypted.isEmpty {
                // Without secretRef kustomize-controller's decryptor (internal/decryptor) has no
                // age identity and an empty PGP keyring: only a KMS, GCP KMS, Azure Key Vault or
                // Vault recipient can be opened, with credentials of the controller's own
                // (workload identity, environment). A file with age and PGP recipients only
                // fails ("0 successful groups required, got 0"), whatever the components, and one such
                // object fails the whole build.
                let cloudKinds = ["kms", "gcp_kms", "azure_kv", "hc_vault"]
                func cloud(_ sops: JSONValue?) -> Bool {
                    cloudKinds.contains { !(sops?[$0]?.array ?? []).isEmpty }
                        || (sops?["key_groups"]?.array ?? []).contains { group in cloudKinds.contains { !(group[$0]?.array ?? []).isEmpty } }
                }
                let sealed = (objects[id] ?? []).filter { $0.json["sops", "mac"] != nil }
                let keyless = sealed.filter { !cloud($0.json["sops"]) }
                if !keyless.isEmpty {
                    let files = Array(Set(keyless.compactMap(\.file))).sorted()
                    problems.append(.error(
                        "The Kustomization \(id) decrypts with provider sops but names no secretRef, and \(files.prefix(3).joined(separator: ", "))\(files.count > 3 ? ", …" : "") \(files.count == 1 ? "has" : "have") no KMS, GCP KMS, Azure Key Vault or Vault recipient (age or PGP only): without a Secret kustomize-controller has no age identity and no PGP key, so decryption fails and \(id) never becomes Ready.",
                        title: "Decryption without a Secret", fix: "Add spec.decryption.secretRef.name (sops-age or sops-gpg).",
                        at: location(kustomization, ["spec", "decryption"])))
                } else {
                    problems.append(.warning(
                        "The Kustomization \(id) decrypts with provider sops but names no secretRef: kustomize-controller decrypts only with keys it was started with (KMS, GCP KMS, Azure Key Vault or Vault credentials of its own), and the stock Flux components start with none.",
                        title: "Decryption without a Secret", fix: "Add spec.decryption.secretRef.name (sops-age or sops-gpg).",
                        at: location(kustomization, ["spec", "decryption"])))
                }
            }
        }
        if let cycle = ClusterTreeReader.findCycle(kustomizations), let first = kustomizations.first(where: { $0.id == cycle[0] }) {
            problems.append(.error(
                "The Kustomizations depend on each other in a cycle: \(cycle.map(\.description).joined(separator: " → ")) → \(cycle[0]).",
                title: "Dependency cycle", fix: "Remove one of the dependsOn entries; Flux would wait forever.", at: location(first, ["spec", "dependsOn"])))
        }
    }
}

extension ClusterTreeReader {
    /// Whether two git URLs name the same repository: scheme, `user@`, a trailing `/` or `.git`
    /// and the host's case aside (`https://github.com/acme/fleet`,
    /// `ssh://git@github.com/acme/fleet.git`, `git@github.com:acme/fleet`).
    static func sameRepository(_ a: String, _ b: String) -> Bool {
        func key(_ url: String) -> String? {
            var text = url.trimmingCharacters(in: .whitespaces)
            if let scheme = text.range(of: "://") { text = String(text[scheme.upperBound...]) } else if let colon = text.firstIndex(of: ":"), !text[..<colon].contains("/") {
                text = text[..<colon] + "/" + text[text.index(after: colon)...]  // scp-like git@host:path
            }
            if let at = text.firstIndex(of: "@"), !text[..<at].contains("/") { text = String(text[text.index(after: at)...]) }
            while text.hasSuffix("/") { text.removeLast() }
            if text.hasSuffix(".git") { text.removeLast(4) }
            guard let slash = text.firstIndex(of: "/") else { return nil }
            var host = text[..<slash].lowercased()
            // A port the scheme implies is the same repository.
            for port in [":443", ":80", ":22"] where host.hasSuffix(port) { host.removeLast(port.count) }
            return host + text[slash...]
        }
        guard let first = key(a), let second = key(b) else { return false }
        return first == second
    }

    static func isSync(_ object: KubeObject) -> Bool {
        (object.kind == "GitRepository" && object.apiVersion.hasPrefix(FluxKustomization.sourceGroup + "/")) || FluxKustomization(object) != nil
    }
}
