import Actions
import Flux
import Foundation
import Kube
import SOPS

/// The API server's checks of built-in kinds (`BuiltInKindValidation`) on what a SOPS file
/// holds once decrypted: the values of a Secret's `data` that kustomize-controller decrypts and
/// the API server then refuses when they are not base64 (tester t9 F6b). Only the preflight sees
/// decrypted values, so only it can say so before a cluster exists. Problems are at the data
/// key's line in the encrypted file (sops leaves keys in plain text); no value is shown.
enum DecryptedObjectChecks {
    /// The problems of the documents `decrypted` of `file` (YAML or JSON stores; a dotenv, ini or
    /// binary file is generator data, never an object). `appliedBy`: the Kustomizations that
    /// apply the file's objects, for the message.
    static func problems(name: String, file: StoredSOPSFile, decrypted: StoredSOPSFile.Decrypted, appliedBy: [String]) -> [Annotation] {
        guard case .tree(let encrypted) = file.content, !decrypted.documents.isEmpty else { return [] }
        var problems: [Annotation] = []
        for (index, document) in decrypted.documents.enumerated() {
            // The decrypted document as an object, through the emitter `sops -d` prints with.
            guard let text = try? TreeEmitter.yaml([document.tree]),
                let object = (try? Manifest.objects(text, file: name))?.first
            else { continue }
            let source = index < encrypted.documents.count ? encrypted.documents[index].tree : document.tree
            let first = source.position?.line
            let found = BuiltInKindValidation.decryptedProblems(
                KubeObject(object.json, file: name, line: first), file: name, line: { keys in line(of: keys, in: source) }, appliedBy: appliedBy)
            problems += found
        }
        return problems
    }

    /// The line of the mapping key at `keys` (`["data", "token"]`) in a document's tree.
    static func line(of keys: [String], in node: TreeNode) -> Int? {
        var current = node
        var line: Int?
        for key in keys {
            guard case .mapping(let entries, _) = current, let entry = entries.last(where: { !$0.isComment && $0.key == key }) else { return line }
            line = entry.position?.line
            current = entry.value
        }
        return line
    }
}
