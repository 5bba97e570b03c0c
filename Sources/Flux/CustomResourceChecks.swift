import Actions
import Kube

/// Custom resources whose kind the API server does not serve when kustomize-controller applies
/// them. Its server-side dry-run (fluxcd/pkg ssa `ApplyAllStaged`) maps each object's kind
/// through discovery: a kind no CustomResourceDefinition defines fails the whole Kustomization
/// ("X/ns/name dry-run failed: no matches for kind "X" in version "g/v""). Within one
/// Kustomization the CRDs are applied first and waited for (the first stage), so a CRD in the
/// same build, in one it depends on, or in the build that applies it is in time; a CRD only
/// another Kustomization applies is a race on a fresh cluster, retried at the interval.
enum CustomResourceChecks {
    /// The API groups a cluster serves before anything is applied (Kubernetes 1.3x, kind).
    static let builtInGroups: Set<String> = [
        "", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io", "storage.k8s.io",
        "apiextensions.k8s.io", "admissionregistration.k8s.io", "apiregistration.k8s.io", "coordination.k8s.io", "discovery.k8s.io",
        "events.k8s.io", "node.k8s.io", "scheduling.k8s.io", "certificates.k8s.io", "flowcontrol.apiserver.k8s.io",
        "authentication.k8s.io", "authorization.k8s.io", "resource.k8s.io", "storagemigration.k8s.io", "internal.apiserver.k8s.io",
    ]

    struct Definition {
        var owner: FluxKustomization.Reference
        /// Served versions.
        var versions: Set<String>
        var file: String?
    }

    /// One problem per (Kustomization, apiVersion and kind), at the first object of that kind.
    static func problems(_ index: AppliedObjects, objects: [FluxKustomization.Reference: [KubeObject]], components: [KubeObject]) -> [Annotation] {
        var definitions: [String: [Definition]] = [:]
        for owned in index.all("CustomResourceDefinition") where owned.group == "apiextensions.k8s.io" {
            let spec = owned.object.json["spec"]
            guard let group = spec?["group"]?.string, let kind = spec?["names", "kind"]?.string else { continue }
            let versions = (spec?["versions"]?.array ?? []).filter { $0["served"]?.bool != false }.compactMap { $0["name"]?.string }
            definitions["\(group)|\(kind)", default: []].append(Definition(owner: owned.owner, versions: Set(versions), file: owned.object.file))
        }
        // A test or hand-made flux-system without CRDs: the missing Flux install is reported by
        // `AppliedObjectChecks.fluxInstallProblems`, so Flux's own kinds are taken as served.
        let fluxInstalled = components.contains { $0.kind == "CustomResourceDefinition" }
        var problems: [Annotation] = []
        for id in index.order {
            var seen: Set<String> = []
            for object in objects[id] ?? [] {
                let group = AppliedObjects.Owned.group(of: object.apiVersion)
                let version = object.apiVersion.split(separator: "/").last.map(String.init) ?? ""
                guard !builtInGroups.contains(group), !(group.hasSuffix(".toolkit.fluxcd.io") && !fluxInstalled) else { continue }
                let key = "\(group)|\(object.kind)"
                guard seen.insert("\(object.apiVersion)|\(object.kind)").inserted else { continue }
                let location = object.file.map { SourceLocation(file: $0, line: object.line) }
                let count = (objects[id] ?? []).filter { $0.kind == object.kind && $0.apiVersion == object.apiVersion }.count
                let what = count == 1 ? object.reference : "\(object.reference) and \(count - 1) more \(object.kind)"
                let failure = "kustomize-controller's dry-run of \(id) fails (\"no matches for kind \\\"\(object.kind)\\\" in version \\\"\(object.apiVersion)\\\"\")"
                guard let defined = definitions[key], !defined.isEmpty else {
                    // No CRD of the tree: a chart or an unbuilt Kustomization may bring it
                    // (ChartCRDSources says which, and whether in time).
                    let message = "The Kustomization \(id) applies \(what) (\(object.apiVersion)), a kind no CustomResourceDefinition of this cluster's tree defines and the API server does not serve: \(failure)"
                    let fix = "Install the CRD of \(object.kind).\(group) (its manifests, or the HelmRelease of its controller) in a Kustomization \(id) depends on (with `wait: true` for a HelmRelease), or correct apiVersion/kind."
                    switch ChartCRDSources.verdict(for: id, index) {
                    case .ordered: break
                    case .racing(let sources):
                        problems.append(.warning(
                            message + ", unless \(sources) installs it first: on a fresh cluster \(id) can fail until its retry interval, or for good.",
                            title: "Kind not installed", fix: fix, at: location))
                    case .sameKustomization(let releases):
                        // Only what is missing (tester t15 F11): `wait: true` already there is not asked for again.
                        let waits = releases.allSatisfy { ChartCRDSources.waits(index.kustomizations[id], for: $0.object) }
                        problems.append(.error(
                            message + " before any of its objects is applied (CRDs and Namespaces are applied first, then every other object is dry-run before one is applied: fluxcd/pkg ssa ApplyAllStaged), so \(releases[0].object.reference) of the same Kustomization, whose chart may install the CRD, is never applied and \(id) never becomes Ready.",
                            title: "Kind not installed before its Kustomization's dry-run",
                            fix: "Move \(what) to a Kustomization with `\(AppliedObjects.dependsOnText(id, from: id))` on \(id)\(waits ? "" : ", and give \(id) `wait: true`") (Flux's examples split infra-controllers and infra-configs for this).",
                            at: location))
                    case .none:
                        problems.append(.error(
                            "No CRD for \(group)/\(object.kind) is applied before it: t" + message.dropFirst() + ", and \(id) never becomes Ready.",
                            title: "Kind not installed", fix: fix, at: location))
                    }
                    continue
                }
                if !defined.contains(where: { $0.versions.contains(version) }) {
                    let served = Set(defined.flatMap(\.versions)).sorted().joined(separator: ", ")
                    problems.append(.error(
                        "The Kustomization \(id) applies \(what) in version \(version), which the CustomResourceDefinition of \(object.kind).\(group)\(defined[0].file.map { " (\($0))" } ?? "") does not serve (it serves \(served)): \(failure).",
                        title: "Version not served", fix: "Use apiVersion \(group)/\(defined[0].versions.sorted().last ?? version), or serve \(version) in the CRD.", at: location))
                    continue
                }
                let other: FluxKustomization.Reference
                switch index.availability(of: defined.map(\.owner), for: id) {
                case .ordered, .itself, .missing: continue
                case .racing(let racing): other = racing
                case .deadlocked(let waiting):
                    // The installer waits for this one (tester t9 F2): the dry-run fails at
                    // every retry, and the installer never runs.
                    problems.append(.error(
                        "The Kustomization \(id) applies \(what), whose CustomResourceDefinition only the Kustomization \(waiting) installs, \(index.deadlock(waiting, needs: id)) (\(failure)).",
                        title: "CRD installed by a dependent",
                        fix: "Install the CRD in the build of \(id) (kustomize-controller applies CRDs first) or of a Kustomization it depends on, and remove it from \(waiting) (a dependsOn on \(waiting) would be a cycle).",
                        at: location))
                    continue
                }
                problems.append(.warning(
                    "The Kustomization \(id) applies \(what), whose CustomResourceDefinition the Kustomization \(other) installs, and \(id) does not depend on it: both reconcile concurrently, so on a fresh cluster \(id) can run first, \(failure), and it waits for its retry interval.",
                    title: "CRD installed by another Kustomization",
                    fix: "Add `\(AppliedObjects.dependsOnText(other, from: id))` to the Kustomization \(id) (Flux's examples split infra-controllers and infra-configs for this).",
                    at: location))
            }
        }
        return problems
    }
}
