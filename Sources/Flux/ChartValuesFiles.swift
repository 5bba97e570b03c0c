import Actions

/// The values files of a chart from a GitRepository or Bucket (tester t12 F5). helm-controller
/// copies `spec.chart.spec.valuesFiles` into the HelmChart, and source-controller's local chart
/// builder (`internal/helm/chart/builder_local.go` `Build` → `mergeFileValues(WorkDir, …)`)
/// joins each with the artifact's root (`securejoin.SecureJoin`: not the chart's folder, and
/// never outside the artifact) and stats it: a path that does not exist fails the HelmChart
/// ("values files merge error: no values file found at path '…'", reason ValuesFilesError)
/// unless `spec.chart.spec.ignoreMissingValuesFiles: true`, and one that is not a regular file
/// (a folder) fails it even then. The HelmRelease never becomes Ready. Checked against the
/// branch's own artifact, as the chart path is (`chartPathProblems`): a .sourceignore'd or
/// symlinked file is not in it; another source's artifact is not known here.
extension HelmReleaseReferences {
    static func valuesFilesProblems(
        _ id: String, kind: String, source: String, files: [String], ignoreMissing: Bool, context: Context, at location: (Int) -> SourceLocation?
    ) -> [Annotation] {
        guard kind == "GitRepository", source == context.artifactSource, let absence = context.absence else { return [] }
        var problems: [Annotation] = []
        for (index, path) in files.enumerated() {
            let normalized = FluxKustomization.normalize(path)
            let reason: String
            if normalized.isEmpty || absence(normalized + "/") == nil {
                reason = "\(normalized.isEmpty ? "the artifact's root" : normalized) is a folder, not a values file"
            } else if let why = absence(normalized) {
                if ignoreMissing { continue }  // ignoreMissingValuesFiles skips what does not exist
                reason = why
            } else {
                continue
            }
            problems.append(.error(
                "\(id) takes the values file \(path) from GitRepository/\(source) (a path from the artifact's root), but \(reason): source-controller fails the HelmChart (\"values files merge error: no values file found at path '\(path)'\", reason ValuesFilesError), so helm-controller never gets the chart and the HelmRelease never becomes Ready.",
                title: "Values file not in the artifact",
                fix: "Correct the spec.chart.spec.valuesFiles entry (relative to the repository's root, not to the chart), keep the file in the artifact (.sourceignore, spec.ignore)\(ignoreMissing ? "" : ", or set spec.chart.spec.ignoreMissingValuesFiles: true").",
                at: location(index)))
        }
        return problems
    }
}
