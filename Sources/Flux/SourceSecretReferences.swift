import Actions
import Kube

/// The Secrets a Flux source names (tester t12 F11), checked against what the cluster's
/// Kustomizations apply, as source-controller reads them: `spec.secretRef` (credentials),
/// `spec.certSecretRef` (TLS) and `spec.proxySecretRef` of a GitRepository, HelmRepository,
/// OCIRepository or Bucket, each in the source's own namespace (internal/controller
/// `*_controller.go`: `r.Client.Get` of the Secret, "failed to get secret '…'"). A Secret that
/// does not exist fails every reconcile of the source (AuthenticationFailed), so it never gets
/// an artifact and nothing built from it becomes Ready. source-controller retries at the
/// source's interval: a Secret a Kustomization applies later is a delay; one only a dependent of
/// a waiting Kustomization applies is a deadlock (`HelmReleaseReferences.dependencyDeadlock`).
enum SourceSecretReferences {
    static let kinds = ["GitRepository", "HelmRepository", "OCIRepository", "Bucket"]
    static let fields = ["secretRef", "certSecretRef", "proxySecretRef"]

    /// `given` holds the Secrets fluxci's pipeline creates (`namespace/name`: the decryption
    /// Secrets), `root` the GitRepository whose credentials bootstrap writes (`namespace/name`).
    /// `fieldSite` gives the location of a field of an object (FieldSites: the patch that writes it,
    /// else its line in the object's file).
    static func problems(_ applied: AppliedObjects, given: Set<String>, root: String?, fieldSite: (KubeObject, [Origins.FieldKey]) -> SourceLocation?) -> [Annotation] {
        var problems: [Annotation] = []
        var seen: Set<String> = []
        for kind in kinds {
            for owned in applied.all(kind) where owned.group == FluxKustomization.sourceGroup {
                let source = owned.object
                let namespace = source.namespace ?? "default"
                let id = "\(kind)/\(namespace)/\(source.name)"
                // Applied twice: reported by SharedObjects. Suspended: source-controller skips it.
                guard seen.insert(id).inserted, "\(namespace)/\(source.name)" != root, source.json["spec", "suspend"]?.bool != true else { continue }
                for field in fields {
                    guard let name = source.json["spec", field, "name"]?.string, !name.isEmpty, !given.contains("\(namespace)/\(name)") else { continue }
                    let at = fieldSite(source, ["spec", .key(field), "name"])
                    let secrets = applied.find("Secret", group: "", namespace: namespace, name: name)
                    if !secrets.isEmpty {
                        if let problem = HelmReleaseReferences.dependencyDeadlock(owned, id: id, on: secrets, shown: "Secret/\(namespace)/\(name)", applied, need: .credentials, at: at) {
                            problems.append(problem)
                        }
                        continue
                    }
                    // Something else of that name (an ExternalSecret, a SealedSecret, …) may make it.
                    if applied.mayBeMade("Secret", namespace: namespace, name: name) { continue }
                    let others = applied.all("Secret").filter { $0.group == "" && ($0.object.namespace ?? "default") == namespace }.map(\.object.name)
                    let hint = ClusterTreeReader.nearest(name, in: others).map { " Did you mean \($0)?" } ?? ""
                    problems.append(KustomizationReferences.unresolved(
                        applied,
                        "\(id) names the Secret \(namespace)/\(name) in spec.\(field), which no Kustomization of this cluster applies\(KustomizationReferences.unlessUnbuilt(applied, in: namespace)) and fluxci does not create: source-controller fails every reconcile (\"failed to get secret '\(namespace)/\(name)'\"), so the source never gets an artifact, and nothing that uses it becomes Ready.\(hint)",
                        in: namespace, title: "Unknown source Secret",
                        fix: "Define the Secret \(name) in \(namespace) (a SOPS-encrypted Secret in a Kustomization applied before it), or correct spec.\(field).name\(field == "secretRef" ? " (a public source needs none: remove it)" : "").",
                        at: at))
                }
            }
        }
        return problems
    }
}
