import Actions
import Kube

/// The key a HelmRelease's `valuesFrom` entry reads, checked against the ConfigMap or Secret the
/// cluster's tree applies (tester t12 F3). helm-controller's `ChartValuesFromReferences`
/// (internal/chartutil/values.go) reads `Data[valuesKey]` (`valuesKey` defaults to
/// `values.yaml`, also for a `targetPath` entry): a ConfigMap's `data` only (its `binaryData`
/// is not read), a Secret's `data` (where the API server puts `stringData`). A key that is not
/// there fails the release ("could not resolve ConfigMap chart values reference '…' with key
/// '…': key not found"), unless the entry is `optional: true` (then it is logged and skipped).
enum ValuesKeys {
    /// The problem of `entry` (at `index` of `spec.valuesFrom`) given the objects of its kind and
    /// name the tree applies (`sources`, not empty); nil when the key is there, or when the keys
    /// are not surely known. `at` gives a field's location.
    static func problem(
        _ entry: JSONValue, index: Int, id: String, kind: String, namespace: String, name: String, sources: [AppliedObjects.Owned],
        at: ([Origins.FieldKey]) -> SourceLocation?
    ) -> Annotation? {
        guard entry["optional"]?.bool != true else { return nil }
        let written = entry["valuesKey"]?.string.flatMap { $0.isEmpty ? nil : $0 }
        let key = written ?? "values.yaml"
        // A key left with `${…}` (a postBuild variable fluxci could not resolve) is not known.
        guard !key.contains("${") else { return nil }
        var keys: [String] = []
        for source in sources {
            let object = source.object.json
            // The data a SOPS-encrypted Secret holds: its key names are plaintext in the file.
            let present = (object["data"]?.object ?? []).map(\.key) + (kind == "Secret" ? (object["stringData"]?.object ?? []).map(\.key) : [])
            // Keys a generator took from a file fluxci could not read as kustomize-controller
            // would (undecrypted dotenv metadata `sops_…`, an unresolved variable): unsure.
            if present.contains(where: { $0.hasPrefix("sops_") || $0.contains("${") }) { return nil }
            keys += present
        }
        if keys.contains(key) { return nil }
        let binary = kind == "ConfigMap" && sources.contains { ($0.object.json["binaryData"]?.object ?? []).contains { $0.key == key } }
        let listed = Array(Set(keys)).sorted()
        let has = listed.isEmpty ? "no data keys" : "the data keys \(listed.joined(separator: ", "))"
        let why = binary ? " (\(key) is in its binaryData, which helm-controller does not read for a ConfigMap)" : ""
        let hint = ClusterTreeReader.nearest(key, in: listed).map { " Did you mean \($0)?" } ?? ""
        let defaulted = written == nil ? " (valuesKey not set: the default)" : ""
        return .error(
            "\(id) reads its values from the key \(key)\(defaulted) of \(kind)/\(namespace)/\(name), which has \(has)\(why): helm-controller fails (\"could not resolve \(kind) chart values reference '\(namespace)/\(name)' with key '\(key)': key not found\"), and the HelmRelease never becomes Ready.\(hint)",
            title: "Values key not found",
            fix: "Set valuesKey to one of the \(kind)'s data keys, add \(key) to its data, or mark the entry `optional: true`.",
            at: at(written == nil ? ["spec", "valuesFrom", .index(index)] : ["spec", "valuesFrom", .index(index), "valuesKey"]))
    }
}
