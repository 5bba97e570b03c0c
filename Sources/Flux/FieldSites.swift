import Actions
import Foundation
import Kube
import Yams

/// Where a problem about a field of a built object is annotated (issue 13 item 24: at the line
/// that writes the value, so that on a pull request it sits on the changed line). The one
/// answer every tree check asks for: the patch applied last that writes the field (tester t14
/// F1, F14: a `spec.path`, a Secret's data value, a HelmRelease's `timeout` or `valuesFrom` an
/// overlay patches into a base every overlay shares), else the field's own line in the object's
/// file, else the object's first line.
///
/// kustomize applies a kustomization's patches in the order written (`patchesStrategicMerge`,
/// `patchesJson6902`, then `patches`; an overlay's after those of the bases it includes), and
/// kustomize-controller applies the Flux Kustomization's `spec.patches` to the build's output,
/// after all of them: the last one that writes the field gives the value the cluster gets.
final class FieldSites: @unchecked Sendable {
    /// Where the patches of a built object are read: the Flux Kustomization whose build holds it
    /// (`document`: its node, for `spec.patches`) and the kustomization files that build reached.
    struct Build {
        var kustomization: FluxKustomization
        var document: Node?
        var reached: [String]
    }

    private struct Key: Hashable {
        var kind: String, namespace: String, name: String, file: String, line: Int
        init(_ object: KubeObject) {
            (kind, namespace, name, file, line) = (object.kind, object.namespace ?? "", object.name, object.file ?? "", object.line ?? 0)
        }
    }

    let origins: Origins
    private let lock = NSLock()
    private var builds: [Key: Build] = [:]
    /// For each patch line a problem was placed at: the object and field it writes, and the
    /// note `noted` adds to a problem there.
    private var notes: [SourceLocation: [(name: String, note: String)]] = [:]

    init(origins: Origins) { self.origins = origins }

    /// Records the build that holds `object` (one built object; the checks look it up by kind,
    /// namespace, name and origin).
    func record(_ object: KubeObject, builtBy build: Build) {
        lock.withLock { builds[Key(object)] = build }
    }

    /// The object's document in its repository file (for its fields' lines).
    func document(of object: KubeObject) -> Node? {
        object.file.flatMap { file in origins.documents(file).first { $0.line == object.line }?.node }
    }

    /// The location of `field` of `object`: the patch applied last that writes it (the field, a
    /// parent whose value holds it, or a part of it), else its own line in `document` (the
    /// object's node; read from its file when nil), else the object's line. `otherPatch` is asked
    /// when no recorded build patches the field and the document does not write it (a
    /// Kustomization of flux-system's own build, which no Flux build holds). Nil when the object
    /// is in no repository file.
    func location(of object: KubeObject, _ field: [Origins.FieldKey], document: Node? = nil, otherPatch: (() -> SourceLocation?)? = nil) -> SourceLocation? {
        guard let file = object.file else { return nil }
        let document = document ?? self.document(of: object)
        // A strategic-merge patch names its object by kind and metadata name/namespace: those
        // identify it, they write nothing. A whole top-level key (`spec`) is no one field.
        let identity = ["metadata.name", "metadata.namespace"].contains(Origins.dotted(field))
        if field.count > 1, !identity {
            let build = lock.withLock { builds[Key(object)] }
            if let build, let site = Self.patchSite(of: field, object: object, build: build, origins: origins) {
                return noting(site, object: object, field: field)
            }
            if !Origins.isWritten(field, in: document), let site = otherPatch?() {
                return noting(site, object: object, field: field)
            }
        }
        return SourceLocation(file: file, line: Origins.line(of: field, in: document) ?? object.line)
    }

    private func noting(_ site: SourceLocation, object: KubeObject, field: [Origins.FieldKey]) -> SourceLocation {
        guard site.file != object.file || site.line != object.line, let file = object.file else { return site }
        // As the waiter's patchedSite says it (Waiter.patchedSite).
        let note = " (its \(Origins.dotted(field)) is set by the patch at \(site.file):\(site.line ?? 1); the \(object.kind) is written at \(file):\(object.line ?? 1))"
        lock.withLock {
            if !(notes[site] ?? []).contains(where: { $0.note == note }) { notes[site, default: []].append((object.name, note)) }
        }
        return site
    }

    /// `problems` with the note of the patch each is placed at: which field of which object the
    /// patch writes, and where the object itself is written (the message names the object, the
    /// annotation sits in another file).
    func noted(_ problems: [Annotation]) -> [Annotation] {
        let notes = lock.withLock { self.notes }
        guard !notes.isEmpty else { return problems }
        return problems.map { problem in
            guard let location = problem.location, let candidates = notes[location], !problem.message.contains(" is set by the patch at "),
                let chosen = candidates.first(where: { problem.message.contains($0.name) })
            else { return problem }
            var problem = problem
            problem.message = problem.message.hasSuffix(".") ? String(problem.message.dropLast()) + chosen.note + "." : problem.message + chosen.note
            return problem
        }
    }

    /// The patch applied last that writes `field` of `object` in `build`: the Flux
    /// Kustomization's `spec.patches` (applied to the build's output, last), then the kustomization
    /// file at its `spec.path`, then the others the build reached (the bases it includes). Nil
    /// when none does; a patch in the object's own file is not another place.
    static func patchSite(of field: [Origins.FieldKey], object: KubeObject, build: Build, origins: Origins) -> SourceLocation? {
        let kustomization = build.kustomization
        if let file = kustomization.object.file, let entries = build.document?["spec"]?["patches"]?.sequence {
            // kustomize-controller writes spec.patches into the kustomization it builds, with
            // spec.namePrefix and the rest: a patch selects the object by its written id too.
            let identities = PatchSites.identities(of: object, origins: origins)
            for entry in entries.reversed() {  // the last patch writing the field wins
                if let target = entry["target"], !identities.contains(where: { PatchSites.selects(target, $0) }) { continue }
                guard case .scalar(let scalar)? = entry["patch"],
                    let line = identities.lazy.compactMap({ PatchSites.line(of: field, object: $0, inPatch: scalar, target: entry["target"]) }).first
                else { continue }
                return SourceLocation(file: file, line: line)
            }
        }
        let outermost = { (file: String) in (file as NSString).deletingLastPathComponent == kustomization.path }
        let files = build.reached.filter(KustomizationGenerator.isKustomizationFile).sorted { a, b in
            outermost(a) != outermost(b) ? outermost(a) : a < b
        }
        for file in files {
            if let site = PatchSites.location(of: field, object: object, kustomizationFile: file, origins: origins), site.file != object.file { return site }
        }
        return nil
    }
}
