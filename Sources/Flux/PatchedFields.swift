import Actions
import Foundation
import Kube
import Yams

/// Fields of a built Flux object that a patch writes rather than its own file (t10 F8, t13
/// F1): a chart version or values an overlay patches into a base's HelmRelease, a source URL or
/// ref an overlay changes. A controller's message about a value that does not work (a chart
/// version that does not exist, a URL that cannot be cloned) belongs at the patch that set it,
/// not at the base every overlay shares.
///
/// The patch applied last wins the field, so the search goes from the outermost: the Flux
/// Kustomization's `spec.patches` (kustomize-controller applies them to the build's output),
/// then the kustomization file at `spec.path`, then the other kustomization files the build
/// reached (the bases it includes).
extension Reader {
    /// The fields looked for, by kind: those whose value a failing controller names (source-
    /// controller quotes a URL, a branch or tag; helm-controller a chart and version).
    static let patchedFieldPaths: [String: [String]] = [
        "HelmRelease": ["spec.chart.spec.version", "spec.chart.spec.chart", "spec.values"],
        "HelmChart": ["spec.version", "spec.chart"],
        "GitRepository": ["spec.url", "spec.ref.branch", "spec.ref.tag", "spec.ref.semver", "spec.ref.commit", "spec.ref.name", "spec.secretRef.name"],
        "OCIRepository": ["spec.url", "spec.ref.tag", "spec.ref.semver", "spec.ref.digest", "spec.secretRef.name"],
        "HelmRepository": ["spec.url", "spec.secretRef.name"],
        "Bucket": ["spec.bucketName", "spec.endpoint", "spec.secretRef.name"],
    ]

    /// Where a patch writes each of `patchedFieldPaths` of `object` (an object of `build`);
    /// fields no patch writes are absent.
    func patchedFields(of object: KubeObject, build: FieldSites.Build) -> [String: SourceLocation] {
        guard let paths = Self.patchedFieldPaths[object.kind] else { return [:] }
        var found: [String: SourceLocation] = [:]
        for name in paths {
            let field = name.split(separator: ".").map { Origins.FieldKey.key(String($0)) }
            if let site = FieldSites.patchSite(of: field, object: object, build: build, origins: origins) { found[name] = site }
        }
        return found
    }

    /// Where `spec.suspend: true` of `object` is set: by the patch applied last that writes it,
    /// else in its own document; nil when it is not suspended. A warning that says to remove it
    /// belongs at that line (t13 F6).
    func suspendLocation(of object: KubeObject, document: Node?, build: FieldSites.Build) -> SourceLocation? {
        guard object.json["spec", "suspend"]?.bool == true else { return nil }
        if let site = FieldSites.patchSite(of: ["spec", "suspend"], object: object, build: build, origins: origins) { return site }
        guard let file = object.file else { return nil }
        return SourceLocation(file: file, line: Origins.isWritten(["spec", "suspend"], in: document) ? Origins.line(of: ["spec", "suspend"], in: document) : object.line)
    }
}
