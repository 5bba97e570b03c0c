import Actions
import Foundation
import Kube
import Yams

/// Fields of a built HelmRelease that a patch writes rather than its own file (t10 F8): a
/// chart version or values an overlay patches into a base's HelmRelease. helm-controller's
/// message about a version that does not exist belongs at the patch that set the version, not
/// at the base that every overlay shares.
///
/// The patch applied last wins the field, so the search goes from the outermost: the Flux
/// Kustomization's `spec.patches` (kustomize-controller applies them to the build's output),
/// then the kustomization file at `spec.path`, then the other kustomization files the build
/// reached (the bases it includes).
extension Reader {
    /// The fields looked for, by dotted path.
    static let patchedFieldPaths: [String: [Origins.FieldKey]] = [
        "spec.chart.spec.version": ["spec", "chart", "spec", "version"],
        "spec.values": ["spec", "values"],
    ]

    /// Where a patch writes each of `patchedFieldPaths` of `object` (a HelmRelease of the build
    /// of `kustomization`, whose build reached `reached`); fields no patch writes are absent.
    func patchedFields(of object: KubeObject, in kustomization: FluxKustomization, reached: [String]) -> [String: SourceLocation] {
        guard object.kind == "HelmRelease" else { return [:] }
        let path = kustomization.path
        let names: Set<String> = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        let kustomizationFiles = reached.filter { names.contains(($0 as NSString).lastPathComponent) }.sorted { a, b in
            let outermost = ((a as NSString).deletingLastPathComponent == path, (b as NSString).deletingLastPathComponent == path)
            return outermost.0 != outermost.1 ? outermost.0 : a < b
        }
        var found: [String: SourceLocation] = [:]
        for (name, field) in Self.patchedFieldPaths {
            if let file = kustomization.object.file, let entries = documents[kustomization.id]?["spec"]?["patches"]?.sequence {
                for entry in entries {
                    if let target = entry["target"], !PatchSites.selects(target, object) { continue }
                    guard case .scalar(let scalar)? = entry["patch"],
                        let line = PatchSites.line(of: field, object: object, inPatch: scalar, target: entry["target"])
                    else { continue }
                    found[name] = SourceLocation(file: file, line: line)
                    break
                }
            }
            if found[name] != nil { continue }
            for file in kustomizationFiles {
                if let site = PatchSites.location(of: field, object: object, kustomizationFile: file, origins: origins), site.file != object.file {
                    found[name] = site
                    break
                }
            }
        }
        return found
    }
}
