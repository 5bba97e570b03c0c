import Actions
import Foundation
import Kube

/// Objects that more than one Kustomization of the cluster applies. kustomize-controller applies
/// with server-side apply under its own field manager and labels what it applies with the
/// applying Kustomization (`kustomize.toolkit.fluxcd.io/name` and `/namespace`): two
/// Kustomizations applying one object take it from each other on every reconcile, and the
/// labels name whichever applied last. Its garbage collection deletes only objects that carry
/// its own labels (fluxcd/pkg ssa `DeleteOptions.Inclusions`), so when the last owner stops
/// applying the object it deletes it, although the other still declares it (until that one's
/// next reconcile applies it again).
enum SharedObjects {
    struct Key: Hashable {
        var group: String, kind: String, namespace: String, name: String
    }

    /// One error per object two Kustomizations define differently, one warning per object they
    /// define identically; each is annotated once, at the first definition, and names every
    /// definition by file:line. `order` is the order the
    /// Kustomizations were read in (the first is the one whose definition fluxci followed).
    static func problems(_ objects: [FluxKustomization.Reference: [KubeObject]], order: [FluxKustomization.Reference]) -> [Annotation] {
        var owners: [Key: [(FluxKustomization.Reference, KubeObject)]] = [:]
        var keys: [Key] = []
        for id in order {
            for object in objects[id] ?? [] {
                let group = object.apiVersion.split(separator: "/").count > 1 ? String(object.apiVersion.split(separator: "/")[0]) : ""
                let key = Key(group: group, kind: object.kind, namespace: object.namespace ?? "", name: object.name)
                if owners[key] == nil { keys.append(key) }
                if owners[key]?.contains(where: { $0.0 == id }) == true { continue }  // kustomize itself rejects duplicates within one build
                owners[key, default: []].append((id, object))
            }
        }
        var problems: [Annotation] = []
        for key in keys {
            guard let all = owners[key], all.count > 1 else { continue }
            let name = "\(key.kind)/\(key.namespace.isEmpty ? "" : key.namespace + "/")\(key.name)"
            let listed = all.map { "\($0.0) at \(Self.site($0.1) ?? "its build")" }.joined(separator: " and ")
            let identical = all.dropFirst().allSatisfy { $0.1.json == all[0].1.json }
            let isKustomization = FluxKustomization(all[0].1) != nil
            let each = all.count == 2 ? "both own it" : "all \(all.count) own it"
            let others = all.count == 2 ? "the other still declares it" : "the others still declare it"
            // One annotation per object, at its first definition, naming every definition by
            // file:line (tester t5 F10: one per owner repeated the same message; GitHub shows
            // a limited number of annotations per step).
            let first = all[0]
            let location = first.1.file.map { SourceLocation(file: $0, line: first.1.line) }
            if identical {
                problems.append(.warning(
                    "\(name) is applied by \(all.count) Kustomizations (\(listed)), identically: \(each), and kustomize-controller labels it with whichever applied last; when that one stops applying it, its pruning deletes it although \(others).",
                    title: "Object applied twice", fix: "Keep one definition, in the Kustomization that should own it; let the other dependOn that one.", at: location))
            } else {
                problems.append(.error(
                    "\(name) is applied by \(all.count) Kustomizations (\(listed)), with different definitions: they overwrite each other on every reconcile\(isKustomization ? ", so the cluster's tree is undefined (fluxci follows the first definition only)" : "").",
                    title: "Object defined twice", fix: "Keep one definition, in the Kustomization that should own it (remove it from \(all.dropFirst().map { Self.site($0.1) ?? $0.0.description }.joined(separator: ", ")), or from \(Self.site(first.1) ?? first.0.description)).", at: location))
            }
        }
        return problems
    }

    /// `file:line` of an object's definition (`file` when the line is unknown).
    static func site(_ object: KubeObject) -> String? {
        object.file.map { file in object.line.map { "\(file):\($0)" } ?? file }
    }
}
